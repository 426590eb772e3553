#!/usr/bin/env node
// Issue 27: how many user requests a bad revision fails with --bake against without it, on both stacks:
//   uwsgi      a real uWSGI (2 workers, lazy-apps, chain reload `c` over the master FIFO), read through its stats
//              server (--stats on a unix socket, --traffic uwsgi-stats)
//   gunicorn   a real gunicorn (2 sync workers, no preload, HUP through its pid file), read through its access log
//              (%(s)s and %(D)s, --traffic access-log:FILE:FORMAT)
// hotpull's pipeline runs in this process (dist/), with a load loop (4 connections, one request in 20 to /flaky). The
// bad revision raises on /flaky only (uWSGI answers nothing, gunicorn a 500): its health page is fine, so
// verification passes. Per stack and variant, from a good live revision, one pass deploys it:
//   bake      --bake 3s: failed requests from the push to the rollback
//   no bake   the same revision verified and live: failed requests over the same time, and per minute served
// A table goes to stdout, then one JSON line. Run: npm run build && node bench/bake.mjs [uwsgi|gunicorn]
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  benchSandbox,
  git,
  machineContext,
  makeRemote,
  cloneCheckout,
  round,
  sleep,
  spawnTracked,
  stopTracked,
  table,
} from './lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { loadConfig } = await import(path.join(ROOT, 'dist/config/load.js'));
const { createLogger } = await import(path.join(ROOT, 'dist/log.js'));
const { buildPipeline } = await import(path.join(ROOT, 'dist/commands/pipeline.js'));

const app = (version, flaky) => `
import os, subprocess
VERSION = ${JSON.stringify(version)}
SHA = subprocess.run(["git", "-c", "safe.directory=*", "rev-parse", "HEAD"], cwd=os.path.dirname(os.path.abspath(__file__)), capture_output=True, text=True).stdout.strip()

def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/flaky" and ${flaky ? 'True' : 'False'}:
        raise RuntimeError("bad revision")
    body = (("ok " + VERSION + " " + SHA) if path == "/health" else VERSION).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`;

async function get(url) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await response.text();
    return response.status < 500;
  } catch {
    return false;
  }
}

/** 4 loops, one request at a time each; every failure's time kept */
function load(url) {
  let running = true;
  let i = 0;
  const failed = [];
  let total = 0;
  const loops = Array.from({ length: 4 }, async () => {
    while (running) {
      const ok = await get(`${url}${i++ % 20 === 19 ? '/flaky' : '/'}`);
      total++;
      if (!ok) failed.push(performance.now());
    }
  });
  return {
    failedBetween: (a, b) => failed.filter((t) => t >= a && t <= b).length,
    total: () => total,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** gunicorn's default format with the request time in microseconds at its end */
const GUNICORN_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s';

/** uWSGI or gunicorn serving `checkout`: its URL, hotpull's reload and traffic flags, and how to stop it */
async function startServer(stack, root, checkout) {
  await mkdir(path.join(root, 'logs'), { recursive: true });
  if (stack === 'uwsgi') {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const fifo = path.join(root, 'master.fifo');
    const stats = path.join(root, 'stats.sock');
    const child = spawnTracked('/usr/bin/uwsgi', [
      ...['--plugin', 'python3', '--http-socket', `127.0.0.1:${port}`, '--master', '--processes', '2', '--lazy-apps'],
      ...['--chdir', checkout, '--wsgi-file', path.join(checkout, 'app.py'), '--master-fifo', fifo, '--stats', stats],
      ...['--logto', path.join(root, 'logs/uwsgi.log')],
    ]);
    return {
      url: `http://127.0.0.1:${port}`,
      flags: { reload: [`uwsgi-fifo:${fifo}:c`], traffic: `uwsgi-stats:${stats}` },
      stop: () => stopTracked(child),
    };
  }
  const pidfile = path.join(root, 'gunicorn.pid');
  const accessLog = path.join(root, 'logs/access.log');
  const errorLog = path.join(root, 'logs/gunicorn.log');
  const conf = path.join(root, 'gunicorn.conf.py');
  await writeFile(
    conf,
    [
      'bind = "127.0.0.1:0"',
      'workers = 2',
      `chdir = ${JSON.stringify(checkout)}`,
      'wsgi_app = "app:application"',
      `pidfile = ${JSON.stringify(pidfile)}`,
      `accesslog = ${JSON.stringify(accessLog)}`,
      `access_log_format = ${JSON.stringify(GUNICORN_FORMAT)}`,
      `errorlog = ${JSON.stringify(errorLog)}`,
      'graceful_timeout = 2',
      '',
    ].join('\n'),
  );
  const child = spawnTracked('/usr/bin/gunicorn', ['--config', conf], {
    // GUNICORN_CMD_ARGS would add options behind the config's back
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'GUNICORN_CMD_ARGS')),
      PYTHONDONTWRITEBYTECODE: '1',
    },
  });
  let url;
  for (let i = 0; i < 100 && !url; i++) {
    await sleep(100);
    const listening = /Listening at: (http:\/\/127\.0\.0\.1:\d+)/.exec(
      await readFile(errorLog, 'utf8').catch(() => ''),
    );
    url = listening?.[1];
  }
  if (!url) throw new Error(`gunicorn did not say where it listens: ${errorLog}`);
  return {
    url,
    flags: { reload: [`signal:${pidfile}:HUP`], traffic: `access-log:${accessLog}:${GUNICORN_FORMAT}` },
    stop: () => stopTracked(child),
  };
}

