import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { HotpullError, interruptedError } from '../errors.js';
import { redact } from '../redact.js';

/**
 * The one adapter for the commands hotpull runs: shell commands (hooks, reloads, judges) and argument vectors (git in
 * the demo, docker). On node:child_process itself: execa 9, used here before, threw synchronously when a spawn ran
 * out of file descriptors ("subprocess.stdio is not iterable") before it listened to the subprocess, whose EMFILE
 * 'error' then reached no one but an uncaughtException handler. Here every start failure is a result.
 */
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
  /**
   * told the pid (= process group id) of the command once it is spawned, so a restart can end what a crash left.
   * The command itself starts only when what this returns has fulfilled (see GATE): a kill -9 of hotpull before the
   * pid is written down leaves nothing running, and when the write fails (a full disk) the command never starts and
   * the result says why (startError).
   */
  onStart?: (pid: number) => void | Promise<void>;
  /** told a heartbeat line every HEARTBEAT_MS while the command runs, and its last output lines when it fails */
  progress?: (line: string) => void;
}

/**
 * The shell a command with an onStart runs under: it waits for one "go" line on stdin, then becomes `sh -c
 * COMMAND` (same pid, so the same process group and start time) with stdin from /dev/null, as a command without
 * onStart gets. Should hotpull die before it has written the pid down, stdin closes without the line and the
 * command never starts: no unrecorded process is left behind that a restart could not end.
 */
const GATE = 'IFS= read -r go && [ "$go" = go ] || exit 125\nexec /bin/sh -c "$1" </dev/null';

/** How often a long command says it is still running (`still running `pip install …`, 30 s`). */
export const HEARTBEAT_MS = 10_000;
/** Output lines told to `progress` when a command fails. */
const FAILURE_LINES = 20;

/** How long a command's process group gets between SIGTERM and SIGKILL when it is stopped or times out. */
export const KILL_GRACE_MS = 2000;

/** Signals a whole process group; a group that is gone already is not an error. */
export function killGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Last lines of a command's output, for a one-line message. */
export function tail(text: string, lines = 3): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-lines)
    .join(' | ');
}

export interface ArgvOptions {
  timeoutMs: number;
  cwd?: string;
  env?: Readonly<Record<string, string | undefined>>;
  /** `env` is the whole environment (default: added to this process's) */
  replaceEnv?: boolean;
  signal?: AbortSignal;
  progress?: (line: string) => void;
}

export interface ArgvResult extends CommandResult {
  /** the signal that ended the program, if one did */
  signal?: string;
  /** stdout and stderr interleaved as they were written */
  all: string;
  /** set when the program could not be started at all (ENOENT, EACCES): exitCode is then -1 */
  startError?: string;
}

/**
 * What both entry points share: one spawn, with time limit and cancellation turned into HotpullErrors.
 * Every command runs in a process group of its own (detached), and a timeout or a stop ends the whole group,
 * SIGTERM first and SIGKILL after KILL_GRACE_MS: a reload command's children (`supervisorctl`, a shell's
 * `sleep`) must not outlive it as orphans holding the deploy up.
 */
async function execute(
  file: string,
  args: readonly string[],
  options: ArgvOptions & { shell?: boolean; onStart?: ShellOptions['onStart'] },
): Promise<ArgvResult> {
  const started = Date.now();
  // a command that reports its start (only runShell's take onStart) runs behind the gate: see GATE
  const gated = options.shell === true && options.onStart !== undefined;
  const run = startProcess(gated ? '/bin/sh' : file, gated ? ['-c', GATE, 'hotpull-gate', file] : args, {
    shell: !gated && options.shell === true,
    cwd: options.cwd,
    env: options.replaceEnv ? { ...options.env } : { ...process.env, ...options.env },
    stdin: gated ? 'pipe' : 'ignore',
  });
  if ('startError' in run) {
    return {
      exitCode: -1,
      stdout: '',
      stderr: '',
      all: '',
      durationMs: Date.now() - started,
      startError: run.startError,
    };
  }
  const child = run.child;
  let ended: 'timeout' | 'stopped' | undefined;
  let grace: NodeJS.Timeout | undefined;
  const end = (why: 'timeout' | 'stopped') => {
    if (ended || child.pid === undefined) return;
    ended = why;
    killGroup(child.pid, 'SIGTERM');
    grace = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), KILL_GRACE_MS);
  };
  const timer = setTimeout(() => end('timeout'), options.timeoutMs);
  const { progress } = options;
  let beats = 0;
  // counted in beats, not measured: a timer late on a loaded machine still says 10 s, 20 s …
  const beating =
    progress &&
    setInterval(
      () => progress(`still running \`${redact(file)}\`, ${(++beats * HEARTBEAT_MS) / 1000} s`),
      HEARTBEAT_MS,
    );
  const onAbort = () => end('stopped');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  // set before the gate closes: by the time the shell has exited for want of its go line, this says why
  let unrecorded: string | undefined;
  if (child.pid !== undefined) {
    const noted = options.onStart?.(child.pid);
    if (gated) void goAfter(noted, child.stdin, (why) => (unrecorded = why));
  }
  if (options.signal?.aborted) onAbort();
  let result: Exit;
  try {
    result = await run.exit;
  } finally {
    clearTimeout(timer);
    clearTimeout(grace);
    clearInterval(beating);
    options.signal?.removeEventListener('abort', onAbort);
    // what ignored SIGTERM in a group we ended goes now, not after the grace
    if (ended && child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
  }
  const durationMs = Date.now() - started;
  const label = redact([file, ...args].join(' '));
  const output = run.output();
  const what = options.shell ? `command "${label}"` : label;
  const last = output.all
    .split('\n')
    .filter((l) => l.trim())
    .slice(-FAILURE_LINES);
  if (progress && (ended || !('exitCode' in result) || result.exitCode !== 0) && last.length > 0)
    progress(`${what} failed; its last ${last.length} output lines:\n${redact(last.join('\n'))}`);
  if (ended === 'timeout') throw interruptedError('timeout', what, options.timeoutMs, { command: label, ...output });
  if (ended === 'stopped') throw interruptedError('stopped', what, options.timeoutMs, { command: label });
  if (unrecorded) return { exitCode: -1, ...output, durationMs, startError: unrecorded };
  if ('startError' in result) return { exitCode: -1, ...output, durationMs, startError: result.startError };
  // killed by a signal: the shell's convention, 128 + the signal's number
  const bySignal = result.signal ? 128 + (constants.signals[result.signal] ?? 0) : 128;
  return { exitCode: result.exitCode ?? bySignal, signal: result.signal ?? undefined, ...output, durationMs };
}

