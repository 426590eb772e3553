import { realpathSync } from 'node:fs';
import path from 'node:path';

/**
 * Shared resources of a process that follows many apps (git processes at once, canaries at once), handed out
 * fairly: a freed slot goes to the next app in turn that is waiting, not to whoever asks most, and no app holds more
 * than its share, so an app whose remote hangs keeps at most `perKey` slots busy and the others go on.
 */
export class Slots {
  private readonly busy = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();
  private inUse = 0;
  /** the key served last: the round starts after it */
  private last?: string;

  constructor(
    readonly size: number,
    readonly perKey: number,
  ) {}

  /** Runs `work` in a slot of `key`'s, waiting for one first; a signal that aborts while it waits ends the wait. */
  async run<T>(key: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.take(key, signal);
    try {
      return await work();
    } finally {
      this.give(key);
    }
  }

  /** slots in use and apps waiting, for a status line */
  get load(): { inUse: number; waiting: number } {
    let waiting = 0;
    for (const queue of this.waiting.values()) waiting += queue.length;
    return { inUse: this.inUse, waiting };
  }

  private free(key: string): boolean {
    return this.inUse < this.size && (this.busy.get(key) ?? 0) < this.perKey;
  }

  private take(key: string, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (this.free(key) && !this.waiting.has(key)) {
      this.grant(key);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const queue = this.waiting.get(key) ?? [];
      const granted = () => {
        signal?.removeEventListener('abort', aborted);
        resolve();
      };
      const aborted = () => {
        const at = queue.indexOf(granted);
        if (at >= 0) queue.splice(at, 1);
        if (queue.length === 0) this.waiting.delete(key);
        reject(signal!.reason as Error);
      };
      signal?.addEventListener('abort', aborted, { once: true });
      queue.push(granted);
      this.waiting.set(key, queue);
    });
  }

  private grant(key: string): void {
    this.inUse += 1;
    this.busy.set(key, (this.busy.get(key) ?? 0) + 1);
    this.last = key;
  }

  private give(key: string): void {
    this.inUse -= 1;
    const left = (this.busy.get(key) ?? 1) - 1;
    if (left === 0) this.busy.delete(key);
    else this.busy.set(key, left);
    this.serveNext();
  }

  /** Round robin over the waiting apps, starting after the one served last. */
  private serveNext(): void {
    while (this.inUse < this.size) {
      const keys = [...this.waiting.keys()];
      if (keys.length === 0) return;
      const start = this.last === undefined ? 0 : keys.indexOf(this.last) + 1;
      const order = [...keys.slice(start), ...keys.slice(0, start)];
      const key = order.find((k) => this.free(k));
      if (key === undefined) return;
      const queue = this.waiting.get(key)!;
      const next = queue.shift()!;
      if (queue.length === 0) this.waiting.delete(key);
      this.grant(key);
      next();
    }
  }
}

/** What an app's work runs under in a many-apps process: its name and the process's shared slots. */
export interface Lane {
  readonly app: string;
  readonly git: Slots;
  readonly canaries: Slots;
}

/**
 * The lanes of a many-apps process by directory: each app's checkout (or atomic root) and its git directory, where
 * every git command and canary of that app runs. Apps never share or nest checkouts (config/apps.ts refuses it), so
 * a directory belongs to one app at most. Looked up by directory, not carried by AsyncLocalStorage: on Node 20 and 22
 * that turns on async hooks for every promise of the process (50 idle apps: about a fifth more CPU in Node a poll).
 */
const lanes = new Map<string, Lane>();

/** `dir` as the kernel sees it: the real path of its nearest existing ancestor, then the rest (not made yet). */
function real(dir: string): string {
  const resolved = path.resolve(dir);
  try {
    return realpathSync(resolved);
  } catch {
    const parent = path.dirname(resolved);
    return parent === resolved ? resolved : path.join(real(parent), path.basename(resolved));
  }
}

/** Work in `dirs` (and below) is `lane`'s from now on; returns what ends that. */
export function enterLane(lane: Lane, dirs: readonly string[]): () => void {
  const roots = [...new Set(dirs.flatMap((dir) => [path.resolve(dir), real(dir)]))];
  for (const root of roots) lanes.set(root, lane);
  return () => {
    for (const root of roots) if (lanes.get(root) === lane) lanes.delete(root);
  };
}

/** The lane whose directories hold `dir`; undefined in a single-app process, where nothing is shared. */
export function laneOf(dir: string): Lane | undefined {
  if (lanes.size === 0) return undefined;
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    const lane = lanes.get(at);
    if (lane || path.dirname(at) === at) return lane;
  }
}

/** `work` in a slot of the given kind when `dir` is an app's in a many-apps process, else at once. */
export function inSlot<T>(
  kind: 'git' | 'canaries',
  dir: string,
  work: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const lane = laneOf(dir);
  return lane ? lane[kind].run(lane.app, work, signal) : work();
}