async function variant(stack, name, bakeFlags) {
  const { root, env } = await benchSandbox(`hotpull-bench-bake-`);
  const { bare, author } = await makeRemote(root, env, { 'app.py': app('v1', false) });
  const checkout = await cloneCheckout(root, env, bare, 'checkout');
  const server = await startServer(stack, root, checkout);
  const url = server.url;
  for (let i = 0; i < 100 && !(await get(`${url}/health`)); i++) await sleep(100);
  await sleep(1000);
  const config = await loadConfig({
    flags: {
      repo: checkout,
      healthUrl: `${url}/health`,
      healthExpect: '{sha}',
      healthSettle: '1s',
      ...server.flags,
      ...bakeFlags,
    },
    env: {},
    cwd: checkout,
    isTTY: false,
  });
  const logger = await createLogger({ level: 'error', format: 'json', destination: { write() {} } });
  const { engine } = await buildPipeline(config, { ...process.env, ...env }, logger);
  const loop = load(url);
  await sleep(3000); // a baseline
  await writeFile(path.join(author, 'app.py'), app('v2', true));
  await git(author, env, 'commit', '-qam', 'bad');
  await git(author, env, 'push', '-q', 'origin', 'HEAD:main');
  const pushed = performance.now();
  const outcome = await engine.sync('bench');
  const ended = performance.now();
  await sleep(1000);
  const after = performance.now();
  await loop.stop();
  engine.close();
  await server.stop();
  const record = outcome.record;
  return {
    stack,
    name,
    result: record.result,
    passMs: Math.round(ended - pushed),
    failedInPass: loop.failedBetween(pushed, ended),
    failedPerMinuteAfter: round((loop.failedBetween(ended, after) / (after - ended)) * 60_000, 0),
    impact: record.impact?.summary,
  };
}

const stacks = process.argv[2] ? [process.argv[2]] : ['uwsgi', 'gunicorn'];
if (!stacks.every((s) => s === 'uwsgi' || s === 'gunicorn'))
  throw new Error('usage: node bench/bake.mjs [uwsgi|gunicorn]');
const rows = [];
for (const stack of stacks) {
  rows.push(await variant(stack, 'bake 3s', { bake: '3s' }));
  rows.push(await variant(stack, 'no bake', {}));
}
console.log(
  table(
    ['stack', 'variant', 'result', 'pass (ms)', 'failed during the pass', 'failed per minute after it', 'impact'],
    rows.map((r) => [r.stack, r.name, r.result, r.passMs, r.failedInPass, r.failedPerMinuteAfter, r.impact]),
  ),
);
console.log(JSON.stringify({ bench: 'bake', machine: machineContext(), rows }));
