import { configError, oneLine } from '../../errors.js';
import { shortSha as short } from '../../sha.js';
import { verifyHealth } from '../../deploy/verify.js';
import { rollbackTarget } from './decide.js';
import type { Deploy, StageEnv, SyncOutcome } from './deploy.js';
import { abortedError } from './faults.js';
import type { Stage } from './stage-types.js';
import { applyTree } from './apply.js';
import { PREVIOUS_REF } from './marks.js';
import { leftByRollback, record } from './record.js';
import { measureImpact } from './impact.js';
import { reloadAll } from './verify.js';

/**
 * A revision that failed verification: rejected, and the last good one put back, reloaded and verified (or left in
 * place with --no-rollback, or when there is nothing to go back to). A manual rollback whose target fails goes back
 * to the revision it left, which it had rejected itself.
 */
export const rollback: Stage = {
  name: 'rollback',
  async run(d, s) {
    const { from, to } = d;
    const failure = d.failure!;
    // what the failed revision cost its users, until the rollback starts
    await measureImpact(d, s);
    const lastGood = s.marks.lastGood;
    const good = s.rollback
      ? rollbackTarget({ to, from, lastGood, rejected: s.marks.rejected, leftByRollback: leftByRollback(d, s) })
      : undefined;
    if (!good) {
      const said = s.rollback
        ? `${short(to)} failed verification and there is no earlier revision to roll back to: ${failure}`
        : `${short(to)} failed verification and was left in place (--no-rollback): ${failure}`;
      const entry = record(d, s, 'rejected', failure);
      s.logger.error({ ...(s.rollback ? {} : { old: from }), new: to, err: failure }, said);
      await s.marks.reject(to, said);
      return { kind: 'rejected', record: entry };
    }
    // Rejected before reloading: if the reload of the good revision fails too (gunicorn exits when a worker
    // cannot import, so there is no master left to signal), the bad one must still not be deployed again.
    const rejection = `${short(to)} failed verification (${failure}); rolled back to ${short(good)}; not retried until the branch moves`;
    await s.marks.reject(to, rejection, false);
    // the reason is logged once, when the rollback is verified (until then the state says only what is under way)
    s.report.setState('verifying', `rolling back to ${short(good)}: ${short(to)} failed verification`);
    const back = { from: to, to: good, trigger: d.trigger, rollback: true };
    await applyTree(s, { ...back, mode: 'reset' }, () => s.workspace.restore(good));
    s.report.deployed(good);
    const entry = record(d, s, 'rolled-back', failure, good);
    // A stop from here on resumes the rollback (reload and verify the good revision) at the next start.
    await s.cursor.write({ ...back, stage: 'reload' });
    const again = await reloadAll(d, s, good, to).then(
      () => verifyHealth(s.health!, good, d.signal),
      (error: unknown) => ({ ok: false as const, ms: 0, requests: 0, reason: `its reload failed: ${oneLine(error)}` }),
    );
    if (d.signal?.aborted) throw abortedError('rollback');
    await s.cursor.clear();
    s.served?.verified(again.ok, again.ok ? undefined : again.reason);
    if (!again.ok) {
      const said = `${short(to)} failed verification: ${failure}; rolled back to ${short(good)}, but it is not healthy either: ${again.reason}`;
      s.logger.error({ bad: to, good, err: again.reason }, said);
      s.report.unhealthy(said);
    } else {
      s.report.setState('rejected', rejection, true);
      const said = `${short(to)} failed verification: ${failure}; rolled back, ${short(good)} serves again`;
      s.logger.warn({ bad: to, good, err: failure, ms: again.ms }, said);
    }
    return { kind: 'rejected', record: entry } satisfies SyncOutcome;
  },
};

/**
 * `hotpull rollback`: back to `sha` (default: the revision that served before the deployed one), run from apply. The
 * revision it leaves is rejected and following pauses (`pause`) before the tree changes: a crash from here cannot
 * resume following onto it.
 */
export async function manualRollback(
  d: Deploy,
  s: StageEnv,
  sha: string | undefined,
  pause: (reason: string, left: string | undefined) => Promise<unknown>,
): Promise<void> {
  const local = await s.workspace.deployed();
  const target = await rollbackTo(s, sha, local);
  Object.assign(d, { local, from: local ?? '', to: target, restore: true, leftBy: local });
  d.staged = { sha: target, dir: s.workspace.dir };
  if (local)
    await s.marks.reject(
      local,
      `${short(local)} was rolled back by hotpull rollback; not redeployed until the branch moves`,
    );
  await pause(`rolled back to ${short(target)}`, local);
  s.memo.blocked = undefined;
}

/** The target of `hotpull rollback`, checked: a commit this checkout has, other than the deployed one. */
async function rollbackTo(s: StageEnv, sha: string | undefined, local: string | undefined): Promise<string> {
  if (sha !== undefined && !/^[0-9a-f]{4,64}$/.test(sha))
    throw configError(`rollback SHA must be a commit id in hex (got ${JSON.stringify(sha)})`);
  const target = await s.git.resolve(sha ?? PREVIOUS_REF);
  if (!target) {
    throw configError(
      sha
        ? `rollback SHA must be a commit this checkout has (got ${JSON.stringify(sha)})`
        : `rollback needs a SHA: no previous live revision is recorded yet (${PREVIOUS_REF}) (got none)`,
    );
  }
  if (target === local) {
    const why = `${PREVIOUS_REF} points at it`;
    throw configError(
      `rollback SHA must differ from the deployed revision (got ${short(target)}, which is deployed${sha ? '' : `; ${why}`})`,
    );
  }
  return target;
}
