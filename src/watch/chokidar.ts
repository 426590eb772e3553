import path from 'node:path';
import { watch } from 'chokidar';
import type { PathKind } from './ignore.js';

/** The one chokidar adapter: everything else in hotpull sees repo-relative posix paths and these five kinds. */
export const CHANGE_KINDS = ['add', 'change', 'unlink', 'addDir', 'unlinkDir'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface FileEvent {
  readonly kind: ChangeKind;
  /** relative to the watched directory, `/`-separated */
  readonly path: string;
}

export interface WatcherOptions {
  readonly dir: string;
  /** stat every file on a timer instead of inotify (mounts that deliver no events) */
  readonly polling: boolean;
  readonly pollIntervalMs: number;
  /** decides before chokidar descends into a directory or watches a file, so ignored trees cost nothing */
  readonly ignored: (path: string, kind: PathKind) => boolean;
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

export function startWatcher(options: WatcherOptions): FileWatcher {
  const root = path.resolve(options.dir);
  const relative = (absolute: string) => path.relative(root, absolute).split(path.sep).join('/');
  const watcher = watch(root, {
    ignoreInitial: true,
    usePolling: options.polling,
    interval: options.pollIntervalMs,
    // Binary files (images, archives) are rarely what a developer edits: poll them less often.
    binaryInterval: options.pollIntervalMs * 4,
    ignored: (absolute, stats) => options.ignored(relative(absolute), stats ? (stats.isDirectory() ? 'dir' : 'file') : undefined),
  });
  for (const kind of CHANGE_KINDS) watcher.on(kind, (absolute: string) => options.onEvent({ kind, path: relative(absolute) }));
  watcher.on('error', (error) => options.onError(error as NodeJS.ErrnoException));
  const ready = new Promise<void>((resolve) => watcher.once('ready', resolve));
  return { ready, polling: options.polling, close: () => watcher.close() };
}
