/**
 * The engine's decisions, apart from the I/O that feeds them: which triggers retry a rejected revision, when a
 * blocked verdict still stands, when the fast-forward shortcut may be taken, what hold rules compare against,
 * and where a rollback goes. Pure; tested by tables in test/decide.test.ts.
 */

/** Triggers a person or script fired on purpose: they retry a rejected revision. */
const EXPLICIT_TRIGGERS: ReadonlySet<string> = new Set(['signal', 'cli', 'api']);

/** Whether this pass retries `remote` although it was rejected: only when someone asked on purpose. */
export function retriesRejected(trigger: string, rejectedSha: string | undefined, remote: string): boolean {
  return EXPLICIT_TRIGGERS.has(trigger) && rejectedSha === remote;
}

export type BlockedState = 'diverged' | 'dirty' | 'held' | 'rejected' | 'paused' | 'missing';

/** A blocked verdict, cached so that a blocked poll logs once and skips the work it already did. */
export interface BlockedVerdict {
  state: BlockedState;
  /** the deployed revision and the remote's, when the verdict was reached */
  local: string | undefined;
  remote: string;
  /** looked at again at every pass, its objects not fetched again: a wait for a peer or an approval (after, approve) */
  again?: boolean;
}

export function sameVerdict(a: BlockedVerdict | undefined, b: BlockedVerdict): boolean {
  return a !== undefined && a.state === b.state && a.local === b.local && a.remote === b.remote;
}

/**
 * The cached verdict this pass can return without looking again: one for the same pair of revisions. Only a
 * dirty tree can clear by itself (someone reverts the edit), so that one is always looked at again.
 */
export function standingVerdict(
  cached: BlockedVerdict | undefined,
  local: string | undefined,
  remote: string,
): BlockedVerdict | undefined {
  if (!cached || cached.local !== local || cached.remote !== remote) return undefined;
  return cached;
}

/**
 * The common case, taken first: a clean tree behind the remote and no onChange rules to consult. `merge
 * --ff-only` both checks and applies, saving the merge-base round trip; only when it refuses is the relation
 * worked out.
 */
export function takesFastForwardShortcut(input: {
  layoutCanTry: boolean;
  local: string | undefined;
  modified: number;
  rules: number;
}): boolean {
  return input.layoutCanTry && input.local !== undefined && input.modified === 0 && input.rules === 0;
}

/**
 * Hold rules ask "has the infrastructure changed since the image was built?": they compare against the image's
 * revision when this repository knows it, else against what is deployed (undefined: every path counts).
 */
export function holdBase(
  imageRevision: string | undefined,
  imageRevisionKnown: boolean,
  local: string | undefined,
): string | undefined {
  return imageRevision && imageRevisionKnown ? imageRevision : local;
}

/**
 * Where a failed revision `to` rolls back to: the last verified revision, else the one it replaced; never to
 * `to` itself, and never to a revision already rejected (a resumed rollback whose target fails again), except the
 * one a manual rollback left.
 */
export function rollbackTarget(input: {
  to: string;
  from: string;
  lastGood: string | undefined;
  rejected: string | undefined;
  /** the revision a manual rollback left (and rejected itself): when the rollback fails, it is where to go back */
  leftByRollback?: string;
}): string | undefined {
  const candidate = input.lastGood && input.lastGood !== input.to ? input.lastGood : input.from;
  const allowed = candidate !== input.rejected || candidate === input.leftByRollback;
  return candidate && allowed && candidate !== input.to ? candidate : undefined;
}

/** Why a held revision waits, in one line: the first paths, the rule, and what releases it. */
export function heldReason(paths: readonly string[], rulePaths: readonly string[], target: string): string {
  const shown = `${paths.slice(0, 3).join(', ')}${paths.length > 3 ? ` and ${paths.length - 3} more` : ''}`;
  return (
    `${shown} changed (hold rule ${JSON.stringify(rulePaths)}): a code deploy cannot carry this, the container needs a rebuild; ` +
    `${target} and later commits stay held until the image is rebuilt from them (--image-revision)`
  );
}
