import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import type { Reloader } from '../reload/types.js';
import type { ReloadGate } from '../reload/gate.js';
import { formatDuration } from '../duration.js';
import { oneLine } from '../errors.js';
import { startWatcher } from './watcher.js';
import type { FileEvent, FileWatcher } from './types.js';
import { DEFAULT_IGNORES, ignoreMatcher, type PathKind } from './ignore.js';
import { gitIgnored, type GitIgnored } from './gitignore.js';
import { Debouncer, describePaths } from './debounce.js';
import { isProbePath, probeMount } from './probe.js';
import { probeMessage, watchErrorMessage, type PollMode } from './messages.js';

/** Polling stats every watched file this often; a mount without events has no cheaper way to notice edits. */
export const POLL_INTERVAL_MS = 250;
/** A good mount reports the probe file within milliseconds; a second leaves room for a loaded machine. */
export const PROBE_TIMEOUT_MS = 1000;
/** Watch errors are usually one cause repeated per file (the watch limit): say it a few times, not 50,000. */
const MAX_ERROR_LINES = 10;

export interface DevWatchOptions {
  readonly dir: string;
  readonly reloaders: readonly Reloader[];
  /** absolute paths the reload strategies write or use (touch file, FIFO, pid file): never a reason to reload */
  readonly reloadFiles: readonly string[];
  /** --ignore globs, on top of DEFAULT_IGNORES */
  readonly ignore: readonly string[];
  readonly ext: readonly string[];
  readonly debounceMs: number;
  readonly poll: PollMode;
  readonly logger: Logger;
  /** run --watch: shared with the deploy engine so reloads never overlap and its own writes do not reload */
  readonly gate?: ReloadGate;
  readonly pollIntervalMs?: number;
  readonly probeTimeoutMs?: number;
}

export interface DevWatch {
  /** resolves once watching: after the initial scan, the mount probe, and a switch to polling if one was made */
  readonly ready: Promise<void>;
  readonly polling: boolean;
  readonly stats: { readonly reloads: number; readonly failures: number };
  close(): Promise<void>;
}

