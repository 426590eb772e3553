import type { Deploy, StageEnv, SyncOutcome } from './deploy.js';
import type { Stage, StageName } from './stage-types.js';
import { detect, fetch } from './detect.js';
import { admit } from './admit.js';
import { trust } from './trust.js';
import { after } from './after.js';
import { approve } from './approve.js';
import { plan } from './plan.js';
import { scope } from './scope.js';
import { lfs } from './lfs.js';
import { stage } from './stage.js';
import { judge } from './judge.js';
import { apply, activate } from './apply.js';
import { hooks } from './hooks.js';
import { reload, verify } from './verify.js';
import { rollback } from './rollback.js';
import { bake } from './bake.js';

/**
 * One pass, in order: see where the remote is, admit it (paused, rejected, up to date, a standing block), fetch it,
 * check who signed it (--verify-signatures), wait for the --after peer and an approval, plan the change (policies,
 * hold rules), scope it (--path: nothing under the paths moves the tree and ends the pass after activate), refuse LFS
 * content without git-lfs, stage it (atomic: a release and its hooks), judge it (preflight, canary), apply it
 * (in-place: the checkout), run its hooks, activate it, reload, verify, bake it on real traffic (--bake), and roll
 * back a revision that fails.
 */
export const STAGES: readonly Stage[] = [
  detect,
  admit,
  fetch,
  trust,
  after,
  approve,
  plan,
  scope,
  lfs,
  stage,
  judge,
  apply,
  hooks,
  activate,
  reload,
  verify,
  bake,
  rollback,
];

const at = (name: StageName): number => STAGES.findIndex((stage) => stage.name === name);

/**
 * Runs the list from `from`: a poll or a webhook from detect, a deploy the cursor says is owed from its step
 * (hooks or activate), `hotpull rollback` from apply. The last stage that runs ends the pass with an outcome.
 */
export async function runPass(d: Deploy, s: StageEnv, from: StageName = 'detect'): Promise<SyncOutcome> {
  try {
    for (let i = at(from); i < STAGES.length; i++) {
      const stage = STAGES[i]!;
      const state = stage.state?.(d, s);
      if (state) s.report.setState(state);
      const step = stage.cursor?.(d, s);
      if (step) await s.cursor.enter(d, step);
      const end = await stage.run(d, s);
      if (end && 'skipTo' in end) i = at(end.skipTo) - 1;
      else if (end) return end;
    }
    throw new Error(`internal error: the deploy of ${d.to} ran past its last stage without an outcome`);
  } finally {
    d.gate?.();
    d.gate = undefined;
  }
}
