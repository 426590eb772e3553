import { formatDuration } from '../duration.js';
import type { Latency, Window } from './window.js';

/**
 * Judging a deploy on real traffic: the bake window after it went live against the same-length window before it (the
 * baseline). Pure. A revision fails when it is worse than the thresholds AND worse than what served before it: an
 * app that failed 3 % of requests before the deploy is not rolled back for failing 3 % after it.
 */
export interface BakeThresholds {
  /** the highest share of failed requests (0.01 = 1 %) that passes; a failure must also exceed the baseline's */
  maxErrorRatio: number;
  /** the highest latency (the source's measure, in ms) that passes; a failure must also exceed 2× the baseline's */
  maxLatencyMs?: number;
  /** fewer requests than this in the bake window judge nothing: inconclusive */
  minRequests: number;
  /** what an inconclusive bake does: stay live (said in status and history) or roll back */
  inconclusive: 'live' | 'rollback';
}

export const BAKE_DEFAULTS: Readonly<BakeThresholds> = Object.freeze({
  maxErrorRatio: 0.01,
  minRequests: 50,
  inconclusive: 'live',
});

/** How much slower than the baseline a bake's latency must be to fail (besides being above maxLatencyMs). */
export const LATENCY_FACTOR = 2;

export type BakeVerdict =
  | { verdict: 'pass'; impact: string }
  | { verdict: 'fail'; evidence: string; impact: string }
  | { verdict: 'inconclusive'; reason: string; rollback: boolean; impact: string };

export function judgeBake(baseline: Window | undefined, bake: Window, thresholds: BakeThresholds): BakeVerdict {
  const impact = formatImpact(bake);
  const inconclusive = (reason: string): BakeVerdict => ({
    verdict: 'inconclusive',
    reason,
    rollback: thresholds.inconclusive === 'rollback',
    impact,
  });
  if (bake.lost) return inconclusive(bake.lost);
  if (bake.requests < thresholds.minRequests)
    return inconclusive(
      `${plural(bake.requests, 'request')} in the bake window, fewer than --bake-min-requests ${thresholds.minRequests}`,
    );
  // a baseline that was lost or had no traffic says nothing: the thresholds alone judge
  const before = baseline && !baseline.lost && baseline.requests > 0 ? baseline : undefined;
  const evidence: string[] = [];
  const ratio = bake.errors / bake.requests;
  if (ratio > thresholds.maxErrorRatio && (!before || ratio > before.errors / before.requests)) {
    evidence.push(
      `${percent(ratio)} of requests failed (${count(bake.errors)} of ${count(bake.requests)}), above --bake-max-errors ${percent(thresholds.maxErrorRatio)}` +
        (before
          ? ` and the baseline's ${percent(before.errors / before.requests)} (${count(before.errors)} of ${count(before.requests)})`
          : ''),
    );
  }
  const latency = bake.latency;
  const base = before?.latency?.measure === latency?.measure ? before?.latency : undefined;
  if (
    thresholds.maxLatencyMs !== undefined &&
    latency &&
    latency.ms > thresholds.maxLatencyMs &&
    (!base || latency.ms > LATENCY_FACTOR * base.ms)
  ) {
    evidence.push(
      `${latency.measure} latency ${formatMs(latency.ms)}, above --bake-max-latency ${formatMs(thresholds.maxLatencyMs)}` +
        (base ? ` and ${LATENCY_FACTOR}× the baseline's ${formatMs(base.ms)}` : ''),
    );
  }
  return evidence.length > 0 ? { verdict: 'fail', evidence: evidence.join('; '), impact } : { verdict: 'pass', impact };
}

/**
 * What a window cost its users, in one line: "0 failed of 1,874 requests, listen queue peak 3". Only what the source
 * measured is said; a lost source says so at the end.
 */
export function formatImpact(window: Window): string {
  const parts = [`${count(window.errors)} failed of ${plural(window.requests, 'request')}`];
  if (window.queuePeak !== undefined) parts.push(`listen queue peak ${count(window.queuePeak)}`);
  if (window.queueErrors) parts.push(`${plural(window.queueErrors, 'connection')} refused by a full listen queue`);
  if (window.latency) parts.push(describeLatency(window.latency));
  if (window.garbage) parts.push(`${plural(window.garbage, 'unreadable log line')}`);
  const line = parts.join(', ');
  return window.lost ? `${line} (${window.lost})` : line;
}

function describeLatency(latency: Latency): string {
  const slowest = latency.maxMs === undefined ? '' : ` (slowest ${formatMs(latency.maxMs)})`;
  return `${latency.measure} ${formatMs(latency.ms)}${slowest}`;
}

/** 0.04ms, 0.4ms, 12ms, 1.5s: two decimals below 1 ms, one below 10 ms, formatDuration above */
export function formatMs(ms: number): string {
  if (ms < 1) return `${+ms.toFixed(2)}ms`;
  return ms < 10 ? `${+ms.toFixed(1)}ms` : formatDuration(ms);
}

const count = (n: number): string => n.toLocaleString('en-US');

function plural(n: number, noun: string): string {
  return `${count(n)} ${noun}${n === 1 ? '' : 's'}`;
}

/** 1 %, 0.4 %, 6.25 %: up to two decimals, none when whole */
function percent(ratio: number): string {
  return `${+(ratio * 100).toFixed(2)} %`;
}
