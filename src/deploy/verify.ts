import { request, requestFailure, type Answer } from '../net/request.js';
import { formatDuration } from '../duration.js';

/** How a deploy is verified: the app answers 2xx (and shows the expected text) continuously for a while. */
export interface HealthCheck {
  url: string;
  timeoutMs: number;
  /** text the body must contain; {sha} and {short_sha} are replaced by the deployed revision */
  expect?: string;
  /**
   * How long answers must stay good before the deploy counts as live. A touch reload starts up to a second
   * after the touch (uWSGI checks once a second), so the old workers can still answer well meanwhile; an app
   * that then fails to import only shows after that. Any bad answer restarts the window.
   */
  settleMs: number;
  /** pause between requests */
  pollMs?: number;
}

export type VerifyResult = { ok: true; ms: number; requests: number } | { ok: false; ms: number; requests: number; reason: string };

export function expandExpect(template: string, sha: string): string {
  return template.replaceAll('{sha}', sha).replaceAll('{short_sha}', sha.slice(0, 7));
}

const MIN_GOOD_ANSWERS = 3;
const PARALLEL_PROBES = 3;

async function probe(url: string, expected: string | undefined, timeoutMs: number): Promise<string | undefined> {
  let answer: Answer;
  try {
    answer = await request(url, { timeoutMs, headers: { 'user-agent': 'hotpull-verify' } });
  } catch (error) {
    return `GET ${url} failed: ${requestFailure(error)}`;
  }
  const { status, body } = answer;
  if (status < 200 || status > 299) return `GET ${url} answered ${status}: ${body.trim().slice(0, 120)}`;
  if (expected !== undefined && !body.includes(expected)) {
    return `GET ${url} answered ${status} without ${JSON.stringify(expected)} (body: ${JSON.stringify(body.trim().slice(0, 120))})`;
  }
  return undefined;
}

/** Polls until the app answers well for settleMs (and at least 3 times) in a row, or the timeout passes. */
export async function verifyHealth(check: HealthCheck, sha: string, signal?: AbortSignal): Promise<VerifyResult> {
  const expected = check.expect === undefined ? undefined : expandExpect(check.expect, sha);
  const started = Date.now();
  const deadline = started + check.timeoutMs;
  const pollMs = check.pollMs ?? 100;
  let goodSince: number | undefined;
  let good = 0;
  let requests = 0;
  let lastProblem = 'no answer yet';
  while (!signal?.aborted) {
    const now = Date.now();
    if (now >= deadline) break;
    // A few requests at once each round, so that more than one worker answers: one worker on the new code
    // and one still on the old (a chain reload in progress, or one uWSGI dropped) must not pass.
    requests += PARALLEL_PROBES;
    const perRequest = Math.max(100, Math.min(5000, deadline - now));
    const answers = await Promise.all(Array.from({ length: PARALLEL_PROBES }, () => probe(check.url, expected, perRequest)));
    const problem = answers.find((a) => a !== undefined);
    if (problem === undefined) {
      goodSince ??= Date.now();
      good += 1;
      if (good >= MIN_GOOD_ANSWERS && Date.now() - goodSince >= check.settleMs) return { ok: true, ms: Date.now() - started, requests };
    } else {
      lastProblem = problem;
      goodSince = undefined;
      good = 0;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  const reason = goodSince === undefined ? lastProblem : `answers were good only for ${formatDuration(Date.now() - goodSince)}; before that: ${lastProblem}`;
  return { ok: false, ms: Date.now() - started, requests, reason: `not healthy within ${formatDuration(check.timeoutMs)}: ${reason}` };
}
