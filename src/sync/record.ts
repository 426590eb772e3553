import { formatDuration } from '../duration.js';
import type { DeployRecord, DeployResult } from './status.js';

/** Clock readings (ms) at each stage a deploy reached. */
export interface Times {
  started: number;
  detected: number;
  fetched: number;
  applied: number;
  reloaded?: number;
  verified?: number;
  /** when --preflight/--canary judged the staged revision (before apply in-place, after the hooks when atomic) */
  judged?: { start: number; end: number };
}

/** Runs a judge and stamps its span into `times`: its time is booked as `judge`, not in the stage around it. */
export async function timedJudge<T>(times: Times, clock: () => number, run: () => Promise<T>): Promise<T> {
  const start = clock();
  try {
    return await run();
  } finally {
    times.judged = { start, end: clock() };
  }
}

/**
 * A deploy's record for status and history, from the stage times it reached. Pure: a stage not reached counts
 * as taking no time, and `verified` is only stamped on a deploy that went live.
 */
export function deployRecord(input: {
  trigger: string;
  /** who asked: a webhook delivery id, a signal, the CLI (see DeployRecord.by) */
  by?: string;
  from: string;
  to: string;
  result: DeployResult;
  times: Times;
  end: number;
  error?: string;
  rolledBackTo?: string;
}): DeployRecord {
  const { trigger, by, from, to, result, times: t, end, error, rolledBackTo } = input;
  const iso = (ms: number) => new Date(ms).toISOString();
  const reloaded = t.reloaded ?? end;
  const verified = t.verified ?? reloaded;
  // a stage's time without the judge's, which ran inside one of them
  const span = (from: number, to: number) =>
    to - from - (t.judged ? Math.max(0, Math.min(to, t.judged.end) - Math.max(from, t.judged.start)) : 0);
  return {
    at: iso(end),
    trigger,
    ...(by === undefined ? {} : { by }),
    from,
    to,
    result,
    stages: {
      detected: iso(t.detected),
      fetched: iso(t.fetched),
      applied: iso(t.applied),
      ...(t.reloaded === undefined ? {} : { reloaded: iso(t.reloaded) }),
      ...(t.verified === undefined || result !== 'live' ? {} : { verified: iso(t.verified) }),
    },
    durations: {
      detect: span(t.started, t.detected),
      fetch: span(t.detected, t.fetched),
      apply: span(t.fetched, t.applied),
      reload: span(t.applied, reloaded),
      ...(t.judged ? { judge: t.judged.end - t.judged.start } : {}),
      verify: span(reloaded, verified),
      total: end - t.started,
    },
    ...(error === undefined ? {} : { error }),
    ...(rolledBackTo === undefined ? {} : { rolledBackTo }),
  };
}

/**
 * A deploy's stage times in one unit system (formatDuration, as `status` shows them): "detect 3ms, fetch 41ms, …",
 * judge only when the revision was judged, verify only when `verified` (it was verified at all).
 */
export function formatStages(d: DeployRecord['durations'], verified = true): string {
  const f = formatDuration;
  const judge = d.judge === undefined ? '' : `, judge ${f(d.judge)}`;
  const verify = verified ? `, verify ${f(d.verify)}` : '';
  return `detect ${f(d.detect)}, fetch ${f(d.fetch)}, apply ${f(d.apply)}${judge}, reload ${f(d.reload)}${verify}`;
}
