import type { DeployRecord, DeployResult } from './status.js';

/** Clock readings (ms) at each stage a deploy reached. */
export interface Times {
  started: number;
  detected: number;
  fetched: number;
  applied: number;
  reloaded?: number;
  verified?: number;
}

/**
 * A deploy's record for status and history, from the stage times it reached. Pure: a stage not reached counts
 * as taking no time, and `verified` is only stamped on a deploy that went live.
 */
export function deployRecord(input: {
  trigger: string;
  from: string;
  to: string;
  result: DeployResult;
  times: Times;
  end: number;
  error?: string;
  rolledBackTo?: string;
}): DeployRecord {
  const { trigger, from, to, result, times: t, end, error, rolledBackTo } = input;
  const iso = (ms: number) => new Date(ms).toISOString();
  const reloaded = t.reloaded ?? end;
  const verified = t.verified ?? reloaded;
  return {
    trigger,
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
      detect: t.detected - t.started,
      fetch: t.fetched - t.detected,
      apply: t.applied - t.fetched,
      reload: reloaded - t.applied,
      verify: verified - reloaded,
      total: end - t.started,
    },
    ...(error === undefined ? {} : { error }),
    ...(rolledBackTo === undefined ? {} : { rolledBackTo }),
  };
}
