// A real uWSGI for the benches (Debian 2.0.21 + python3 plugin), the small WSGI app it serves, and HTTP probes
// that reach every worker. The same flags and app as test/helpers/uwsgi.ts + wsgi-app.ts, re-done in plain ESM
// because a bench runs without the TypeScript toolchain. Processes go through lib.mjs's spawnTracked, so none
// outlives the bench.
import { constants as fsConstants, existsSync, openSync, closeSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { sleep, spawnTracked } from './lib.mjs';

export const UWSGI_BIN = '/usr/bin/uwsgi';
export const UWSGI_PYTHON3_PLUGIN = '/usr/lib/uwsgi/plugins/python3_plugin.so';

/** Why uWSGI cannot run here, or undefined if it can. */
export function uwsgiMissing() {
  if (!existsSync(UWSGI_BIN)) return `${UWSGI_BIN} not found (apt-get install uwsgi uwsgi-plugin-python3)`;
  if (!existsSync(UWSGI_PYTHON3_PLUGIN))
    return `${UWSGI_PYTHON3_PLUGIN} not found (apt-get install uwsgi-plugin-python3)`;
  return undefined;
}

/**
 * app.py: every path answers `version=<version> pid=<worker pid>`; `?sleep=MS` holds the worker that long (to pin
 * concurrent requests to different workers); `/health` answers `ok <version> <git sha>` without sleeping, so a
 * deployer can verify the exact revision (`--health-expect {sha}`). The version is a module constant: only a
 * reload makes a rewritten file visible.
 */
export function wsgiAppSource(version) {
  return [
    '# hotpull bench app (bench/uwsgi.mjs)',
    'import os',
    'import subprocess',
    'import time',
    'from urllib.parse import parse_qs',
    '',
    `VERSION = ${JSON.stringify(version)}`,
    'SHA = subprocess.run(["git", "-c", "safe.directory=*", "rev-parse", "HEAD"], cwd=os.path.dirname(os.path.abspath(__file__)), capture_output=True, text=True).stdout.strip()',
    '',
    'def application(environ, start_response):',
    '    if environ.get("PATH_INFO", "") == "/health":',
    '        body = ("ok %s %s" % (VERSION, SHA)).encode("utf-8")',
    '    else:',
    '        query = parse_qs(environ.get("QUERY_STRING", ""))',
    '        if "sleep" in query:',
    '            time.sleep(int(query["sleep"][0]) / 1000.0)',
    '        body = ("version=%s pid=%d" % (VERSION, os.getpid())).encode("utf-8")',
    '    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])',
    '    return [body]',
    '',
  ].join('\n');
}

/** A TCP port that was free on 127.0.0.1 a moment ago (racy: startUwsgi retries a lost race). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `uwsgi --master --processes N` with HTTP on 127.0.0.1 serving DIR/app.py, and resolves once every worker
 * is spawned and the app answers. Flags as in test/helpers/uwsgi.ts: `--http-socket` (no router process),
 * `--wsgi-file` by absolute path (no stale bytecode), `--no-orphans`, no `--need-app`. It runs in its own process
 * group, so lib.mjs's exit handler takes the workers down with the master whatever happens.
 */
export async function startUwsgi({ dir, workers = 2, touchReload, masterFifo, env, logDir }) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce({ dir, workers, touchReload, masterFifo, env, logDir });
    } catch (error) {
      if (attempt >= 3 || !/Address already in use/.test(String(error))) throw error;
    }
  }
}

