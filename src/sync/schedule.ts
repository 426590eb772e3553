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
  const base = failures === 0 ? intervalMs : Math.min(Math.max(backoffMaxMs, intervalMs), intervalMs * 2 ** Math.min(failures, 30));
  return Math.max(0, Math.round(base * (1 + (random * 2 - 1) * JITTER)));
}
