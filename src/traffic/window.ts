/**
 * What a traffic source reads, and what two or more readings say about the time between them. Pure: the adapters
 * (uwsgi-stats.ts, access-log.ts) make Samples, this file turns them into a Window.
 *
 * A source's counters are cumulative per *unit*: one uWSGI worker slot, the listen queue's overflows, or the one
 * access log a follower counts. A counter that went down started again from zero, so what it shows now is all it
 * counted since: uWSGI 2.0.21 keeps a worker slot's counters when the worker is respawned (a chain reload: measured,
 * the new pid carries on from the old count) and starts every counter again when the master re-execs (a full
 * reload, `r` or a touch). What was counted between the last reading before a reset and the reset is not seen by
 * anyone: sample often (once a second or more) while a full reload runs.
 */

/** Cumulative counters of one unit at one moment. */
export interface UnitCounters {
  /** stable across respawns: a worker's id, a socket's name, 'log' */
  key: string;
  /** the process behind it, when known: a new pid is counted as a restart (its counters may carry on) */
  pid?: number;
  requests: number;
  /** requests that failed: exceptions and harakiri kills (uWSGI), 5xx answers (an access log) */
  errors: number;
  /** total time spent in requests, in microseconds (uWSGI's running_time), when the source has it */
  busyUs?: number;
}

export interface Sample {
  /** monotonic milliseconds (performance.now()), never wall-clock: a clock step must not make a window negative */
  at: number;
  units: readonly UnitCounters[];
  /** the listen queue now (connections waiting for a worker), when the source has it */
  queue?: number;
  /** cumulative listen-queue overflows per socket (uWSGI's listen_queue_errors) */
  queueErrors?: readonly UnitCounters[];
  /** the slowest per-worker average response time now, in ms (uWSGI's avg_rt), when the source has it */
  slowestAvgMs?: number;
  /**
   * cumulative request counts per latency bucket (LATENCY_BUCKETS_MS upper bounds, last one open), when the source
   * sees each request's time (an access log)
   */
  latencyBuckets?: readonly number[];
  /** lines (or documents) the source could not read, cumulative */
  garbage?: number;
}

/** A reading that failed: the source is gone or said something unreadable. */
export interface LostSample {
  at: number;
  lost: string;
}

export type Reading = Sample | LostSample;

export const isLost = (reading: Reading): reading is LostSample => 'lost' in reading;

/** The latency measure a window carries, named for what it is: sources differ in what they can give. */
export interface Latency {
  /** 'mean' (uWSGI: time in requests over requests) or 'p99' (an access log's per-request times) */
  measure: 'mean' | 'p99';
  ms: number;
  /** the slowest single figure seen: the slowest worker's avg_rt, or the highest request time's bucket */
  maxMs?: number;
}

export interface Window {
  /** milliseconds between the first and the last good reading */
  durationMs: number;
  requests: number;
  errors: number;
  latency?: Latency;
  /** the highest listen queue any reading saw (the master updates it about once a second) */
  queuePeak?: number;
  queueErrors?: number;
  /** units that started again within the window: workers with a new pid, counters that started from zero */
  restarts: number;
  /** readings that failed within the window (a full reload's re-exec, a stats server gone for a while) */
  gaps: number;
  garbage: number;
  /** set when the window cannot be trusted to the end: the last reading failed, or there were fewer than two */
  lost?: string;
}

/** Buckets per doubling: 16 puts them about 4.4 % apart (2^(1/16)). */
const STEPS = 16;

/**
 * Upper bounds of the latency buckets in ms, about 4.4 % apart from 1 ms to ~ 1,100 s: a p99 read from them is
 * within one step of the true one, so "above 2× the baseline's" errs by at most 4.4 % (with steps of 19 %, a bake
 * three times slower than a noisy baseline was missed 1 run in 2 on gunicorn's access log). The last bucket is open.
 */
export const LATENCY_BUCKETS_MS: readonly number[] = Array.from({ length: 20 * STEPS + 1 }, (_, i) => 2 ** (i / STEPS));

/** The bucket a request that took `ms` goes into. */
export function bucketOf(ms: number): number {
  if (!(ms > 1)) return 0;
  return Math.min(LATENCY_BUCKETS_MS.length, Math.ceil(STEPS * Math.log2(ms)));
}