async function startOnce({ dir, workers, touchReload, masterFifo, env, logDir }) {
  const port = await freePort();
  const logFile = path.join(logDir, `uwsgi-${port}.log`);
  const args = [
    '--plugin',
    'python3',
    '--http-socket',
    `127.0.0.1:${port}`,
    '--master',
    '--processes',
    String(workers),
    '--chdir',
    dir,
    '--wsgi-file',
    path.join(dir, 'app.py'),
    '--logto',
    logFile,
    '--no-orphans',
  ];
  if (touchReload) args.push('--touch-reload', touchReload);
  if (masterFifo) args.push('--master-fifo', masterFifo);
  // UWSGI_* variables are read as options: never inherit them. Bytecode off: a .pyc could mask a rewrite.
  const childEnv = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('UWSGI_')));
  childEnv.PYTHONDONTWRITEBYTECODE = '1';
  const fd = openSync(logFile, 'a');
  let child;
  try {
    child = spawnTracked(UWSGI_BIN, args, { cwd: dir, env: childEnv, stdio: ['ignore', fd, fd], detached: true });
  } finally {
    closeSync(fd);
  }
  let exited;
  child.once('exit', (code, signal) => (exited = code ?? signal));
  const logs = () => readFile(logFile, 'utf8').catch(() => '');
  const server = {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    child,
    logFile,
    logs,
    stop: () => stopUwsgi(child),
  };
  const deadline = performance.now() + 15_000;
  for (;;) {
    if (exited !== undefined)
      throw new Error(`uwsgi exited (${exited}) at start; log:\n${(await logs()).slice(-3000)}`);
    const log = await logs();
    const spawned = (log.match(/spawned uWSGI worker \d+ /g) ?? []).length;
    if (spawned >= workers && /WSGI app 0 \(mountpoint='[^']*'\) ready in/.test(log)) {
      const answer = await fetchText(`${server.url}/health`, 1000);
      if ('body' in answer && answer.status === 200) return server;
    }
    if (performance.now() > deadline) {
      await server.stop();
      throw new Error(`uwsgi did not come up on ${server.url}; log:\n${(await logs()).slice(-3000)}`);
    }
    await sleep(25);
  }
}

/** SIGINT to the group (SIGTERM means "brutal reload" to uWSGI 2.0, not exit), then SIGKILL after 5 s. */
async function stopUwsgi(child) {
  const pid = child.pid;
  const kill = (signal) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is gone
    }
  };
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    kill('SIGINT');
    const timer = setTimeout(() => kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  kill('SIGKILL'); // a worker that outlived its master (--no-orphans should have ended it)
}

/**
 * Writes a command (`r` graceful reload, …) to a uWSGI master FIFO, opened O_WRONLY|O_NONBLOCK so a master that
 * is not reading gives ENXIO at once instead of a hang; ENXIO/ENOENT (master re-exec'ing) are retried.
 */
export async function writeFifo(fifo, command, timeoutMs = 3000) {
  const deadline = performance.now() + timeoutMs;
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
      if (!['ENXIO', 'ENOENT'].includes(error.code) || performance.now() > deadline) throw error;
      await sleep(10);
    }
  }
}

/** One request on a fresh connection (a pooled socket closed by a reload would look like an error). Never throws. */
export function fetchText(url, timeoutMs = 5000, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve) => {
    let settled = false;
    const done = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, at: performance.now() });
    };
    const req = http.request(url, { method, agent: false, headers: { connection: 'close', ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on('error', (error) => done({ error: error.code ?? error.message }));
    });
    req.on('error', (error) => done({ error: error.code ?? error.message }));
    const timer = setTimeout(() => {
      done({ error: `timeout after ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.end(body);
  });
}

/**
 * `workers` concurrent `?sleep=holdMs` requests: each single-threaded worker is busy with one while the next is
 * accepted by another, so one round reaches every worker (unless some other client holds one: then two answers
 * share a pid and the caller tries again). Each answer: { version, pid, at } or { error, at }.
 */
export async function pinnedRound(url, workers, holdMs) {
  const answers = await Promise.all(
    Array.from({ length: workers }, () => fetchText(`${url}/?sleep=${holdMs}`, holdMs * workers + 5000)),
  );
  return answers.map((a) => {
    const match = a.status === 200 ? /version=(\S+) pid=(\d+)/.exec(a.body) : null;
    return match
      ? { version: match[1], pid: Number(match[2]), at: a.at }
      : { error: a.error ?? `HTTP ${a.status}`, at: a.at };
  });
}
