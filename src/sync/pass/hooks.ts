import { oneLine } from '../../errors.js';
import { runShell } from '../../proc/exec.js';
import { formatDuration } from '../../duration.js';
import { shortSha as short } from '../../sha.js';
import { hooksOwed } from '../journal.js';
import type { Deploy, Hook, StageEnv, SyncOutcome } from './deploy.js';
import type { Stage } from './stage-types.js';
import { abortedError, noVerdict, stopped, unfitToJudge } from './faults.js';
import { applyTree } from './apply.js';
import { decide } from './plan.js';
import { refuse } from './record.js';

/**
 * In-place: the onChange run hooks in the checkout, after the apply (atomic ran them in its release, in `stage`). A
 * resumed deploy runs those it still owes: a hook a crash cut half-way runs again, in full.
 */
export const hooks: Stage = {
  name: 'hooks',
  cursor: (d, s) => (d.resumed || (s.workspace.inPlace && d.run.length > 0) ? 'hooks' : undefined),
  async run(d, s) {
    if (d.resumed) {
      const { run } = await decide(s, d.from || undefined, d.to);
      d.run = hooksOwed(run, d.hooksDone, (line) => s.logger.info(line));
    } else if (!s.workspace.inPlace) return undefined;
    return runHooks(d, s);
  },
};

/** Runs the run hooks in the staged tree; a failure (not a stop) puts the old revision back and rejects the new one. */
export async function runHooks(d: Deploy, s: StageEnv): Promise<SyncOutcome | undefined> {
  const phase = s.workspace.layout === 'atomic' ? 'stage' : 'checkout';
  for (const hook of d.run) {
    try {
      await runHook(d, s, hook, d.staged!.dir, phase);
      await s.cursor.hookDone(hook.command, d.to);
    } catch (error) {
      if (stopped(d, error)) throw abortedError(`run hook "${hook.command}"`);
      return hookFailed(d, s, hook, error);
    }
  }
  return undefined;
}

async function hookFailed(d: Deploy, s: StageEnv, hook: Hook, error: unknown): Promise<SyncOutcome> {
  const unfit = await unfitToJudge(s, oneLine(error));
  // Nothing has reloaded yet: drop the new files so the running code and the disk agree.
  const { to: target, trigger } = d;
  const local = d.from || undefined;
  try {
    if (local !== undefined)
      await applyTree(s, { from: target, to: local, mode: 'reset', trigger }, () =>
        s.workspace.discard(d.staged!, local),
      );
    else await s.workspace.discard(d.staged!, local);
    await s.cursor.clear();
  } catch (restoreError) {
    if (!unfit) throw restoreError;
    // A full disk may refuse the restore too: the tree is at the new revision again (the restore's own undo), and the
    // journal must owe it its hooks, so that the next pass, or the next start, runs them (or a newer revision
    // replaces it). The restore's apply entry may have replaced that record: write it back. (Not while an apply is
    // unsettled: that record is what the next pass needs first.)
    if (!s.cursor.unsettled && (await s.workspace.deployed().catch(() => undefined)) === target)
      await s.cursor.write({ from: d.from, to: target, stage: 'hooks', trigger }).catch(() => undefined);
    const what = `${unfit} while run hook "${hook.command}" ran for ${short(target)}`;
    const restore = `the checkout could not be restored to ${short(local)} either (${oneLine(restoreError)})`;
    throw noVerdict(`${what}, and ${restore}; nothing was reloaded`, error);
  }
  s.report.deployed(local);
  if (unfit)
    throw noVerdict(
      `${unfit} while run hook "${hook.command}" ran for ${short(target)}; checkout restored to ${short(local)}`,
      error,
    );
  const said = `run hook failed for ${short(target)}, checkout restored to ${short(local)}: ${oneLine(error)}`;
  return refuse(d, s, {
    result: 'failed',
    error: said,
    said,
    fields: { old: local, new: target, err: oneLine(error) },
  });
}

/** Heartbeats and last output lines of hooks and command reloads. */
export const progress =
  (s: StageEnv) =>
  (line: string): void =>
    line.startsWith('still running') ? s.logger.info(line) : s.logger.warn(line);

/** `phase`: `stage` in a tree nothing serves yet (the in-place stage, an atomic release), `checkout` in the served one */
export async function runHook(
  d: Deploy,
  s: StageEnv,
  hook: Hook,
  cwd: string,
  phase: 'stage' | 'checkout',
  recorded: {
    onStart?: (pid: number) => void | Promise<void>;
    env?: Readonly<Record<string, string | undefined>>;
  } = {},
): Promise<void> {
  const { onStart = s.cursor.onChild, env = s.env } = recorded;
  const hookEnv = { ...env, HOTPULL_SHA: d.to, HOTPULL_PREVIOUS_SHA: d.from, HOTPULL_DIR: cwd, HOTPULL_PHASE: phase };
  const { command, timeoutMs } = hook;
  const result = await runShell(command, {
    cwd,
    timeoutMs,
    signal: d.signal,
    onStart,
    progress: progress(s),
    env: hookEnv,
  });
  const output = `${result.stdout}${result.stderr ? `\n${result.stderr}` : ''}`.trim();
  s.logger.info(
    { hook: command, phase, ms: result.durationMs, output: output.slice(-4000) },
    `ran "${command}" in ${formatDuration(result.durationMs)}`,
  );
}
