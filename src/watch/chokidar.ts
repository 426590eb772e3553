import { existsSync } from 'node:fs';
import path from 'node:path';
import { watch, type ChokidarOptions, type FSWatcher } from 'chokidar';
import type { PathKind } from './ignore.js';

/** The one chokidar adapter: everything else in hotpull sees repo-relative posix paths and these kinds. */
export type ChangeKind = 'add' | 'change' | 'unlink' | 'addDir' | 'unlinkDir';
const CHOKIDAR_EVENTS: readonly ChangeKind[] = ['add', 'change', 'unlink', 'addDir', 'unlinkDir'];

export interface FileEvent {
  /** `rename`: created, deleted or moved, as inotify reports it on the parent directory (file or directory) */
  readonly kind: ChangeKind | 'rename';
  /** relative to the watched directory, `/`-separated */
  readonly path: string;
  /** what the path is, when known */
  readonly pathKind: PathKind;
}

export interface WatcherOptions {
  readonly dir: string;
  /** stat every file on a timer instead of inotify (mounts that deliver no events) */
  readonly polling: boolean;
  readonly pollIntervalMs: number;
  /**
   * decides before chokidar descends into a directory or watches a file, so ignored trees cost nothing; called
   * with `dir` when chokidar has not yet looked at the path (it may be a directory)
   */
  readonly ignored: (path: string, kind: 'file' | 'dir') => boolean;
  readonly onEvent: (event: FileEvent) => void;
  /** errors chokidar does not already drop (it drops ENOENT and ENOTDIR: a file gone before its stat) */
  readonly onError: (error: NodeJS.ErrnoException) => void;
}

export interface FileWatcher {
  /** resolves when the initial scan has finished and every directory is watched */
  readonly ready: Promise<void>;
  readonly polling: boolean;
  close(): Promise<void>;
}

/**
 * Directories handed to one chokidar instance at a time. chokidar scans every directory below its root at
 * once and lstat()s every entry: on 50,000 files in 5,000 directories that is ~250 MB of short-lived objects
 * (which V8 then keeps). In batches of 50 the peak stays near the live size.
 */
const DIRS_PER_BATCH = 50;

export function startWatcher(options: WatcherOptions): FileWatcher {
  return options.polling ? startPolling(options) : new DirectoryWatcher(options);
}

const relativeTo = (root: string) => (absolute: string) =>
  absolute === root ? '' : absolute.startsWith(`${root}${path.sep}`) ? absolute.slice(root.length + 1).split(path.sep).join('/') : path.relative(root, absolute).split(path.sep).join('/');

function listen(watcher: FSWatcher, options: WatcherOptions, relative: (absolute: string) => string, onDirGone?: (rel: string) => void): void {
  for (const kind of CHOKIDAR_EVENTS) {
    watcher.on(kind, (absolute: string) => {
      const rel = relative(absolute);
      if (kind === 'unlinkDir') onDirGone?.(rel);
      options.onEvent({ kind, path: rel, pathKind: kind === 'addDir' || kind === 'unlinkDir' ? 'dir' : 'file' });
    });
  }
  watcher.on('error', (error) => options.onError(error as NodeJS.ErrnoException));
}

/** Polling: no directory reports a file's writes, so chokidar polls every file (its default, recursive). */
function startPolling(options: WatcherOptions): FileWatcher {
  const root = path.resolve(options.dir);
  const relative = relativeTo(root);
  const watcher = watch(root, {
    ignoreInitial: true,
    usePolling: true,
    interval: options.pollIntervalMs,
    // Binary files (images, archives) are rarely what a developer edits: poll them less often.
    binaryInterval: options.pollIntervalMs * 4,
    ignored: (absolute, stats) => options.ignored(relative(absolute), stats && !stats.isDirectory() && !stats.isSymbolicLink() ? 'file' : 'dir'),
  });
  listen(watcher, options, relative);
  const ready = new Promise<void>((resolve) => watcher.once('ready', resolve));
  return { ready, polling: true, close: () => watcher.close() };
}

