import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { Daemon } from '../sync/daemon.js';
import { PROBLEM_STATES, type Status } from '../sync/status.js';
import { authenticate, classifyEvent } from './signature.js';
import type { Metrics } from './metrics.js';
import type { ListenAddress } from '../config/schema.js';

export const MAX_BODY = 1024 * 1024;

export interface ServerOptions {
  listen: ListenAddress;
  daemon: Pick<Daemon, 'trigger'>;
  status: () => Status;
  metrics: Metrics;
  branch: string;
  /** undefined: /webhook and /sync refuse to work (503), the read-only routes still serve */
  secret?: string;
  logger: Logger;
  clock?: () => number;
}

export interface StatusServer {
  url: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly metric: string,
  ) {
    super(message);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) throw new HttpError(413, `body over ${MAX_BODY} bytes`, 'too_large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `body over ${MAX_BODY} bytes`, 'too_large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The public view of the status: what operators need, nothing secret (the remote label is redacted). */
export function publicStatus(status: Status): Record<string, unknown> {
  return { ...status, live: !PROBLEM_STATES.has(status.state) && status.lastSuccessAt !== undefined };
}


/**
 * One listener for push deploys and visibility. The webhook answers at once (202) and only raises the
 * daemon's "sync wanted" flag, so a burst of calls during a deploy collapses into one follow-up pass; nothing
 * from a payload reaches git or a shell: the payload only decides whether to trigger.
 */
export async function startServer(options: ServerOptions): Promise<StatusServer> {
  const { logger, metrics } = options;
  const clock = options.clock ?? Date.now;

  async function webhook(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'POST') throw new HttpError(405, 'use POST', 'method_not_allowed');
    if (!options.secret) throw new HttpError(503, 'webhook disabled: no secret configured (--webhook-secret-file or HOTPULL_WEBHOOK_SECRET)', 'disabled');
    const body = await readBody(req);
    const auth = authenticate(req.headers, body, options.secret);
    if (!auth.ok) throw new HttpError(401, auth.reason, 'unauthorized');
    let payload: unknown = {};
    if (body.length > 0) {
      try {
        payload = JSON.parse(body.toString('utf8'));
      } catch {
        throw new HttpError(400, 'body is not JSON', 'bad_request');
      }
    }
    const event = classifyEvent(auth.provider, req.headers, payload);
    if (event.kind === 'ping') {
      metrics.recordWebhook('ping');
      return send(res, 200, { ok: true, message: 'pong' });
    }
    if (event.kind === 'other') {
      metrics.recordWebhook('ignored');
      return send(res, 202, { ok: true, message: `event ${event.name} ignored` });
    }
    if (event.ref !== undefined && event.ref !== `refs/heads/${options.branch}`) {
      metrics.recordWebhook('ignored');
      return send(res, 202, { ok: true, message: `push to ${event.ref} ignored: following ${options.branch}` });
    }
    metrics.recordWebhook('accepted');
    send(res, 202, { ok: true, message: 'sync queued' });
    options.daemon.trigger('webhook');
  }

  async function syncNow(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'POST') throw new HttpError(405, 'use POST', 'method_not_allowed');
    if (!options.secret) throw new HttpError(503, 'sync disabled: no secret configured', 'disabled');
    const auth = authenticate({ authorization: req.headers.authorization }, Buffer.alloc(0), options.secret);
    await readBody(req);
    if (!auth.ok) throw new HttpError(401, 'send Authorization: Bearer <webhook secret>', 'unauthorized');
    send(res, 202, { ok: true, message: 'sync queued' });
    options.daemon.trigger('api');
  }

  function readOnly(req: http.IncomingMessage): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'use GET', 'method_not_allowed');
  }

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const handle = async () => {
      switch (path) {
        case '/webhook':
          return webhook(req, res);
        case '/sync':
          return syncNow(req, res);
        case '/status':
          readOnly(req);
          return send(res, 200, publicStatus(options.status()));
        case '/healthz': {
          readOnly(req);
          const status = options.status();
          if (status.lastSuccessAt === undefined) return send(res, 503, `starting: no successful sync yet${status.lastError ? ` (${status.lastError})` : ''}\n`);
          if (status.state === 'failing') return send(res, 503, `failing: ${status.reason ?? status.lastError}\n`);
          return send(res, 200, `ok ${status.state} ${status.deployedSha ?? ''}\n`);
        }
        case '/metrics':
          readOnly(req);
          return send(res, 200, options.metrics.render(options.status(), clock()), { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        default:
          throw new HttpError(404, 'routes: POST /webhook, POST /sync, GET /status, /healthz, /metrics', 'not_found');
      }
    };
    handle().catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      if (path === '/webhook') metrics.recordWebhook(error instanceof HttpError ? error.metric : 'error');
      if (status === 401 || status === 500) logger.warn({ path, status, err: (error as Error).message }, `${req.method} ${path}: ${status} ${(error as Error).message}`);
      if (!res.headersSent) send(res, status, { ok: false, error: (error as Error).message }, status === 405 ? { allow: path === '/webhook' || path === '/sync' ? 'POST' : 'GET, HEAD' } : {});
      // A body too large is not read further: close instead of draining a megabyte-sized upload.
      if (status === 413) req.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
