#!/usr/bin/env node
// A fleet of sidecars against one git server, on this machine: N `hotpull run --interval 1s` (N = 10, 50, 100 by
// default), each with its own checkout, all polling one `git daemon` on 127.0.0.1 (git:// remote). For each N:
//   - idle: server-side connections per second (each is a forked daemon child running `git upload-pack`: two
//     processes), the server's CPU (the daemon's process tree, reaped children included), the sidecars' summed
//     RSS, anonymous RSS and PSS (shared pages of the node binary split between the processes that map them)
//   - the peak: the most connections in any 100 ms, in the first seconds after all N started at the same moment
//     (in step) and at the end of the window (after the ±10 % poll jitter has had time to spread them)
//   - pushes: from the end of `git push` until each checkout's HEAD is the new commit; target: all within the
//     interval + 1 s, and no warning or error in any sidecar's log
// Run: node bench/fleet.mjs [--sizes 10,50,100] [--idle-seconds N] [--pushes N] [--max-connections N] (npm run build first).
// Needs git (git daemon), Linux /proc. A table goes to stdout, then the same figures as one JSON object on the last
// line; progress goes to stderr. Everything runs in one mkdtemp directory, removed at the end.
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  benchSandbox,
  git,
  machineContext,
  makeRemote,
  listenOverflows,
  percentile,
  pushCommit,
  readTreeCpuTicks,
  round,
  shippedNodeFlags,
  sleep,
  spawnTracked,
  stopTracked,
  table,
} from './lib.mjs';

const INTERVAL_MS = 1000;
const TARGET_MS = INTERVAL_MS + 1000;
const BUCKET_MS = 100;
const START_BATCH = 10; // sidecars started together, then wait until each has logged that it follows the remote

const { values: argv } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,50,100' },
    'idle-seconds': { type: 'string', default: '20' },
    pushes: { type: 'string', default: '3' },
    // git daemon's own default is 32: beyond that it kills children to make room, and a fleet of 100 on a busy
    // machine got "Connection reset by peer" (and an ls-remote that hung until hotpull's 1 min timeout)
    'max-connections': { type: 'string', default: '0' },
  },
  strict: true,
});
const SIZES = argv.sizes.split(',').map(Number);
const IDLE_SECONDS = Number(argv['idle-seconds']);
const PUSHES = Number(argv.pushes);
if (SIZES.some((n) => !Number.isInteger(n) || n < 1) || !(IDLE_SECONDS >= 5) || !(PUSHES >= 1))
  throw new Error('--sizes: positive integers; --idle-seconds ≥ 5; --pushes ≥ 1');

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build first (npm run build)`);
// as installed: with the V8 flags of the entry's #! line
const NODE_FLAGS = shippedNodeFlags(BIN);
const progress = (text) => process.stderr.write(`bench: ${text}\n`);
const mb = (kb) => round(kb / 1024, 1);

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** `git daemon --verbose` logs one "Connection from" line per client: their times, as this process saw them arrive. */
function connectionLog(child) {
  const times = [];
  let buffer = '';
  child.stderr.on('data', (chunk) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop();
    const now = performance.now();
    for (const line of lines) if (line.includes('Connection from')) times.push(now);
  });
  return times;
}

const between = (times, from, to) => times.filter((t) => t >= from && t < to);
function peakPerBucket(times, from, to) {
  const counts = new Map();
  for (const t of between(times, from, to))
    counts.set(Math.floor((t - from) / BUCKET_MS), (counts.get(Math.floor((t - from) / BUCKET_MS)) ?? 0) + 1);
  return Math.max(0, ...counts.values());
}

function smapsRollupKb(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { rss: field('Rss'), pss: field('Pss'), anon: field('Anonymous') };
  } catch {
    return { rss: 0, pss: 0, anon: 0 };
  }
}

async function headOf(checkout) {
  const head = (await readFile(path.join(checkout, '.git', 'HEAD'), 'utf8')).trim();
  if (!head.startsWith('ref: ')) return head;
  return (await readFile(path.join(checkout, '.git', head.slice(5)), 'utf8').catch(() => '')).trim();
}

async function waitForLine(file, re, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (re.test(await readFile(file, 'utf8').catch(() => ''))) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${re} in ${file}`);
}

