import { shortSha } from '../sha.js';
import { http } from '../builtins.js';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { Daemon } from '../sync/daemon.js';
import type { SyncOutcome } from '../sync/engine.js';
import { PROBLEM_STATES, type Status } from '../sync/status.js';
import type { PollInfo } from '../sync/schedule.js';
import { authenticate, classifyEvent, precheck } from './signature.js';
import { formPayload, isForm, parsePayload } from './payload.js';
import type { Metrics } from './metrics.js';
import type { ListenAddress } from '../config/options.js';
import type { Control } from '../sync/control.js';
import { HttpError } from './http-error.js';
import { nodeCrypto } from '../lazy-crypto.js';
import { PAGE_DEPLOYS, PAGE_SCRIPT, renderPage } from './page.js';
import { readBody } from './body.js';
import { bind } from './bind.js';
import { listenOnSocket } from './local-socket.js';
import { ConnectionGuard } from './connections.js';
import { ByteBudget, LIMITS, bodyLimit, connectionCap, parseFdLimit } from './limits.js';
import { LogThrottle, summaryLine } from './throttle.js';
import { WebhookCoalescer, type CoalesceOptions } from './coalesce.js';
import { ListenerCounters } from './listener-metrics.js';
import { revisionFields, type RevisionSource } from './revision.js';

export const MAX_BODY = bodyLimit('/webhook');

let pageScriptHash: string | undefined;

export interface ServerOptions {
  /** the TCP listener (--listen); without it only the socket serves */
  listen?: ListenAddress;
  /**
   * A unix socket for operators on this machine (its directory owner-only, see local-socket.ts): the same routes
   * and bounds as TCP, but /sync and the operator routes need no secret there (a webhook still does).
   */
  socket?: string;
  /** heardWebhook: told of every authenticated push to the followed branch; polling: shown in /status as `poll` */
  daemon: Pick<Daemon, 'trigger'> & Partial<Pick<Daemon, 'onPass' | 'heardWebhook' | 'polling'>>;
  status: () => Status;
  metrics: Metrics;
  branch: string;
  /** whether a pushed ref can move what is followed (--ref); default: it is refs/heads/<branch> */
  follows?: (ref: string) => boolean;
  /** undefined: /webhook and /sync refuse to work (503), the read-only routes still serve */
  secret?: string;
  logger: Logger;
  clock?: () => number;
  /** the connection cap; default from the fd limit (see connectionCap) */
  maxConnections?: number;
  coalesce?: CoalesceOptions;
  /** POST /pause, /resume, /rollback and /sync?wait=1; without it those answer 404 */
  control?: Control;
  /** what the status page (GET /) shows beyond the status; without it the page shows no subjects or state age */
  page?: PageSource;
  /** what /status says of the served revision besides its sha (subject, since, verified, ref, poll period) */
  revision?: RevisionSource;
  /** POST /reload-config: a many-apps process re-reads its config file; without it the route answers 404 */
  reloadConfig?: () => Promise<{ ok: boolean; message: string }>;
}

/** The status page's sources beyond the status: commit subjects and when the state was entered. */
export interface PageSource {
  /** subjects of the given commits (full shas, hex), as far as the checkout knows them */
  subjects(shas: readonly string[]): Promise<Map<string, string>>;
  /** when the daemon entered its current state (ISO) */
  since(): string | undefined;
}

/** Subjects kept by the listener: a commit's subject never changes; bounded so a long-lived daemon stays small. */
const SUBJECT_CACHE = 256;

/** How long a caller may wait for a pass (sync --now --wait) or a rollback before the listener answers 504. */
export const WAIT_LIMIT_MS = 10 * 60_000;

/** A pass's outcome as the listener reports it: ok = live, reloaded or up to date (sync's exit 0). */
export function describeOutcome(outcome: SyncOutcome | Error): {
  ok: boolean;
  result: string;
  sha?: string;
  message: string;
} {
  if (outcome instanceof Error) return { ok: false, result: 'failed', message: `sync failed: ${outcome.message}` };
  const short = (sha?: string) => shortSha(sha) ?? 'none';
  switch (outcome.kind) {
    case 'up-to-date':
      return { ok: true, result: 'up-to-date', sha: outcome.sha, message: `up to date at ${short(outcome.sha)}` };
    case 'deployed':
    case 'rejected': {
      const r = outcome.record;
      const what = r.result === 'rolled-back' ? `rolled back to ${short(r.rolledBackTo)}` : r.result;
      return {
        ok: outcome.kind === 'deployed',
        result: r.result,
        sha: r.result === 'rolled-back' ? r.rolledBackTo : r.to,
        message: `${short(r.from)} → ${short(r.to)}: ${what}${r.error ? ` (${r.error})` : ''}`,
      };
    }
    case 'blocked':
      return { ok: false, result: outcome.state, message: `${outcome.state}: ${outcome.reason}` };
  }
}

