import path from 'node:path';
import { shortSha as short } from '../../sha.js';
import { endInterruptedJudge, judgeStaged } from '../../deploy/judge.js';
import { commandFailure, type JudgeContext, type JudgeVerdict } from '../../deploy/preflight.js';
import { timedJudge } from '../record.js';
import type { Deploy, Hook, StageEnv } from './deploy.js';
import { abortedError, noVerdict, stopped, unfitToJudge } from './faults.js';
import type { Stage } from './stage-types.js';
import { runHook } from './hooks.js';
import { refuse } from './record.js';

/**
 * --preflight and --canary, before anything serving sees the revision. In-place: in the staging worktree, which the
 * run hooks prepare first (inside the judge's record of its children); atomic: in the release its hooks prepared. A
 * failure rejects it as a failed verification does, with nothing reloaded; a stop is no verdict.
 */
export const judge: Stage = {
  name: 'judge',
  async run(d, s) {
    if (!s.judge || d.quiet) return undefined;
    const childFile = path.join(await s.workspace.stateDir(), 'judge-child.json');
    // what a hotpull killed with -9 left running may still write in the stage: ended before it is prepared again
    await endInterruptedJudge(childFile, s.logger).catch(() => undefined);
    const inPlace = s.workspace.inPlace;
    const dir = inPlace ? (await inPlace.stageTree(d.to)).dir : d.staged!.dir;
    const prepare = inPlace ? d.run : [];
    const ctx = { dir, sha: d.to, previousSha: d.from, env: s.env, signal: d.signal, onStart: s.cursor.onChild };
    const verdict = await timedJudge(d.times, s.clock, () =>
      judgeStaged(s.judge!, ctx, s.logger, childFile, (r) => runStageHooks(d, s, prepare, dir, r)),
    ).catch((error: unknown) => {
      if (stopped(d, error)) throw abortedError('preflight/canary');
      throw error;
    });
    if (verdict.ok) return undefined;
    const unfit = await unfitToJudge(s, verdict.reason);
    if (!inPlace) await s.workspace.discard(d.staged!, d.from || undefined);
    if (unfit) throw noVerdict(`${unfit} while ${short(d.to)} was judged before serving`, verdict.reason);
    const said = `${short(d.to)} rejected before it was served: ${verdict.reason}`;
    const fields = { old: d.from || undefined, new: d.to, err: verdict.reason, ms: verdict.ms };
    return refuse(d, s, { result: 'rejected', error: verdict.reason, said, fields });
  },
};

/**
 * In-place with a judge: the onChange hooks prepare the staging worktree (a venv, collected files) before the judge
 * looks at it, and run again in the checkout after the apply. A failure is a verdict on the revision; a stop is not.
 */
async function runStageHooks(
  d: Deploy,
  s: StageEnv,
  hooks: readonly Hook[],
  dir: string,
  recorded: Pick<JudgeContext, 'onStart' | 'env'>,
): Promise<JudgeVerdict | undefined> {
  const started = Date.now();
  for (const hook of hooks) {
    try {
      await runHook(d, s, hook, dir, 'stage', recorded);
    } catch (error) {
      if (stopped(d, error)) throw abortedError(`run hook "${hook.command}" in the stage`);
      return { ok: false, ms: Date.now() - started, reason: commandFailure('run hook in the stage:', error) };
    }
  }
  return undefined;
}
