import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { HotpullError } from '../errors.js';
import { SERVER_SCRIPT } from './content.js';

/** The demo's app server, a child process: the thing a deploy has to make serve the new code. */
export interface RunningApp {
  pid: number;
  url: string;
  /** Kills the server by its pid and waits for it to be gone; safe to call twice. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 2_000;
/** stderr kept for error messages: enough to show a stack, not a whole log */
const STDERR_KEEP = 4_000;

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

async function kill(child: ChildProcess, pid: number): Promise<void> {
  if (exited(child)) return;
  const gone = once(child, 'exit');
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return; // already reaped
  }
  const late = await Promise.race([
    gone.then(() => false),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(true), STOP_GRACE_MS).unref()),
  ]);
  if (late && !exited(child)) {
    process.kill(pid, 'SIGKILL');
    await gone;
  }
}

/**
 * Writes the server script into `dir` (outside the checkout) and starts it with this node binary, serving
 * `checkout` and watching `reloadFile` in it. Resolves once it prints its port.
 */
export async function startApp(options: {
  dir: string;
  checkout: string;
  reloadFile: string;
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
}): Promise<RunningApp> {
  const script = path.join(options.dir, 'server.mjs');
  await writeFile(script, SERVER_SCRIPT);
  options.signal?.throwIfAborted();
  const child = spawn(process.execPath, [script, options.checkout, options.reloadFile], {
    cwd: options.dir,
    env: options.env,
    // Its own process group: a Ctrl-C in the terminal reaches only the demo, which stops the app itself
    // after the daemon, instead of racing the app's death against its own cleanup.
    detached: true,
    // stdin stays a pipe on purpose: the server exits when it closes, so it cannot outlive a killed demo.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEEP);
  });
  const spawned = once(child, 'spawn').then(() => child.pid!);

  const port = new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const match = /^port (\d+)$/.exec(line);
      if (match) resolve(Number(match[1]));
    });
    const fail = (why: string) =>
      reject(
        new HotpullError('UNREACHABLE', `demo app did not start: ${why}${stderr.trim() ? `: ${stderr.trim()}` : ''}`),
      );
    child.once('error', (error) => fail(error.message));
    child.once('exit', (code, signal) => fail(`it exited (${signal ?? `code ${code}`}) before printing its port`));
    setTimeout(() => fail(`no port printed within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS).unref();
    options.signal?.addEventListener('abort', () => reject(options.signal!.reason), { once: true });
  });

  // Awaited below only after `spawned`; until then a rejection must not count as unhandled.
  port.catch(() => undefined);

  let pid: number | undefined;
  try {
    pid = await spawned;
    const listening = await port;
    let stopping: Promise<void> | undefined;
    return {
      pid,
      url: `http://127.0.0.1:${listening}/`,
      stop: () => (stopping ??= kill(child, pid!)),
    };
  } catch (error) {
    if (pid !== undefined) await kill(child, pid);
    throw error;
  }
}