/**
 * inotify: chokidar watches directories only, each at depth 0, and this class does the descending. A
 * directory's inotify watch already reports every write, create, delete and rename of the files in it, which
 * chokidar passes on as `raw` events: watching each file too (chokidar's default) would cost one more inotify
 * watch and ~7 KB of heap per file. Directories are found through the `ignored` callback, which chokidar calls
 * with each entry's stats as it reads a directory, and handed to a new chokidar instance in batches, each
 * batch's scan finished before the next starts, so memory stays bounded.
 */
class DirectoryWatcher implements FileWatcher {
  readonly polling = false;
  readonly ready: Promise<void>;
  private readonly root: string;
  private readonly relative: (absolute: string) => string;
  /** watched directories (repo-relative) and the chokidar instance that watches each */
  private readonly owners = new Map<string, FSWatcher>();
  private readonly queued = new Set<string>();
  private queue: string[] = [];
  private readonly instances: FSWatcher[] = [];
  private draining?: Promise<void>;
  private closed = false;
  private readonly chokidarOptions: ChokidarOptions;

  constructor(private readonly options: WatcherOptions) {
    this.root = path.resolve(options.dir);
    this.relative = relativeTo(this.root);
    this.chokidarOptions = {
      ignoreInitial: true,
      depth: 0,
      ignored: (absolute, stats) => {
        // Files: their directory's watch reports them (checked first: this runs once per file in the tree).
        if (stats && !stats.isDirectory() && !stats.isSymbolicLink()) return true;
        const rel = this.relative(absolute);
        // Not looked at yet, or a symlink chokidar is about to follow: it may be a directory.
        if (!stats || stats.isSymbolicLink()) return options.ignored(rel, 'dir');
        if (options.ignored(rel, 'dir')) return true;
        if (!this.owners.has(rel)) this.discover(rel);
        return false;
      },
    };
    this.discover('');
    this.ready = this.draining!;
  }

  private discover(rel: string): void {
    if (this.queued.has(rel) || this.closed) return;
    this.queued.add(rel);
    this.queue.push(rel);
    this.draining ??= this.drain();
  }

  private async drain(): Promise<void> {
    // Let the directory being read report all its subdirectories before the batch is cut.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.queue.length > 0 && !this.closed) {
      const batch = this.queue.splice(0, DIRS_PER_BATCH);
      const instance = watch(
        batch.map((rel) => (rel ? path.join(this.root, rel) : this.root)),
        this.chokidarOptions,
      );
      this.instances.push(instance);
      for (const rel of batch) {
        this.owners.set(rel, instance);
        this.queued.delete(rel);
      }
      listen(instance, this.options, this.relative, (rel) => this.forget(rel));
      instance.on('raw', (event, name, details) => this.raw(event, name, details));
      await new Promise<void>((resolve) => instance.once('ready', () => resolve()));
    }
    this.draining = undefined;
  }

  /** A directory is gone: its watches (and those below it) close, so a new one of the same name is watched afresh. */
  private forget(rel: string): void {
    for (const [dir, instance] of this.owners) {
      if (dir !== rel && !dir.startsWith(`${rel}/`)) continue;
      this.owners.delete(dir);
      // `unwatch` would also make that instance ignore the path for good; only the watch must go.
      instance._closePath(dir ? path.join(this.root, dir) : this.root);
    }
  }

  private raw(event: string, name: string | null, details: unknown): void {
    const watched = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
    if ((event !== 'change' && event !== 'rename') || typeof watched !== 'string') return;
    const absolute = name ? path.join(watched, name) : watched;
    // A watched directory's own deletion comes named after itself (`pkg` → `pkg/pkg`); its parent reports it too.
    if (event === 'rename' && name === path.basename(watched) && !existsSync(absolute)) return;
    const rel = this.relative(absolute);
    if (rel === '' || rel.startsWith('..')) return;
    const isDir = this.owners.has(rel);
    // A subdirectory's attributes are not its contents; those come through its own watch.
    if (event === 'change' && isDir) return;
    // `change` is a write or attribute change of a file; `rename` (created, deleted, moved) may be either kind.
    this.options.onEvent({ kind: event, path: rel, pathKind: isDir ? 'dir' : event === 'change' ? 'file' : undefined });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.instances.map((instance) => instance.close()));
  }
}
