import { http } from '../builtins.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { ListenAddress } from '../config/options.js';
import { deliveryId, fdLimit, header, send, type StatusServer } from './server.js';
import { authenticate, classifyEvent, precheck } from './signature.js';
import { formPayload, isForm, parsePayload } from './payload.js';
import { HttpError } from './http-error.js';
import { readBody } from './body.js';
import { bind } from './bind.js';
import { ConnectionGuard } from './connections.js';
import { ByteBudget, LIMITS, bodyLimit, connectionCap } from './limits.js';
import { ListenerCounters } from './listener-metrics.js';
import { mergeMetrics, payloadRepos, pushNames } from './apps-routing.js';

/** One app as the shared listener sees it: its own routes (the app's listener, socket-only) and its remote. */
export interface AppEndpoint {
  readonly name: string;
  readonly server: StatusServer;
  /** the app's remote as repoKey() gives it, to route webhooks by the repository they name */
  readonly repoKey: string;
  /** POST /sync on the shared listener: every app syncs now */
  syncNow(): void;
}

export interface AppsServerOptions {
  listen: ListenAddress;
  secret?: string;
  logger: Logger;
  /** the apps running now (the set changes when the config is reloaded) */
  apps(): readonly AppEndpoint[];
  reloadConfig(): Promise<{ ok: boolean; message: string }>;
  /** what /status says of the process beyond its apps (the last reload's outcome) */
  process(): Record<string, unknown>;
  maxConnections?: number;
}

const ROUTES = 'routes: GET /, /status, /healthz, /metrics; POST /webhook, /sync, /reload-config; /apps/NAME/…';

/**
 * The one TCP listener of a many-apps process: /apps/NAME/… is that app's own listener (every route a single-app
 * daemon has, the path without its prefix); /status and /metrics cover every app; a webhook is verified once and
 * handed to each app whose remote the payload names and whose branch it moves. The same bounds as a single app's
 * listener: connections (ConnectionGuard), time (Node's timeouts, a body deadline), memory (body limits, one budget).
 */
