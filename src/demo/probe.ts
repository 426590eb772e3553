import { request, requestFailure } from '../net/request.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';

/** What the demo app answers with. */
export interface Served {
  version: string;
  says: string;
  /** how many times the app has loaded its code */
  generation: number;
}

export function parseServed(body: string): Served | undefined {
  try {
    const value = JSON.parse(body) as Partial<Served>;
    if (typeof value.version !== 'string' || typeof value.says !== 'string' || typeof value.generation !== 'number')
      return undefined;
    return { version: value.version, says: value.says, generation: value.generation };
  } catch {
    return undefined;
  }
}

const REQUEST_TIMEOUT_MS = 2_000;

/** One GET through the bounded client (its own connection: a pooled socket would keep the demo alive after it ends). */
export async function fetchServed(url: string, signal?: AbortSignal): Promise<Served> {
  let answer;
  try {
    answer = await request(url, { timeoutMs: REQUEST_TIMEOUT_MS, signal });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new Error(`no answer from ${url}: ${requestFailure(error)}`, { cause: error });
  }
  const served = parseServed(answer.body);
  if (served) return served;
  throw new Error(`unexpected answer from ${url} (HTTP ${answer.status}): ${answer.body.slice(0, 200)}`);
}

export type WaitResult =
  | { served: true; afterMs: number; answer: Served }
  | { served: false; afterMs: number; last?: Served; lastError?: Error };

/**
 * Polls the app until it answers with `version`, timing from `sinceMs` (a performance.now() value, e.g. the
 * end of a push). Gives up after `timeoutMs`; an abort rejects with the signal's reason.
 */
export async function waitForVersion(
  url: string,
  version: string,
  options: { sinceMs: number; pollMs: number; timeoutMs: number; signal?: AbortSignal },
): Promise<WaitResult> {
  const { sinceMs, pollMs, timeoutMs, signal } = options;
  let last: Served | undefined;
  let lastError: Error | undefined;
  for (;;) {
    signal?.throwIfAborted();
    try {
      last = await fetchServed(url, signal);
      lastError = undefined;
      if (last.version === version) return { served: true, afterMs: performance.now() - sinceMs, answer: last };
    } catch (error) {
      signal?.throwIfAborted();
      lastError = error as Error;
    }
    const elapsed = performance.now() - sinceMs;
    if (elapsed >= timeoutMs)
      return { served: false, afterMs: elapsed, ...(last && { last }), ...(lastError && { lastError }) };
    await sleep(pollMs, undefined, { signal });
  }
}
