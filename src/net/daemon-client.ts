import { HotpullError } from '../errors.js';
import { request, requestFailure, type Answer, type RequestOptions } from './request.js';
import type { Status } from '../sync/status.js';

/** Talks to a running daemon's listener: `hotpull status` and `hotpull sync --now`. */
async function call(url: string, options: Omit<RequestOptions, 'timeoutMs'>): Promise<Answer> {
  try {
    return await request(url, { ...options, timeoutMs: 5000 });
  } catch (error) {
    throw new HotpullError('UNREACHABLE', `cannot reach the hotpull daemon at ${url}: ${requestFailure(error)}`, { cause: error });
  }
}

function json(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

export async function fetchStatus(base: string): Promise<Status & { live: boolean }> {
  const url = new URL('/status', base).href;
  const answer = await call(url, { method: 'GET' });
  if (answer.status < 200 || answer.status > 299) throw new HotpullError('UNREACHABLE', `${base}/status answered ${answer.status}`);
  const status = json(answer.body);
  if (typeof status !== 'object' || status === null) throw new HotpullError('UNREACHABLE', `${base}/status answered ${answer.status} with a body that is not JSON`);
  return status as Status & { live: boolean };
}

export async function requestSync(base: string, secret: string): Promise<string> {
  const answer = await call(new URL('/sync', base).href, { method: 'POST', headers: { authorization: `Bearer ${secret}` } });
  const body = (json(answer.body) ?? {}) as { message?: string; error?: string };
  if (answer.status !== 202) throw new HotpullError('REFUSED', `${base}/sync answered ${answer.status}: ${body.error ?? ''}`.trim());
  return body.message ?? 'sync queued';
}