export async function startAppsServer(options: AppsServerOptions): Promise<StatusServer> {
  const { logger } = options;
  const counters = new ListenerCounters();
  const budget = new ByteBudget(LIMITS.bodyBudget);
  const cap = options.maxConnections ?? connectionCap(fdLimit());
  const guard = new ConnectionGuard({ cap, logger, refuse: (reason) => counters.refuse(reason) });
  const find = (name: string) => options.apps().find((a) => a.name === name);

  async function authorized(req: IncomingMessage, what: string): Promise<void> {
    if (req.method !== 'POST') throw new HttpError(405, 'use POST', 'method_not_allowed', true);
    if (!options.secret) throw new HttpError(503, `${what} disabled: no secret configured`, 'disabled', true);
    const auth = authenticate({ authorization: req.headers.authorization }, Buffer.alloc(0), options.secret);
    if (!auth.ok) throw new HttpError(401, 'send Authorization: Bearer <webhook secret>', 'unauthorized', true);
    const body = await readBody(req, { limit: bodyLimit('/sync'), budget, timeoutMs: LIMITS.bodyTimeoutMs });
    budget.give(body.length);
  }

  function readOnly(req: IncomingMessage): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'use GET', 'method_not_allowed', true);
    if ((req.headers['content-length'] ?? '0') !== '0' || req.headers['transfer-encoding'] !== undefined)
      throw new HttpError(413, 'GET takes no body', 'too_large', true);
  }

  async function webhook(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') throw new HttpError(405, 'use POST', 'method_not_allowed', true);
    if (!options.secret)
      throw new HttpError(503, 'webhook disabled: no secret configured (--webhook-secret-file)', 'disabled', true);
    const early = precheck(req.headers, options.secret);
    if (!early.ok) throw new HttpError(401, early.reason, 'unauthorized', true);
    if ((req.headers.expect ?? '').toLowerCase() === '100-continue') res.writeContinue();
    const body = await readBody(req, { limit: bodyLimit('/webhook'), budget, timeoutMs: LIMITS.bodyTimeoutMs });
    try {
      const form = isForm(header(req, 'content-type'));
      const signed = form ? [body, formPayload(body)].filter((b): b is Buffer => b !== undefined) : [body];
      const auth = authenticate(req.headers, body, options.secret, signed);
      if (!auth.ok) throw new HttpError(401, auth.reason, 'unauthorized');
      const parsed = parsePayload(header(req, 'content-type'), body);
      if (!parsed.ok) throw new HttpError(400, parsed.reason, 'bad_request');
      const event = classifyEvent(auth.provider, req.headers, parsed.payload);
      if (event.kind === 'ping') return send(res, 200, { ok: true, message: 'pong' });
      if (event.kind === 'other') return send(res, 202, { ok: true, message: `event ${event.name} ignored` });
      const repos = payloadRepos(parsed.payload);
      const delivery = deliveryId(req.headers);
      const apps = options.apps().filter((app) => pushNames(repos, app.repoKey));
      // a push that names no repository wakes every app, but tells none that its webhooks arrive (no slower polls)
      const named = repos.urls.length > 0 || repos.names.length > 0;
      const results = apps.map((app) => ({
        app: app.name,
        ...app.server.deliverPush(event, delivery, auth.provider, named),
      }));
      const woken = results.filter((r) => r.accepted).map((r) => r.app);
      send(res, 202, {
        ok: true,
        message: woken.length > 0 ? `sync queued for ${woken.join(', ')}` : 'no app follows this push',
        apps: results,
      });
    } finally {
      budget.give(body.length);
    }
  }

  function refuse(req: IncomingMessage, res: ServerResponse, path: string, error: unknown): void {
    const known = error instanceof HttpError;
    const status = known ? error.status : 500;
    if (known) counters.refuse(error.metric);
    else logger.warn({ path, err: (error as Error).message }, `${req.method} ${path}: 500 ${(error as Error).message}`);
    const close = !known || error.close;
    send(res, status, { ok: false, error: (error as Error).message }, close ? { connection: 'close' } : {});
    if (!close) return;
    req.resume();
    setTimeout(() => req.socket.destroy(), LIMITS.lingerMs).unref();
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (guard.turnedAway(req.socket)) return void req.resume();
    const url = req.url ?? '/';
    const path = url.split('?')[0]!;
    const handle = async () => {
      const app = /^\/apps\/([^/]+)(\/.*)?$/.exec(path);
      if (app) {
        const endpoint = find(decodeURIComponent(app[1]!));
        if (!endpoint)
          throw new HttpError(
            404,
            `no app ${JSON.stringify(app[1])}: ${options
              .apps()
              .map((a) => a.name)
              .join(', ')}`,
            'not_found',
            true,
          );
        req.url = url.slice(`/apps/${app[1]}`.length) || '/';
        if (req.url.startsWith('?')) req.url = `/${req.url}`;
        return endpoint.server.handle(req, res);
      }
      switch (path) {
        case '/webhook':
          return webhook(req, res);
        case '/sync':
          await authorized(req, 'sync');
          for (const a of options.apps()) a.syncNow();
          return send(res, 202, {
            ok: true,
            message: `sync queued for ${options
              .apps()
              .map((a) => a.name)
              .join(', ')}`,
          });
        case '/reload-config': {
          await authorized(req, 'reload-config');
          const result = await options.reloadConfig();
          return send(res, result.ok ? 200 : 400, result.ok ? result : { ok: false, error: result.message });
        }
        case '/status':
          readOnly(req);
          return send(res, 200, {
            ...options.process(),
            apps: options.apps().map((a) => ({ app: a.name, ...a.server.statusBody() })),
          });
        case '/healthz': {
          readOnly(req);
          const bad = options
            .apps()
            .map((a) => ({ name: a.name, status: a.server.statusBody() }))
            .filter(({ status }) => status.lastSuccessAt === undefined || status.state === 'failing');
          return bad.length === 0
            ? send(res, 200, `ok ${options.apps().length} apps\n`)
            : send(res, 503, `${bad.map((b) => `${b.name}: ${String(b.status.state)}`).join('; ')}\n`);
        }
        case '/metrics':
          readOnly(req);
          return send(
            res,
            200,
            mergeMetrics(options.apps().map((a) => [a.name, a.server.metricsText()] as const)) +
              counters.render({ connections: guard.open, maxConnections: cap, bufferedBytes: budget.inUse }),
            { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
          );
        case '/':
          readOnly(req);
          return send(
            res,
            200,
            options
              .apps()
              .map((a) => {
                const s = a.server.statusBody();
                return `${a.name}\t${String(s.state)}\t${String(s.deployedSha ?? '-').slice(0, 12)}\t/apps/${a.name}/\n`;
              })
              .join(''),
          );
        default:
          throw new HttpError(404, ROUTES, 'not_found', true);
      }
    };
    handle().catch((error: unknown) => {
      try {
        refuse(req, res, path, error);
      } catch {
        req.socket.destroy();
      }
    });
  };

  const server = http.createServer(
    {
      headersTimeout: LIMITS.headersTimeoutMs,
      requestTimeout: LIMITS.requestTimeoutMs,
      keepAliveTimeout: LIMITS.keepAliveTimeoutMs,
      connectionsCheckingInterval: LIMITS.connectionsCheckIntervalMs,
    },
    onRequest,
  );
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => server.emit('request', req, res));
  server.timeout = LIMITS.idleSocketMs;
  await bind(server, options.listen);
  guard.attach(server);
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    handle: onRequest,
    deliverPush: () => ({ accepted: false, message: 'not an app' }),
    statusBody: () => ({}),
    metricsText: () => '',
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        guard.closeAll();
      }),
  };
}
