import { HotpullError } from '../errors.js';
import { request, requestFailure, type Answer, type RequestOptions } from './request.js';

/**
 * Where a daemon is asked: an http(s) URL (--url, --listen, or the URL it recorded), or `unix:PATH`, its operator
 * socket, which needs no secret.
 */
export const UNIX = 'unix:';

/** Talks to a running daemon's listener: `hotpull status`, `sync --now`, `pause`, `resume`, `rollback`, `reset`. */
async function call(
  base: string,
  route: string,
  options: Omit<RequestOptions, 'timeoutMs'>,
  timeoutMs = 5000,
): Promise<Answer> {
  const socketPath = base.startsWith(UNIX) ? base.slice(UNIX.length) : undefined;
  // below the base's path: an app of a many-apps listener is asked at http://HOST:PORT/apps/NAME/status
  const root = socketPath ? 'http://localhost/' : base.endsWith('/') ? base : `${base}/`;
  const url = new URL(route.replace(/^\//, ''), root).href;
  try {
    // our own daemon's /status (20 deploys) and answers: more than a probe's body, still bounded
    return await request(url, {
      maxBodyBytes: 1024 * 1024,
      ...options,
      timeoutMs,
      ...(socketPath ? { socketPath } : {}),
    });
  } catch (error) {
    throw new HotpullError(
      'UNREACHABLE',
      `cannot reach the hotpull daemon at ${socketPath ? base : url}: ${requestFailure(error)}`,
      { cause: error },
    );
  }
}

/** The bearer header over TCP; the socket needs none (only this user can reach it). */
const bearer = (base: string, secret: string | undefined): Record<string, string> =>
  base.startsWith(UNIX) || secret === undefined ? {} : { authorization: `Bearer ${secret}` };

function json(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/**
 * The daemon's /status as the caller names it (sync/status.ts's Status, for `hotpull status`): this client speaks
 * HTTP and JSON only, so it checks an object came back and leaves the shape to the layer that owns it.
 */
export async function fetchStatus<S extends object>(base: string, timeoutMs?: number): Promise<S & { live: boolean }> {
  const answer = await call(base, '/status', { method: 'GET' }, timeoutMs);
  if (answer.status < 200 || answer.status > 299)
    throw new HotpullError('UNREACHABLE', `${base}/status answered ${answer.status}`);
  const status = json(answer.body);
  if (typeof status !== 'object' || status === null)
    throw new HotpullError('UNREACHABLE', `${base}/status answered ${answer.status} with a body that is not JSON`);
  return status as S & { live: boolean };
}

export async function requestSync(base: string, secret: string | undefined): Promise<string> {
  const answer = await call(base, '/sync', { method: 'POST', headers: bearer(base, secret) });
  const body = (json(answer.body) ?? {}) as { message?: string; error?: string };
  if (answer.status !== 202)
    throw new HotpullError('REFUSED', `${base}/sync answered ${answer.status}: ${body.error ?? ''}`.trim());
  return body.message ?? 'sync queued';
}

/** What the listener answers to pause, resume, rollback and sync --now --wait. */
export interface ControlAnswer {
  ok: boolean;
  message: string;
  result?: string;
  sha?: string;
  /** reset: the backup refs and directories it made */
  backups?: string[];
}

/**
 * POST to an operator route (/pause, /resume, /rollback, /sync?wait=1). `wait`: the daemon answers when the pass
 * or rollback ends, so the client waits a little longer than the listener's own limit (10 minutes).
 * Bad input the daemon refused (400) is a config error (exit 2); a route it does not know (404) says to upgrade it.
 */
export async function requestControl(
  base: string,
  secret: string | undefined,
  route: string,
  body?: Record<string, unknown>,
  wait = false,
): Promise<ControlAnswer> {
  const headers: Record<string, string> = {
    ...bearer(base, secret),
    ...(body ? { 'content-type': 'application/json' } : {}),
  };
  const answer = await call(
    base,
    route,
    { method: 'POST', headers, ...(body ? { body: JSON.stringify(body) } : {}) },
    wait ? 11 * 60_000 : 5000,
  );
  const parsed = (json(answer.body) ?? {}) as Partial<ControlAnswer> & { error?: string };
  const path = route.split('?')[0];
  if (answer.status === 400) throw new HotpullError('CONFIG', parsed.error ?? `${base}${path} answered 400`);
  if (answer.status === 404)
    throw new HotpullError(
      'REFUSED',
      `${base}${path} answered 404: the daemon there does not know ${path} (an older hotpull?)`,
    );
  if (answer.status !== 200)
    throw new HotpullError('REFUSED', `${base}${path} answered ${answer.status}: ${parsed.error ?? ''}`.trim());
  return {
    ok: parsed.ok === true,
    message: parsed.message ?? '',
    result: parsed.result,
    sha: parsed.sha,
    ...(Array.isArray(parsed.backups) ? { backups: parsed.backups.map(String) } : {}),
  };
}