/** What went on between the first and the last of `readings` (in time order). Never throws. */
export function windowOf(readings: readonly Reading[]): Window {
  const good = readings.filter((r): r is Sample => !isLost(r));
  const last = readings.at(-1);
  const window: Window = {
    durationMs: good.length >= 2 ? good.at(-1)!.at - good[0]!.at : 0,
    requests: 0,
    errors: 0,
    restarts: 0,
    gaps: 0,
    garbage: 0,
  };
  if (last && isLost(last)) window.lost = `source lost: ${last.lost}`;
  else if (good.length < 2) window.lost = 'source lost: fewer than two readings';
  let busyUs = 0;
  let busyKnown = good.length >= 2;
  let queueErrors: number | undefined;
  let buckets: number[] | undefined;
  for (let i = 1; i < readings.length; i++) if (isLost(readings[i]!)) window.gaps++;
  for (let i = 1; i < good.length; i++) {
    const before = good[i - 1]!;
    const after = good[i]!;
    const units = deltas(before.units, after.units);
    window.restarts += units.restarts;
    window.requests += units.requests;
    window.errors += units.errors;
    if (units.busyUs === undefined) busyKnown = false;
    else busyUs += units.busyUs;
    if (after.queueErrors) {
      const overflow = deltas(before.queueErrors ?? [], after.queueErrors);
      queueErrors = (queueErrors ?? 0) + overflow.requests;
      window.restarts += overflow.restarts;
    }
    if (after.garbage !== undefined) window.garbage += Math.max(0, after.garbage - (before.garbage ?? 0));
    if (after.latencyBuckets) {
      buckets ??= new Array<number>(after.latencyBuckets.length).fill(0);
      after.latencyBuckets.forEach(
        (n, b) => (buckets![b] = (buckets![b] ?? 0) + Math.max(0, n - (before.latencyBuckets?.[b] ?? 0))),
      );
    }
  }
  if (queueErrors !== undefined) window.queueErrors = queueErrors;
  const queues = good.map((s) => s.queue).filter((q): q is number => q !== undefined);
  if (queues.length > 0) window.queuePeak = Math.max(...queues);
  const slowest = good.map((s) => s.slowestAvgMs).filter((q): q is number => q !== undefined);
  if (buckets && window.requests > 0) window.latency = fromBuckets(buckets);
  else if (busyKnown && window.requests > 0) {
    window.latency = { measure: 'mean', ms: busyUs / 1000 / window.requests };
    if (slowest.length > 0) window.latency.maxMs = Math.max(...slowest);
  }
  return window;
}

/** p99 and the slowest bucket of a window's per-request times (the bucket's upper bound: never an underestimate). */
function fromBuckets(buckets: readonly number[]): Latency | undefined {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const bound = (b: number) => LATENCY_BUCKETS_MS[Math.min(b, LATENCY_BUCKETS_MS.length - 1)]!;
  const rank = Math.ceil(0.99 * total);
  let seen = 0;
  let p99 = 0;
  for (let b = 0; b < buckets.length; b++) {
    seen += buckets[b]!;
    if (seen >= rank) {
      p99 = bound(b);
      break;
    }
  }
  let top = buckets.length - 1;
  while (top > 0 && buckets[top] === 0) top--;
  return { measure: 'p99', ms: p99, maxMs: bound(top) };
}

/** Requests, errors and busy time served between two readings of the same units; a unit that restarted counts from zero. */
export function deltas(
  before: readonly UnitCounters[],
  after: readonly UnitCounters[],
): { requests: number; errors: number; busyUs?: number; restarts: number } {
  const old = new Map(before.map((u) => [u.key, u]));
  let requests = 0;
  let errors = 0;
  let busyUs: number | undefined = 0;
  let restarts = 0;
  for (const unit of after) {
    const prev = old.get(unit.key);
    if (prev?.pid !== undefined && unit.pid !== undefined && prev.pid !== unit.pid) restarts++;
    // uWSGI keeps a worker slot's counters across a respawn (a chain reload), and starts them all again when the
    // master re-execs (a full reload): only a counter that went down says it started again
    const reset =
      prev !== undefined &&
      (unit.requests < prev.requests ||
        unit.errors < prev.errors ||
        (unit.busyUs !== undefined && prev.busyUs !== undefined && unit.busyUs < prev.busyUs));
    if (reset && prev.pid === unit.pid) restarts++;
    const base = reset ? undefined : prev;
    requests += unit.requests - (base?.requests ?? 0);
    errors += unit.errors - (base?.errors ?? 0);
    if (unit.busyUs === undefined || (base !== undefined && base.busyUs === undefined)) busyUs = undefined;
    else if (busyUs !== undefined) busyUs += unit.busyUs - (base?.busyUs ?? 0);
  }
  return busyUs === undefined ? { requests, errors, restarts } : { requests, errors, busyUs, restarts };
}
