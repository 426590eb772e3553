import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  writeSync,
} from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { configError, HotpullError } from '../errors.js';

/**
 * One process owns a checkout (or an atomic layout's root) at a time. The lock is an flock(2) on a file under
 * the git directory, taken on an open file description this process keeps for its whole life: the kernel drops
 * it when the process ends, however it ends (kill -9, OOM), so a lock is never stale and never guessed at.
 * Node has no flock(); util-linux's `flock FD` locks the description it inherits as fd 3 and exits, and the lock
 * stays with the description, which only this process still holds.
 */
export interface OwnerLock {
  readonly file: string;
  release(): void;
  /**
   * Whether the lock still guards what is at its path: a checkout deleted and cloned again at the same path is a
   * new directory, and the lock on the deleted one guards nothing.
   */
  guards(): boolean;
  /**
   * Takes the lock on the file now at its path (see guards), or throws when another process got there first.
   * Creates at most the lock's own directory, inside one that must exist: a daemon never creates a checkout's
   * directories (a `git clone` to a path that holds anything fails).
   */
  retake(): Promise<void>;
  /** guards(), else retake() */
  ensure(): Promise<void>;
}

export interface Holder {
  pid?: number;
  role?: string;
  since?: string;
}

const BUSY = 75;
/** Locks this process holds, by file: a second pipeline on the same checkout in one process (tests) shares it. */
const held = new Map<string, { fd: number; count: number }>();

/** What the lock file says about its holder: "<pid> <role> <iso time>". */
export function parseHolder(text: string): Holder {
  const [pid, role, since] = text.trim().split(/\s+/);
  return { pid: pid && /^\d+$/.test(pid) ? Number(pid) : undefined, role, since };
}

export function describeHolder(holder: Holder): string {
  if (holder.pid === undefined) return 'another hotpull';
  return `another hotpull (pid ${holder.pid}${holder.role ? `, hotpull ${holder.role}` : ''}${holder.since ? `, since ${holder.since}` : ''})`;
}

function flockFd(fd: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', ['--exclusive', '--nonblock', '--conflict-exit-code', String(BUSY), '3'], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
    });
    let stderr = '';
    // out of file descriptors the spawn has no stdio (stderr is null) and fails on the next tick, with this 'error'
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? configError(
              'flock (util-linux) must be on PATH: hotpull uses it to make sure one process owns a checkout (got none)',
            )
          : error,
      ),
    );
    child.on('exit', (code) =>
      code === 0 || code === BUSY
        ? resolve(code)
        : reject(new HotpullError('GIT', `flock failed (${code}): ${stderr.trim()}`)),
    );
  });
}

/** Takes the lock or returns who holds it. */
export async function tryAcquire(
  file: string,
  role: string,
  { parents = true }: { parents?: boolean } = {},
): Promise<OwnerLock | { holder: Holder }> {
  const mine = held.get(file);
  if (mine) {
    mine.count += 1;
    return lockHandle(file, role);
  }
  try {
    mkdirSync(path.dirname(file), { recursive: parents });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o644);
  let code: number;
  try {
    code = await flockFd(fd);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  if (code === BUSY) {
    const text = readFileSync(fd, 'utf8');
    closeSync(fd);
    return { holder: parseHolder(text) };
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid} ${role} ${new Date().toISOString()}\n`, 0);
  held.set(file, { fd, count: 1 });
  return lockHandle(file, role);
}

function lockHandle(file: string, role = 'run'): OwnerLock {
  let released = false;
  const handle: OwnerLock = {
    file,
    guards() {
      const entry = held.get(file);
      if (released || !entry) return true;
      const mine = fstatSync(entry.fd);
      const there = (() => {
        try {
          return statSync(file);
        } catch {
          return undefined;
        }
      })();
      return there !== undefined && there.ino === mine.ino && there.dev === mine.dev;
    },
    async retake() {
      const entry = held.get(file);
      if (released || !entry) return;
      // the old description stays open (and ours) until the new one is taken: a failed retake leaves all as it was
      held.delete(file);
      let again: OwnerLock | { holder: Holder };
      try {
        again = await tryAcquire(file, role, { parents: false });
      } catch (error) {
        held.set(file, entry);
        throw error;
      }
      if ('holder' in again) {
        held.set(file, entry);
        throw new HotpullError(
          'GIT',
          `the checkout was replaced and ${describeHolder(again.holder)} owns it now (lock ${file}); not deploying into it`,
        );
      }
      closeSync(entry.fd);
      // the new handle's count replaces the old one's
      const fresh = held.get(file);
      if (fresh) fresh.count = entry.count;
    },
    async ensure() {
      if (!handle.guards()) await handle.retake();
    },
    release() {
      const entry = held.get(file);
      if (released || !entry) return;
      released = true;
      entry.count -= 1;
      if (entry.count > 0) return;
      held.delete(file);
      closeSync(entry.fd);
    },
  };
  return handle;
}

export interface AcquireOptions {
  /** run: a second daemon is bad configuration (exit 2); sync: wait for the owner, up to waitMs */
  role: 'run' | 'sync';
  waitMs?: number;
  /** what the lock protects, for messages */
  what: string;
  onWait?: (holder: Holder) => void;
}

export async function acquireOwner(file: string, options: AcquireOptions): Promise<OwnerLock> {
  const deadline = Date.now() + (options.waitMs ?? 0);
  let told = false;
  for (;;) {
    const result = await tryAcquire(file, options.role);
    if (!('holder' in result)) return result;
    const who = describeHolder(result.holder);
    if (options.role === 'run') {
      throw configError(
        `--repo must not be followed by two daemons: ${who} owns ${options.what} (lock ${file}); stop it first, or ask it with "hotpull sync --now"`,
      );
    }
    if (Date.now() >= deadline) {
      throw new HotpullError(
        'GIT',
        `${who} still owns ${options.what} (lock ${file}); gave up waiting. Ask the daemon with "hotpull sync --now" instead`,
      );
    }
    if (!told) options.onWait?.(result.holder);
    told = true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
