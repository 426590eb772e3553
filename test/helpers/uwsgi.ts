/**
 * Test fixture: a real uWSGI (Debian 2.0.21, python3 plugin) serving the app
 * written by ./wsgi-app.ts, plus small HTTP probes shared with ./gunicorn.ts.
 *
 * Flags (see `uwsgiArgs`) and why:
 * - `--http-socket 127.0.0.1:PORT`: workers speak HTTP themselves, no extra
 *   router process whose pid we would have to track.
 * - `--master --processes N`: reloads (touch, FIFO, signals) need the master.
 * - `--chdir DIR --wsgi-file DIR/app.py` (absolute path): uWSGI compiles the
 *   source itself, so no stale `__pycache__` can mask a rewrite.
 * - NO `--need-app`: with it, an app that fails to import during a reload is
 *   fatal ("no app loaded. GAME OVER"): the whole uWSGI exits, with or
 *   without `--lazy-apps` (a failing lazy worker exits and the master
 *   follows), and nothing is left to roll back. uWSGI 2.0 defaults to
 *   need-app off and its CLI refuses a value (`--need-app=false` is an
 *   error); the 2.1 branch reportedly turns it on by default: pin it then.
 * - `--stats <tmp>/stats.sock`: per-worker `accepting` flag, the only reliable
 *   "safe to send a reload now" signal we found (see startUwsgi).
 * - `--no-orphans`: workers die with the master even if the master is SIGKILLed.
 * - `--lazy-apps` only on request: needed for chain reload (`c`); without it
 *   the master imports the app once and forks workers.
 *
 * Crash at import after a reload (observed, 2.0.21, with and without
 * `--lazy-apps`, after touch-reload, FIFO `r` and FIFO `c`, and at first
 * start): the master and all workers keep running, the listening socket stays
 * open, every path (/health too) answers `500` with body "Internal Server
 * Error"; the log says "unable to load app 0 ... import error" once per load
 * and "--- no python application found ---" per request. Nothing is refused,
 * so a verifier must check status/body, not connectability.
 * Recovery works with these flags: restore the old app.py, reload again
 * (touch / `r` / `c`), and every worker serves the old version again under
 * the same master pid.
 * During a graceful reload (`r`, touch) the socket is inherited across the
 * master's re-exec: requests wait in the backlog (~1 s), they are not refused.
 *
 * Lost signals: a reload sent before every worker runs its request loop is
 * lost for the late worker, and the master then waits for it up to the 60 s
 * reload mercy with one worker gone and one on the old code (9 of 20 tries
 * when 'r' followed the first HTTP answer; 0 of 30 after waiting for
 * `accepting` in the stats). A SIGINT sent as soon as a reloaded uWSGI
 * answers was ignored 30 of 30 times. Hence waitWorkersReady() and stop()
 * repeating its signal.
 *
 * Measured here (2 workers, idle app, 2-core VM shared with other test runs;
 * from the trigger until the new version answers, polling every 25 ms; three
 * runs of test/app-servers.test.ts):
 * - touch-reload (mtime +1 s): 1.8–2.3 s (one bash run: 1.0 s); uWSGI checks
 *   the file once a second, then the graceful reload takes ~1 s. All workers
 *   switch together (full re-exec), so the first new answer means all.
 * - FIFO `r` (graceful reload): 1.05–1.5 s, all workers together.
 * - FIFO `c` (chain reload, `--lazy-apps`): first worker 1.0–1.3 s, every
 *   worker ~3.0–3.5 s (the master checks the replaced worker once a second
 *   before cursing the next), "chain reloading complete" in the log after.
 * - gunicorn HUP (see ./gunicorn.ts): 0.04–0.12 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants as fsConstants, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const UWSGI_BIN = '/usr/bin/uwsgi';
export const UWSGI_PYTHON3_PLUGIN = '/usr/lib/uwsgi/plugins/python3_plugin.so';

export interface UwsgiOptions {
  /** Checkout containing app.py. */
  dir: string;
  /** Default 2. */
  workers?: number;
  /** Absolute file path for `--touch-reload`; created if missing. */
  touchReload?: string;
  /** Absolute path for `--master-fifo`. */
  masterFifo?: string;
  pidfile?: string;
  lazyApps?: boolean;
  extraArgs?: string[];
}

