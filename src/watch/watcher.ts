import { startDirWatcher } from './dirs.js';
import type { FileWatcher, WatcherOptions } from './types.js';

/**
 * Linux without polling: one `fs.watch` per directory (src/watch/dirs.ts), no third-party code. Polling, and other
 * platforms, go through chokidar, loaded only then: `hotpull watch` on Linux never pays its import.
 */
export function startWatcher(options: WatcherOptions): FileWatcher {
  if (!options.polling && process.platform === 'linux') return startDirWatcher(options);
  const started = import('./chokidar.js').then(({ startChokidar }) => startChokidar(options));
  return {
    polling: options.polling,
    ready: started.then((watcher) => watcher.ready),
    close: async () => (await started).close(),
  };
}
