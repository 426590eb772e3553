#!/usr/bin/env node
// Issue 27: does every deploy record of a chain reload under wrk say what wrk itself counted? A real uWSGI (2 workers,
// lazy-apps, chain reload `c` over the master FIFO, --stats on a unix socket), hotpull's pipeline in this process
// (dist/, --traffic uwsgi-stats, the default --traffic-every 1s), and one wrk (Debian's 4.1) running through N deploys
// with a Lua script that writes the wall-clock time of every response it reads.
//
// The honest window: a record counts what uWSGI's counters grew between two readings of the stats server (one taken
// as the reload is sent, one at the verdict). hotpull reads it here through a unix-socket relay that keeps, per
// reading, the document's per-worker request counts and the wall-clock time it connected and got the first byte
// (uWSGI writes the document as it accepts). Per deploy the bench takes the two readings whose difference is the
// record's `requests` and counts wrk's answers in that window two ways:
//   by counters  each answer says which of its worker's requests it was (served=WORKER:COUNT, from uwsgi.workers()):
//                the answers whose COUNT lies between the two readings' counts for that worker. Exact, whatever the
//                load; off by at most a request or so per worker at each end.
//   by clock     wrk's Lua script stamps the wall-clock time it read each answer: the answers read between the
//                middles of the two readings. wrk reads late on a starved machine, so this drifts with load.
// Both add the health checks hotpull sent to verify the deploy (uWSGI's log): uWSGI counts them, wrk does not.
// A table goes to stdout, then one JSON line. Run: npm run build && node bench/impact-wrk.mjs [DEPLOYS] (default 5)
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  benchSandbox,
  cloneCheckout,
  git,
  machineContext,
  makeRemote,
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

const DEPLOYS = Number(process.argv[2] ?? 5);
if (!Number.isInteger(DEPLOYS) || DEPLOYS < 1) throw new Error(`usage: node bench/impact-wrk.mjs [DEPLOYS ≥ 1]`);
const CONNECTIONS = 8;
for (const bin of ['/usr/bin/wrk', '/usr/bin/uwsgi']) if (!existsSync(bin)) throw new Error(`${bin} not found`);

const app = (version) => `
import os, subprocess
VERSION = ${JSON.stringify(version)}
SHA = subprocess.run(["git", "-c", "safe.directory=*", "rev-parse", "HEAD"], cwd=os.path.dirname(os.path.abspath(__file__)), capture_output=True, text=True).stdout.strip()

def application(environ, start_response):
    if environ.get("PATH_INFO") == "/health":
        body = ("ok " + VERSION + " " + SHA).encode()
    else:
        import uwsgi
        me = uwsgi.worker_id()
        body = ("%s served=%d:%d" % (VERSION, me, [w["requests"] for w in uwsgi.workers() if w["id"] == me][0])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`;

// each wrk thread writes its own file, line-buffered (wrk never closes its Lua states); the time is
// clock_gettime(CLOCK_REALTIME) through LuaJIT's FFI, the clock of Date.now()
const LUA = String.raw`
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
local out
function init(args)
  out = io.open(args[1] .. "/responses-" .. id .. ".log", "w")
  out:setvbuf("line")
end
function response(status, headers, body)
  ffi.C.clock_gettime(0, ts)
  out:write(string.format("%.3f %d %s\n", tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1000000, status,
    body:match("served=(%d+:%d+)") or "-"))
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_WRK {"requests":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, e.connect, e.read, e.write, e.status, e.timeout))
end
`;

/** A relay in front of the stats socket: every reading hotpull takes, with its times and the document's request count. */
function statsRelay(listenPath, upstreamPath) {
  const readings = [];
  const server = net.createServer((client) => {
    const reading = { connectAt: Date.now(), firstByteAt: undefined, requests: undefined, byWorker: undefined };
    const chunks = [];
    const upstream = net.connect(upstreamPath);
    upstream.on('data', (chunk) => {
      reading.firstByteAt ??= Date.now();
      chunks.push(chunk);
    });
    upstream.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        const { workers } = JSON.parse(text);
        reading.requests = workers.reduce((sum, w) => sum + w.requests, 0);
        reading.byWorker = new Map(workers.map((w) => [w.id, w.requests]));
        readings.push(reading);
      } catch {
        // a torn document: hotpull's reading fails too
      }
      client.end(text);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  return new Promise((resolve) => server.listen(listenPath, () => resolve({ readings, close: () => server.close() })));
}

const { root, env } = await benchSandbox('hotpull-bench-impact-wrk-');
const { bare, author } = await makeRemote(root, env, { 'app.py': app('v0') });
const checkout = await cloneCheckout(root, env, bare, 'checkout');
const port = 20000 + Math.floor(Math.random() * 20000);
const fifo = path.join(root, 'master.fifo');
const stats = path.join(root, 'stats.sock');
const relayed = path.join(root, 'stats-relay.sock');
const uwsgiLog = path.join(root, 'uwsgi.log');
const uwsgi = spawnTracked('/usr/bin/uwsgi', [
  ...['--plugin', 'python3', '--http-socket', `127.0.0.1:${port}`, '--master', '--processes', '2', '--lazy-apps'],
  ...['--chdir', checkout, '--wsgi-file', path.join(checkout, 'app.py'), '--master-fifo', fifo, '--stats', stats],
  ...['--logto', uwsgiLog],
  // uWSGI's http-socket closes every connection after its answer: said in a header, wrk reconnects without counting
  // a read error for each (its errors are then failures only)
  ...['--add-header', 'Connection: close'],
]);
const url = `http://127.0.0.1:${port}`;
for (let i = 0; i < 100; i++) {
  const ok = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) }).then(
    (r) => r.ok,
    () => false,
  );
  if (ok && existsSync(stats)) break;
  await sleep(100);
}
await sleep(1000); // both workers in their request loop
const relay = await statsRelay(relayed, stats);

