import { shortSha as short } from '../../sha.js';
import { retriesRejected, sameVerdict, standingVerdict, type BlockedVerdict } from './decide.js';
import { describePause } from '../pause.js';
import type { Deploy, StageEnv, SyncOutcome } from './deploy.js';
import type { Stage } from './stage-types.js';

/**
 * What can be said of the remote head before its objects are fetched: following is paused; it is the rejected
 * revision (retried only when someone asks on purpose); it is what is deployed; or a blocked verdict for the same
 * pair stands (only a dirty tree can clear by itself, so that one is looked at again).
 */
export const admit: Stage = {
  name: 'admit',
  async run(d, s) {
    const { local, to: remote } = d;
    if (s.pauses.current) return holdPaused(d, s);
    if (retriesRejected(d.trigger, s.marks.rejected, remote)) {
      s.logger.info({ sha: remote }, `${d.trigger}: retrying rejected revision ${short(remote)}`);
      await s.marks.clearRejected();
      s.memo.blocked = undefined;
    }
    if (s.marks.rejected === remote)
      return block(s, { state: 'rejected', local, remote }, s.marks.reason!, { rejected: short(remote) });
    if (remote === local && !s.cursor.owed(local)) {
      s.memo.blocked = undefined;
      await idle(s, local);
      s.report.succeeded();
      return { kind: 'up-to-date', sha: local };
    }
    const standing = standingVerdict(s.memo.blocked?.verdict, local, remote) ? s.memo.blocked : undefined;
    if (standing && standing.verdict.state !== 'dirty' && !standing.verdict.again) return standing.outcome;
    d.standing = standing?.verdict;
    return undefined;
  },
};

/** Paused: the poll told what is waiting; nothing is applied. Logged when what waits changes. */
function holdPaused(d: Deploy, s: StageEnv): SyncOutcome {
  const reason = describePause(s.pauses.current!, { remote: d.to, deployed: d.local });
  const { status } = s.report;
  if (status.state !== 'paused' || status.reason !== reason)
    s.logger.info({ remote: short(d.to), deployed: short(d.local) }, reason);
  s.report.setState('paused', reason);
  s.report.succeeded();
  return { kind: 'blocked', state: 'paused', reason };
}

/** A blocked verdict: said once per pair of revisions, remembered so a blocked poll skips the work it already did. */
export function block(
  s: StageEnv,
  verdict: BlockedVerdict,
  reason: string,
  fields: Record<string, unknown>,
): SyncOutcome {
  const { state } = verdict;
  const outcome = { kind: 'blocked' as const, state, reason };
  if (!sameVerdict(s.memo.blocked?.verdict, verdict)) s.logger.warn({ state, ...fields }, `deploy blocked: ${reason}`);
  s.memo.blocked = { verdict, outcome };
  s.report.setState(state, reason);
  s.report.succeeded();
  return outcome;
}

/** Idle, or `unverified` while the health check does not pass on what is served (probed again each time). */
export async function idle(s: StageEnv, sha: string | undefined): Promise<void> {
  await s.served?.refresh(sha, s.logger);
  if (s.served && !s.served.canJudge) s.report.setState('unverified', s.served.describe(sha));
  else s.report.setState('idle');
}

/**
 * Held while something outside says no yet (the --after peer, an approval): the status says why, the log says it when
 * the reason changes (a countdown aside), and the next pass looks again without fetching again. `answered`: the
 * question got an answer (a peer that could not be asked is no success either).
 */
export function wait(d: Deploy, s: StageEnv, reason: string, answered = true): SyncOutcome {
  const outcome = { kind: 'blocked' as const, state: 'held' as const, reason };
  const said = `${d.to} ${reason.replace(/, applied here in .*$/, '')}`;
  if (s.memo.waitSaid !== said) s.logger.info({ sha: short(d.to) }, `deploy held: ${reason}`);
  s.memo.waitSaid = said;
  s.memo.blocked = { verdict: { state: 'held', local: d.local, remote: d.to, again: true }, outcome };
  s.report.setState('held', reason, true);
  if (answered) s.report.succeeded();
  return outcome;
}
