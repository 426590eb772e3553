import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * What a deploy in progress has done, written down before each step that a crash or a stop could interrupt, so
 * the next start finishes the job instead of guessing from the tree:
 * - `apply`: the tree is being changed from `from` to `to` (in-place: a merge or reset is writing files). Written
 *   and fsynced before the first file is touched; a restart brings the tree to exactly one of the two revisions.
 * - `hooks`: `to` is on disk, onChange run hooks (for the changes since `from`) have not all finished; `hooksDone`
 *   names those that did, so a restart runs only the rest (the one a crash cut half-way runs again, in full).
 * - `reload`: `to` is on disk and prepared, the app server has not been reloaded and verified on it yet.
 * A deploy that reached a verdict (live, rejected, rolled back) clears it. A stop is not a verdict: the entry
 * stays, and the next start re-runs what is missing.
 */
export type JournalStage = 'apply' | 'hooks' | 'reload';

export interface JournalEntry {
  from: string;
  to: string;
  stage: JournalStage;
  /** apply: how the tree changes (fast-forward or reset, e.g. a rollback or a diverged remote) */
  mode?: 'ff' | 'reset';
  /** this is a rollback to a good revision (the bad one is already rejected) */
  rollback?: boolean;
  trigger?: string;
  /** hooks: the run hooks (their commands, in order) that finished for this deploy */
  hooksDone?: string[];
  /** reload: the reload and verification passed and the bake window is judging it (no verdict yet) */
  baking?: boolean;
  /** a hook or reload command in flight: its process group, ended by the next start if a crash left it */
  child?: { pid: number; start?: string };
  at: string;
}

const STAGES: readonly string[] = ['apply', 'hooks', 'reload'];
const SHA = /^[0-9a-f]{40}$/;

/** Parses a journal file's text; anything malformed (a torn write) is treated as no journal. */
export function parseJournal(text: string): JournalEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const entry = value as Partial<JournalEntry>;
  if (typeof entry.to !== 'string' || !SHA.test(entry.to)) return undefined;
  if (typeof entry.from !== 'string' || (entry.from !== '' && !SHA.test(entry.from))) return undefined;
  if (typeof entry.stage !== 'string' || !STAGES.includes(entry.stage)) return undefined;
  // a list that is not one of commands counts as none done: the hooks run again rather than be skipped on a guess
  if (
    entry.hooksDone !== undefined &&
    !(Array.isArray(entry.hooksDone) && entry.hooksDone.every((c) => typeof c === 'string'))
  )
    delete entry.hooksDone;
  return entry as JournalEntry;
}

/** A deploy on disk without a verdict yet, as the engine keeps it (read back from the journal after a crash). */
export type PendingDeploy = Pick<JournalEntry, 'from' | 'to' | 'rollback' | 'hooksDone'> & {
  stage: 'hooks' | 'reload';
  /** a stop or crash interrupted it: finished first at the next pass, before anything else */
  interrupted?: boolean;
};

/**
 * The hooks still owed when `done` (commands, in the order they finished) already ran for this deploy: each finished
 * command accounts for one run of it in `hooks`, first to last. `skipped` is told a line for each one left out.
 */
export function hooksOwed<T extends { command: string }>(
  hooks: readonly T[],
  done: readonly string[] = [],
  skipped?: (line: string) => void,
): T[] {
  const left = [...done];
  return hooks.filter((hook) => {
    const at = left.indexOf(hook.command);
    if (at < 0) return true;
    left.splice(at, 1);
    skipped?.(`hook "${hook.command}" finished before the interruption: not run again`);
    return false;
  });
}

export class Journal {
  constructor(readonly file: string) {}

  async read(): Promise<JournalEntry | undefined> {
    const text = await fs.readFile(this.file, 'utf8').catch(() => undefined);
    return text === undefined ? undefined : parseJournal(text);
  }

  /**
   * Replaces the entry atomically (temp file, rename). `durable` also fsyncs the file and its directory: used
   * before the tree is touched, where a power loss must not lose the record of what was being applied.
   */
  async write(entry: Omit<JournalEntry, 'at'>, durable = false): Promise<void> {
    const full: JournalEntry = { ...entry, at: new Date().toISOString() };
    const dir = path.dirname(this.file);
    // the state directory only, inside the git directory: a checkout deleted meanwhile is not made again here
    await fs.mkdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    const temp = `${this.file}.tmp-${process.pid}`;
    const handle = await fs.open(temp, 'w', 0o644);
    try {
      try {
        await handle.writeFile(`${JSON.stringify(full)}\n`);
        if (durable) await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temp, this.file);
    } catch (error) {
      // a full disk: the old entry stands, and no partial temp file keeps the blocks it took
      await fs.rm(temp, { force: true });
      throw error;
    }
    if (durable) await syncDir(dir);
  }

  async clear(): Promise<void> {
    await fs.rm(this.file, { force: true });
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  await handle.sync().catch(() => undefined);
  await handle.close();
}
