import { shortSha as short } from '../../sha.js';
import type { Stage } from './stage-types.js';
import { wait } from './admit.js';

/**
 * --require-approval: a new revision waits for `hotpull approve SHA` (the operator route, with the bearer secret);
 * an approval of another sha does nothing. Waiting is state `held`, the reason saying what waits and how to release
 * it; the next poll looks again. A rollback or a deploy resumed after a restart does not wait.
 */
export const approve: Stage = {
  name: 'approve',
  async run(d, s) {
    if (!s.requireApproval || d.restore || d.rollback || d.resumed) return undefined;
    const approval = await s.approvals.get();
    if (approval?.sha === d.to) {
      s.memo.blocked = undefined;
      return undefined;
    }
    const sha = short(d.to)!;
    return wait(d, s, `${sha} waits for approval (--require-approval): hotpull approve ${sha}`);
  },
};
