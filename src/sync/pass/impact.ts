import { formatImpact } from '../../traffic/bake.js';
import type { Window } from '../../traffic/window.js';
import type { DeployImpact } from '../status.js';
import type { Deploy, StageEnv } from './deploy.js';

/**
 * --traffic: what a deploy cost its users, from a reading taken at its reload to one at its verdict (live,
 * unverified, or a rollback's start). A source that is lost or unreadable never fails the pass: its reading is
 * bounded (2 s for a stats server) and the window says it was lost.
 */
export async function markReload(d: Deploy, s: StageEnv): Promise<void> {
  if (s.traffic && d.trafficFrom === undefined) d.trafficFrom = await s.traffic.mark();
}

/** The window since the reload into `d.impact` (the record takes it from there); a lost source is said once. */
export async function measureImpact(d: Deploy, s: StageEnv): Promise<void> {
  if (!s.traffic || d.trafficFrom === undefined) return;
  d.impact = impactOf(await s.traffic.since(d.trafficFrom));
  if (d.impact.lost)
    s.logger.warn({ new: d.to, traffic: s.traffic.name }, `traffic of the deploy: ${d.impact.summary}`);
}

export function impactOf(w: Window): DeployImpact {
  const impact: DeployImpact = {
    summary: formatImpact(w),
    ms: Math.round(w.durationMs),
    requests: w.requests,
    failed: w.errors,
  };
  if (w.latency) {
    impact.latency = w.latency.measure;
    impact.latencyMs = round(w.latency.ms);
    if (w.latency.maxMs !== undefined) impact.slowestMs = round(w.latency.maxMs);
  }
  if (w.queuePeak !== undefined) impact.queuePeak = w.queuePeak;
  if (w.queueErrors !== undefined) impact.queueErrors = w.queueErrors;
  if (w.lost) impact.lost = w.lost;
  return impact;
}

const round = (ms: number): number => Math.round(ms * 100) / 100;
