import { promises as fs } from 'node:fs';
import path from 'node:path';
import { nodeCrypto } from '../../lazy-crypto.js';
import type { Logger } from '../../log.js';
import { Git } from '../../git/repo.js';
import { clearLocks } from '../../git/locks.js';
import { processesUsing } from '../../proc/procfs.js';
import type { ApplyPlan, Staged, Workspace } from './workspace.js';
import { shortSha } from '../../sha.js';

/**
 * The atomic layout, under the volume root:
 *
 *   .hotpull/repo/         bare repository (fetches land here)
 *   .hotpull/kept          releases that went live, oldest first (what --keep counts)
 *   releases/<sha>/        one complete worktree per revision
 *   current -> releases/<sha>
 *
 * A release directory only ever gets its final name once `git worktree add` has finished (it is made as
 * releases/.incoming-*, then moved), and `current` is switched by renaming a fresh link over it; so after a
 * kill -9 at any moment, `current` names a complete release, and what is left over is recognisable by name.
 */
export const SHA = /^[0-9a-f]{40}$/;
const INCOMING = '.incoming-';
const TRASH = '.trash-';
const TEMP_LINK = 'current.tmp-';

export interface AtomicOptions {
  keep: number;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  /** --sparse: each release holds only these directories (and the root's files) */
  sparse?: readonly string[];
}

export class AtomicWorkspace implements Workspace {
  readonly layout = 'atomic' as const;
  private checkedAtStart = false;

  constructor(
    readonly root: string,
    readonly git: Git,
    private readonly options: AtomicOptions,
  ) {}

  async stateDir(): Promise<string> {
    return path.join(await this.git.gitDir(), 'hotpull');
  }

  static repoDir(root: string): string {
    return path.join(root, '.hotpull', 'repo');
  }

  private get releases(): string {
    return path.join(this.root, 'releases');
  }

  private get current(): string {
    return path.join(this.root, 'current');
  }

  /** the served tree, through the `current` link (hooks a resumed deploy owes run there) */
  get dir(): string {
    return this.current;
  }

  releaseDir(sha: string): string {
    return path.join(this.releases, sha);
  }

  /** The sha `current` points to, when it points to a release directory that exists. */
  async deployed(): Promise<string | undefined> {
    const target = await fs.readlink(this.current).catch(() => undefined);
    if (!target) return undefined;
    const sha = path.basename(target);
    if (!SHA.test(sha)) return undefined;
    return (await exists(this.releaseDir(sha))) ? sha : undefined;
  }

  async modifiedFiles(): Promise<string[]> {
    const sha = await this.deployed();
    if (!sha) return [];
    try {
      return await new Git(this.releaseDir(sha), this.options.env).modifiedFiles();
    } catch (error) {
      // After a re-clone the served release's git metadata points into the old repository: its files cannot be
      // compared any more, and the next release replaces it anyway.
      if (/not a git repository/i.test((error as Error).message)) return [];
      throw error;
    }
  }

  async stage(target: string, _plan: ApplyPlan): Promise<Staged> {
    const final = this.releaseDir(target);
    if (await this.isCompleteRelease(target)) return { sha: target, dir: final };
    if (await exists(final)) await this.removeRelease(target);
    await fs.mkdir(this.releases, { recursive: true });
    const incoming = path.join(
      this.releases,
      `${INCOMING}${target.slice(0, 12)}-${nodeCrypto().randomBytes(4).toString('hex')}`,
    );
    try {
      await this.git.worktreeAdd(incoming, target, this.options.sparse);
      await this.git.worktreeMove(incoming, final);
      // after the move: git moves no worktree that holds submodules (a kill here: isCompleteRelease says not complete)
      await this.git.fillTree(final);
    } catch (error) {
      // a half-made release (a full disk) must not keep its space until the next start
      await fs.rm(incoming, { recursive: true, force: true }).catch(() => undefined);
      await this.git.worktreePrune().catch(() => undefined);
      throw error;
    }
    return { sha: target, dir: final };
  }