type Exit = { exitCode: number | null; signal: NodeJS.Signals | null } | { startError: string };

/** Output kept per stream: the end of it, which is what a failure quotes. */
const MAX_OUTPUT = 16 * 1024 * 1024;

/**
 * Spawns a command in a process group of its own, stdout and stderr piped and collected (and interleaved in `all`).
 * A spawn that fails at once (out of file descriptors or processes, a missing program) is a startError, never a
 * throw: Node reports some of them through an 'error' event on the next tick, which is listened to here before that.
 */
function startProcess(
  file: string,
  args: readonly string[],
  options: { shell: boolean; cwd?: string; env: NodeJS.ProcessEnv; stdin: 'pipe' | 'ignore' },
):
  | { child: ChildProcess; exit: Promise<Exit>; output: () => { stdout: string; stderr: string; all: string } }
  | { startError: string } {
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      shell: options.shell,
      cwd: options.cwd,
      env: options.env,
      stdio: [options.stdin, 'pipe', 'pipe'],
      detached: true,
    });
  } catch (error) {
    return { startError: (error as NodeJS.ErrnoException).code ?? 'ESPAWN' };
  }
  const chunks = { stdout: [] as string[], stderr: [] as string[], all: [] as string[] };
  const sizes = { stdout: 0, stderr: 0, all: 0 };
  const keep = (name: 'stdout' | 'stderr' | 'all', text: string) => {
    chunks[name].push(text);
    sizes[name] += text.length;
    while (sizes[name] > MAX_OUTPUT && chunks[name].length > 1) sizes[name] -= chunks[name].shift()!.length;
  };
  for (const name of ['stdout', 'stderr'] as const) {
    const stream = child[name];
    stream?.setEncoding('utf8');
    stream?.on('data', (text: string) => {
      keep(name, text);
      keep('all', text);
    });
  }
  const exit = new Promise<Exit>((resolve) => {
    let failed: string | undefined;
    // before the next tick: a spawn that failed emits its error then, and an 'error' no one listens to is fatal
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined) failed ??= error.code ?? 'ESPAWN';
    });
    child.on('close', (exitCode, signal) => resolve(failed ? { startError: failed } : { exitCode, signal }));
  });
  // like a shell's $(…), a final newline is not part of the output
  const text = (name: 'stdout' | 'stderr' | 'all') => chunks[name].join('').replace(/\r?\n$/, '');
  return { child, exit, output: () => ({ stdout: text('stdout'), stderr: text('stderr'), all: text('all') }) };
}

/** Part of the message of a command that did not start because its pid could not be written down. */
export const UNRECORDED = 'its pid could not be written down';

/**
 * Lets a gated command start once its pid is written down. When that fails (a full disk), stdin closes without the
 * go line, the shell exits without running the command, and `refused` is told why first: a command a crash could
 * leave running unseen must not start.
 */
async function goAfter(
  noted: void | Promise<void>,
  stdin: NodeJS.WritableStream | null,
  refused: (why: string) => void,
): Promise<void> {
  let why: string | undefined;
  await Promise.resolve(noted).catch((error: NodeJS.ErrnoException) => {
    why = `${UNRECORDED}: ${error.code ?? error.message}`;
  });
  if (why) refused(why);
  if (!stdin) return;
  stdin.on('error', () => undefined); // ended already (a stop, a timeout): nothing to start
  stdin.end(why ? '' : 'go\n');
}

/** Runs an operator-configured shell command (hooks, `command:` reloads); a non-zero exit is a RELOAD error. */
export async function runShell(command: string, options: ShellOptions): Promise<CommandResult> {
  const result = await execute(command, [], { ...options, shell: true });
  if (result.exitCode !== 0) {
    const label = redact(command);
    const why = result.signal
      ? `was killed by ${result.signal}`
      : result.startError
        ? `could not start (${result.startError})`
        : `exited with code ${result.exitCode}`;
    const detail = tail(result.stderr) || tail(result.stdout);
    throw new HotpullError('RELOAD', `command "${label}" ${why}${detail ? `: ${redact(detail)}` : ''}`, {
      command: label,
      stdout: result.stdout,
      stderr: result.stderr,
      childExitCode: result.exitCode,
    });
  }
  return result;
}

/**
 * Runs a program with an argument vector (no shell, nothing to quote) and returns its output whatever its exit
 * code: the caller decides what a non-zero exit means. Throws only on timeout and cancellation.
 */
export async function runArgv(file: string, args: readonly string[], options: ArgvOptions): Promise<ArgvResult> {
  return execute(file, args, options);
}