export interface StatusServer {
  /** the TCP listener's URL; unix:PATH when only the socket listens */
  url: string;
  socket?: string;
  close(): Promise<void>;
  /** answers one request as this listener would (a many-apps listener hands /apps/NAME/… here, the path rewritten) */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /**
   * an authenticated push (a many-apps listener read and verified it): ignored or queued, in words. `announced`
   * false: the push did not name this app's repository (it names none), so it is no sign that webhooks arrive for it
   * and polling does not slow (--safety-poll)
   */
  deliverPush(
    event: { ref?: string; after?: string },
    delivery: string | undefined,
    provider: string,
    announced?: boolean,
  ): {
    accepted: boolean;
    message: string;
  };
  /** what GET /status answers */
  statusBody(): Record<string, unknown>;
  /** what GET /metrics answers, less the listener's own counters */
  metricsText(): string;
}

export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = typeof body === 'string' ? body : `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/**
 * The sender's id for this delivery (GitHub, Gitea, Forgejo, GitLab), to find it in the sender's delivery log; for
 * the log line and the deploy history.
 */
export function deliveryId(headers: IncomingHttpHeaders): string | undefined {
  const raw = ['x-github-delivery', 'x-gitea-delivery', 'x-forgejo-delivery', 'x-gitlab-event-uuid']
    .map((name) => headers[name])
    .find((v) => typeof v === 'string');
  // authenticated, but still what a client wrote: only an id-shaped value reaches the history and the logs
  return typeof raw === 'string' && /^[\w.-]{1,80}$/.test(raw) ? raw : undefined;
}

/**
 * The public view of the status: what operators need, nothing secret (the remote label is redacted); `poll`, the
 * daemon's polling pace and next poll, when it has one; `stateSince`, when the state was entered; with a revision
 * source, what a fleet view compares replicas by (revision.ts).
 */
export function publicStatus(
  status: Status,
  extra: { poll?: PollInfo; stateSince?: string; revision?: RevisionSource } = {},
): Record<string, unknown> {
  const { poll, stateSince, revision } = extra;
  return {
    ...status,
    ...(revision ? revisionFields(status, revision) : {}),
    live: !PROBLEM_STATES.has(status.state) && status.lastSuccessAt !== undefined,
    ...(stateSince ? { stateSince } : {}),
    ...(poll ? { poll } : {}),
  };
}

export function fdLimit(): number | undefined {
  try {
    return parseFdLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}

const continueWanted = (req: IncomingMessage) => (req.headers.expect ?? '').toLowerCase() === '100-continue';

export const header = (req: IncomingMessage, name: string) => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/**
 * One listener for push deploys and visibility, reachable by anyone who can reach the port. Before a client
 * has authenticated it gets a bounded share of connections (ConnectionGuard), time (Node's header and request
 * timeouts, a body deadline) and memory (per-route body limits, one budget for all buffered bodies); a missing
 * or malformed signature is refused before the body is read. The webhook answers at once (202) and only raises
 * the daemon's "sync wanted" flag, through the coalescer; nothing from a payload reaches git or a shell.
 */
export async function startServer(options: ServerOptions): Promise<StatusServer> {
  const { logger, metrics } = options;
  const clock = options.clock ?? Date.now;
  const counters = new ListenerCounters();
  const budget = new ByteBudget(LIMITS.bodyBudget);
  const cap = options.maxConnections ?? connectionCap(fdLimit());
  const guard = new ConnectionGuard({ cap, logger, refuse: (reason) => counters.refuse(reason), clock });
  // the socket's own share, so that a flood on the TCP port does not lock out an operator on this machine
  const localGuard = new ConnectionGuard({ cap, logger, refuse: (reason) => counters.refuse(reason), clock });
  /** connections that came through the unix socket, which only this user can reach */
  const localSockets = new WeakSet<object>();
  const unauthorized = new LogThrottle();
  const coalescer = new WebhookCoalescer(options.coalesce);
  let deferred: NodeJS.Timeout | undefined;
  const unsubscribe = options.daemon.onPass?.((_outcome, pass) => coalescer.passEnded(clock() - pass.ms));

  const logUnauthorized = (req: IncomingMessage, path: string, reason: string) => {
    counters.refuse('unauthorized');
    const source = req.socket.remoteAddress ?? 'unknown';
    const { log, summary } = unauthorized.note(clock(), source);
    if (summary) logger.warn({ count: summary.count }, summaryLine('unauthorized requests', summary));
    if (log)
      logger.warn(
        { path, source, err: reason },
        `${req.method} ${path}: 401 ${reason} (from ${source}; more within a minute are counted, not logged)`,
      );
  };
  const flushUnauthorized = (force = false) => {
    const summary = unauthorized.flush(clock(), force);
    if (summary) logger.warn({ count: summary.count }, summaryLine('unauthorized requests', summary));
  };
  const flusher = setInterval(() => flushUnauthorized(), 10_000).unref();

  function triggerWebhook(sha: string | undefined, by?: string): string {
    const offer = coalescer.offer(clock(), sha, options.status().deployedSha);
    switch (offer.action) {
      case 'trigger':
        options.daemon.trigger('webhook', by);
        return 'sync queued';
      case 'skip':
        return `nothing to do: ${offer.reason}`;
      case 'defer':
        deferred = setTimeout(() => {
          deferred = undefined;
          coalescer.fireDeferred(clock());
          options.daemon.trigger('webhook', by);
        }, offer.inMs);
        return 'sync queued (coalesced with a burst of webhooks)';
      case 'queued':
        return 'sync queued (coalesced with a burst of webhooks)';
    }
  }

  /** An authenticated push: ignored unless it moves what is followed, else the daemon is asked to sync (coalesced). */
  function deliverPush(
    event: { ref?: string; after?: string },
    delivery: string | undefined,
    provider: string,
    announced = true,
  ): { accepted: boolean; message: string } {
    if (
      event.ref !== undefined &&
      !(options.follows ? options.follows(event.ref) : event.ref === `refs/heads/${options.branch}`)
    ) {
      metrics.recordWebhook('ignored');
      return { accepted: false, message: `push to ${event.ref} ignored: following ${options.branch}` };
    }
    if (announced) options.daemon.heardWebhook?.();
    const message = triggerWebhook(event.after, delivery && `delivery ${delivery}`);
    metrics.recordWebhook(message === 'sync queued' ? 'accepted' : 'coalesced');
    logger.info(
      { provider, delivery, after: event.after, result: message },
      `webhook accepted (${provider}${delivery ? `, delivery ${delivery}` : ''}): push to ${options.branch}${event.after ? ` at ${event.after.slice(0, 7)}` : ''}; ${message}`,
    );
    return { accepted: true, message };
  }

  async function webhook(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') throw new HttpError(405, 'use POST', 'method_not_allowed', true);
    if (!options.secret)
      throw new HttpError(
        503,
        'webhook disabled: no secret configured (--webhook-secret-file or HOTPULL_WEBHOOK_SECRET)',
        'disabled',
        true,
      );
    const early = precheck(req.headers, options.secret);
    if (!early.ok) throw new HttpError(401, early.reason, 'unauthorized', true);
    // Only now is the body worth having: a client that asked first (Expect: 100-continue) is told to send it.
    if (continueWanted(req)) res.writeContinue();
    const body = await readBody(req, { limit: bodyLimit('/webhook'), budget, timeoutMs: LIMITS.bodyTimeoutMs });
    try {
      const form = isForm(header(req, 'content-type'));
      const signed = form ? [body, formPayload(body)].filter((b): b is Buffer => b !== undefined) : [body];
      const auth = authenticate(req.headers, body, options.secret, signed);
      if (!auth.ok) throw new HttpError(401, auth.reason, 'unauthorized');
      const parsed = parsePayload(header(req, 'content-type'), body);
      if (!parsed.ok) throw new HttpError(400, parsed.reason, 'bad_request');
      const event = classifyEvent(auth.provider, req.headers, parsed.payload);
      if (event.kind === 'ping') {
        metrics.recordWebhook('ping');
        return send(res, 200, { ok: true, message: 'pong' });
      }
      if (event.kind === 'other') {
        metrics.recordWebhook('ignored');
        return send(res, 202, { ok: true, message: `event ${event.name} ignored` });
      }
      const { message } = deliverPush(event, deliveryId(req.headers), auth.provider);
      send(res, 202, { ok: true, message });
    } finally {
      budget.give(body.length);
    }
  }

  /** The operator routes: POST, the bearer secret, and /sync's body limits; nothing changes before all three pass. */
  async function authorized(req: IncomingMessage, res: ServerResponse, what: string): Promise<Buffer> {
    if (req.method !== 'POST') throw new HttpError(405, 'use POST', 'method_not_allowed', true);
    if (!localSockets.has(req.socket)) {
      if (!options.secret) throw new HttpError(503, `${what} disabled: no secret configured`, 'disabled', true);
      const auth = authenticate({ authorization: req.headers.authorization }, Buffer.alloc(0), options.secret);
      if (!auth.ok) throw new HttpError(401, 'send Authorization: Bearer <webhook secret>', 'unauthorized', true);
    }
    if (continueWanted(req)) res.writeContinue();
    const body = await readBody(req, { limit: bodyLimit('/sync'), budget, timeoutMs: LIMITS.bodyTimeoutMs });
    budget.give(body.length);
    return body;
  }

  function controlOf(): Control {
    if (!options.control)
      throw new HttpError(
        404,
        'routes: POST /webhook, POST /sync, GET /, /status, /healthz, /metrics',
        'not_found',
        true,
      );
    return options.control;
  }

  /** An authenticated caller waits for a deploy: past the idle timeout, up to WAIT_LIMIT_MS. */
  function waitFor<T>(req: IncomingMessage, work: Promise<T>): Promise<T> {
    req.socket.setTimeout(0);
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new HttpError(504, `no outcome within ${WAIT_LIMIT_MS / 60_000} minutes; the daemon goes on`, 'timeout'),
          ),
        WAIT_LIMIT_MS,
      );
    });
    return Promise.race([work, limit]).finally(() => clearTimeout(timer));
  }

  async function syncNow(req: IncomingMessage, res: ServerResponse, wait: boolean): Promise<void> {
    const control = wait ? controlOf() : undefined;
    await authorized(req, res, 'sync');
    if (!control) {
      send(res, 202, { ok: true, message: 'sync queued' });
      options.daemon.trigger('api');
      return;
    }
    send(res, 200, describeOutcome(await waitFor(req, control.syncAndWait('api'))));
  }

  /** A small JSON object body, or none. */
  function jsonObject(body: Buffer): Record<string, unknown> {
    if (body.length === 0) return {};
    try {
      const value = JSON.parse(body.toString('utf8')) as unknown;
      if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // below
    }
    throw new HttpError(400, 'the body must be a JSON object', 'bad_request');
  }

  async function operate(
    req: IncomingMessage,
    res: ServerResponse,
    route: '/pause' | '/resume' | '/approve' | '/rollback' | '/reset',
  ): Promise<void> {
    const control = controlOf();
    const body = jsonObject(await authorized(req, res, route.slice(1)));
    if (route === '/pause')
      return send(res, 200, {
        ok: true,
        message: await control.pause(typeof body.reason === 'string' ? body.reason : ''),
      });
    if (route === '/resume') return send(res, 200, { ok: true, message: await control.resume() });
    const sha = body.sha;
    const hex = typeof sha === 'string' && /^[0-9a-f]{4,64}$/.test(sha);
    if (route === '/approve') {
      if (!hex) throw new HttpError(400, 'sha must be a commit id in hex', 'bad_request');
      try {
        return send(res, 200, { ok: true, message: await control.approve(sha as string) });
      } catch (error) {
        if ((error as { code?: string }).code !== 'CONFIG') throw error;
        return send(res, 400, { ok: false, error: (error as Error).message });
      }
    }
    if (route === '/rollback' && sha !== undefined && !hex)
      throw new HttpError(400, 'sha must be a commit id in hex', 'bad_request');
    try {
      if (route === '/rollback')
        return send(res, 200, describeOutcome(await waitFor(req, control.rollback(sha as string | undefined))));
      const { outcome, backups } = await waitFor(req, control.reset());
      send(res, 200, { ...describeReset(outcome, backups), backups });
    } catch (error) {
      if (error instanceof HttpError) throw error;
      // bad input (no such commit, nothing to roll back to) is the caller's; anything else failed the rollback
      const status = (error as { code?: string }).code === 'CONFIG' ? 400 : 500;
      send(res, status, { ok: false, error: (error as Error).message });
    }
  }

  const subjects = new Map<string, string>();
  /** The status page: the status, the subjects of the revisions it names (asked of git once each), rendered. */
  async function sendPage(res: ServerResponse): Promise<void> {
    const status = options.status();
    const shas = [status.deployedSha, status.remoteSha, status.lastGoodSha, status.rejectedSha, status.heldSha]
      .concat(status.deploys.slice(0, PAGE_DEPLOYS).flatMap((d) => [d.to, d.rolledBackTo]))
      .filter((sha): sha is string => typeof sha === 'string' && /^[0-9a-f]{40,64}$/.test(sha));
    const unknown = [...new Set(shas)].filter((sha) => !subjects.has(sha));
    if (unknown.length > 0 && options.page) {
      const found = await options.page.subjects(unknown).catch(() => new Map<string, string>());
      // a sha not fetched yet (a paused daemon's remote head) is asked again next time; the oldest entries go first
      for (const [sha, subject] of found) subjects.set(sha, subject);
      for (const sha of subjects.keys()) if (subjects.size > SUBJECT_CACHE) subjects.delete(sha);
    }
    const html = renderPage({
      status,
      poll: options.daemon.polling,
      since: options.page?.since(),
      subjects,
      now: clock(),
    });
    pageScriptHash ??= nodeCrypto().createHash('sha256').update(PAGE_SCRIPT).digest('base64');
    send(res, 200, html, {
      'content-type': 'text/html; charset=utf-8',
      // nothing but this page's own style and script; a subject that got through unescaped still could not run
      'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${pageScriptHash}'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
  }

  function readOnly(req: IncomingMessage): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'use GET', 'method_not_allowed', true);
    // A body on a read-only route is not read: answer and close rather than drain it.
    if (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
      throw new HttpError(413, 'GET takes no body', 'too_large', true);
    if (req.headers['transfer-encoding'] !== undefined)
      throw new HttpError(413, 'GET takes no body', 'too_large', true);
  }

  /** Answers a refusal; when the request is not read further, the connection closes after a short linger. */
  function refuse(req: IncomingMessage, res: ServerResponse, path: string, error: unknown): void {
    const known = error instanceof HttpError;
    const status = known ? error.status : 500;
    if (path === '/webhook') metrics.recordWebhook(known ? error.metric : 'error');
    if (known && error.metric !== 'unauthorized') counters.refuse(error.metric);
    if (status === 401) logUnauthorized(req, path, (error as Error).message);
    else if (!known)
      logger.warn(
        { path, status, err: (error as Error).message },
        `${req.method} ${path}: ${status} ${(error as Error).message}`,
      );
    const close = !known || error.close;
    const headers: Record<string, string> = close ? { connection: 'close' } : {};
    if (status === 405)
      headers.allow = [
        '/webhook',
        '/sync',
        '/pause',
        '/resume',
        '/approve',
        '/rollback',
        '/reset',
        '/reload-config',
      ].includes(path)
        ? 'POST'
        : 'GET, HEAD';
    send(res, status, { ok: false, error: (error as Error).message }, headers);
    if (!close) return;
    // Unread bytes the client is still sending are discarded (never buffered) until the socket goes.
    req.resume();
    setTimeout(() => req.socket.destroy(), LIMITS.lingerMs).unref();
  }

  const statusBody = () =>
    publicStatus(options.status(), {
      poll: options.daemon.polling,
      stateSince: options.page?.since(),
      revision: options.revision,
    });
  const metricsText = () => options.metrics.render(options.status(), clock());

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    // answered 503 when it connected (ConnectionGuard.turnAway): its request is discarded, not routed
    if (guard.turnedAway(req.socket) || localGuard.turnedAway(req.socket)) return void req.resume();
    const path = (req.url ?? '/').split('?')[0];
    const handle = async () => {
      switch (path) {
        case '/webhook':
          return webhook(req, res);
        case '/sync':
          return syncNow(req, res, /[?&]wait=(1|true)(&|$)/.test(req.url ?? ''));
        case '/pause':
        case '/resume':
        case '/approve':
        case '/rollback':
        case '/reset':
          return operate(req, res, path);
        case '/status':
          readOnly(req);
          return send(res, 200, statusBody());
        case '/reload-config': {
          if (!options.reloadConfig)
            throw new HttpError(404, 'not a many-apps daemon: no config to reload', 'not_found', true);
          const reload = options.reloadConfig;
          await authorized(req, res, 'reload-config');
          const result = await reload();
          return send(res, result.ok ? 200 : 400, result.ok ? result : { ok: false, error: result.message });
        }
        case '/':
          readOnly(req);
          return sendPage(res);
        case '/healthz': {
          readOnly(req);
          const status = options.status();
          if (status.lastSuccessAt === undefined)
            return send(
              res,
              503,
              `starting: no successful sync yet${status.lastError ? ` (${status.lastError})` : ''}\n`,
            );
          if (status.state === 'failing') return send(res, 503, `failing: ${status.reason ?? status.lastError}\n`);
          // 200 still: the app may start only once this answers (a Kubernetes startup probe), and a check that
          // cannot pass before it does must not keep it from starting; the body says what is wrong
          return send(
            res,
            200,
            `ok ${status.state} ${status.deployedSha ?? ''}${status.state === 'unverified' ? ` (${status.reason})` : ''}\n`,
          );
        }
        case '/metrics':
          readOnly(req);
          return send(
            res,
            200,
            metricsText() +
              counters.render({ connections: guard.open, maxConnections: cap, bufferedBytes: budget.inUse }),
            { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
          );
        default:
          throw new HttpError(
            404,
            'routes: POST /webhook, POST /sync, GET /, /status, /healthz, /metrics',
            'not_found',
            true,
          );
      }
    };
    handle().catch((error: unknown) => {
      try {
        refuse(req, res, path!, error);
      } catch {
        req.socket.destroy();
      }
    });
  };
  /** The same bounds on both listeners: Node's timeouts here, connections and bodies through the guard and budget. */
  const createListener = () => {
    const server = http.createServer(
      {
        headersTimeout: LIMITS.headersTimeoutMs,
        requestTimeout: LIMITS.requestTimeoutMs,
        keepAliveTimeout: LIMITS.keepAliveTimeoutMs,
        connectionsCheckingInterval: LIMITS.connectionsCheckIntervalMs,
      },
      onRequest,
    );
    // With a 'checkContinue' listener Node no longer answers 100 Continue by itself: the routes do, once the
    // headers have passed their checks, so a refused client never sends its body.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => server.emit('request', req, res));
    // No traffic at all for this long closes the socket (Node destroys it when no 'timeout' listener is set).
    server.timeout = LIMITS.idleSocketMs;
    return server;
  };
  const servers: Array<{ server: ReturnType<typeof createListener>; guard: ConnectionGuard }> = [];
  let url: string | undefined;
  try {
    if (options.listen) {
      const server = createListener();
      await bind(server, options.listen);
      guard.attach(server);
      servers.push({ server, guard });
      const address = server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      url = `http://${host}:${address.port}`;
    }
    if (options.socket) {
      const server = createListener();
      server.prependListener('connection', (socket: object) => localSockets.add(socket));
      localGuard.attach(server);
      await listenOnSocket(server, options.socket);
      servers.push({ server, guard: localGuard });
    }
  } catch (error) {
    for (const { server } of servers) server.close();
    clearInterval(flusher);
    unsubscribe?.();
    throw error;
  }
  return {
    url: url ?? `unix:${options.socket}`,
    socket: options.socket,
    handle: onRequest,
    deliverPush,
    statusBody,
    metricsText,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(flusher);
        clearTimeout(deferred);
        unsubscribe?.();
        flushUnauthorized(true);
        let open = servers.length;
        if (open === 0) resolve();
        for (const { server, guard } of servers) {
          server.close(() => {
            open -= 1;
            if (open === 0) resolve();
          });
          server.closeAllConnections();
          guard.closeAll();
        }
      }),
  };
}

/** What `hotpull reset` answers: the pass's outcome in the words of describeOutcome, and the backups made. */
export function describeReset(outcome: SyncOutcome, backups: readonly string[]): ReturnType<typeof describeOutcome> {
  const described = describeOutcome(outcome);
  if (outcome.kind === 'up-to-date' && backups.length === 0)
    return { ...described, message: `nothing to reset: ${described.message}` };
  // paused, held, rejected: a reset does not lift those (resume does, or a new push)
  if (outcome.kind === 'blocked') return { ...described, message: `not reset: ${described.message}` };
  const saved = backups.length > 0 ? `; saved first: ${backups.join(', ')}` : '; nothing needed saving';
  return { ...described, message: `reset to the remote head: ${described.message}${saved}` };
}