export interface UwsgiServer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  url: string;
  port: number;
  /** Master pid. */
  pid: number;
  logFile: string;
  /** Graceful signal, then SIGKILL (master and leftover children) after 5 s. Idempotent. */
  stop(): Promise<void>;
  /** Whole log so far (still available after stop()). */
  logs(): Promise<string>;
  /** uWSGI only: unix socket of `--stats` (see readUwsgiStats / waitWorkersReady). */
  statsSocket?: string;
}

/** Why uWSGI cannot run here, or undefined if it can. */
export function uwsgiMissing(): string | undefined {
  if (!existsSync(UWSGI_BIN)) return `${UWSGI_BIN} not found (apt-get install uwsgi uwsgi-plugin-python3)`;
  if (!existsSync(UWSGI_PYTHON3_PLUGIN))
    return `${UWSGI_PYTHON3_PLUGIN} not found (apt-get install uwsgi-plugin-python3)`;
  return undefined;
}

/** The argv (without the binary) startUwsgi runs. */
export function uwsgiArgs(opts: UwsgiOptions, port: number, logFile: string, statsSocket?: string): string[] {
  const dir = resolve(opts.dir);
  const args = [
    '--plugin',
    'python3',
    '--http-socket',
    `127.0.0.1:${port}`,
    '--master',
    '--processes',
    String(opts.workers ?? 2),
    '--chdir',
    dir,
    '--wsgi-file',
    join(dir, 'app.py'),
    '--logto',
    logFile,
    '--no-orphans',
  ];
  if (opts.lazyApps) args.push('--lazy-apps');
  if (opts.touchReload) args.push('--touch-reload', opts.touchReload);
  if (opts.masterFifo) args.push('--master-fifo', opts.masterFifo);
  if (opts.pidfile) args.push('--pidfile', opts.pidfile);
  if (statsSocket) args.push('--stats', statsSocket);
  args.push(...(opts.extraArgs ?? []));
  return args;
}

/**
 * Resolves once HTTP answers AND every worker is accepting (stats socket) AND
 * has tried to load the app (log). The first HTTP answer alone is not enough:
 * - a reload requested before a worker has entered its request loop is lost
 *   for that worker (observed: 'r' sent on the first HTTP answer left 9 of 20
 *   starts with worker 1 gone and worker 2 still on the old code, the master
 *   waiting for it up to the 60 s reload mercy; 0 of 30 after waiting for
 *   `accepting`);
 * - with --lazy-apps another worker may still be importing app.py, and a test
 *   that rewrites the file right then gets new code without any reload.
 * Call waitWorkersReady() again before each reload that follows a reload.
 */
export async function startUwsgi(opts: UwsgiOptions): Promise<UwsgiServer> {
  if (opts.touchReload && !existsSync(opts.touchReload)) await writeFile(opts.touchReload, '');
  const statsSocketOf = (logFile: string): string => join(dirname(logFile), 'stats.sock');
  const started = await startAppServer({
    name: 'uwsgi',
    bin: UWSGI_BIN,
    args: (port, logFile) => uwsgiArgs(opts, port, logFile, statsSocketOf(logFile)),
    // UWSGI_* variables are read as options: never inherit them.
    dropEnv: (key) => key.startsWith('UWSGI_'),
    stopSignal: 'SIGINT', // SIGTERM means "brutal reload" to uWSGI 2.0, not exit
  });
  const server: UwsgiServer = { ...started, statsSocket: statsSocketOf(started.logFile) };
  const workers = opts.workers ?? 2;
  const loads = opts.lazyApps ? workers : 1;
  try {
    await waitWorkersReady(server, 15_000);
    await waitForLog(server, (log) => countMatches(log, APP_LOAD_ATTEMPT) >= loads, 15_000);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

export interface UwsgiWorkerStats {
  id: number;
  /** 0 while not spawned. */
  pid: number;
  /** 1 once the worker runs its request loop (chain reload waits for it too). */
  accepting: number;
  status: string;
  requests: number;
  respawn_count: number;
  last_spawn: number;
}

export interface UwsgiStats {
  version: string;
  pid: number;
  cwd: string;
  workers: UwsgiWorkerStats[];
}

/** One JSON document from a uWSGI `--stats` unix socket. */
export async function readUwsgiStats(socketPath: string, timeoutMs = 2000): Promise<UwsgiStats> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(socketPath);
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`stats socket ${socketPath}: timeout`)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolvePromise(JSON.parse(Buffer.concat(chunks).toString('utf8')) as UwsgiStats);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}

