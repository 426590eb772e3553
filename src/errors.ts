import { formatDuration } from './duration.js';

/**
 * One public error class (execa's model): every error hotpull raises on purpose is a HotpullError with a
 * stable `code` (its kind), and the failing command's output when there is one. Which exit status the CLI
 * gives for each kind is EXIT_CODES, the one table. Anything else reaching the CLI is a bug and is printed
 * with its stack.
 */
export type ErrorCode =
  | 'CONFIG' // bad configuration
  | 'GIT' // a git command failed
  | 'TIMEOUT' // a bounded step ran out of time
  | 'ABORTED' // stopped on purpose (shutdown)
  | 'RELOAD' // a reload strategy (or a hook) failed
  | 'DOCKER' // a docker (or podman) CLI command failed, or a container did not start
  | 'UNREACHABLE' // a daemon or server could not be reached
  | 'REFUSED'; // a daemon was reached and refused the request (wrong secret, webhook disabled)

/**
 * The CLI's exit status for each kind of error. Bad configuration exits 2 so Supervisor (exitcodes=0,2) does
 * not crash-loop on it; a daemon or Docker host that cannot be reached exits 3 (as `status` documents).
 */
export const EXIT_CODES: Readonly<Record<ErrorCode, number>> = {
  CONFIG: 2,
  GIT: 1,
  TIMEOUT: 1,
  ABORTED: 1,
  RELOAD: 1,
  DOCKER: 1,
  UNREACHABLE: 3,
  REFUSED: 1,
};

export interface HotpullErrorOptions {
  cause?: unknown;
  command?: string;
  stdout?: string;
  stderr?: string;
  /** the failed child's own exit code (a reload command, a hook): what it said, not what hotpull exits with */
  childExitCode?: number;
}

export class HotpullError extends Error {
  override name = 'HotpullError';
  readonly code: ErrorCode;
  readonly command?: string;
  readonly stdout?: string;
  readonly stderr?: string;
  readonly childExitCode?: number;

  constructor(code: ErrorCode, message: string, options: HotpullErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.command = options.command;
    this.stdout = options.stdout;
    this.stderr = options.stderr;
    this.childExitCode = options.childExitCode;
  }

  /** The CLI's exit status for this error (EXIT_CODES). */
  get cliExitCode(): number {
    return EXIT_CODES[this.code];
  }
}

/**
 * A bounded step that ended early, as the error callers see: 'timeout' when its time limit ran out,
 * 'stopped' when it was aborted on purpose. The one mapper for git, the ls-remote coprocess and exec.
 */
export function interruptedError(
  why: 'timeout' | 'stopped',
  command: string,
  timeoutMs: number | undefined,
  options: HotpullErrorOptions = {},
): HotpullError {
  if (why === 'timeout')
    return new HotpullError('TIMEOUT', `${command} timed out after ${formatDuration(timeoutMs ?? 0)}`, {
      command,
      ...options,
    });
  return new HotpullError('ABORTED', `${command}: stopped`, { command, cause: options.cause });
}

/** Bad configuration: the message names the option, the rule and the bad value. */
export function configError(message: string, cause?: unknown): HotpullError {
  return new HotpullError('CONFIG', message, { cause });
}

export function isHotpullError(error: unknown, code?: ErrorCode): error is HotpullError {
  return error instanceof HotpullError && (code === undefined || error.code === code);
}

/** The one line shown to a user for an error: the message, without stack, first line only. */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' | ');
}

/** The checkout exists but this user may not enter or read it. */
export function checkoutUnreadable(dir: string, cause?: unknown): HotpullError {
  return configError(`cannot read the checkout ${dir}: permission denied (run as a user that can read it)`, cause);
}

/**
 * git could not be started at all (Node's `spawn git ENOENT|EACCES`, which carries only Node's stack frames),
 * said in words. `dirState` is what the directory git was to run in turned out to be: spawn reports a missing or
 * unreadable working directory with the same codes as a missing or unrunnable git.
 */
export function gitSpawnError(
  code: string,
  dir: string,
  dirState: 'ok' | 'missing' | 'unreadable',
  options: HotpullErrorOptions = {},
): HotpullError {
  if (dirState === 'unreadable') return checkoutUnreadable(dir, options.cause);
  if (dirState === 'missing')
    return new HotpullError(
      'GIT',
      `the checkout ${dir} is gone (git cannot run in a directory that does not exist)`,
      options,
    );
  if (code === 'ENOENT')
    return configError('git was not found on PATH (install git, or give hotpull a PATH that holds it)', options.cause);
  return configError(`git on PATH cannot be run: ${code === 'EACCES' ? 'permission denied' : code}`, options.cause);
}

const ERRNO_WORDS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  ENOSPC: 'no space left on device',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
};

/**
 * A system call that failed on something outside hotpull (a file, a directory, a limit) reaching the CLI
 * unwrapped: one line in words and an exit code, instead of Node's stack. Permissions and read-only file systems
 * do not fix themselves (exit 2, Supervisor stops retrying); the rest may (exit 1). Undefined for anything else.
 */
export function systemErrorLine(error: unknown): { line: string; exitCode: number } | undefined {
  const e = error as (NodeJS.ErrnoException & { dest?: string }) | undefined;
  if (!(e instanceof Error) || typeof e.code !== 'string' || !/^E[A-Z]+$/.test(e.code) || typeof e.syscall !== 'string')
    return undefined;
  const what = `${e.syscall}${e.path ? ` ${e.path}` : ''}${e.dest ? ` -> ${e.dest}` : ''}`;
  return {
    line: `cannot ${what}: ${ERRNO_WORDS[e.code] ?? e.code}`,
    exitCode: ['EACCES', 'EPERM', 'EROFS'].includes(e.code) ? 2 : 1,
  };
}
