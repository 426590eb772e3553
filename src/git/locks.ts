import { promises as fs } from 'node:fs';
import path from 'node:path';
import { scanProcesses } from '../proc/procfs.js';
import { HotpullError } from '../errors.js';

// Lock files git leaves behind when it is killed (SIGKILL, OOM, container stop): the most reported failure
// against git-sync. Any of these makes every later git write fail with "File exists".
const TOP_LEVEL_LOCKS = [
  'index.lock',
  'HEAD.lock',
  'ORIG_HEAD.lock',
  'FETCH_HEAD.lock',
  'shallow.lock',
  'config.lock',
  'packed-refs.lock',
];

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

/** Who holds a lock: pids that have it open, or why it cannot be told. */
export type LockHolders = { held: false } | { held: true; pids: number[]; why: string };

/**
 * Whether some live process holds the lock: git keeps a lock file's descriptor open from creation until it
 * commits or rolls back, so an open descriptor on it (seen through /proc) means a git is at work. Never a guess:
 * without /proc, or when a git process of another uid cannot be looked into, the lock counts as held.
 */
export async function lockHolders(file: string): Promise<LockHolders> {
  const scan = await scanProcesses((target) => target === file);
  if (scan === undefined) return { held: true, pids: [], why: 'cannot tell whether a process has it open (no /proc)' };
  if (scan.pids.length > 0) return { held: true, pids: scan.pids, why: `open in pid ${scan.pids.join(', ')}` };
  const gits = scan.unreadable.filter((p) => /^git/.test(p.comm));
  if (gits.length > 0)
    return {
      held: true,
      pids: gits.map((p) => p.pid),
      why: `git of another user running (pid ${gits.map((p) => p.pid).join(', ')}) that this user cannot look into`,
    };
  return { held: false };
}

/** Removes lock files no process holds; returns the ones removed and the ones still held. */
export async function removeStaleLocks(
  gitDir: string,
): Promise<{ removed: string[]; held: Array<{ file: string; why: string }> }> {
  const removed: string[] = [];
  const held: Array<{ file: string; why: string }> = [];
  for (const file of await findLockFiles(gitDir)) {
    const holders = await lockHolders(file);
    if (holders.held) {
      held.push({ file, why: holders.why });
      continue;
    }
    await fs.rm(file, { force: true });
    removed.push(file);
  }
  return { removed, held };
}

/**
 * Stale locks go; locks some process holds are waited for (a git the previous, killed hotpull started may still
 * be finishing) up to `waitMs`, then reported as an error: the pass fails, the old code keeps serving, and the
 * next pass looks again.
 */
export async function clearLocks(gitDir: string, waitMs = 15_000): Promise<string[]> {
  const deadline = Date.now() + waitMs;
  const messages: string[] = [];
  for (;;) {
    const { removed, held } = await removeStaleLocks(gitDir);
    messages.push(
      ...removed.map((file) => `removed stale git lock ${file} (no process has it open; left by a killed git)`),
    );
    if (held.length === 0) return messages;
    if (Date.now() >= deadline) {
      throw new HotpullError(
        'GIT',
        `git lock ${held[0]!.file} is in use (${held[0]!.why}); not removing it, will look again on the next pass`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
