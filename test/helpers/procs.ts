/**
 * Processes a test starts (hotpull daemons from dist/bin.js, lock holders): output captured, exit awaited, and
 * every one of them (with whatever it started) ended by pid when the test is done or the test process dies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeAll, expect } from 'vitest';
import { makeSandbox, tmpDir, type Sandbox } from './git.js';
import { ROOT, waitFor } from './hotpull.js';
import { descendants, isAlive, killOnExit } from './uwsgi.js';

/** The installed entry point (package.json "bin"): the SIGUSR1 guard loads before anything else. */
export const BIN = path.join(ROOT, 'dist/bin.js');

export interface Proc {
  readonly pid: number;
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** stdout parsed as JSON log lines (non-JSON lines skipped) */
  records(): Array<Record<string, unknown>>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
}

const started = new Set<Proc>();

export function startProcess(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Proc {
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const forget = killOnExit(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      forget();
      resolve({ code, signal });
    }),
  );
  const proc: Proc = {
    pid: child.pid,
    child,
    stdout: () => out,
    stderr: () => err,
    records: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    exited,
    alive: () => isAlive(child.pid!),
  };
  started.add(proc);
  void exited.then(() => started.delete(proc));
  return proc;
}

export interface HotpullOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** flags for node itself, before dist/bin.js */
  nodeArgs?: readonly string[];
}

/** `node dist/bin.js ARGS` with JSON logs. */
export function startHotpull(args: readonly string[], options: HotpullOptions = {}): Proc {
  return startProcess(process.execPath, [...(options.nodeArgs ?? []), BIN, ...args], {
    cwd: options.cwd,
    env: { ...process.env, HOTPULL_LOG_FORMAT: 'json', ...options.env },
  });
}

/** Runs hotpull to its end (killed after timeoutMs) and returns its exit and output. */
export async function runHotpull(args: readonly string[], options: HotpullOptions & { timeoutMs?: number } = {}) {
  const proc = startHotpull(args, options);
  const timer = setTimeout(() => void stop(proc, 'SIGKILL'), options.timeoutMs ?? 60_000);
  const { code, signal } = await proc.exited;
  clearTimeout(timer);
  return { code, signal, stdout: proc.stdout(), stderr: proc.stderr(), records: proc.records(), pid: proc.pid };
}

function send(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

/**
 * Sends `signal` and waits for the exit; SIGKILL if it takes longer than graceMs. Whatever the process had started
 * and left running (a git, the ls-remote shell of a daemon killed with -9) is killed too.
 */
export async function stop(proc: Proc, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000) {
  const children = descendants(proc.pid);
  send(proc.pid, signal);
  const timer = setTimeout(() => send(proc.pid, 'SIGKILL'), graceMs);
  const result = await proc.exited;
  clearTimeout(timer);
  for (const pid of children) if (isAlive(pid)) send(pid, 'SIGKILL');
  return result;
}

/** Ends every process started through this module that is still running (afterEach). */
export async function stopAll(): Promise<void> {
  await Promise.all([...started].map((proc) => stop(proc, 'SIGKILL')));
}

/** Waits until one of the process's JSON log lines satisfies `match`, or it exits (then fails with its output). */
export async function waitForRecord(
  proc: Proc,
  what: string,
  match: (r: Record<string, unknown>) => boolean,
  timeoutMs = 30_000,
) {
  return waitFor(
    what,
    () => {
      const found = proc.records().find(match);
      if (found) return found;
      if (!proc.alive()) throw new Error(`exited while waiting for ${what}:\n${proc.stdout()}\n${proc.stderr()}`);
      return undefined;
    },
    timeoutMs,
  );
}

/** Whether something accepts a TCP connection on host:port right now. */
export function accepts(port: number, host = '127.0.0.1', timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('connect', () => done(true));
    socket.on('error', () => done(false));
  });
}

/** For a daemon started with --listen 127.0.0.1:0: waits until /status reports a successful pass (the first one ended). */
export async function waitFirstPass(proc: Proc, timeoutMs = 60_000): Promise<void> {
  const listening = await waitForRecord(
    proc,
    'the listener',
    (r) => String(r.msg).startsWith('listening on '),
    timeoutMs,
  );
  const url = new URL('status', String(listening.url)).toString();
  await waitFor(
    'the first pass to end',
    async () => {
      const response = await fetch(url, { headers: { accept: 'application/json' } }).catch(() => undefined);
      const text = (await response?.text()) ?? '';
      return text.includes('lastSuccessAt');
    },
    timeoutMs,
  );
}

/**
 * For a test file that runs the built CLI: checks dist/ is built, and after each test ends every process started
 * here and removes the sandboxes and directories made through the returned functions.
 */
export function faultFixtures() {
  let cleanups: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    await expect(fs.stat(BIN), 'npm test builds dist/ first').resolves.toBeTruthy();
  });
  afterEach(async () => {
    await stopAll();
    for (const cleanup of cleanups) await cleanup();
    cleanups = [];
  });
  return {
    async sandbox(options?: Parameters<typeof makeSandbox>[0]): Promise<Sandbox> {
      const sb = await makeSandbox(options);
      cleanups.push(sb.cleanup);
      return sb;
    },
    async dir(prefix: string): Promise<string> {
      const dir = await tmpDir(prefix);
      cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
      return dir;
    },
  };
}
