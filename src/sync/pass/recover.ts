import path from 'node:path';
import { oneLine } from '../../errors.js';
import { killGroup, KILL_GRACE_MS } from '../../proc/exec.js';
import { processStartTime } from '../../proc/procfs.js';
import { shortSha as short } from '../../sha.js';
import { endLeftoverGits } from '../../git/leftovers.js';
import { endInterruptedJudge } from '../../deploy/judge.js';
import type { Deploy, StageEnv } from './deploy.js';
import { applyFailure, diskFull } from './faults.js';
import type { StageName } from './stage-types.js';
import { undoApply } from './apply.js';

/**
 * Once per process (and again for a checkout cloned anew): what a hotpull killed with -9 left running ends (a
 * judge's canary, a git still writing the tree), the workspace repairs what a crash left, the marks, the pause and the
 * cursor are read back.
 */
export async function open(s: StageEnv): Promise<void> {
  const { logger, workspace } = s;
  const stateDir = await workspace.stateDir();
  // First, before recovery cleans up: a judge may still be writing in what recovery removes. The next judge tries
  // again if this fails (--canary may be gone from the flags: it is ended whether or not this run judges).
  await endInterruptedJudge(path.join(stateDir, 'judge-child.json'), logger).catch((error: unknown) =>
    logger.warn({ err: oneLine(error) }, `could not end what an interrupted judge left running yet: ${oneLine(error)}`),
  );
  // a git a kill -9 left running would go on writing the tree that recovery settles
  for (const pid of await endLeftoverGits(workspace.git.dir))
    logger.warn(`ended git process ${pid}, left running in the checkout by a hotpull that is gone`);
  for (const message of await workspace.recover()) logger.warn(message);
  await s.cursor.open(path.join(stateDir, 'journal.json'));
  await s.marks.load();
  s.report.paused(await s.pauses.load());
}

/**
 * What a crash or a stop left half done, as the cursor says: a command still running (ended, with its process
 * group), a tree between two revisions (finished to the new one, or undone to the old when that cannot be done, e.g.
 * the disk is full), and a deploy on disk whose hooks, reload or verification never ran (owed, finished first).
 * `first`: the entry was just read from disk; later only an apply left unsettled is looked at again.
 */
export async function settle(s: StageEnv, first: boolean): Promise<void> {
  const { logger, workspace, cursor } = s;
  const entry = cursor.entry;
  if (!entry || (!first && entry.stage !== 'apply')) return;
  const child = entry.child;
  if (first && child?.start !== undefined && (await processStartTime(child.pid)) === child.start) {
    logger.warn(
      { pid: child.pid },
      `ending the command the interrupted deploy left running (process group ${child.pid})`,
    );
    killGroup(child.pid, 'SIGTERM');
    for (let waited = 0; waited < KILL_GRACE_MS && killGroup(child.pid, 0); waited += 100)
      await new Promise((resolve) => setTimeout(resolve, 100));
    killGroup(child.pid, 'SIGKILL');
  }
  const { from, to, rollback, trigger } = entry;
  const inPlace = workspace.inPlace;
  if (entry.stage === 'apply' && inPlace) {
    try {
      for (const message of await inPlace.settleTree(from, to, to)) logger.warn(message);
    } catch (error) {
      const full = await diskFull(workspace.dir);
      const undone = from && !rollback ? await undoApply(s, from, to) : true;
      throw applyFailure(error, to, from, full, undone);
    }
    await cursor.write({ from, to, stage: 'hooks', rollback, trigger });
  }
  const owed = cursor.entry?.stage !== 'apply' && (await workspace.deployed()) === to;
  // e.g. the atomic layout stopped before switching `current`: nothing of it is served, the pass redoes it
  if (!owed) return cursor.clear();
  cursor.interrupted = true;
  const stage = cursor.entry!.stage;
  logger.warn(
    { old: from, new: to, stage },
    `resuming the interrupted ${rollback ? 'rollback' : 'deploy'} of ${short(to)}: ${stage === 'hooks' ? 'run hooks, ' : ''}reload and verify`,
  );
}

/**
 * Where a pass starts: the deployed revision read (and said once, at the first pass); a deploy a stop or crash
 * interrupted is finished first, before anything else and without the network. (A reload that failed is retried
 * after detection, so that a newer commit can still replace a revision that cannot be reloaded.)
 */
export async function begin(d: Deploy, s: StageEnv): Promise<StageName> {
  const local = await s.workspace.deployed();
  if (!s.memo.startLogged) {
    s.memo.startLogged = true;
    // what is on disk: whether it is what answers is for the health check to say
    const why = s.health ? 'not yet verified as served' : 'served unverified: no --health-url';
    const first = 'nothing deployed yet: the first pass releases the branch head';
    s.logger.info({ sha: local }, local ? `checkout at ${short(local)} at start (${why})` : first);
  }
  s.report.deployed(local);
  d.local = local;
  d.from = local ?? '';
  const owed = s.cursor.owed(local);
  const interrupted = s.cursor.interrupted && owed !== undefined;
  s.cursor.interrupted = false;
  if (!interrupted) return 'detect';
  const now = s.clock();
  Object.assign(d.times, { detected: now, fetched: now, applied: now });
  return resume(d, s, owed);
}

/** A deploy on disk without a verdict: finished from the step the cursor names, nothing staged or activated again. */
export function resume(d: Deploy, s: StageEnv, owed: NonNullable<ReturnType<StageEnv['cursor']['owed']>>): StageName {
  Object.assign(d, { resumed: true, from: owed.from, to: owed.to, rollback: owed.rollback, hooksDone: owed.hooksDone });
  d.staged = { sha: owed.to, dir: s.workspace.dir };
  return owed.stage === 'hooks' ? 'hooks' : 'activate';
}
