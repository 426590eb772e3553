import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../log.js';
import type { Git } from '../../git/repo.js';
import { clearLocks } from '../../git/locks.js';
import { HotpullError } from '../../errors.js';
import { StageTree } from './stage-tree.js';
import type { ApplyPlan, InPlaceTree, Staged, Workspace } from './workspace.js';
import { shortSha } from '../../sha.js';

const short = shortSha;

/** The seed's layout: the checkout on the volume is fast-forwarded where it is. */
export class InPlaceWorkspace implements Workspace, InPlaceTree {
  readonly layout = 'in-place' as const;
  readonly inPlace: InPlaceTree = this;

  get dir(): string {
    return this.git.dir;
  }
  private stageTreeDir?: StageTree;

  constructor(
    readonly git: Git,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
    private readonly env: Readonly<Record<string, string | undefined>> = process.env,
    /** --sparse: the cone the checkout holds (set at start, see commands/pipeline.ts); the stage tree holds it too */
    private readonly sparse?: readonly string[],
  ) {}

  async stateDir(): Promise<string> {
    return path.join(await this.git.gitDir(), 'hotpull');
  }

  deployed(): Promise<string> {
    return this.git.headFromFiles();
  }

  modifiedFiles(): Promise<string[]> {
    return this.git.modifiedFiles();
  }

  async obstructions(local: string, target: string): Promise<string[]> {
    const added = await this.git.addedPaths(local, target);
    const found = new Set<string>();
    for (const file of added) {
      // the file itself, or a non-directory where the file's directory must go
      const parts = file.split('/');
      for (let i = 1; i <= parts.length; i++) {
        const at = parts.slice(0, i).join('/');
        const stat = await fs.lstat(path.join(this.git.dir, at)).catch(() => undefined);
        if (!stat) break;
        if (i === parts.length || !stat.isDirectory()) {
          // an ancestor the target turns from a tracked file into a directory is git's to handle
          if (i < parts.length && !(await this.git.isUntracked(at))) break;
          found.add(at);
          break;
        }
      }
    }
    return [...found];
  }

  async stage(target: string, plan: ApplyPlan, local: string): Promise<Staged> {
    const stamp = backupStamp(this.clock());
    if (plan.backupWorktree) {
      const stash = await this.git.stashCreate(`hotpull: local changes before deploying ${target}`);
      if (stash) {
        const ref = `refs/hotpull/backup/${stamp}-worktree`;
        await this.git.updateRef(ref, stash, 'hotpull: backup of local changes');
        this.logger.warn({ ref }, `discarding local changes to tracked files; saved under ${ref}`);
      }
    }
    if (plan.moveAside.length > 0) await this.moveAside(plan.moveAside, stamp);
    if (plan.backupHead) {
      const ref = `refs/hotpull/backup/${stamp}`;
      await this.git.updateRef(ref, local, 'hotpull: backup before reset');
      this.logger.warn(
        { ref, old: short(local), new: short(target) },
        `resetting the checkout to the rewritten remote; old head saved under ${ref}`,
      );
    }
    if (plan.mode === 'ff') await this.git.fastForward(target);
    else await this.git.resetHard(target);
    await this.git.fillTree(this.git.dir);
    return { sha: target, dir: this.git.dir };
  }

  /** Untracked files in the way go under .git/hotpull/backup/<stamp>/ (same filesystem: a rename). */
  private async moveAside(files: readonly string[], stamp: string): Promise<void> {
    const dir = path.join(await this.stateDir(), 'backup', stamp);
    for (const file of files) {
      const to = path.join(dir, file);
      await fs.mkdir(path.dirname(to), { recursive: true });
      await fs.rename(path.join(this.git.dir, file), to);
    }
    this.logger.warn(
      { files, dir },
      `moved ${files.length} untracked file(s) in the way of the new revision to ${dir}`,
    );
  }

