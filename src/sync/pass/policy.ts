/**
 * Pure decisions of the sync pipeline: given where the checkout stands against the remote, what to do.
 * Never lose work: anything that would rewrite history or discard local edits needs an explicit policy.
 */
export type Relation = 'same' | 'behind' | 'ahead' | 'diverged';
export type Policy = 'stop' | 'reset';

export interface PlanInput {
  relation: Relation;
  /** tracked files modified in the checkout */
  modified: readonly string[];
  /** untracked (or ignored) files at paths the target adds: applying would overwrite them */
  obstructing?: readonly string[];
  onDiverged: Policy;
  onDirty: Policy;
}

export type Plan =
  | { kind: 'noop' }
  | { kind: 'blocked'; state: 'diverged' | 'dirty'; reason: string }
  | {
      kind: 'apply';
      /** ff = merge --ff-only; reset = reset --hard (after the backups below) */
      mode: 'ff' | 'reset';
      backupHead: boolean;
      backupWorktree: boolean;
      /** untracked files in the way, moved aside into the backup before applying */
      moveAside: readonly string[];
    };

/** Where the deployed commit stands against the target, from their merge base (undefined: no common history). */
export function relationOf(local: string, remote: string, mergeBase: string | undefined): Relation {
  if (local === remote) return 'same';
  if (mergeBase === local) return 'behind';
  if (mergeBase === remote) return 'ahead';
  return 'diverged';
}

function listFiles(files: readonly string[]): string {
  const shown = files.slice(0, 3).join(', ');
  return files.length > 3 ? `${shown} and ${files.length - 3} more` : shown;
}

export function planApply(input: PlanInput): Plan {
  const { relation, modified } = input;
  if (relation === 'same') return { kind: 'noop' };
  const rewrites = relation !== 'behind';
  if (rewrites && input.onDiverged === 'stop') {
    const reason =
      relation === 'ahead'
        ? 'the checkout has commits the remote branch does not have; not rewriting them (hotpull reset saves a backup ref and resets; --on-diverged reset does so by itself)'
        : 'the remote branch was rewritten (force-push) and no longer contains the deployed commit; not rewriting the checkout (hotpull reset saves a backup ref and resets; --on-diverged reset does so by itself)';
    return { kind: 'blocked', state: 'diverged', reason };
  }
  const dirty = modified.length > 0;
  const obstructing = input.obstructing ?? [];
  if (dirty && input.onDirty === 'stop') {
    return {
      kind: 'blocked',
      state: 'dirty',
      reason: `tracked files were modified in the checkout (${listFiles(modified)}); not overwriting them (hotpull reset saves them under refs/hotpull/backup/ and resets; --on-dirty reset does so by itself)`,
    };
  }
  if (obstructing.length > 0 && input.onDirty === 'stop') {
    return {
      kind: 'blocked',
      state: 'dirty',
      reason:
        `untracked files in the checkout are in the way of files the new revision adds (${listFiles(obstructing)}); not overwriting them ` +
        '(hotpull reset moves them under .git/hotpull/backup/ and deploys; --on-dirty reset does so by itself)',
    };
  }
  return {
    kind: 'apply',
    mode: rewrites || dirty || obstructing.length > 0 ? 'reset' : 'ff',
    backupHead: rewrites,
    backupWorktree: dirty,
    moveAside: obstructing,
  };
}
