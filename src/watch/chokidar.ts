import path from 'node:path';
import { watch } from 'chokidar';
import type { FileWatcher, WatcherOptions } from './types.js';

/** The one chokidar adapter: polling (mounts without events), and platforms other than Linux. */
const EVENTS = ['add', 'change', 'unlink', 'addDir', 'unlinkDir'] as const;

const relativeTo = (root: string) => (absolute: string) =>
  absolute === root
    ? ''
    : absolute.startsWith(`${root}${path.sep}`)
      ? absolute
          .slice(root.length + 1)
          .split(path.sep)
          .join('/')
      : path.relative(root, absolute).split(path.sep).join('/');

/**
 * chokidar with its defaults (recursive, every file watched or polled), the ignored trees never entered. Polling:
 * no directory reports a file's writes, so every file is stat()ed on the timer.
 */
export function startChokidar(options: WatcherOptions): FileWatcher {
  const root = path.resolve(options.dir);
  const relative = relativeTo(root);
  const watcher = watch(root, {
    ignoreInitial: true,
    ...(options.polling
      ? {
          usePolling: true,
          interval: options.pollIntervalMs,
          // Binary files (images, archives) are rarely what a developer edits: poll them less often.
          binaryInterval: options.pollIntervalMs * 4,
        }
      : {}),
    ignored: (absolute, stats) =>
      options.ignored(relative(absolute), stats && !stats.isDirectory() && !stats.isSymbolicLink() ? 'file' : 'dir'),
  });
  for (const kind of EVENTS) {
    watcher.on(kind, (absolute: string) =>
      options.onEvent({
        kind,
        path: relative(absolute),
        pathKind: kind === 'addDir' || kind === 'unlinkDir' ? 'dir' : 'file',
      }),
    );
  }
  watcher.on('error', (error) => options.onError(error as NodeJS.ErrnoException));
  const ready = new Promise<void>((resolve) => watcher.once('ready', resolve));
  return { ready, polling: options.polling, close: () => watcher.close() };
}
