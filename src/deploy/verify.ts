import { request, requestFailure, type Answer as HttpAnswer } from '../net/request.js';
import { formatDuration } from '../duration.js';
import { shortSha } from '../sha.js';

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
  /**
   * When this call is part of a longer wait (the engine reloads once more half-way through --health-timeout): the
   * configured timeout, and the time already waited before this call. Only the messages use them.
   */
  part?: { timeoutMs: number; waitedMs: number };
}

/** A timeout's verdict, true about the time waited and the timeout configured (they differ by a poll at most). */
export const notHealthy = (waitedMs: number, timeoutMs: number, why: string) =>
  `not healthy after ${formatDuration(waitedMs)} (timeout ${formatDuration(timeoutMs)}): ${why}`;

export type VerifyResult =
  | { ok: true; ms: number; requests: number }
  /**
   * failedFast: steady 5xx, reset or (after the old code answered) refused connections from the new revision, a
   * verdict before the timeout (nothing to gain by reloading again). impossible: nothing answered before the deploy
   * and nothing answers now, so the check says nothing about the revision.
   */
  | { ok: false; ms: number; requests: number; reason: string; failedFast?: boolean; impossible?: boolean };

/**
 * What the health check said of the revision served before the deploy: `good` (it passed), `bad` (it answered, but
 * not well), `unreachable` (no answer at all). Only after a `good` can a failure be blamed on the deploy.
 */
export type Before = 'good' | 'bad' | 'unreachable';

export function expandExpect(template: string, sha: string): string {
  return template.replaceAll('{sha}', sha).replaceAll('{short_sha}', shortSha(sha));
}

const MIN_GOOD_ANSWERS = 3;
const PARALLEL_PROBES = 3;

/** One answer, judged: good, or why not (with the status when the server answered at all). */
export type Answer =
  { good: true; status: number } | { good: false; status?: number; failure?: Failure; problem: string };

/**
 * How a request got no answer: `refused` (nothing listens: a server starting, or a wrong port), `reset` (a server
 * took the connection and dropped it without a status line, as uWSGI does when the app raised, or sent one that
 * does not parse), `other`
 * (a timeout, a name that does not resolve …).
 */
export type Failure = 'refused' | 'reset' | 'other';

export function failureKind(error: unknown): Failure {
  const code = (error as { code?: string }).code;
  if (code === 'ECONNREFUSED') return 'refused';
  // a status line or headers that do not parse (HPE_…) are no answer either
  if (code === 'ECONNRESET' || code === 'EPIPE' || code?.startsWith('HPE_')) return 'reset';
  return 'other';
}

export async function probeOnce(url: string, expected: string | undefined, timeoutMs: number): Promise<Answer> {
  let answer: HttpAnswer;
  try {
    answer = await request(url, { timeoutMs, headers: { 'user-agent': 'hotpull-verify' } });
  } catch (error) {
    return { good: false, failure: failureKind(error), problem: `GET ${url} failed: ${requestFailure(error)}` };
  }
  const { status, body } = answer;
  if (status < 200 || status > 299)
    return { good: false, status, problem: `GET ${url} answered ${status}: ${body.trim().slice(0, 120)}` };
  if (expected !== undefined && !body.includes(expected)) {
    return {
      good: false,
      status,
      problem: `GET ${url} answered ${status} without ${JSON.stringify(expected)} (body: ${JSON.stringify(body.trim().slice(0, 120))})`,
    };
  }
  return { good: true, status };
}

/**
 * An answer that says the app itself is broken: a 5xx from the app server. 502, 503 and 504 are what a proxy or
 * a starting server says meanwhile, so they never count.
 */
export const isBrokenAnswer = (a: Answer) =>
  (a.status !== undefined && a.status >= 500 && a.status <= 599 && ![502, 503, 504].includes(a.status)) ||
  (!a.good && a.failure === 'reset');

const isRefused = (a: Answer) => !a.good && a.failure === 'refused';
const isUnanswered = (a: Answer) => !a.good && a.status === undefined;

/**
 * Fail fast: with an expected text naming the revision, old code can never pass, so the new revision answering
 * 5xx on every probe for the settle window (and at least FAIL_FAST_ROUNDS rounds) will not get better by waiting.
 */
const FAIL_FAST_ROUNDS = 5;
const FAIL_FAST_MIN_MS = 1000;
/**
 * Refused connections after the old code answered: a reload that restarts the server (supervisorctl restart) closes
 * its port for a moment, so they count only when steady for longer than a broken answer must be.
 */
