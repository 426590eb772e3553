import { isHotpullError, oneLine } from '../errors.js';
import { runShell, tail } from '../proc/exec.js';
import { redact } from '../redact.js';

/** Where and for which revision a staged tree is judged: the working directory and environment of its commands. */
export interface JudgeContext {
  /** the staged tree */
  dir: string;
  sha: string;
  /** '' on the first release */
  previousSha: string;
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
  /** told the process group of each command, so a crash can be cleaned up after (see the engine's journal) */
  onStart?: (pid: number) => void | Promise<void>;
}

export type JudgeVerdict = { ok: true; ms: number } | { ok: false; ms: number; reason: string };

/** The environment a preflight command or a canary runs with. */
export function judgeEnv(ctx: JudgeContext): Record<string, string | undefined> {
  return { ...ctx.env, HOTPULL_SHA: ctx.sha, HOTPULL_DIR: ctx.dir, HOTPULL_PREVIOUS_SHA: ctx.previousSha };
}

/**
 * Runs each --preflight command in the staged tree, in order, until one fails. A stop (ABORTED) is thrown, not a
 * verdict; a failure or a timeout is a verdict with the command's last output lines in its reason.
 */
export async function runPreflight(
  commands: readonly string[],
  timeoutMs: number,
  ctx: JudgeContext,
): Promise<JudgeVerdict> {
  const started = Date.now();
  for (const command of commands) {
    try {
      await runShell(command, {
        cwd: ctx.dir,
        timeoutMs,
        signal: ctx.signal,
        onStart: ctx.onStart,
        env: judgeEnv(ctx),
      });
    } catch (error) {
      if (isHotpullError(error, 'ABORTED') || ctx.signal?.aborted) throw error;
      return { ok: false, ms: Date.now() - started, reason: commandFailure('preflight', error) };
    }
  }
  return { ok: true, ms: Date.now() - started };
}

/** Why a command on a staged tree failed: runShell's message has the exit code and the last lines; a timeout's output is added. */
export function commandFailure(what: string, error: unknown): string {
  const output = isHotpullError(error, 'TIMEOUT') ? tail(`${error.stdout ?? ''}\n${error.stderr ?? ''}`) : '';
  return `${what} ${oneLine(error)}${output ? `: ${redact(output)}` : ''}`;
}
