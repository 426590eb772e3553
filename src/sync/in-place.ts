import type { Logger } from '../log.js';
import type { Git } from '../git/repo.js';
import { removeStaleLocks } from '../git/locks.js';
import { backupStamp } from './plan.js';
import { HotpullError } from '../errors.js';
import type { ApplyPlan, Staged, Workspace } from './workspace.js';

const short = (sha: string) => sha.slice(0, 12);

/** The seed's layout: the checkout on the volume is fast-forwarded where it is. */
export class InPlaceWorkspace implements Workspace {
  readonly layout = 'in-place' as const;
  private gitDir?: string;

  constructor(
    readonly git: Git,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  deployed(): Promise<string> {
    return this.git.headFromFiles();
  }

  modifiedFiles(): Promise<string[]> {
    return this.git.modifiedFiles();
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
    if (plan.backupHead) {
      const ref = `refs/hotpull/backup/${stamp}`;
      await this.git.updateRef(ref, local, 'hotpull: backup before reset');
      this.logger.warn({ ref, old: short(local), new: short(target) }, `resetting the checkout to the rewritten remote; old head saved under ${ref}`);
    }
    if (plan.mode === 'ff') await this.git.fastForward(target);
    else await this.git.resetHard(target);
    return { sha: target, dir: this.git.dir };
  }

  async tryFastForward(target: string): Promise<boolean> {
    try {
      await this.git.fastForward(target);
    } catch (error) {
      if (error instanceof HotpullError && error.code === 'GIT' && /not possible to fast-forward/i.test(error.message)) return false;
      throw error;
    }
    // "Already up to date" when the checkout is ahead: nothing moved, so this was not the case we handle here
    return (await this.git.headFromFiles()) === target;
  }

  async activate(): Promise<void> {}

  async discard(_staged: Staged, local: string): Promise<void> {
    await this.git.resetHard(local);
  }

  async restore(sha: string): Promise<void> {
    await this.git.resetHard(sha);
  }

  async settled(): Promise<void> {}

  async recover(): Promise<string[]> {
    this.gitDir ??= await this.git.gitDir();
    return (await removeStaleLocks(this.gitDir)).map((file) => `removed stale git lock ${file} (no process holds it; left by a killed git)`);
  }
}
