/** Fraction of the interval by which each poll is randomly moved, so a fleet does not poll in lockstep. */
export const JITTER = 0.1;

export interface DelayInput {
  intervalMs: number;
  /** consecutive failed syncs; 0 when the last one succeeded */
  failures: number;
  backoffMaxMs: number;
  /** a uniform random number in [0, 1) */
  random: number;
}

/** The wait before the next poll: the interval, doubled per consecutive failure up to the cap, ±10% jitter. */
export function nextDelay({ intervalMs, failures, backoffMaxMs, random }: DelayInput): number {
  const base =
    failures === 0
      ? intervalMs
      : Math.min(Math.max(backoffMaxMs, intervalMs), intervalMs * 2 ** Math.min(failures, 30));
  return Math.max(0, Math.round(base * (1 + (random * 2 - 1) * JITTER)));
}

/** Floor of a poll's own timeout: a slow remote (HTTPS far away, a loaded git server) still answers in time. */
export const POLL_TIMEOUT_FLOOR_MS = 10_000;

/**
 * How long a timer poll's ls-remote may take: five intervals, at least 10 s, at most --sync-timeout. A poll
 * that hangs (a connection the server never accepted: git daemon listens with a backlog of 5, and a SYN it drops
 * is retried only after 1, 3, 7… s) would otherwise hold every later poll back for the whole --sync-timeout,
 * where a fresh connection a poll later gets through. Fetches, and detection from other triggers, keep --sync-timeout.
 */
export function pollTimeoutMs(intervalMs: number, syncTimeoutMs: number): number {
  return Math.min(syncTimeoutMs, Math.max(POLL_TIMEOUT_FLOOR_MS, intervalMs * 5));
}
