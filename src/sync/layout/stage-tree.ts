import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Git } from '../../git/repo.js';

/**
 * The in-place layout's staging tree: a linked worktree of the checkout's repository at .git/hotpull/stage,
 * where a fetched revision is judged (preflight, canary) before the served checkout is touched. It is kept
 * between deploys, so staging a revision costs a checkout of the changed files, not a full one.
 *
 * Crash safety: nothing here is trusted from a previous run. A stage that does not check out cleanly (a kill -9
 * mid-checkout leaves an index.lock, a half-made `worktree add` leaves a directory git does not know) is removed
 * and made again, and git's registry of worktrees is pruned; the served checkout is never involved.
 */
export class StageTree {
  readonly dir: string;

  constructor(
    private readonly repo: Git,
    stateDir: string,
    private readonly env: Readonly<Record<string, string | undefined>>,
    /** --sparse: the stage holds what the checkout holds */
    private readonly sparse?: readonly string[],
  ) {
    this.dir = path.join(stateDir, 'stage');
  }

  /** The tree at exactly `sha`, as a fresh checkout would have it (files a judge wrote there are gone). */
  async prepare(sha: string): Promise<string> {
    if (!(await this.reuse(sha).catch(() => false))) {
      await fs.rm(this.dir, { recursive: true, force: true });
      await this.repo.worktreePrune().catch(() => undefined);
      await fs.mkdir(path.dirname(this.dir), { recursive: true });
      await this.repo.worktreeAdd(this.dir, sha, this.sparse);
    }
    await this.repo.fillTree(this.dir);
    return this.dir;
  }

  private async reuse(sha: string): Promise<boolean> {
    if (!(await fs.stat(path.join(this.dir, '.git')).catch(() => undefined))) return false;
    const git = new Git(this.dir, this.env);
    // Only hotpull (which owns the checkout) works in this tree: a lock here is one a killed hotpull left.
    const own = await git.gitDir();
    if (!path.resolve(own).includes(`${path.sep}worktrees${path.sep}`)) return false;
    await fs.rm(path.join(own, 'index.lock'), { force: true });
    // Phrased to print something: simple-git waits 50 ms more after a git that printed nothing (see git/repo.ts).
    await git.run(['checkout', '--detach', '--force', sha]);
    // What a judge or a hook left (untracked or ignored) goes; a tree with nothing to clean skips the clean.
    const status = await git.run(['status', '--porcelain', '--branch', '--ignored', '--untracked-files=normal']);
    if (status.split('\n').some((line) => line !== '' && !line.startsWith('## '))) await git.run(['clean', '-ffdx']);
    return (await git.head()) === sha;
  }

  /** Frees the disk the tree takes (the next prepare makes it again). */
  async remove(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
    await this.repo.worktreePrune().catch(() => undefined);
  }
}