/**
 * Poll the stats socket until every worker slot has a pid and is accepting,
 * i.e. a reload sent now reaches every worker (see the header). Also true for
 * workers whose app failed to import (they accept and answer 500).
 */
export async function waitWorkersReady(
  server: Pick<UwsgiServer, 'statsSocket' | 'logs'>,
  timeoutMs = 15_000,
): Promise<UwsgiStats> {
  if (!server.statsSocket) throw new Error('waitWorkersReady: server has no stats socket');
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const stats = await readUwsgiStats(server.statsSocket);
      last = stats.workers.map(({ id, pid, accepting }) => ({ id, pid, accepting }));
      if (stats.workers.length > 0 && stats.workers.every((w) => w.pid > 0 && w.accepting === 1)) return stats;
    } catch (error) {
      last = String(error); // master re-exec'ing: socket briefly gone
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `uWSGI workers not ready within ${timeoutMs} ms: ${JSON.stringify(last)}; log:\n${tail(await server.logs())}`,
      );
    }
    await sleep(25);
  }
}

/** One per app load attempt (per worker with --lazy-apps, per master start without). */
export const APP_LOAD_ATTEMPT = /WSGI app \d+ \(mountpoint='[^']*'\) ready in|unable to load app \d+/g;

export function countMatches(text: string, pattern: RegExp): number {
  const global = pattern.global ? pattern : new RegExp(pattern.source, `${pattern.flags}g`);
  return [...text.matchAll(global)].length;
}

/** Poll the server log every 25 ms until `predicate` holds; returns the log. */
export async function waitForLog(
  server: Pick<UwsgiServer, 'logs'>,
  predicate: (log: string) => boolean,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = await server.logs();
    if (predicate(log)) return log;
    if (Date.now() >= deadline) {
      throw new Error(`waitForLog: condition not met within ${timeoutMs} ms; log:\n${tail(log)}`);
    }
    await sleep(25);
  }
}

// ---------------------------------------------------------------------------
// Triggers

/**
 * Make `file` count as touched for uWSGI: mtime = max(previous + 1 s, now),
 * in whole seconds, because uWSGI compares whole seconds with a strict
 * "newer than" (two touches in one second give one reload).
 */
export async function bumpMtime(file: string): Promise<Date> {
  let previous = 0;
  try {
    previous = Math.floor((await stat(file)).mtimeMs / 1000);
  } catch {
    await writeFile(file, '');
  }
  const seconds = Math.max(previous + 1, Math.floor(Date.now() / 1000));
  const when = new Date(seconds * 1000);
  await utimes(file, when, when);
  return when;
}

/**
 * Write a command (`r` graceful reload, `c` chain reload, `q` quit, …) to a
 * uWSGI master FIFO. Opened O_WRONLY|O_NONBLOCK so a dead master gives ENXIO
 * instead of blocking forever; ENXIO/ENOENT (master re-exec'ing) are retried
 * until `timeoutMs`.
 */
export async function writeMasterFifo(fifo: string, command: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
      try {
        await handle.write(command);
      } finally {
        await handle.close();
      }
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENXIO' && code !== 'ENOENT') || Date.now() >= deadline) {
        throw new Error(`writing ${JSON.stringify(command)} to master FIFO ${fifo} failed: ${String(error)}`, {
          cause: error,
        });
      }
      await sleep(25);
    }
  }
}

