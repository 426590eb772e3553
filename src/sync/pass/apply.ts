import { HotpullError, oneLine } from '../../errors.js';
import { shortSha as short } from '../../sha.js';
import { replacedDuringPass } from '../checkout-watch.js';
import type { JournalEntry } from '../journal.js';
import type { ApplyPlan } from '../layout/workspace.js';
import type { Deploy, StageEnv } from './deploy.js';
import { applyFailure, diskFull } from './faults.js';
import type { Stage } from './stage-types.js';
import { planFor } from './plan.js';
import { quietEnd } from './scope.js';

/**
 * In-place: the checkout goes to the new revision (the fast-forward first when the plan allows it), with the cursor
 * written first; `hotpull rollback` restores its target here in either layout. Atomic staged its release already.
 */
export const apply: Stage = {
  name: 'apply',
  async run(d, s) {
    const { workspace } = s;
    if (d.restore) {
      await applyTree(s, { from: d.from, to: d.to, mode: 'reset', trigger: d.trigger }, () => workspace.restore(d.to));
      s.report.deployed(d.to);
      return undefined;
    }
    const inPlace = workspace.inPlace;
    if (!inPlace) return undefined;
    let fastForwarded = false;
    if (d.plan === 'try-ff') {
      const ff = { from: d.from, to: d.to, mode: 'ff' as const, trigger: d.trigger };
      fastForwarded = await applyTree(s, ff, () => inPlace.tryFastForward(d.to));
      if (!fastForwarded) await s.cursor.clear();
      const end = await planFor(d, s, fastForwarded);
      if (end) return end;
    }
    const plan = d.plan as ApplyPlan;
    const change = { from: d.from, to: d.to, mode: plan.mode, trigger: d.trigger };
    d.staged = fastForwarded
      ? { sha: d.to, dir: workspace.dir }
      : await applyTree(s, change, () => workspace.stage(d.to, plan, d.local));
    s.report.deployed(d.to);
    d.times.applied = s.clock();
    return undefined;
  },
};

/** From here the new revision may be served: a stop or a crash resumes with the reload. */
export const activate: Stage = {
  name: 'activate',
  cursor: (d) => (d.quiet ? undefined : 'reload'),
  async run(d, s) {
    if (d.resumed) {
      // what answers now may be this revision already (reloaded before a crash): no probe of "before", the record says
      s.served?.resumed(Boolean(d.rollback) || (d.from !== '' && d.from === s.marks.lastGood));
      return undefined;
    }
    if (!d.restore) {
      await s.workspace.activate(d.staged!);
      s.report.deployed(d.to);
    }
    if (d.quiet) return quietEnd(d, s);
    // what the old code answers decides whether a failed verification can be blamed on this deploy
    await s.served?.refresh(d.from || undefined, s.logger);
    return undefined;
  },
};

type Change = Pick<JournalEntry, 'from' | 'to' | 'trigger' | 'rollback'> & { mode: 'ff' | 'reset' };

/** Changes the tree (in-place) with the journal written first; a failure leaves the tree at `from`, whole. */
export async function applyTree<T>(s: StageEnv, change: Change, apply: () => Promise<T>): Promise<T> {
  if (!s.workspace.inPlace) return apply();
  // deleted and cloned again since the pass began: the new clone is not this process's until ensure() takes it over
  if (s.owner?.guards?.() === false) throw new HotpullError('GIT', replacedDuringPass(s.workspace.dir));
  const { from, to, rollback } = change;
  await s.cursor.write({ ...change, stage: 'apply', ...(rollback ? { rollback } : {}) }, true);
  try {
    return await apply();
  } catch (error) {
    // looked at before the undo, which frees what the apply wrote
    const full = await diskFull(s.workspace.dir);
    const undone = from && !rollback ? await undoApply(s, from, to) : true;
    throw applyFailure(error, to, from, full, undone);
  }
}

/**
 * Puts the tree back to `from` after an apply failed, and says whether it could; when even that fails the cursor
 * stays on the apply, which the next pass settles first.
 */
export async function undoApply(s: StageEnv, from: string, to: string): Promise<boolean> {
  const inPlace = s.workspace.inPlace;
  if (!inPlace) return true;
  try {
    for (const message of await inPlace.settleTree(from, to, from)) s.logger.warn(message);
    await s.cursor.clear();
    return true;
  } catch (error) {
    const said = `could not put the checkout back to ${short(from)} either; will try again on the next pass`;
    s.logger.error({ err: oneLine(error) }, `${said}: ${oneLine(error)}`);
    return false;
  }
}

/** run --watch: from here files change and the app reloads (see ReloadGate). */
export async function enterGate(d: Deploy, s: StageEnv): Promise<void> {
  if (!s.gate) return;
  const { git } = s;
  const { local, to } = d;
  d.gate = await s.gate.enter(async () =>
    local === undefined ? git.listFiles(to) : local === to ? [] : git.changedPaths(local, to),
  );
}
