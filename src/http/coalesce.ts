import { shortSha } from '../sha.js';

/**
 * Webhook coalescing, in front of the daemon's own "latest wins" flag. The daemon folds triggers that arrive
 * during a pass into one follow-up, but a webhook pass fetches, so a flood that keeps arriving between passes
 * would still fetch once per pass. Here:
 * - a push whose revision is already deployed, or is the one a webhook pass is already fetching, does nothing;
 * - the first webhook after a quiet spell goes straight through (latency is the point of a webhook);
 * - webhooks within a short window after one that went through set a single deferred trigger at the window's
 *   end; each window that had to defer doubles the next one (up to maxWindowMs), so a sustained flood costs a
 *   handful of passes, and a quiet window brings it back to windowMs.
 * Pure: the clock is passed in, the caller owns the timer.
 */
export type Offer =
  | { action: 'trigger' }
  | { action: 'skip'; reason: string }
  /** start a timer for inMs, then call fireDeferred() */
  | { action: 'defer'; inMs: number }
  /** a deferred trigger is already set; it covers this one */
  | { action: 'queued' };

export interface CoalesceOptions {
  windowMs: number;
  maxWindowMs: number;
}

export const COALESCE_DEFAULTS: CoalesceOptions = Object.freeze({ windowMs: 250, maxWindowMs: 2_000 });

/** A pass counts as started after a trigger when it started at most this long before it (clocks are read apart). */
const START_SLACK_MS = 5;

export class WebhookCoalescer {
  private window: number;
  private lastFire?: number;
  private deferred = false;
  private deferredSha?: string;
  private inFlight?: { sha?: string; at: number };

  constructor(private readonly options: CoalesceOptions = COALESCE_DEFAULTS) {
    this.window = options.windowMs;
  }

  /** A signed push for `sha` (undefined when the payload named none) arrived; `deployedSha` is what runs. */
  offer(now: number, sha: string | undefined, deployedSha: string | undefined): Offer {
    if (sha !== undefined && sha === deployedSha)
      return { action: 'skip', reason: `${shortSha(sha)} is already deployed` };
    if (sha !== undefined && this.inFlight?.sha === sha)
      return { action: 'skip', reason: `${shortSha(sha)} is already being fetched` };
    if (this.deferred) {
      this.deferredSha = sha;
      return { action: 'queued' };
    }
    if (this.lastFire !== undefined && now - this.lastFire < this.window) {
      this.deferred = true;
      this.deferredSha = sha;
      return { action: 'defer', inMs: this.lastFire + this.window - now };
    }
    this.window = this.options.windowMs;
    this.fire(now, sha);
    return { action: 'trigger' };
  }

  /** The deferred trigger's timer ran out: the caller triggers now. */
  fireDeferred(now: number): void {
    this.deferred = false;
    this.window = Math.min(this.window * 2, this.options.maxWindowMs);
    this.fire(now, this.deferredSha);
    this.deferredSha = undefined;
  }

  /** A sync pass that started at `startedAt` ended: a trigger fired before it has been served. */
  passEnded(startedAt: number): void {
    if (this.inFlight && startedAt >= this.inFlight.at - START_SLACK_MS) this.inFlight = undefined;
  }

  get pending(): boolean {
    return this.deferred;
  }

  private fire(now: number, sha: string | undefined): void {
    this.lastFire = now;
    this.inFlight = { sha, at: now };
  }
}
