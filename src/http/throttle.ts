/**
 * Log aggregation for events anyone can cause (bad signatures, refused connections): the first of a quiet
 * spell is logged in full, the rest are counted by source and reported in one summary line per window. The
 * number of sources kept is bounded, so a spread-out flood cannot grow it either. Pure: the clock is passed in.
 */
export interface Summary {
  count: number;
  /** the busiest sources first, at most maxSources of them */
  sources: Array<[string, number]>;
  /** events from sources beyond maxSources */
  others: number;
  windowMs: number;
}

export class LogThrottle {
  private windowStart?: number;
  private readonly bySource = new Map<string, number>();
  private others = 0;
  private count = 0;

  constructor(
    private readonly windowMs = 60_000,
    private readonly maxSources = 10,
  ) {}

  /** One event. `log: true` for the first of a quiet spell; a summary when a window full of them just closed. */
  note(now: number, source: string): { log: boolean; summary?: Summary } {
    const summary = this.flush(now);
    if (this.windowStart === undefined) {
      this.windowStart = now;
      return { log: true, summary };
    }
    this.count += 1;
    if (this.bySource.has(source) || this.bySource.size < this.maxSources)
      this.bySource.set(source, (this.bySource.get(source) ?? 0) + 1);
    else this.others += 1;
    return { log: false, summary };
  }

  /**
   * The summary of a window that has closed by `now` (or of the current one when `force`), if it suppressed
   * anything. A window that suppressed events starts the next one at once, so a steady flood gives one line per
   * window; a quiet window ends the spell and the next event is logged in full again.
   */
  flush(now: number, force = false): Summary | undefined {
    if (this.windowStart === undefined || (!force && now - this.windowStart < this.windowMs)) return undefined;
    if (this.count === 0) {
      this.windowStart = undefined;
      return undefined;
    }
    const summary: Summary = {
      count: this.count,
      sources: [...this.bySource].sort((a, b) => b[1] - a[1]),
      others: this.others,
      windowMs: Math.max(0, now - this.windowStart),
    };
    this.windowStart = now;
    this.bySource.clear();
    this.others = 0;
    this.count = 0;
    return summary;
  }
}

/** `499 more bad signatures in the last 60s, from 127.0.0.1 ×480, ::1 ×19` (and `, and 3 from other sources`). */
export function summaryLine(what: string, summary: Summary): string {
  const sources = summary.sources.map(([source, n]) => `${source} ×${n}`).join(', ');
  const others = summary.others > 0 ? `, and ${summary.others} from other sources` : '';
  return `${summary.count} more ${what} in the last ${Math.round(summary.windowMs / 1000)}s, from ${sources}${others}`;
}
