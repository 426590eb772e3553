import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { isIP } from 'node:net';
import { http } from '../builtins.js';
import { formatDuration } from '../duration.js';
import { proxyFor, readProxyEnv, type ProxyEnv, type ProxyServer } from './proxy.js';

/** One HTTP answer: the status and the body as text (at most `maxBodyBytes` of it). */
export interface Answer {
  status: number;
  body: string;
  /** the answer's headers (Retry-After …), as node:http gives them */
  headers: IncomingHttpHeaders;
  /** the proxy it came through (its label, no credentials), when one was used */
  proxy?: string;
}

export interface RequestOptions {
  method?: 'GET' | 'POST';
  headers?: Record<string, string | number>;
  /** a request body (sent with its Content-Length) */
  body?: string | Buffer;
  /** `user:password` for Basic auth, already decoded (a URL's userinfo is not sent unless given here) */
  auth?: string;
  /** the whole exchange: connect, status line, headers and body, however slowly the server sends them */
  timeoutMs: number;
  /** the rest of a longer body is not read: the connection is closed; 0 reads none (the status is the answer) */
  maxBodyBytes?: number;
  /** a stop: the request ends at once and rejects with the signal's reason */
  signal?: AbortSignal;
  /** a unix socket to send the request over (the URL then gives only the path and the Host header) */
  socketPath?: string;
  /** the proxy settings (proxy.ts); by default the process's HTTPS_PROXY, HTTP_PROXY and NO_PROXY */
  proxy?: ProxyEnv;
}

let fromProcess: ProxyEnv | { problem: string } | undefined;
/** The process's proxy variables, read once (config/load.ts refuses bad ones at start with exit 2). */
function processProxy(): ProxyEnv {
  fromProcess ??= readProxyEnv(process.env);
  if ('problem' in fromProcess) throw new Error(fromProcess.problem);
  return fromProcess;
}

/** An error of a request that went through a proxy: the proxy named (without credentials) in its message. */
function throughProxy(proxy: ProxyServer, error: unknown, what = 'through proxy'): Error {
  const e = error as { code?: string; message?: string };
  return Object.assign(new Error(`${what} ${proxy.label}: ${e.message ?? String(error)}`), {
    code: e.code,
    proxy: proxy.label,
  });
}

const proxyAuthorization = (proxy: ProxyServer): Record<string, string> =>
  proxy.auth ? { 'proxy-authorization': `Basic ${Buffer.from(proxy.auth).toString('base64')}` } : {};

/**
 * A CONNECT tunnel to the target's host and port through the proxy, within the deadline: the socket, or an error
 * naming the proxy and what it answered.
 */
function tunnel(proxy: ProxyServer, target: URL, deadline: number, signal?: AbortSignal): Promise<Duplex> {
  const authority = `${target.hostname}:${target.port || 443}`;
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: proxy.host,
      port: proxy.port,
      method: 'CONNECT',
      path: authority,
      headers: { host: authority, ...proxyAuthorization(proxy) },
      agent: false,
      maxHeaderSize: MAX_HEADER_BYTES,
      signal,
    });
    const started = Date.now();
    const timer = setTimeout(
      () => {
        req.destroy();
        reject(
          throughProxy(
            proxy,
            Object.assign(new Error(`no tunnel within ${formatDuration(deadline - started)}`), { code: 'TIMEOUT' }),
          ),
        );
      },
      Math.max(0, deadline - Date.now()),
    );
    req.on('connect', (response, socket) => {
      clearTimeout(timer);
      if (response.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(
        Object.assign(
          new Error(
            `proxy ${proxy.label} refused CONNECT to ${authority}: ${response.statusCode} ${response.statusMessage ?? ''}`.trim(),
          ),
          {
            code: 'EPROXY',
            proxy: proxy.label,
          },
        ),
      );
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(throughProxy(proxy, error, 'proxy'));
    });
    req.end();
  });
}

/**
 * What a server may send before it is cut off: enough for a health page's text or a daemon's /status, never
 * an endless stream. Callers that need more (the daemon client) say so.
 */
export const DEFAULT_MAX_BODY = 64 * 1024;
/** Status line and headers together; beyond it the parser fails the request (HPE_HEADER_OVERFLOW). */
export const MAX_HEADER_BYTES = 16 * 1024;

