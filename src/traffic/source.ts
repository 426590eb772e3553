import { performance } from 'node:perf_hooks';
import { windowOf, type Reading, type Window } from './window.js';

/** One place traffic is read from: a uWSGI stats server, an access log. */
export interface TrafficSource {
  /** as the user named it (`uwsgi-stats:127.0.0.1:9191`) */
  readonly name: string;
  /** one line: what it reads and what it gives */
  describe(): string;
  /** a reading now; never throws (a source that is gone or unreadable is a LostSample) */
  read(): Promise<Reading>;
  close(): Promise<void>;
}

/** Readings kept per watch: a day at one a second; beyond it the oldest but the first are dropped. */
const MAX_READINGS = 86_400;

export interface TrafficWatch {
  /** the window from the watch's first reading to its latest (a reading is taken now first) */
  window(): Promise<Window>;
  /** takes a last reading, stops, and returns the whole window */
  stop(): Promise<Window>;
}

/**
 * Reads `source` now and every `everyMs` until stopped: the readings between the first and the last make the window
 * (counters by difference, the queue's peak over every reading, respawned workers counted from zero). One read at a
 * time: a slow source delays the next reading rather than stacking connections. Never throws.
 */
export async function watchTraffic(
  source: TrafficSource,
  options: { everyMs: number; now?: () => number },
): Promise<TrafficWatch> {
  const readings: Reading[] = [];
  let stopped = false;
  let pending: Promise<void> = Promise.resolve();
  const take = (): Promise<void> => {
    pending = pending.then(async () => {
      const reading = await source.read().catch((error: unknown) => ({
        at: options.now ? options.now() : performance.now(),
        lost: `${source.name}: ${error instanceof Error ? error.message : String(error)}`,
      }));
      readings.push(reading);
      // the oldest after the first goes: counters still add up across it (by difference, a reset seen a reading later)
      if (readings.length > MAX_READINGS) readings.splice(1, 1);
    });
    return pending;
  };
  await take();
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      if (stopped) return;
      void take().then(() => !stopped && schedule());
    }, options.everyMs);
    timer.unref?.();
  };
  schedule();
  return {
    async window() {
      await take();
      return windowOf(readings);
    },
    async stop() {
      if (!stopped) {
        stopped = true;
        clearTimeout(timer);
        await take();
      }
      await pending;
      return windowOf(readings);
    },
  };
}
