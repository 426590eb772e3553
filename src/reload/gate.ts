/**
 * `run --watch` reloads for two reasons, deploys and local edits, and uWSGI drops a chain reload requested while
 * one runs: the two must never overlap. The gate serializes them, and remembers which files each deploy writes so
 * the watcher does not answer the daemon's own git apply with a second reload.
 */
export class ReloadGate {
  private tail: Promise<unknown> = Promise.resolve();
  /** deploys that are running or ended less than `graceMs` ago */
  private deploys: Array<{ paths: ReadonlySet<string>; endedAt?: number }> = [];

  /**
   * @param graceMs how long after a deploy its files' change events are still its own: the watcher hears about a
   * write some milliseconds later (a stat after inotify), or up to a poll interval later when polling
   */
  constructor(
    private readonly graceMs = 2000,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Runs `fn` once every earlier holder has finished; holders run one at a time, in order of arrival. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Waits for the gate, then holds it for a deploy that writes `paths` (repo-relative) until `release()` is
   * called: from before the files change until the reload is verified.
   */
  async enter(paths: () => Promise<readonly string[]>): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let ourTurn!: () => void;
    const turn = new Promise<void>((resolve) => (ourTurn = resolve));
    void this.exclusive(async () => {
      const deploy: { paths: ReadonlySet<string>; endedAt?: number } = {
        paths: withParents(await paths().catch(() => [])),
      };
      this.deploys.push(deploy);
      ourTurn();
      await held;
      deploy.endedAt = this.clock();
    });
    await turn;
    return release;
  }

  /** True when `path` (repo-relative) is one a deploy wrote that is running or ended less than graceMs ago. */
  wroteRecently(path: string): boolean {
    const now = this.clock();
    this.deploys = this.deploys.filter((d) => d.endedAt === undefined || now - d.endedAt < this.graceMs);
    return this.deploys.some((d) => d.paths.has(path));
  }

  /** A deploy is writing or reloading right now. */
  get deploying(): boolean {
    return this.deploys.some((d) => d.endedAt === undefined);
  }
}

/** A deploy that adds `views/home.py` also creates `views/`: the directory event is the deploy's too. */
function withParents(paths: readonly string[]): Set<string> {
  const all = new Set<string>();
  for (const p of paths) {
    all.add(p);
    for (let slash = p.indexOf('/'); slash > 0; slash = p.indexOf('/', slash + 1)) all.add(p.slice(0, slash));
  }
  return all;
}