/**
 * The one HTTP client for every request hotpull makes (health checks, canary probes, notifications, the daemon
 * client, the demo). A misbehaving server costs a bounded time and memory: the whole exchange has one deadline
 * (a slow drip of headers or body cannot stretch it), headers beyond MAX_HEADER_BYTES fail, and the body is read up
 * to `maxBodyBytes`, then the socket is destroyed. node:http (node:https only for an https URL), not the global
 * fetch(): Node 20's fetch parses HTTP with WebAssembly, which the memory-saving V8 flags the sidecar runs with turn
 * off, and its pooled sockets would outlive the request. Each request has its own connection, so parallel probes
 * reach more than one app worker. Redirects are answers, not followed.
 */
export async function request(url: string, options: RequestOptions): Promise<Answer> {
  const target = new URL(url);
  const proxy = options.socketPath ? undefined : proxyFor(target, options.proxy ?? processProxy());
  if (!proxy) return exchange(target, options);
  if (target.protocol === 'http:')
    return exchange(target, options, {
      hostname: proxy.host,
      port: proxy.port,
      // absolute form (RFC 9112 §3.2.2), never the userinfo
      path: `${target.protocol}//${target.host}${target.pathname}${target.search}`,
      headers: { ...options.headers, host: target.host, ...proxyAuthorization(proxy) },
    }).then(
      (answer) => ({ ...answer, proxy: proxy.label }),
      (error: unknown) => Promise.reject(throughProxy(proxy, error)),
    );
  const started = Date.now();
  const socket = await tunnel(proxy, target, started + options.timeoutMs, options.signal);
  const tls = await import('node:tls');
  const secure = tls.connect({ socket, servername: isIP(target.hostname) ? undefined : target.hostname });
  return exchange(
    target,
    { ...options, timeoutMs: Math.max(1, options.timeoutMs - (Date.now() - started)) },
    {
      agent: undefined,
      createConnection: () => secure,
    },
  ).then(
    (answer) => ({ ...answer, proxy: proxy.label }),
    (error: unknown) => {
      secure.destroy();
      return Promise.reject(throughProxy(proxy, error));
    },
  );
}

/** One request and its answer, on a connection of its own (or the one `via` gives: a proxy, a tunnel). */
async function exchange(target: URL, options: RequestOptions, via: Record<string, unknown> = {}): Promise<Answer> {
  const transport = target.protocol === 'https:' && !('hostname' in via) ? await import('node:https') : http;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  return new Promise<Answer>((resolve, reject) => {
    let settled = false;
    const chunks: Buffer[] = [];
    let size = 0;
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    /** Settles once; whatever the outcome the connection is closed, so nothing more is read. */
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      if (error) reject(error instanceof Error ? error : new Error(String(error)));
      else resolve({ status, headers, body: Buffer.concat(chunks).toString('utf8') });
    };
    const req = transport.request(
      target,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        auth: options.auth,
        agent: false,
        maxHeaderSize: MAX_HEADER_BYTES,
        signal: options.signal,
        ...(options.socketPath ? { socketPath: options.socketPath } : {}),
        ...via,
      },
      (response) => {
        status = response.statusCode ?? 0;
        headers = response.headers;
        if (maxBody <= 0) return finish();
        response.on('data', (chunk: Buffer) => {
          if (settled) return;
          const room = maxBody - size;
          chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
          size += Math.min(chunk.length, room);
          if (size >= maxBody) finish();
        });
        response.on('end', () => finish());
        response.on('error', finish);
        // closed before its end (a body cut short): not an answer
        response.on('close', () =>
          finish(Object.assign(new Error('connection closed before the answer ended'), { code: 'ECONNRESET' })),
        );
      },
    );
    const timer = setTimeout(
      () =>
        finish(Object.assign(new Error(`no answer within ${formatDuration(options.timeoutMs)}`), { code: 'TIMEOUT' })),
      options.timeoutMs,
    );
    req.on('error', finish);
    req.end(options.body);
  });
}

/** A short reason for a failed request: the system code (ECONNREFUSED) rather than Node's sentence around it. */
export function requestFailure(error: unknown): string {
  const e = error as { code?: string; message?: string; errors?: Array<{ code?: string }>; proxy?: string };
  // through a proxy: the message names it, and what failed (the proxy, or the target behind it)
  if (e.proxy) return e.message ?? String(error);
  if (e.code === 'TIMEOUT') return e.message ?? 'timed out';
  if (e.code === 'HPE_HEADER_OVERFLOW') return `headers longer than ${MAX_HEADER_BYTES / 1024} KiB`;
  return e.code ?? e.errors?.[0]?.code ?? e.message ?? String(error);
}
