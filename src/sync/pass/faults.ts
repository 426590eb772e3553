import { statfs } from 'node:fs/promises';
import { HotpullError, isHotpullError, oneLine } from '../../errors.js';
import { UNRECORDED } from '../../proc/exec.js';
import { shortSha as short } from '../../sha.js';
import type { Deploy, StageEnv } from './deploy.js';

/** A stop is not a verdict: the journal keeps what is owed, the next start finishes the deploy. */
export function abortedError(step: string): HotpullError {
  return new HotpullError('ABORTED', `${step} stopped: no verdict, the next start finishes the deploy`);
}

export function stopped(d: Deploy, error: unknown): boolean {
  return Boolean(d.signal?.aborted) || isHotpullError(error, 'ABORTED');
}

/**
 * Whether the filesystem holding `dir` is full (blocks or inodes): git reports a failed write as "unable to write
 * file" without the reason, so the filesystem is asked.
 */
export async function diskFull(dir: string): Promise<boolean> {
  const stats = await statfs(dir).catch(() => undefined);
  if (!stats) return false;
  const blocks = process.getuid?.() === 0 ? stats.bfree : stats.bavail;
  return blocks * stats.bsize < 1024 * 1024 || (stats.files > 0 && stats.ffree < 16);
}

/**
 * Why a failed hook or judge command says nothing about the revision, if it does not: hotpull could not write
 * down the command's pid (so it never started), or the disk holding the checkout is full (so a `pip install`
 * failing says nothing about the code). The pass fails and is retried, instead of rejecting the revision until the
 * branch moves.
 */
export async function unfitToJudge(s: StageEnv, failure: string): Promise<string | undefined> {
  if (await diskFull(s.workspace.dir)) return 'no space left on device';
  if (failure.includes(UNRECORDED)) return 'a command could not be written down before it started';
  return undefined;
}

/** A hook or judge command that failed for want of disk or of its record (`unfitToJudge`): the pass fails, is retried. */
export function noVerdict(what: string, failure: unknown): HotpullError {
  const detail = typeof failure === 'string' ? failure : oneLine(failure);
  return new HotpullError('RELOAD', `${what}; not a verdict on the revision, retrying: ${detail}`, {
    cause: typeof failure === 'string' ? undefined : failure,
  });
}

/** An apply that failed: said in words when the disk is full, with what was done about it. */
export function applyFailure(error: unknown, to: string, from: string, full: boolean, undone: boolean): unknown {
  if (!full && !/no space left on device|ENOSPC/i.test(oneLine(error))) return error;
  const back = !from
    ? 'nothing is served yet'
    : undone
      ? `the checkout stays at ${short(from)} and the old code keeps serving`
      : `the checkout could not be put back to ${short(from)} yet (the next pass tries again); nothing was reloaded`;
  return new HotpullError(
    'GIT',
    `no space left on device while writing ${short(to)}; ${back}; retrying: ${oneLine(error)}`,
    { cause: error },
  );
}
