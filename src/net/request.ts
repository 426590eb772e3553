import { http } from '../builtins.js';
import { formatDuration } from '../duration.js';

/** One HTTP answer: the status and the body as text (at most `maxBodyBytes` of it). */
export interface Answer {
  status: number;
  body: string;
}

export interface RequestOptions {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** a request body (sent with its Content-Length) */
  body?: string;
  /** the whole exchange: connect, headers and body */
  timeoutMs: number;
  /** the rest of a longer body is not read */
  maxBodyBytes?: number;
  /** a unix socket to send the request over (the URL then gives only the path and the Host header) */
  socketPath?: string;
}

const DEFAULT_MAX_BODY = 1024 * 1024;

/**
 * One request with node:http (node:https loaded only for an https URL), not the global fetch(): Node 20's fetch
 * parses HTTP with WebAssembly, which the memory-saving V8 flags the sidecar runs with turn off, and its pooled
 * sockets would outlive the request. Each request has its own connection, so parallel probes reach more than
 * one app worker. Redirects are answers, not followed.
 */
export async function request(url: string, options: RequestOptions): Promise<Answer> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? await import('node:https') : http;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  return new Promise<Answer>((resolve, reject) => {
    const req = transport.request(
      target,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
        ...(options.socketPath ? { socketPath: options.socketPath } : {}),
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () => {
          clearTimeout(timer);
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        };
        response.on('data', (chunk: Buffer) => {
          if (size >= maxBody) return;
          chunks.push(size + chunk.length > maxBody ? chunk.subarray(0, maxBody - size) : chunk);
          size += chunk.length;
          if (size >= maxBody) {
            response.destroy();
            done();
          }
        });
        response.on('end', done);
        response.on('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
      },
    );
    const timer = setTimeout(
      () =>
        req.destroy(
          Object.assign(new Error(`no answer within ${formatDuration(options.timeoutMs)}`), { code: 'TIMEOUT' }),
        ),
      options.timeoutMs,
    );
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(options.body);
  });
}

/** A short reason for a failed request: the system code (ECONNREFUSED) rather than Node's sentence around it. */
export function requestFailure(error: unknown): string {
  const e = error as { code?: string; message?: string; errors?: Array<{ code?: string }> };
  if (e.code === 'TIMEOUT') return e.message ?? 'timed out';
  return e.code ?? e.errors?.[0]?.code ?? e.message ?? String(error);
}