  async activate(staged: Staged): Promise<void> {
    await this.switchTo(staged.sha);
  }

  async discard(staged: Staged): Promise<void> {
    if ((await this.deployed()) === staged.sha) return;
    await this.removeRelease(staged.sha);
  }

  async restore(sha: string): Promise<void> {
    if (!(await this.isCompleteRelease(sha)))
      await this.stage(sha, { mode: 'ff', backupHead: false, backupWorktree: false, moveAside: [] });
    await this.switchTo(sha);
  }

  /** Records a release that went live and prunes beyond --keep. */
  async settled(liveSha: string): Promise<void> {
    const kept = (await this.readKept()).filter((sha) => sha !== liveSha);
    kept.push(liveSha);
    await this.writeKept(kept.slice(-Math.max(this.options.keep, 1) * 4));
    await this.prune(kept.slice(-this.options.keep));
  }

  /**
   * Removes releases beyond the newest `keep` live ones: never the one `current` names, never one a process
   * still uses (a uWSGI master after a chain reload keeps its old working directory), never a half-made one
   * that another step is working on (those are cleaned at start).
   */
  async prune(keep: string[]): Promise<string[]> {
    const current = await this.deployed();
    const names = await fs.readdir(this.releases).catch(() => [] as string[]);
    const removed: string[] = [];
    for (const name of names) {
      if (!SHA.test(name) || name === current || keep.includes(name)) continue;
      const dir = this.releaseDir(name);
      const users = await processesUsing((target) => target === dir || target.startsWith(`${dir}/`));
      if (users && users.length > 0) {
        this.options.logger.info(
          { release: name, pids: users },
          `keeping release ${shortSha(name)}: still in use by pid ${users.join(', ')}`,
        );
        continue;
      }
      await this.removeRelease(name);
      removed.push(name);
    }
    if (removed.length > 0) this.options.logger.info({ removed }, `pruned ${removed.length} old release(s)`);
    return removed;
  }

  /**
   * A release is first renamed out of the way (atomic), then deleted: a kill in the middle of deleting leaves
   * a .trash-* directory for the next start to finish, never a release directory with files missing.
   */
  private async removeRelease(sha: string): Promise<void> {
    const trash = path.join(
      this.releases,
      `${TRASH}${sha.slice(0, 12)}-${nodeCrypto().randomBytes(4).toString('hex')}`,
    );
    await fs.rename(this.releaseDir(sha), trash).catch(() => undefined);
    await fs.rm(trash, { recursive: true, force: true });
    await this.git.worktreePrune().catch(() => undefined);
  }

  private async switchTo(sha: string): Promise<void> {
    const temp = path.join(this.root, `${TEMP_LINK}${process.pid}-${nodeCrypto().randomBytes(4).toString('hex')}`);
    await fs.symlink(path.join('releases', sha), temp);
    await fs.rename(temp, this.current);
  }

  private async isCompleteRelease(sha: string): Promise<boolean> {
    const dir = this.releaseDir(sha);
    if (!(await exists(path.join(dir, '.git')))) return false;
    try {
      const git = new Git(dir, this.options.env);
      if ((await git.head()) !== sha) return false;
      if (!(await exists(path.join(dir, '.gitmodules')))) return true;
      // a submodule not initialized (-), at another commit (+) or in conflict (U): a release a kill left half made
      return !/^[-+U]/m.test(await git.run(['submodule', 'status', '--recursive']));
    } catch {
      return false;
    }
  }

  private async readKept(): Promise<string[]> {
    const text = await fs.readFile(path.join(this.root, '.hotpull', 'kept'), 'utf8').catch(() => '');
    return text.split('\n').filter((l) => SHA.test(l));
  }

  private async writeKept(shas: string[]): Promise<void> {
    const file = path.join(this.root, '.hotpull', 'kept');
    const temp = `${file}.tmp-${process.pid}`;
    await fs.writeFile(temp, `${shas.join('\n')}\n`);
    await fs.rename(temp, file);
  }

