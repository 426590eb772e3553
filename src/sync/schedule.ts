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

/**
 * How the next poll is paced. interval: --interval (no webhook heard yet, or one was missed); safety-poll: webhooks
 * arrive, so polls only guard against a lost delivery; backoff: the last pass failed.
 */
export type PollMode = 'interval' | 'safety-poll' | 'backoff';

/** What the daemon says of its polling in /status (`poll`) and `hotpull status`. */
export interface PollInfo {
  mode: PollMode;
  /** the pace without failures: --interval, or --safety-poll while webhooks arrive */
  everyMs: number;
  /** the wait chosen for the next poll (jitter and backoff included); absent while a pass runs */
  waitMs?: number;
  /** when the next poll is due (ISO); absent while a pass runs */
  nextAt?: string;
  /** when the last webhook for the followed branch arrived (ISO) */
  webhookAt?: string;
  /** consecutive failed passes (the backoff's exponent) */
  failures: number;
}

/**
 * The poll period without failures. Webhooks make fast polling redundant: once one has arrived, polls slow to
 * --safety-poll (never faster than --interval), which bounds what a lost delivery costs. The daemon goes back to
 * --interval when a poll finds a remote head that no webhook announced (a missed delivery) and stays there until
 * the next webhook: a quiet branch keeps the slow pace, a silent webhook does not.
 */
export function pollEvery(input: { intervalMs: number; safetyPollMs?: number; webhooksArrive: boolean }): number {
  const { intervalMs, safetyPollMs, webhooksArrive } = input;
  return webhooksArrive && safetyPollMs !== undefined ? Math.max(intervalMs, safetyPollMs) : intervalMs;
}

/**
 * Whether a poll's pass shows a webhook was missed: it was a timer poll, the remote head it found differs from the one
 * known before, and no webhook arrived since that pass started (a delivery racing the poll counts as arrived).
 */
export function missedWebhook(input: {
  trigger: string;
  remoteBefore?: string;
  remoteAfter?: string;
  webhookDuringPass: boolean;
}): boolean {
  const { trigger, remoteBefore, remoteAfter, webhookDuringPass } = input;
  return (
    trigger === 'poll' &&
    !webhookDuringPass &&
    remoteBefore !== undefined &&
    remoteAfter !== undefined &&
    remoteBefore !== remoteAfter
  );
}
