import { HotpullError } from '../errors.js';
import { fetchFailure } from './net.js';
import type { Status } from '../sync/status.js';

/** Talks to a running daemon's listener: `hotpull status` and `hotpull sync --now`. */
async function call(url: string, init: RequestInit, timeoutMs = 5000): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new HotpullError('UNREACHABLE', `cannot reach the hotpull daemon at ${url}: ${fetchFailure(error)}`, { exitCode: 3, cause: error });
  }
}

export async function fetchStatus(base: string): Promise<Status & { live: boolean }> {
  const response = await call(new URL('/status', base).href, { method: 'GET' });
  if (!response.ok) throw new HotpullError('UNREACHABLE', `${base}/status answered ${response.status}`, { exitCode: 3 });
  return (await response.json()) as Status & { live: boolean };
}

export async function requestSync(base: string, secret: string): Promise<string> {
  const response = await call(new URL('/sync', base).href, { method: 'POST', headers: { authorization: `Bearer ${secret}` } });
  const body = (await response.json().catch(() => ({}))) as { message?: string; error?: string };
  if (response.status !== 202) throw new HotpullError('UNREACHABLE', `${base}/sync answered ${response.status}: ${body.error ?? ''}`.trim(), { exitCode: 1 });
  return body.message ?? 'sync queued';
}

/** What the listener answers to pause, resume, rollback and sync --now --wait. */
export interface ControlAnswer {
  ok: boolean;
  message: string;
  result?: string;
  sha?: string;
}

/**
 * POST to an operator route (/pause, /resume, /rollback, /sync?wait=1). `wait`: the daemon answers when the pass
 * or rollback ends, so the client waits a little longer than the listener's own limit (10 minutes).
 * Bad input the daemon refused (400) is a config error (exit 2); a route it does not know (404) says to upgrade it.
 */
export async function requestControl(base: string, secret: string, route: string, body?: Record<string, unknown>, wait = false): Promise<ControlAnswer> {
  const init: RequestInit = {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  };
  const response = await call(new URL(route, base).href, init, wait ? 11 * 60_000 : 5000);
  const answer = (await response.json().catch(() => ({}))) as Partial<ControlAnswer> & { error?: string };
  const path = route.split('?')[0];
  if (response.status === 400) throw new HotpullError('CONFIG', answer.error ?? `${base}${path} answered 400`);
  if (response.status === 404) {
    throw new HotpullError('UNREACHABLE', `${base}${path} answered 404: the daemon there does not know ${path} (an older hotpull?)`, { exitCode: 1 });
  }
  if (response.status !== 200) {
    throw new HotpullError('UNREACHABLE', `${base}${path} answered ${response.status}: ${answer.error ?? ''}`.trim(), { exitCode: 1 });
  }
  return { ok: answer.ok === true, message: answer.message ?? '', result: answer.result, sha: answer.sha };
}
