import type { ApplyPlan } from '../layout/workspace.js';
import type { Stage } from './stage-types.js';
import { runHooks } from './hooks.js';

/**
 * The candidate tree, before anything serves it. Atomic: the revision's release directory, prepared by its run
 * hooks (a failing hook discards it). In-place has none here: the judge stages its own tree, apply writes the checkout.
 */
export const stage: Stage = {
  name: 'stage',
  async run(d, s) {
    if (s.workspace.inPlace) return undefined;
    d.staged = await s.workspace.stage(d.to, d.plan as ApplyPlan, d.local);
    d.times.applied = s.clock();
    return runHooks(d, s);
  },
};
