import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { SyncEngine, SyncOutcome } from './engine.js';

/** What reset needs of the repository: the refs under refs/hotpull/backup/ are listed with it. */
interface Refs {
  run(args: string[]): Promise<string>;
}

/** The backups that exist now: refs under refs/hotpull/backup/ and directories of moved-aside files. */
async function backups(git: Refs, stateDir: string): Promise<string[]> {
  const refs = (await git.run(['for-each-ref', '--format=%(refname)', 'refs/hotpull/backup/']))
    .split('\n')
    .filter(Boolean);
  const dir = path.join(stateDir, 'backup');
  const moved = (await fs.readdir(dir).catch(() => [] as string[])).map((name) => path.join(dir, name));
  return [...refs, ...moved];
}

/**
 * `hotpull reset`, in the daemon's pass queue: one pass with --on-diverged reset and --on-dirty reset, whatever
 * the daemon runs with (the same backups and reset as those options: planApply and the workspace's stage), and
 * the backups it made, named, so the answer says where the old head and local edits went.
 */
export async function resetToRemote(
  engine: Pick<SyncEngine, 'resetPass'>,
  git: Refs,
  stateDir: string,
  signal?: AbortSignal,
): Promise<{ outcome: SyncOutcome; backups: string[] }> {
  const before = new Set(await backups(git, stateDir));
  const outcome = await engine.resetPass(signal);
  return { outcome, backups: (await backups(git, stateDir)).filter((b) => !before.has(b)) };
}