// ---------------------------------------------------------------------------
// HTTP probes

export type FetchResult = { status: number; body: string } | { error: string };

/**
 * One GET on a fresh connection (no keep-alive pool: a reused socket that the
 * server closed during a reload would show up as a spurious error).
 * Never throws.
 */
export async function fetchText(url: string, timeoutMs = 2000): Promise<FetchResult> {
  return new Promise((resolvePromise) => {
    let settled = false;
    const done = (result: FetchResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolvePromise(result);
    };
    const req = http.get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (error) => done({ error: describeError(error) }));
    });
    req.on('error', (error) => done({ error: describeError(error) }));
    const timer = setTimeout(() => {
      done({ error: `timeout after ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
  });
}

/** Poll `url` every 25 ms until an HTTP answer's body satisfies `predicate`; returns that body. */
export async function waitForBody(
  url: string,
  predicate: (body: string) => boolean,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last: FetchResult = { error: 'no request made' };
  for (;;) {
    last = await fetchText(url, Math.max(100, Math.min(2000, deadline - Date.now())));
    if ('body' in last && predicate(last.body)) return last.body;
    if (Date.now() >= deadline) {
      throw new Error(`waitForBody(${url}): no matching body within ${timeoutMs} ms; last: ${describeResult(last)}`);
    }
    await sleep(25);
  }
}

/**
 * `n` sequential GETs; counts the `version=` values seen. Answers without a
 * version are counted under `<status N>` or `<error MESSAGE>`, so "only v2"
 * means `[...map.keys()]` equals `['v2']`.
 * Sequential requests may all land on one worker; use `workerVersions` to
 * reach every worker.
 */
export async function sampleVersions(url: string, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const key = versionKey(await fetchText(url));
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return seen;
}

/**
 * Reach every worker: `workers` concurrent GETs with `?sleep=holdMs`, so each
 * single-core worker is busy with one request while the others are accepted
 * by the rest. Returns pid -> version. Needs the ./wsgi-app.ts app, one core
 * per worker (the fixtures' default) and no other traffic.
 */
export async function workerVersions(url: string, workers: number, holdMs = 300): Promise<Map<number, string>> {
  const target = new URL(url);
  target.searchParams.set('sleep', String(holdMs));
  const results = await Promise.all(
    Array.from({ length: workers }, () => fetchText(target.toString(), holdMs * workers + 3000)),
  );
  const byPid = new Map<number, string>();
  for (const result of results) {
    const match = 'body' in result ? /version=(\S+) pid=(\d+)/.exec(result.body) : null;
    if (!match) throw new Error(`workerVersions(${url}): unexpected answer ${describeResult(result)}`);
    byPid.set(Number(match[2]), match[1] ?? '');
  }
  return byPid;
}

function versionKey(result: FetchResult): string {
  if ('error' in result) return `<error ${result.error}>`;
  const match = /version=(\S+)/.exec(result.body);
  return match?.[1] ?? `<status ${result.status}>`;
}

export function describeResult(result: FetchResult): string {
  if ('error' in result) return `error ${result.error}`;
  return `${result.status} ${JSON.stringify(result.body.slice(0, 200))}`;
}

function describeError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  return code && !message.includes(code) ? `${code} ${message}` : message;
}

// ---------------------------------------------------------------------------
// Process management shared with ./gunicorn.ts

export interface AppServerSpec {
  name: string;
  bin: string;
  args(port: number, logFile: string): string[];
  dropEnv?: (key: string) => boolean;
  /** Signal for a quick, clean shutdown. */
  stopSignal: NodeJS.Signals;
  /** Resolve once any HTTP answer comes (default 15 s). */
  startTimeoutMs?: number;
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolvePromise(port) : reject(new Error('no port assigned'))));
    });
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * If the test process dies without stopping a server it started, take it and its children down with it.
 * Returns the function that forgets the child once it has been stopped properly.
 */
export function killOnExit(child: ChildProcess): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of live) {
        if (c.pid === undefined) continue;
        for (const pid of [...descendants(c.pid), c.pid]) signal(pid, 'SIGKILL');
      }
    });
  }
  live.add(child);
  return () => live.delete(child);
}

export async function startAppServer(spec: AppServerSpec): Promise<UwsgiServer> {
  // freePort() is racy (the port is released before the server binds): retry
  // a lost race a couple of times.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startAppServerOnce(spec);
    } catch (error) {
      if (attempt >= 3 || !/Address already in use|Connection in use/.test(String(error))) throw error;
    }
  }
}

async function startAppServerOnce(spec: AppServerSpec): Promise<UwsgiServer> {
  const port = await freePort();
  const logDir = await mkdtemp(join(tmpdir(), `hotpull-${spec.name}-`));
  const logFile = join(logDir, `${spec.name}-${port}.log`);
  // The log file is also the child's stdout/stderr, so errors printed before
  // the server's own logging is set up (bad options, missing plugin) land there.
  const logFd = openSync(logFile, 'a');
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!spec.dropEnv?.(key)) env[key] = value;
  }
  // Python checks a .pyc against the source's mtime (whole seconds) and size:
  // rewriting app.py within a second to a same-length version would be masked.
  env.PYTHONDONTWRITEBYTECODE = '1';

  let child: ChildProcess;
  try {
    child = spawn(spec.bin, spec.args(port, logFile), { stdio: ['ignore', logFd, logFd], env });
  } finally {
    closeSync(logFd);
  }
  const forget = killOnExit(child);

  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      forget();
      resolveExit();
    });
  });
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
    forget();
  });

  let cachedLogs: string | undefined;
  const logs = async (): Promise<string> => cachedLogs ?? readFile(logFile, 'utf8').catch(() => '');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const pid = child.pid;
      if (pid !== undefined && !exited && !spawnError) {
        const children = descendants(pid);
        // Repeat the signal: uWSGI ignores SIGINT for a moment after a
        // (re)start (observed: a SIGINT sent as soon as a reloaded uWSGI
        // answered was lost every time), then SIGKILL after 5 s.
        const started = Date.now();
        let sent = 0;
        while (!exited) {
          const elapsed = Date.now() - started;
          if (elapsed >= 5000) break;
          if (elapsed >= sent * 300) {
            signal(pid, spec.stopSignal);
            sent++;
          }
          await Promise.race([exitPromise, sleep(25)]);
        }
        if (!exited) {
          signal(pid, 'SIGKILL');
          await Promise.race([exitPromise, sleep(2000)]);
        }
        // Workers normally die with the master; make sure of it.
        for (const workerPid of new Set([...children, ...descendants(pid)])) {
          if (isAlive(workerPid)) signal(workerPid, 'SIGKILL');
        }
      }
      cachedLogs = await readFile(logFile, 'utf8').catch(() => '');
      await rm(logDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (spec.startTimeoutMs ?? 15_000);
  for (;;) {
    if (spawnError || exited) {
      await stop();
      const how = spawnError ? String(spawnError) : `exited with code ${exited?.code} signal ${exited?.signal}`;
      throw new Error(`${spec.name} did not start (${how}); log:\n${tail(cachedLogs ?? '')}`);
    }
    const result = await fetchText(`${url}/health`, 1000);
    if ('status' in result) break;
    if (Date.now() >= deadline) {
      await stop();
      throw new Error(
        `${spec.name} did not answer HTTP on ${url} in time; last: ${result.error}; log:\n${tail(cachedLogs ?? '')}`,
      );
    }
    await sleep(25);
  }

  return { url, port, pid: child.pid as number, logFile, stop, logs };
}

/** All descendants of `pid` (Linux /proc), deepest first not guaranteed. */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const statText = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
      const rest = statText.slice(statText.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(entry), Number(rest[1]));
    } catch {
      // exited meanwhile
    }
  }
  const result: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const current = queue.shift() as number;
    for (const [child, parent] of parentOf) {
      if (parent === current) {
        result.push(child);
        queue.push(child);
      }
    }
  }
  return result;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still "exists" for kill(0); treat it as dead.
  try {
    const statText = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return statText.slice(statText.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}

function tail(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}