async function fleet(n, root, env, context) {
  const dir = path.join(root, `fleet-${n}`);
  await mkdir(dir);
  const { bare, author } = await makeRemote(dir, env, { 'uwsgi.ini': '[uwsgi]\n', 'app.py': 'VERSION = 0\n' });
  const port = await freePort();
  const daemon = spawnTracked(
    'git',
    [
      'daemon',
      '--verbose',
      '--reuseaddr',
      '--export-all',
      `--max-connections=${argv['max-connections']}`,
      `--base-path=${dir}`,
      '--listen=127.0.0.1',
      `--port=${port}`,
      dir,
    ],
    {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const connections = connectionLog(daemon);
  const url = `git://127.0.0.1:${port}/remote.git`;
  for (
    let i = 0;
    i < 50 &&
    !(await git(dir, env, 'ls-remote', url).then(
      () => true,
      () => false,
    ));
    i++
  )
    await sleep(100);

  progress(`N=${n}: ${n} checkouts`);
  const sidecars = [];
  for (let i = 0; i < n; i++) {
    const checkout = path.join(dir, `co${i}`);
    await git(dir, env, 'clone', '--quiet', '--branch', 'main', bare, checkout);
    await git(checkout, env, 'remote', 'set-url', 'origin', url);
    sidecars.push({ checkout, log: path.join(dir, `co${i}.log`) });
  }
  // Started in batches (a loaded 2-core machine starts Node slowly), then released together: every sidecar is
  // told to sync at the same moment (SIGUSR1), which puts the fleet in step, the worst case for the server.
  progress(`N=${n}: starting the sidecars, ${START_BATCH} at a time`);
  for (let i = 0; i < n; i += START_BATCH) {
    const batch = sidecars.slice(i, i + START_BATCH);
    for (const s of batch) {
      const fd = openSync(s.log, 'a');
      s.child = spawnTracked(
        process.execPath,
        [...NODE_FLAGS, BIN, 'run', '--repo', s.checkout, '--interval', `${INTERVAL_MS}ms`, '--log-format', 'json'],
        { env, stdio: ['ignore', fd, fd], detached: true },
      );
      closeSync(fd);
    }
    await Promise.all(batch.map((s) => waitForLine(s.log, /hotpull following/, 120_000)));
  }
  try {
    await sleep(2000);
    const overflows0 = listenOverflows();
    const inStep = performance.now();
    for (const s of sidecars) process.kill(s.child.pid, 'SIGUSR1');
    const ticks0 = await readTreeCpuTicks(daemon.pid);
    const t0 = performance.now();
    const memory = [];
    for (let s = 1; s <= IDLE_SECONDS; s++) {
      await sleep(Math.max(0, t0 + s * 1000 - performance.now()));
      if (s === Math.ceil(IDLE_SECONDS / 2)) memory.push(...sidecars.map((x) => smapsRollupKb(x.child.pid)));
    }
    const t1 = performance.now();
    const ticks1 = await readTreeCpuTicks(daemon.pid);
    const seconds = (t1 - t0) / 1000;
    const idle = {
      connectionsPerSecond: round(between(connections, t0, t1).length / seconds, 1),
      gitProcessesPerSecond: round((2 * between(connections, t0, t1).length) / seconds, 1),
      serverCpuPercent: round(((ticks1.total - ticks0.total) / context.clkTck / seconds) * 100, 1),
      peakInStep: peakPerBucket(connections, inStep, inStep + 3000),
      peakAtEnd: peakPerBucket(connections, t1 - 5000, t1),
      meanPerBucket: round(between(connections, t1 - 5000, t1).length / (5000 / BUCKET_MS), 1),
      rssSumMB: mb(memory.reduce((a, m) => a + m.rss, 0)),
      pssSumMB: mb(memory.reduce((a, m) => a + m.pss, 0)),
      anonSumMB: mb(memory.reduce((a, m) => a + m.anon, 0)),
      rssEachMB: mb(memory.reduce((a, m) => a + m.rss, 0) / n),
      pssEachMB: mb(memory.reduce((a, m) => a + m.pss, 0) / n),
    };
    progress(`N=${n}: idle ${JSON.stringify(idle)}`);

    const pushes = [];
    for (let p = 1; p <= PUSHES; p++) {
      const sha = await pushCommit(author, env, p);
      const pushed = performance.now();
      const seen = new Map();
      while (seen.size < n && performance.now() - pushed < 30_000) {
        for (const s of sidecars)
          if (!seen.has(s) && (await headOf(s.checkout)) === sha) seen.set(s, performance.now() - pushed);
        await sleep(20);
      }
      const ms = [...seen.values()];
      pushes.push({
        updated: seen.size,
        maxMs: round(Math.max(...ms)),
        p50Ms: round(percentile(ms, 50)),
        p90Ms: round(percentile(ms, 90)),
        peak: peakPerBucket(connections, pushed, pushed + 3000),
      });
      progress(`N=${n}: push ${p}: ${JSON.stringify(pushes.at(-1))}`);
      await sleep(2000);
    }
    const overflows = listenOverflows() - overflows0;
    let problems = 0;
    let first;
    for (const s of sidecars) {
      for (const line of (await readFile(s.log, 'utf8')).split('\n').filter(Boolean)) {
        const record = line.startsWith('{') ? JSON.parse(line) : { level: 50, msg: line };
        if (record.level >= 40) {
          problems += 1;
          first ??= record.msg;
        }
      }
    }
    return {
      n,
      idle,
      pushes,
      overflows,
      problems,
      firstProblem: first,
      pass: pushes.every((p) => p.updated === n && p.maxMs <= TARGET_MS) && problems === 0,
    };
  } finally {
    await Promise.all(sidecars.map((s) => s.child && stopTracked(s.child)));
    await stopTracked(daemon);
  }
}

const context = machineContext();
const { root, env } = await benchSandbox('hotpull-bench-fleet-');
progress(
  `node ${context.node}, git ${context.git}, nproc ${context.nproc}, load average ${context.loadavgStart.join(' ')}`,
);
const results = [];
for (const n of SIZES) results.push(await fleet(n, root, env, context));
context.loadavgEnd = os.loadavg().map((x) => round(x));

console.log(
  `hotpull fleet bench: node ${context.node}, git ${context.git}, nproc ${context.nproc}; load average ${context.loadavgStart.join(' ')} at the start, ${context.loadavgEnd.join(' ')} at the end`,
);
console.log(
  `N sidecars, hotpull run --interval 1s, one git daemon on 127.0.0.1 (--max-connections=${argv['max-connections']}, 0 = no limit); idle window ${IDLE_SECONDS} s, ${PUSHES} pushes; target: every checkout updated within ${TARGET_MS} ms, no warning or error logged`,
);
console.log('');
console.log(
  table(
    [
      'N',
      'conn/s',
      'git procs/s',
      'server CPU %',
      'peak/100ms in step',
      'peak/100ms later',
      'mean/100ms',
      'RSS sum MB',
      'PSS sum MB',
      'anon sum MB',
      'RSS each',
      'PSS each',
    ],
    results.map((r) => [
      r.n,
      r.idle.connectionsPerSecond,
      r.idle.gitProcessesPerSecond,
      r.idle.serverCpuPercent,
      r.idle.peakInStep,
      r.idle.peakAtEnd,
      r.idle.meanPerBucket,
      r.idle.rssSumMB,
      r.idle.pssSumMB,
      r.idle.anonSumMB,
      r.idle.rssEachMB,
      r.idle.pssEachMB,
    ]),
  ),
);
console.log('');
console.log(
  table(
    ['N', 'push', 'updated', 'p50 ms', 'p90 ms', 'max ms', 'peak conn/100ms', 'target'],
    results.flatMap((r) =>
      r.pushes.map((p, i) => [
        r.n,
        i + 1,
        `${p.updated}/${r.n}`,
        p.p50Ms,
        p.p90Ms,
        p.maxMs,
        p.peak,
        p.updated === r.n && p.maxMs <= TARGET_MS ? 'ok' : 'MISSED',
      ]),
    ),
  ),
);
console.log('');
for (const r of results) {
  console.log(
    `  N=${r.n}: ${r.problems} warnings/errors in the sidecars' logs${r.firstProblem ? `; first: ${r.firstProblem}` : ''}; ${r.overflows} connections dropped by a full listen queue (whole machine); ${r.pass ? 'PASS' : 'FAIL'}`,
  );
}
console.log(
  "  (git daemon listens with a backlog of 5: a SYN it drops is retried by the client after 1, 3, 7… s, which a poll's own",
);
console.log(
  '   timeout of max(5 intervals, 10 s) bounds; ListenOverflows counts every socket of the machine, not only this daemon.)',
);
console.log(
  '  (a connection is one forked git daemon child running git upload-pack: two processes on the server. PSS splits the',
);
console.log(
  "   pages a process shares, the node binary above all, between the processes that map them: the fleet's real cost.)",
);
console.log('');
console.log(
  JSON.stringify({
    bench: 'fleet',
    context,
    intervalMs: INTERVAL_MS,
    targetMs: TARGET_MS,
    idleSeconds: IDLE_SECONDS,
    results,
  }),
);
