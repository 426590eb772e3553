import { HotpullError } from '../errors.js';
import { fetchFailure } from './net.js';
import type { Status } from '../sync/status.js';

/** Talks to a running daemon's listener: `hotpull status` and `hotpull sync --now`. */
async function call(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  } catch (error) {
    throw new HotpullError('UNREACHABLE', `cannot reach the hotpull daemon at ${url}: ${fetchFailure(error)}`, { cause: error });
  }
}

export async function fetchStatus(base: string): Promise<Status & { live: boolean }> {
  const response = await call(new URL('/status', base).href, { method: 'GET' });
  if (!response.ok) throw new HotpullError('UNREACHABLE', `${base}/status answered ${response.status}`);
  return (await response.json()) as Status & { live: boolean };
}

export async function requestSync(base: string, secret: string): Promise<string> {
  const response = await call(new URL('/sync', base).href, { method: 'POST', headers: { authorization: `Bearer ${secret}` } });
  const body = (await response.json().catch(() => ({}))) as { message?: string; error?: string };
  if (response.status !== 202) throw new HotpullError('REFUSED', `${base}/sync answered ${response.status}: ${body.error ?? ''}`.trim());
  return body.message ?? 'sync queued';
}
