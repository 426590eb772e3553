import type { Git } from '../../git/repo.js';

/** How a plan changes what is on disk (see plan.ts). */
export interface ApplyPlan {
  mode: 'ff' | 'reset';
  backupHead: boolean;
  backupWorktree: boolean;
  /** untracked files in the way of the target's new files, moved into the backup first */
  moveAside: readonly string[];
}

/** A revision put on disk but not yet serving: hooks run in `dir`, then it is activated or discarded. */
export interface Staged {
  sha: string;
  dir: string;
}

/**
 * Where deployed code lives, and how a revision becomes the served one. Two layouts:
 * in-place (the checkout is fast-forwarded where it is) and atomic (each revision is a complete worktree and
 * a `current` link is switched with rename()).
 */
export interface Workspace {
  readonly layout: 'in-place' | 'atomic';
  /** the repository fetches, ancestry checks and diffs run in */
  readonly git: Git;
  /** where the served code lives (in-place: the checkout; atomic: the `current` link) */
  readonly dir: string;
  /** the revision being served; undefined before the first release of an empty atomic volume */
  deployed(): Promise<string | undefined>;
  /** tracked files modified in the served tree */
  modifiedFiles(): Promise<string[]>;
  /** puts `target` on disk; in-place this already changes the served files */
  stage(target: string, plan: ApplyPlan, local: string | undefined): Promise<Staged>;
  /** makes a staged revision the served one */
  activate(staged: Staged): Promise<void>;
  /** drops a staged revision that must not be served (a run hook failed), restoring `local` */
  discard(staged: Staged, local: string | undefined): Promise<void>;
  /** serves `sha` again (rollback) */
  restore(sha: string): Promise<void>;
  /** after a verified deploy: housekeeping such as pruning old releases */
  settled(liveSha: string): Promise<void>;
  /** repairs what a crash left (temp links, half-made releases, locks); returns what it did, for the log */
  recover(): Promise<string[]>;
  /** where hotpull keeps its own state for this workspace (journal, owner lock, pause…): inside the git dir */
  stateDir(): Promise<string>;
  /** in-place only: how the served checkout itself is written (the atomic layout never writes into a served tree) */
  readonly inPlace?: InPlaceTree;
}

/** The in-place layout's own steps: the checkout is changed where it serves, so each change must settle whole. */
export interface InPlaceTree {
  /**
   * fast-forwards to `target` when that is possible and says whether it did (false: not a
   * fast-forward, nothing changed). Lets the engine skip working out the relation in the common case.
   */
  tryFastForward(target: string): Promise<boolean>;
  /**
   * `target` in a tree of its own, where it is judged (preflight, canary) before `stage` changes
   * the served files. (The atomic layout's `stage` is already such a tree.)
   */
  stageTree(target: string): Promise<Staged>;
  /**
   * untracked or ignored files at paths that
   * going from `local` to `target` would create, which applying would overwrite.
   */
  obstructions(local: string, target: string): Promise<string[]>;
  /**
   * an apply from `from` to `to` was interrupted (a crash, a full disk). Brings the tree to exactly
   * `sha` (one of the two), keeping local edits outside the paths the apply changes; returns what it did.
   */
  settleTree(from: string, to: string, sha: string): Promise<string[]>;
}