const REFUSED_MIN_MS = 3000;
/** Nothing answered before the deploy and nothing answers after it for this long: the check cannot judge it. */
const IMPOSSIBLE_MIN_MS = 5000;
export const failsFast = (check: Pick<HealthCheck, 'expect'>) =>
  check.expect !== undefined && /\{(short_)?sha\}/.test(check.expect);

/**
 * Polls until the app answers well for settleMs (and at least 3 times) in a row, or the timeout passes. `before`
 * (see Before) decides which steady failures end it early: after a good answer from the old code, broken answers
 * and refused connections are the new revision's; with no answer before, a steady silence ends it as impossible.
 */
export async function verifyHealth(
  check: HealthCheck,
  sha: string,
  signal?: AbortSignal,
  before?: Before,
): Promise<VerifyResult> {
  const expected = check.expect === undefined ? undefined : expandExpect(check.expect, sha);
  const started = Date.now();
  const deadline = started + check.timeoutMs;
  const pollMs = check.pollMs ?? 100;
  let goodSince: number | undefined;
  let good = 0;
  let requests = 0;
  let lastProblem = 'no answer yet';
  const failFast = failsFast(check);
  let brokenSince: number | undefined;
  let brokenRounds = 0;
  let refusedInStreak = false;
  let silentSince: number | undefined;
  while (!signal?.aborted) {
    const now = Date.now();
    if (now >= deadline) break;
    // A few requests at once each round, so that more than one worker answers: one worker on the new code
    // and one still on the old (a chain reload in progress, or one uWSGI dropped) must not pass.
    requests += PARALLEL_PROBES;
    const perRequest = Math.max(100, Math.min(5000, deadline - now));
    const answers = await Promise.all(
      Array.from({ length: PARALLEL_PROBES }, () => probeOnce(check.url, expected, perRequest)),
    );
    const bad = answers.find((a) => !a.good);
    const problem = bad && !bad.good ? bad.problem : undefined;
    const refusedToo = before === 'good';
    if ((failFast || before === 'good') && answers.every((a) => isBrokenAnswer(a) || (refusedToo && isRefused(a)))) {
      brokenSince ??= Date.now();
      brokenRounds += 1;
      if (answers.some(isRefused)) refusedInStreak = true;
      const steady = Date.now() - brokenSince;
      const needed = Math.max(check.settleMs, refusedInStreak ? REFUSED_MIN_MS : FAIL_FAST_MIN_MS);
      if (brokenRounds >= FAIL_FAST_ROUNDS && steady >= needed) {
        const what = answers.every((a) => a.status !== undefined)
          ? 'answered 5xx'
          : answers.every(isRefused)
            ? 'refused the connection'
            : answers.every((a) => !a.good && a.failure === 'reset')
              ? 'dropped the connection'
              : 'answered 5xx, dropped or refused the connection';
        return {
          ok: false,
          ms: Date.now() - started,
          requests,
          failedFast: true,
          reason: `${what} on every probe for ${formatDuration(steady)}${before === 'good' ? ' (the revision before answered well)' : ''}: ${problem}`,
        };
      }
    } else {
      brokenSince = undefined;
      brokenRounds = 0;
      refusedInStreak = false;
    }
    if (before === 'unreachable' && answers.every(isUnanswered)) {
      silentSince ??= Date.now();
      const steady = Date.now() - silentSince;
      if (steady >= Math.max(check.settleMs, IMPOSSIBLE_MIN_MS))
        return {
          ok: false,
          ms: Date.now() - started,
          requests,
          impossible: true,
          reason: `no answer for ${formatDuration(steady)}, as before the deploy: ${problem}`,
        };
    } else silentSince = undefined;
    if (problem === undefined) {
      goodSince ??= Date.now();
      good += 1;
      if (good >= MIN_GOOD_ANSWERS && Date.now() - goodSince >= check.settleMs)
        return { ok: true, ms: Date.now() - started, requests };
    } else {
      lastProblem = problem;
      goodSince = undefined;
      good = 0;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  const reason =
    goodSince === undefined
      ? lastProblem
      : `answers were good only for ${formatDuration(Date.now() - goodSince)}; before that: ${lastProblem}`;
  return {
    ok: false,
    ms: Date.now() - started,
    requests,
    reason: notHealthy(
      (check.part?.waitedMs ?? 0) + Date.now() - started,
      check.part?.timeoutMs ?? check.timeoutMs,
      reason ?? 'no answer',
    ),
  };
}
