import { promises as fs } from 'node:fs';
import path from 'node:path';
import { processesUsing } from '../procfs.js';

// Lock files git leaves behind when it is killed (SIGKILL, OOM, container stop): the most reported failure
// against git-sync. Any of these makes every later git write fail with "File exists".
const TOP_LEVEL_LOCKS = ['index.lock', 'HEAD.lock', 'ORIG_HEAD.lock', 'FETCH_HEAD.lock', 'shallow.lock', 'config.lock', 'packed-refs.lock'];

async function listRefLocks(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await listRefLocks(full)));
    else if (entry.name.endsWith('.lock')) found.push(full);
  }
  return found;
}

export async function findLockFiles(gitDir: string): Promise<string[]> {
  const top = await Promise.all(
    TOP_LEVEL_LOCKS.map(async (name) => {
      const file = path.join(gitDir, name);
      return (await fs.stat(file).catch(() => undefined)) ? file : undefined;
    }),
  );
  // linked worktrees (the atomic layout's releases) keep their own index and HEAD under worktrees/<name>/
  const worktrees = await fs.readdir(path.join(gitDir, 'worktrees')).catch(() => [] as string[]);
  const perWorktree = await Promise.all(
    worktrees.flatMap((name) =>
      ['index.lock', 'HEAD.lock'].map(async (lock) => {
        const file = path.join(gitDir, 'worktrees', name, lock);
        return (await fs.stat(file).catch(() => undefined)) ? file : undefined;
      }),
    ),
  );
  return [
    ...[...top, ...perWorktree].filter((f): f is string => f !== undefined),
    ...(await listRefLocks(path.join(gitDir, 'refs'))),
  ];
}

/**
 * Whether some live process holds the lock: git keeps a lock file's descriptor open from creation until it
 * commits or rolls back, so an open descriptor on it (seen through /proc) means a git is at work. Without
 * /proc we cannot tell, so only a lock older than `maxAgeMs` counts as stale.
 */
export async function isLockHeld(file: string, now = Date.now(), maxAgeMs = 10 * 60_000): Promise<boolean> {
  const holders = await processesUsing((target) => target === file);
  if (holders !== undefined) return holders.length > 0;
  const stat = await fs.stat(file).catch(() => undefined);
  return stat !== undefined && now - stat.mtimeMs < maxAgeMs;
}

/** Removes lock files no process holds; returns the ones removed so the caller can warn about each. */
export async function removeStaleLocks(gitDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const file of await findLockFiles(gitDir)) {
    if (await isLockHeld(file)) continue;
    await fs.rm(file, { force: true });
    removed.push(file);
  }
  return removed;
}
