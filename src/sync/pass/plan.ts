import { shortSha as short } from '../../sha.js';
import { decideRules } from '../../deploy/rules.js';
import { heldReason, holdBase, takesFastForwardShortcut } from './decide.js';
import { planApply, relationOf } from './policy.js';
import type { Deploy, StageEnv, SyncOutcome } from './deploy.js';
import type { Stage } from './stage-types.js';
import { block, idle } from './admit.js';

/**
 * How the tree gets to the new revision: the policies for a diverged or dirty checkout, what is in the way, and the
 * onChange rules (hooks to run, or a hold). The common case, a clean in-place checkout behind the remote with no
 * rules and no judge, is left to apply's fast-forward, which checks and applies in one step.
 */
export const plan: Stage = {
  name: 'plan',
  async run(d, s) {
    const shortcut = { layoutCanTry: true, local: d.local, modified: d.dirty.length, rules: s.rules.length };
    // judged revisions go through the stage first: the shortcut would change the served tree before the verdict
    if (s.workspace.inPlace && !s.judge && takesFastForwardShortcut(shortcut)) {
      d.plan = 'try-ff';
      return undefined;
    }
    return planFor(d, s);
  },
};

/** The plan, once the relation is known (`fastForwarded`: apply's fast-forward already took the checkout there). */
export async function planFor(d: Deploy, s: StageEnv, fastForwarded = false): Promise<SyncOutcome | undefined> {
  const { local, to: target, dirty: modified } = d;
  const { git } = s;
  const base = fastForwarded || local === undefined ? undefined : await git.mergeBase(local, target);
  // No deployed revision yet, or one this repository does not know (re-cloned after damage): nothing
  // on disk can be rewritten by going to the target.
  const unknownLocal = !fastForwarded && (local === undefined || (base === undefined && !(await git.hasCommit(local))));
  const relation = fastForwarded || unknownLocal ? 'behind' : relationOf(local!, target, base);
  const inPlace = s.workspace.inPlace;
  const obstructing =
    !fastForwarded && local !== undefined && relation !== 'same' && inPlace
      ? await inPlace.obstructions(local, target)
      : [];
  const { resetting } = s.memo;
  const onDiverged = resetting ? 'reset' : s.onDiverged;
  const planned = planApply({ relation, modified, obstructing, onDiverged, onDirty: resetting ? 'reset' : s.onDirty });
  if (planned.kind === 'noop') {
    await idle(s, target);
    s.report.succeeded();
    return { kind: 'up-to-date', sha: target };
  }
  if (planned.kind === 'blocked') {
    const fields = { deployed: short(local), remote: short(target) };
    return block(s, { state: planned.state, local, remote: target }, planned.reason, fields);
  }
  const decision = await decide(s, local, target);
  if (decision.hold) {
    s.report.held(target);
    const { paths } = decision.hold;
    const reason = heldReason(paths, decision.hold.rule.paths, short(target)!);
    return block(s, { state: 'held', local, remote: target }, reason, { held: short(target), paths });
  }
  s.report.held(undefined);
  s.memo.blocked = undefined;
  d.plan = planned;
  d.run = decision.run;
  return undefined;
}

/** The onChange rules on what changed: hooks to run, and a hold (compared with the image's revision when known). */
export async function decide(s: StageEnv, local: string | undefined, target: string) {
  const { rules, imageRevision, git } = s;
  if (rules.length === 0) return decideRules(rules, []);
  // The first release of an empty volume has no old revision: every path counts as changed.
  const changed = local === undefined ? await git.listFiles(target) : await git.changedPaths(local, target);
  const decision = decideRules(
    rules.filter((r) => !r.hold),
    changed,
  );
  const base = holdBase(imageRevision, imageRevision !== undefined && (await git.hasCommit(imageRevision)), local);
  const holdChanged = base === local || base === undefined ? changed : await git.changedPaths(base, target);
  const hold = decideRules(
    rules.filter((r) => r.hold),
    holdChanged,
  ).hold;
  return { ...decision, hold };
}
