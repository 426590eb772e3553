// execa costs ~15 MB of RSS once loaded; a sidecar that only polls never needs it, so it loads on first use.
const loadExeca = async () => (await import('execa')).execa;
import { constants } from 'node:os';
import { HotpullError } from './errors.js';
import { formatDuration } from './duration.js';
import { redact } from './redact.js';

/** The one execa adapter: runs an operator-configured shell command with a time limit, output captured. */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface ShellOptions {
  cwd: string;
  timeoutMs: number;
  env?: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
}

/** Last lines of a command's output, for a one-line message. */
export function tail(text: string, lines = 3): string {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).slice(-lines).join(' | ');
}

export async function runShell(command: string, options: ShellOptions): Promise<CommandResult> {
  const started = Date.now();
  const execa = await loadExeca();
  const result = await execa(command, {
    shell: true,
    cwd: options.cwd,
    env: options.env as Record<string, string> | undefined,
    timeout: options.timeoutMs,
    cancelSignal: options.signal,
    reject: false,
    stdin: 'ignore',
    all: false,
    forceKillAfterDelay: 2000,
  });
  const durationMs = Date.now() - started;
  const label = redact(command);
  if (result.timedOut) {
    throw new HotpullError('TIMEOUT', `command "${label}" timed out after ${formatDuration(options.timeoutMs)}`, {
      command: label,
      stdout: result.stdout,
      stderr: result.stderr,
    });
  }
  if (result.isCanceled) throw new HotpullError('ABORTED', `command "${label}" stopped`, { command: label });
  if (result.exitCode !== 0) {
    const why = result.exitCode === undefined ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
    const detail = tail(result.stderr) || tail(result.stdout);
    throw new HotpullError('RELOAD', `command "${label}" ${why}${detail ? `: ${redact(detail)}` : ''}`, {
      command: label,
      stdout: result.stdout,
      stderr: result.stderr,
      exitCode: result.exitCode ?? 1,
    });
  }
  return { exitCode: 0, stdout: result.stdout, stderr: result.stderr, durationMs };
}

export interface ArgvOptions {
  timeoutMs: number;
  cwd?: string;
  env?: Readonly<Record<string, string | undefined>>;
  /** `env` is the whole environment (default: added to this process's) */
  replaceEnv?: boolean;
  signal?: AbortSignal;
}

export interface ArgvResult extends CommandResult {
  /** stdout and stderr interleaved as they were written */
  all: string;
  /** set when the program could not be started at all (ENOENT, EACCES): exitCode is then -1 */
  startError?: string;
}

/**
 * Runs a program with an argument vector (no shell, nothing to quote) and returns its output whatever its exit
 * code: the caller decides what a non-zero exit means. Throws only on timeout and cancellation.
 */
export async function runArgv(file: string, args: readonly string[], options: ArgvOptions): Promise<ArgvResult> {
  const started = Date.now();
  const execa = await loadExeca();
  const result = await execa(file, args, {
    cwd: options.cwd,
    env: options.env as Record<string, string> | undefined,
    extendEnv: !options.replaceEnv,
    timeout: options.timeoutMs,
    cancelSignal: options.signal,
    reject: false,
    stdin: 'ignore',
    all: true,
    forceKillAfterDelay: 2000,
  });
  const durationMs = Date.now() - started;
  const label = redact([file, ...args].join(' '));
  const output = { stdout: result.stdout, stderr: result.stderr, all: result.all ?? '' };
  if (result.timedOut) throw new HotpullError('TIMEOUT', `${label} timed out after ${formatDuration(options.timeoutMs)}`, { command: label, ...output });
  if (result.isCanceled) throw new HotpullError('ABORTED', `${label} stopped`, { command: label });
  const code = (result as { code?: string }).code;
  if (result.exitCode === undefined && result.signal === undefined && code) {
    return { exitCode: -1, ...output, durationMs, startError: code };
  }
  // killed by a signal: the shell's convention, 128 + the signal's number
  const bySignal = result.signal ? 128 + (constants.signals[result.signal] ?? 0) : 128;
  return { exitCode: result.exitCode ?? bySignal, ...output, durationMs };
}