  /**
   * After a crash: stale locks, leftover temp links and half-made releases go; at start also the worktree
   * registry is repaired, every release checked, and `current` re-pointed if it names no complete release.
   */
  async recover(): Promise<string[]> {
    const done: string[] = [];
    done.push(...(await clearLocks(await this.git.gitDir())));
    for (const name of await fs.readdir(this.root).catch(() => [] as string[])) {
      if (!name.startsWith(TEMP_LINK)) continue;
      await fs.rm(path.join(this.root, name), { force: true });
      done.push(`removed leftover temporary link ${name}`);
    }
    if (this.checkedAtStart) return done;
    this.checkedAtStart = true;

    const names = await fs.readdir(this.releases).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.startsWith(INCOMING) || n.startsWith(TRASH))) {
      await fs.rm(path.join(this.releases, name), { recursive: true, force: true });
      done.push(`removed ${name.startsWith(INCOMING) ? 'half-made release' : 'half-deleted release'} ${name}`);
    }
    const releases = names.filter((n) => SHA.test(n));
    // A kill during `worktree move` can leave the registry pointing at the old path.
    await this.git.worktreeRepair(releases.map((n) => this.releaseDir(n)));
    await this.git.worktreePrune().catch(() => undefined);
    const complete: string[] = [];
    const linked = await this.deployed();
    for (const name of releases) {
      if (await this.isCompleteRelease(name)) complete.push(name);
      else if (name === linked && (await this.git.getConfig('hotpull.recloned'))) {
        // After a re-clone the served release's git metadata points at the old repository; its files are
        // intact, so it keeps serving until the next deploy replaces it.
        complete.push(name);
      } else {
        await this.removeRelease(name);
        done.push(`removed incomplete release ${name}`);
      }
    }
    const current = await this.deployed();
    if (current === undefined || !complete.includes(current)) {
      // Only a release that went live is a fallback: a complete one that never did may be one a kill -9 left
      // while it was judged (preflight, canary) or its hooks ran, and serving it would skip its verdict. The next
      // pass stages it again, and judges it.
      const fallback = (await this.readKept()).filter((sha) => complete.includes(sha)).at(-1);
      if (fallback) {
        await this.switchTo(fallback);
        done.push(`current named no complete release; switched it to ${fallback}`);
      } else if (await fs.lstat(this.current).catch(() => undefined)) {
        await fs.rm(this.current, { force: true });
        done.push('current named no complete release and none went live; removed it until the first deploy');
      }
    }
    return done;
  }
}

export interface OpenOptions extends AtomicOptions {
  /** remote URL for the first clone (or to update the stored one) */
  remoteUrl?: string;
}

/**
 * Opens the layout at `root`, creating it on an empty directory. A repository that fails
 * `git fsck --connectivity-only` is set aside and cloned again; the volume directory itself stays.
 */
export async function openAtomic(
  root: string,
  options: OpenOptions,
): Promise<{ workspace: AtomicWorkspace; created: boolean; recloned: boolean }> {
  const repoDir = AtomicWorkspace.repoDir(root);
  let created = false;
  let recloned = false;
  let git: Git;
  if (await exists(path.join(repoDir, 'HEAD'))) {
    git = new Git(repoDir, options.env);
    try {
      await git.fsckConnectivity();
    } catch (error) {
      const aside = `${repoDir}.broken-${Date.now()}`;
      const url = await git.getConfig('remote.origin.url');
      await fs.rename(repoDir, aside);
      git = await Git.initBare(repoDir, options.env);
      if (url) await git.setRemote('origin', url);
      await git.setConfig('hotpull.recloned', aside);
      options.logger.error(
        { aside, err: (error as Error).message },
        `repository failed git fsck; set aside as ${aside} and cloning again`,
      );
      recloned = true;
    }
  } else {
    git = await Git.initBare(repoDir, options.env);
    created = true;
  }
  if (options.remoteUrl) await git.setRemote('origin', options.remoteUrl);
  return { workspace: new AtomicWorkspace(root, git, options), created, recloned };
}

async function exists(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => undefined)) !== undefined;
}
