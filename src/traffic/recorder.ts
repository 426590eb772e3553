import { performance } from 'node:perf_hooks';
import type { TrafficSource } from './source.js';
import { windowOf, type Reading, type Window } from './window.js';

/**
 * A source read every `everyMs` from its start to close(), the readings of the last `keepMs` kept: a deploy marks
 * the reading its window starts from (at the reload) and asks for the window since (at its verdict), and the readings
 * before a mark are a real baseline. One read at a time: a slow source delays the next reading rather than stacking
 * connections. Never throws.
 */
export interface TrafficRecorder {
  readonly name: string;
  /** takes a reading now and returns its time: the start of a window */
  mark(): Promise<number>;
  /** the window from the reading taken at `mark` to one taken now */
  since(mark: number): Promise<Window>;
  /** the window of the readings kept between `from` and `to` (no new reading) */
  between(from: number, to: number): Window;
  /** stops reading and closes the source; later windows say the source was lost */
  close(): Promise<void>;
}

/** a window from a reload to a verdict, a bake's baseline: an hour at one reading a second */
const KEEP_MS = 3_600_000;

export function recordTraffic(
  source: TrafficSource,
  options: { everyMs: number; keepMs?: number; now?: () => number },
): TrafficRecorder {
  const now = options.now ?? (() => performance.now());
  const keepMs = options.keepMs ?? KEEP_MS;
  const readings: Reading[] = [];
  let pending: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const take = (): Promise<Reading> => {
    const next = pending.then(async (): Promise<Reading> => {
      const reading = closed
        ? { at: now(), lost: `${source.name}: closed` }
        : await source.read().catch((error: unknown) => ({
            at: now(),
            lost: `${source.name}: ${error instanceof Error ? error.message : String(error)}`,
          }));
      readings.push(reading);
      const oldest = reading.at - keepMs;
      while (readings.length > 2 && readings[0]!.at < oldest) readings.shift();
      return reading;
    });
    pending = next;
    return next;
  };
  const schedule = () => {
    timer = setTimeout(() => void take().then(() => !closed && schedule()), options.everyMs);
    timer.unref?.();
  };
  void take();
  schedule();
  return {
    name: source.name,
    async mark() {
      return (await take()).at;
    },
    async since(mark) {
      await take();
      return windowOf(readings.filter((r) => r.at >= mark));
    },
    between(from, to) {
      return windowOf(readings.filter((r) => r.at >= from && r.at <= to));
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      await pending;
      await source.close();
    },
  };
}
