/** A burst of changes, collapsed: distinct repo-relative paths in the order they first changed. */
export interface Batch {
  readonly paths: readonly string[];
  /** when the first change of the batch arrived (clock ms) */
  readonly since: number;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  now: Date.now,
};

export interface DebounceOptions {
  /** flush once no change has arrived for this long */
  readonly quietMs: number;
  /**
   * flush at the latest this long after a batch's first change, even if changes keep coming: a file written
   * every 100 ms (a log inside the repo) must not hold off reloads forever
   */
  readonly maxWaitMs: number;
  readonly onFlush: (batch: Batch) => void;
  readonly timers?: Timers;
}

/** Trailing debounce with a ceiling: a `git checkout` or a save of many files becomes one batch, one reload. */
export class Debouncer {
  private paths = new Set<string>();
  private since = 0;
  private timer: unknown;
  private readonly timers: Timers;

  constructor(private readonly options: DebounceOptions) {
    this.timers = options.timers ?? realTimers;
  }

  add(path: string): void {
    const now = this.timers.now();
    if (this.paths.size === 0) this.since = now;
    this.paths.add(path);
    this.timers.clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.options.quietMs, this.since + this.options.maxWaitMs - now));
    this.timer = this.timers.setTimeout(() => this.flush(), wait);
  }

  /** Hands over what is pending now (nothing when empty). */
  flush(): void {
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.paths.size === 0) return;
    const batch = { paths: [...this.paths], since: this.since };
    this.paths = new Set();
    this.options.onFlush(batch);
  }

  /** Drops what is pending (shutdown). */
  cancel(): void {
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.paths = new Set();
  }

  get pending(): number {
    return this.paths.size;
  }
}

/** `app.py`, `app.py and views.py`, `a.py, b.py, c.py and 197 more`: the first few paths and a count. */
export function describePaths(paths: readonly string[], shown = 3): string {
  if (paths.length <= shown) {
    return paths.length <= 1 ? (paths[0] ?? '') : `${paths.slice(0, -1).join(', ')} and ${paths.at(-1)}`;
  }
  return `${paths.slice(0, shown).join(', ')} and ${paths.length - shown} more`;
}