/** Dev mode: edits in the checkout reload the app server, a burst at a time, one reload at a time. */
export function startDevWatch(options: DevWatchOptions): DevWatch {
  return new DevWatcher(options);
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

class DevWatcher implements DevWatch {
  readonly ready: Promise<void>;
  readonly stats = { reloads: 0, failures: 0 };
  private watcher: FileWatcher;
  private readonly dir: string;
  private matches: (path: string, kind?: PathKind) => boolean;
  private readonly gitignored: GitIgnored;
  private readonly reloadFiles: readonly string[];
  private readonly debouncer: Debouncer;
  private readonly pollIntervalMs: number;
  private readonly probes = new Map<string, () => void>();
  /** changes that arrived while a reload ran: they make the next one */
  private pending?: Set<string>;
  private reloading?: Promise<void>;
  private closed = false;
  private readonly errorsSeen = new Set<string>();

  constructor(private readonly options: DevWatchOptions) {
    this.dir = path.resolve(options.dir);
    this.pollIntervalMs = options.pollIntervalMs ?? POLL_INTERVAL_MS;
    this.reloadFiles = options.reloadFiles
      .map((file) => path.relative(this.dir, path.resolve(this.dir, file)).split(path.sep).join('/'))
      .filter((rel) => rel !== '' && !rel.startsWith('../') && !path.isAbsolute(rel));
    this.gitignored = gitIgnored(this.dir);
    this.matches = this.matcher();
    this.debouncer = new Debouncer({
      quietMs: options.debounceMs,
      maxWaitMs: Math.max(2000, options.debounceMs * 10),
      onFlush: (batch) => this.enqueue(batch.paths),
    });
    const started = Date.now();
    this.watcher = this.open(options.poll === 'on');
    this.ready = this.settle(started).catch((error: unknown) =>
      options.logger.error({ err: oneLine(error) }, `watching ${this.dir} failed to start: ${oneLine(error)}`),
    );
  }

  private matcher(): (path: string, kind?: PathKind) => boolean {
    const { options } = this;
    return ignoreMatcher({
      ignore: [...DEFAULT_IGNORES, ...options.ignore],
      ext: options.ext,
      reloadFiles: this.reloadFiles,
      also: this.gitignored,
    });
  }

  get polling(): boolean {
    return this.watcher.polling;
  }

  private open(polling: boolean): FileWatcher {
    return startWatcher({
      dir: this.dir,
      polling,
      pollIntervalMs: this.pollIntervalMs,
      ignored: (rel, kind) => !isProbePath(rel) && this.matches(rel, kind),
      listed: (rel, names) => this.gitignored.listed(rel, names),
      onEvent: (event) => this.onEvent(event),
      onError: (error) => this.onError(error),
    });
  }

  private async settle(started: number): Promise<void> {
    const { logger, poll } = this.options;
    await this.watcher.ready;
    if (poll !== 'on' && !this.closed) {
      const result = await probeMount({
        dir: this.dir,
        timeoutMs: this.options.probeTimeoutMs ?? PROBE_TIMEOUT_MS,
        heard: (name) => new Promise<void>((resolve) => this.probes.set(name, resolve)),
      });
      this.probes.clear();
      const message = probeMessage(result, this.dir, poll, this.pollIntervalMs);
      if (message) logger.warn({ probe: result.kind }, message);
      else logger.debug({ probe: result }, 'mount probe: file events arrive');
      if (result.kind === 'silent' && poll === 'auto' && !this.closed) {
        await this.watcher.close();
        this.watcher = this.open(true);
        if (this.closed) await this.watcher.close();
        else await this.watcher.ready;
      }
    }
    if (this.closed) return;
    const how = this.polling ? `polling every ${formatDuration(this.pollIntervalMs)}` : 'inotify';
    const ms = Date.now() - started;
    logger.info(
      { dir: this.dir, polling: this.polling, readyMs: ms },
      `watching ${this.dir} for changes (${how}), ready in ${formatDuration(ms)}`,
    );
  }

  private onEvent(event: FileEvent): void {
    if (this.closed) return;
    if (isProbePath(event.path)) {
      this.probes.get(event.path)?.();
      return;
    }
    if (event.path === '.gitignore' || event.path.endsWith('/.gitignore')) {
      // Applies from the next event on; a directory it stops ignoring is watched after a restart.
      this.gitignored.forget(event.path.slice(0, -'.gitignore'.length).replace(/\/$/, ''));
      this.matches = this.matcher();
    }
    if (this.matches(event.path, event.pathKind)) return;
    // The daemon's own git apply: its reload covers it.
    if (this.options.gate?.wroteRecently(event.path)) return;
    this.options.logger.trace({ event: event.kind, path: event.path }, `${event.kind} ${event.path}`);
    this.debouncer.add(event.path);
  }

  private onError(error: NodeJS.ErrnoException): void {
    if (this.closed) return;
    const where = typeof error.path === 'string' ? path.relative(this.dir, error.path) || this.dir : this.dir;
    // The watch limit fails every file after the first: one line says it all.
    const key = error.code === 'ENOSPC' || error.code === 'EMFILE' ? error.code : `${error.code}:${where}`;
    if (this.errorsSeen.has(key) || this.errorsSeen.size > MAX_ERROR_LINES) return;
    this.errorsSeen.add(key);
    if (this.errorsSeen.size > MAX_ERROR_LINES) {
      this.options.logger.error(`more watch errors; not logging them (the first ${MAX_ERROR_LINES} are above)`);
      return;
    }
    const watchLimit = error.code === 'ENOSPC' ? readWatchLimit() : undefined;
    this.options.logger.error(
      { code: error.code, path: where },
      watchErrorMessage(error, { where, watchLimit, uid: process.getuid?.() }),
    );
  }

  private enqueue(paths: readonly string[]): void {
    if (this.closed) return;
    this.pending ??= new Set();
    for (const p of paths) this.pending.add(p);
    this.reloading ??= this.drain();
  }

  /** One reload at a time: changes during a reload are batched into the next. */
  private async drain(): Promise<void> {
    while (this.pending && !this.closed) {
      const paths = [...this.pending];
      this.pending = undefined;
      const { gate } = this.options;
      await (gate ? gate.exclusive(() => this.reload(paths)) : this.reload(paths));
    }
    this.reloading = undefined;
  }

  private async reload(changed: readonly string[]): Promise<void> {
    const { logger, reloaders, gate } = this.options;
    // Checked again now that any deploy that held the gate has finished and named its files.
    const paths = gate ? changed.filter((p) => !gate.wroteRecently(p)) : changed;
    if (paths.length === 0) {
      logger.debug(
        { changed: changed.length },
        `${plural(changed.length, 'change')} written by the deploy; its own reload covers them`,
      );
      return;
    }
    const what = `${plural(paths.length, 'change')} (${describePaths(paths)})`;
    const fields = { changed: paths.length, paths: paths.slice(0, 10) };
    if (reloaders.length === 0) {
      logger.info(fields, `${what}; no reload strategy, nothing to do`);
      return;
    }
    const started = Date.now();
    for (const reloader of reloaders) {
      try {
        // No deploy: nothing new to name. A command: reload sees HOTPULL_SHA empty.
        await reloader.reload({ sha: '', previousSha: '' });
      } catch (error) {
        this.stats.failures += 1;
        logger.error(
          { ...fields, reload: reloader.name, err: oneLine(error) },
          `${what}: reload failed (${reloader.name}): ${oneLine(error)}; still watching, the next change tries again`,
        );
        return;
      }
    }
    this.stats.reloads += 1;
    const ms = Date.now() - started;
    logger.info(
      { ...fields, reload: reloaders.map((r) => r.name), ms },
      `${what}: reloaded in ${formatDuration(ms)} (${reloaders.map((r) => r.name).join(', ')})`,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    this.debouncer.cancel();
    await this.watcher.close();
    await this.reloading;
  }
}

/** The watches this user may have: the host's fs.inotify.max_user_watches, or a user namespace's lower limit. */
function readWatchLimit(): number | undefined {
  const limits = ['/proc/sys/fs/inotify/max_user_watches', '/proc/sys/user/max_inotify_watches'].flatMap((file) => {
    try {
      const value = Number(readFileSync(file, 'utf8').trim());
      return Number.isFinite(value) && value > 0 ? [value] : [];
    } catch {
      return [];
    }
  });
  return limits.length ? Math.min(...limits) : undefined;
}
