import type { PathKind } from './ignore.js';

/** What a watcher reports; everything else in hotpull sees repo-relative posix paths and these kinds. */
export type ChangeKind = 'add' | 'change' | 'unlink' | 'addDir' | 'unlinkDir';

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
   * decides before the watcher descends into a directory or watches a file, so ignored trees cost nothing; called
   * with `dir` when the watcher has not yet looked at the path (it may be a directory)
   */
  readonly ignored: (path: string, kind: 'file' | 'dir') => boolean;
  /** the names in a directory the watcher has just listed, before it asks `ignored` about any of them */
  readonly listed?: (dir: string, names: readonly string[]) => void;
  readonly onEvent: (event: FileEvent) => void;
  /** errors worth telling (a file gone before it could be looked at is not one) */
  readonly onError: (error: NodeJS.ErrnoException) => void;
}

export interface FileWatcher {
  /** resolves when the initial scan has finished and every directory is watched */
  readonly ready: Promise<void>;
  readonly polling: boolean;
  close(): Promise<void>;
}