  /** `target` in the staging worktree (.git/hotpull/stage), to be judged before the checkout changes. */
  async stageTree(target: string): Promise<Staged> {
    this.stageTreeDir ??= new StageTree(this.git, await this.stateDir(), this.env, this.sparse);
    return { sha: target, dir: await this.stageTreeDir.prepare(target) };
  }

  async tryFastForward(target: string): Promise<boolean> {
    try {
      await this.git.fastForward(target);
    } catch (error) {
      // not a fast-forward (or unrelated history), or untracked/ignored files in the way: the careful path works out what to do
      const refused = /not possible to fast-forward|would be overwritten|refusing to merge unrelated histories/i;
      if (error instanceof HotpullError && error.code === 'GIT' && refused.test(error.message)) return false;
      throw error;
    }
    // "Already up to date" when the checkout is ahead: nothing moved, so this was not the case we handle here
    if ((await this.git.headFromFiles()) !== target) return false;
    await this.git.fillTree(this.git.dir);
    return true;
  }

  async activate(): Promise<void> {}

  async discard(_staged: Staged, local: string): Promise<void> {
    await this.git.resetHard(local);
    await this.git.fillTree(this.git.dir);
  }

  async restore(sha: string): Promise<void> {
    await this.git.resetHard(sha);
    await this.git.fillTree(this.git.dir);
  }

  async settled(): Promise<void> {}

  async recover(): Promise<string[]> {
    return clearLocks(await this.git.gitDir());
  }

  /**
   * Finishes or undoes an interrupted apply. The tree was clean when it started (the dirty rules saw to it, or
   * the local edits were saved first), so what differs on the paths between `from` and `to` is the apply's own
   * half-written work; a modified file elsewhere is a person's edit, saved under a backup ref and put back.
   */
  private async removeFiles(files: readonly string[]): Promise<void> {
    for (const file of files) {
      const full = path.join(this.git.dir, file);
      const stat = await fs.lstat(full).catch(() => undefined);
      if (stat && !stat.isDirectory()) await fs.rm(full, { force: true });
    }
  }

  async settleTree(from: string, to: string, sha: string): Promise<string[]> {
    const done = await this.recover();
    const changed = new Set(from ? await this.git.changedPaths(from, to) : await this.git.listFiles(to));
    const edits = (await this.git.modifiedFiles()).filter((file) => !changed.has(file));
    let saved: string | undefined;
    if (edits.length > 0) {
      saved = await this.git.stashCreate('hotpull: local edits found after an interrupted deploy');
      if (saved) {
        const ref = `refs/hotpull/backup/${backupStamp(this.clock())}-interrupted`;
        await this.git.updateRef(ref, saved, 'hotpull: backup of local edits after an interrupted deploy');
        done.push(`saved local edits (${edits.slice(0, 3).join(', ')}${edits.length > 3 ? '…' : ''}) under ${ref}`);
      }
    }
    // The other revision's files the apply wrote go first (reset --hard leaves those the index did not know
    // yet, and on a full disk removing them is what makes room to write the rest), and again after the reset.
    const keep = new Set(await this.git.listFiles(sha));
    const strays = [...changed].filter((file) => !keep.has(file));
    await this.removeFiles(strays);
    await this.git.resetHard(sha);
    await this.removeFiles(strays);
    await this.git.fillTree(this.git.dir);
    if (saved) await this.git.checkoutPaths(saved, edits, path.join(await this.stateDir(), 'pathspec'), true);
    done.push(
      `the deploy ${short(from || '(none)')} → ${short(to)} that did not finish was ${sha === to ? 'finished' : 'undone'}: the checkout is at ${short(sha)}`,
    );
    return done;
  }
}

/** A ref-name-safe UTC timestamp, e.g. 20261126T203015Z, for refs/hotpull/backup/<timestamp>. */
export function backupStamp(nowMs: number): string {
  return new Date(nowMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}
