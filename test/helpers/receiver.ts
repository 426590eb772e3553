/** A notification receiver on 127.0.0.1: records every POST (headers, raw body) and answers 200. */
import http from 'node:http';
import https from 'node:https';
import { createHmac } from 'node:crypto';

export interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
  body: Record<string, unknown>;
  /** Date.now() when the request had arrived */
  at: number;
}

/** The answer to the request numbered `index` (0 for the first): 200 unless told otherwise. */
export type Respond = (
  index: number,
  request: http.IncomingMessage,
) => { status: number; headers?: Record<string, string> };

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  /** the bodies' `event` fields, in arrival order */
  events(): string[];
  close(): Promise<void>;
}

/** Starts a receiver, on `port` when given (a receiver coming back where one was down), on `host` (127.0.0.1). */
export async function startReceiver(
  port = 0,
  options: { respond?: Respond; host?: string; tls?: { key: string; cert: string } } = {},
): Promise<Receiver> {
  const received: Received[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        // kept as {}: the test sees a body without an event
      }
      const answer = options.respond?.(received.length, req) ?? { status: 200 };
      received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw, body, at: Date.now() });
      res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers }).end('ok');
    });
  };
  const server = options.tls ? https.createServer(options.tls, handler) : http.createServer(handler);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    url: `${options.tls ? 'https' : 'http'}://${options.host ?? '127.0.0.1'}:${bound}`,
    port: bound,
    received,
    events: () => received.map((r) => String(r.body.event)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What a receiver computes to check a delivery: sha256=<hex HMAC-SHA256 of the raw body>. */
export function expectedSignature(secret: string, raw: Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
}
