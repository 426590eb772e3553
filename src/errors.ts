/**
 * One public error class (execa's model): every error hotpull raises on purpose is a HotpullError with a
 * stable `code`, the process exit code it maps to at the CLI edge, and the failing command's output when
 * there is one. Anything else reaching the CLI is a bug and is printed with its stack.
 */
export type ErrorCode =
  | 'CONFIG' // bad configuration: exit 2 so Supervisor (exitcodes=0,2) does not crash-loop on it
  | 'GIT' // a git command failed
  | 'TIMEOUT' // a bounded step ran out of time
  | 'ABORTED' // stopped on purpose (shutdown)
  | 'RELOAD' // a reload strategy failed
  | 'DOCKER' // a docker (or podman) CLI command failed, or a container did not start
  | 'UNREACHABLE'; // a daemon or server could not be reached

export interface HotpullErrorOptions {
  cause?: unknown;
  command?: string;
  stdout?: string;
  stderr?: string;
  exitCode?: number;
}

export class HotpullError extends Error {
  override name = 'HotpullError';
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly command?: string;
  readonly stdout?: string;
  readonly stderr?: string;

  constructor(code: ErrorCode, message: string, options: HotpullErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.exitCode = options.exitCode ?? (code === 'CONFIG' ? 2 : 1);
    this.command = options.command;
    this.stdout = options.stdout;
    this.stderr = options.stderr;
  }
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
  return text.split('\n').map((l) => l.trim()).filter(Boolean).join(' | ');
}