const config = await loadConfig({
  flags: {
    repo: checkout,
    reload: [`uwsgi-fifo:${fifo}:c`],
    healthUrl: `${url}/health`,
    healthExpect: '{sha}',
    traffic: `uwsgi-stats:${relayed}`,
  },
  env: {},
  cwd: checkout,
  isTTY: false,
});
const logger = await createLogger({ level: 'error', format: 'json', destination: { write() {} } });
const { engine } = await buildPipeline(config, { ...process.env, ...env }, logger);

const wrkDir = path.join(root, 'wrk');
await mkdir(wrkDir);
await writeFile(path.join(wrkDir, 'record.lua'), LUA);
let wrkOutput = '';
const wrk = spawnTracked('/usr/bin/wrk', [
  ...['-t', '2', '-c', String(CONNECTIONS), '-d', '600s', '--timeout', '10s'],
  ...['-s', path.join(wrkDir, 'record.lua'), `${url}/`, '--', wrkDir],
]);
wrk.stdout.on('data', (b) => (wrkOutput += b));
wrk.stderr.on('data', (b) => (wrkOutput += b));
const wrkExited = new Promise((resolve) => wrk.once('exit', resolve));
await sleep(2000); // wrk at full speed

const healthChecks = async () => ((await readFile(uwsgiLog, 'utf8')).match(/GET \/health /g) ?? []).length;
const deploys = [];
for (let n = 1; n <= DEPLOYS; n++) {
  await writeFile(path.join(author, 'app.py'), app(`v${n}`));
  await git(author, env, 'commit', '-qam', `v${n}`);
  await git(author, env, 'push', '-q', 'origin', 'HEAD:main');
  const checked = await healthChecks();
  const outcome = await engine.sync('bench');
  deploys.push({ record: outcome.record, health: (await healthChecks()) - checked });
  await sleep(1000);
}
wrk.kill('SIGINT'); // wrk stops as at the end of -d, and still prints its summary
await wrkExited;
engine.close();
relay.close();
await stopTracked(uwsgi);

const summary = JSON.parse(/BENCH_WRK (\{.*\})/.exec(wrkOutput)?.[1] ?? 'null');
if (!summary) throw new Error(`wrk printed no summary:\n${wrkOutput}`);
const responses = [];
for (const file of (await readdir(wrkDir)).filter((f) => f.startsWith('responses-')))
  for (const row of (await readFile(path.join(wrkDir, file), 'utf8')).split('\n')) {
    const [at, status, served] = row.split(' ');
    const [worker, count] = (served ?? '-').split(':').map(Number);
    if (status !== undefined) responses.push({ at: Number(at), status: Number(status), worker, count });
  }
responses.sort((a, b) => a.at - b.at);
const readAt = (r) => (r.connectAt + r.firstByteAt) / 2;
const inRange = (from, to) => responses.filter((r) => r.at > from && r.at <= to);

const rows = deploys.map(({ record, health }, i) => {
  const impact = record.impact;
  // the readings whose difference is the record's count: the reload's is the last before the first stage after it
  const reloadedAt = Date.parse(record.stages.reloaded);
  const pairs = [];
  for (let a = 0; a < relay.readings.length; a++)
    for (let b = a + 1; b < relay.readings.length; b++)
      if (relay.readings[b].requests - relay.readings[a].requests === impact.requests)
        pairs.push([relay.readings[a], relay.readings[b]]);
  pairs.sort((p, q) => Math.abs(readAt(p[0]) - reloadedAt) - Math.abs(readAt(q[0]) - reloadedAt));
  const [from, to] = pairs[0] ?? [];
  if (!from) return { deploy: i + 1, record: impact, found: false };
  const byCounters = responses.filter(
    (r) => from.byWorker.has(r.worker) && r.count >= from.byWorker.get(r.worker) && r.count < to.byWorker.get(r.worker),
  );
  const byClock = inRange(readAt(from), readAt(to));
  const diff = (n) => round(((impact.requests - (n + health)) / (n + health)) * 100, 3);
  return {
    deploy: i + 1,
    result: record.result,
    windowMs: Math.round(readAt(to) - readAt(from)),
    recordRequests: impact.requests,
    recordFailed: impact.failed,
    queuePeak: impact.queuePeak,
    health,
    wrkByCounters: byCounters.length,
    wrk5xx: byCounters.filter((r) => r.status >= 500).length,
    diffByCountersPct: diff(byCounters.length),
    wrkByClock: byClock.length,
    diffByClockPct: diff(byClock.length),
    summary: impact.summary,
  };
});
console.log(
  table(
    [
      'deploy',
      'result',
      'window (ms)',
      'record: requests',
      'failed',
      'queue peak',
      'health checks',
      'wrk by counters',
      'wrk 5xx',
      'record vs wrk + health',
      'wrk by clock',
      'record vs wrk + health',
    ],
    rows.map((r) => [
      r.deploy,
      r.result,
      r.windowMs,
      r.recordRequests,
      r.recordFailed,
      r.queuePeak,
      r.health,
      r.wrkByCounters,
      r.wrk5xx,
      `${r.diffByCountersPct} %`,
      r.wrkByClock,
      `${r.diffByClockPct} %`,
    ]),
  ),
);
console.log(
  `wrk: ${summary.requests} responses (${responses.length} recorded), socket errors connect ${summary.connect} read ${summary.read} write ${summary.write} timeout ${summary.timeout}, non-2xx/3xx ${summary.status}`,
);
console.log(
  JSON.stringify({ bench: 'impact-wrk', machine: machineContext(), connections: CONNECTIONS, wrk: summary, rows }),
);
