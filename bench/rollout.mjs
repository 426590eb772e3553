#!/usr/bin/env node
// A staged rollout over 50 replicas on this machine (issue 28): 1 canary and 49 followers, each a real
// `hotpull run --interval 1s --listen 127.0.0.1:0` process on its own checkout of one bare repo on disk, verified
// by a health URL (one tiny HTTP server on a worker thread, 200 for all); the followers run with --after the
// canary's listener and --after-bake (5 s by default). The bench pushes once and prints, per stage:
//   push → canary live             the canary's deploy record: when its verification passed
//   canary live → bake done        each follower's "applying it here" log line (its after step let it through)
//   → first follower live, → all   the followers' deploy records (verified), p50 and max
// and `hotpull fleet --peers-file F --json` (whole process) over the 50 listeners: at rest before the push, once
// while the followers wait, and once all are on the new revision (--view-runs times at rest and at the end, the
// median), beside a reference (`hotpull fleet --help`: node's start and the CLI alone) and the same round in this
// process. Target: the fleet view within 1 s.
// Run: node bench/rollout.mjs [--followers 49] [--after-bake 5s] [--batch 10] [--view-runs 5] (npm run build first). Needs git and
// Linux /proc. A table goes to stdout, then the figures as one JSON object on the last line; progress on stderr.
// Everything runs in one mkdtemp directory, removed at the end; every process started is stopped by pid.
import { closeSync, existsSync, openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import {
  benchSandbox,
  cloneCheckout,
  machineContext,
  makeRemote,
  percentile,
  pushCommit,
  round,
  shippedNodeFlags,
  sleep,
  spawnTracked,
  stopTracked,
  table,
} from './lib.mjs';

const { values: argv } = parseArgs({
  options: {
    followers: { type: 'string', default: '49' },
    'after-bake': { type: 'string', default: '5s' },
    batch: { type: 'string', default: '10' },
    'view-runs': { type: 'string', default: '5' },
  },
  strict: true,
});
const FOLLOWERS = Number(argv.followers);
const BAKE = argv['after-bake'];
const BATCH = Number(argv.batch);
const VIEW_RUNS = Number(argv['view-runs']);
if (!Number.isInteger(FOLLOWERS) || FOLLOWERS < 1 || !Number.isInteger(BATCH) || BATCH < 1)
  throw new Error('--followers and --batch: positive integers');

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build first (npm run build)`);
const NODE_FLAGS = shippedNodeFlags(BIN);
const progress = (text) => process.stderr.write(`bench: ${text}\n`);
const TARGET_VIEW_MS = 1000;

/** The JSON log lines of a sidecar's log file. */
async function records(file) {
  return (await readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

async function waitForRecord(file, match, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = (await records(file)).find(match);
    if (found) return found;
    await sleep(100);
  }
  throw new Error(`timed out waiting in ${file}`);
}

/** HEAD of a checkout from its files (no git process: 50 of them are read every 100 ms). */
async function headOf(checkout) {
  const head = (await readFile(path.join(checkout, '.git', 'HEAD'), 'utf8')).trim();
  if (!head.startsWith('ref: ')) return head;
  return (await readFile(path.join(checkout, '.git', head.slice(5)), 'utf8').catch(() => '')).trim();
}

const statusOf = async (url) => (await fetch(new URL('status', url))).json();

/** `hotpull fleet --peers-file F --json`, whole process: wall ms, exit code, and how many rows it printed. */
function fleetView(file, env, args = ['--peers-file', file, '--json']) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawnTracked(process.execPath, [...NODE_FLAGS, BIN, 'fleet', ...args], {
      env,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = round(performance.now() - started);
      let rows;
      try {
        rows = JSON.parse(out).replicas?.length;
      } catch {
        rows = undefined;
      }
      resolve({ ms, code, rows });
    });
  });
}

/** The same round in this process (dist/fleet/round.js): the view without node's start. */
async function fleetRoundMs(file) {
  const { fleetRound } = await import(new URL('../dist/fleet/round.js', import.meta.url).href);
  const started = performance.now();
  const view = await fleetRound({ urls: [], peersFile: file, sources: [], timeoutMs: 2000 });
  return { ms: round(performance.now() - started), code: view.exitCode, rows: view.rows.length };
}

/**
 * The view at one moment, `runs` times in a row: the reference (`hotpull fleet --help`: node's start and the CLI),
 * the CLI over every listener, the round in this process; the median of each (and the CLI's max).
 */
async function views(file, env, runs) {
  const samples = { reference: [], cli: [], round: [] };
  let last;
  for (let i = 0; i < runs; i++) {
    samples.reference.push((await fleetView(file, env, ['--help'])).ms);
    last = await fleetView(file, env);
    samples.cli.push(last.ms);
    samples.round.push((await fleetRoundMs(file)).ms);
  }
  const median = (xs) => round(percentile(xs, 50));
  return {
    runs,
    reference: median(samples.reference),
    cli: median(samples.cli),
    cliMax: round(Math.max(...samples.cli)),
    round: median(samples.round),
    code: last.code,
    rows: last.rows,
  };
}

const context = machineContext();
const { root, env } = await benchSandbox('hotpull-bench-rollout-');
progress(
  `node ${context.node}, git ${context.git}, nproc ${context.nproc}, load average ${context.loadavgStart.join(' ')}`,
);

// the health URL every replica checks: 200, on its own thread so the bench's polling cannot delay it
const health = new Worker(
  `import http from 'node:http'; import { parentPort } from 'node:worker_threads';
   const server = http.createServer((_q, r) => r.end('ok\\n'));
   server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));`,
  { eval: true },
);
const healthUrl = `http://127.0.0.1:${await new Promise((resolve) => health.once('message', resolve))}/`;

const { bare, author } = await makeRemote(root, env, { 'app.py': 'VERSION = 0\n' });
const replicas = [];
progress(`${FOLLOWERS + 1} checkouts`);
for (let i = 0; i <= FOLLOWERS; i++) {
  const name = i === 0 ? 'canary' : `f${i}`;
  replicas.push({ name, checkout: await cloneCheckout(root, env, bare, name), log: path.join(root, `${name}.log`) });
}
const [canary, ...followers] = replicas;

function start(replica, extra) {
  const fd = openSync(replica.log, 'a');
  replica.child = spawnTracked(
    process.execPath,
    [
      ...NODE_FLAGS,
      BIN,
      'run',
      '--repo',
      replica.checkout,
      '--interval',
      '1s',
      '--listen',
      '127.0.0.1:0',
      '--health-url',
      healthUrl,
      '--health-settle',
      '200ms',
      '--log-format',
      'json',
      ...extra,
    ],
    { env, stdio: ['ignore', fd, fd], detached: true },
  );
  closeSync(fd);
}
const listening = async (replica) =>
  (replica.url = (await waitForRecord(replica.log, (r) => String(r.msg).startsWith('listening on '), 120_000)).url);

const results = {};
try {
  start(canary, []);
  await listening(canary);
  progress(`canary listens at ${canary.url}; starting ${FOLLOWERS} followers, ${BATCH} at a time`);
  for (let i = 0; i < followers.length; i += BATCH) {
    const batch = followers.slice(i, i + BATCH);
    for (const f of batch) start(f, ['--after', canary.url, '--after-bake', BAKE]);
    await Promise.all(batch.map(listening));
  }
  const peersFile = path.join(root, 'peers');
  await writeFile(peersFile, `${replicas.map((r) => r.url).join('\n')}\n`);
  // every replica idle after its first pass before the push
  for (const r of replicas) {
    for (;;) {
      const s = await statusOf(r.url).catch(() => undefined);
      if (s?.state === 'idle' && s.lastSuccessAt) break;
      await sleep(200);
    }
  }
  await sleep(2000);
  const loadBefore = os.loadavg().map((x) => round(x));
  progress(`all ${replicas.length} idle (load average ${loadBefore.join(' ')}); fleet view at rest`);
  results.viewAtRest = await views(peersFile, env, VIEW_RUNS);

  const sha = await pushCommit(author, env, 1);
  const pushedAt = Date.now();
  progress(`pushed ${sha.slice(0, 7)}`);
  // while they wait: once the canary's checkout has it, ask the fleet view (the followers are held)
  while ((await headOf(canary.checkout)) !== sha) await sleep(50);
  results.viewDuringRollout = await views(peersFile, env, 1);
  const seen = new Set();
  const deadline = performance.now() + 180_000;
  while (seen.size < followers.length && performance.now() < deadline) {
    for (const f of followers) if (!seen.has(f) && (await headOf(f.checkout)) === sha) seen.add(f);
    await sleep(100);
  }
  if (seen.size < followers.length) progress(`only ${seen.size} of ${followers.length} followers moved within 180 s`);

  // the figures, from the replicas' own records: when each deploy was verified live, when each follower's after
  // step let the revision through
  const verifiedAt = async (r) => {
    for (;;) {
      const s = await statusOf(r.url);
      const record = s.deploys?.find((d) => d.to === sha);
      if (record?.result === 'live') return Date.parse(record.stages?.verified ?? record.at);
      if (record && record.result !== 'live') throw new Error(`${r.name}: ${record.result} ${record.error ?? ''}`);
      await sleep(200);
    }
  };
  const canaryLive = await verifiedAt(canary);
  const followerLive = await Promise.all([...seen].map(verifiedAt));
  const applying = await Promise.all(
    [...seen].map(async (f) => {
      const line = (await records(f.log)).find((r) => String(r.msg).includes('applying it here'));
      return line ? Date.parse(line.time) : NaN;
    }),
  );
  results.viewAllLive = await views(peersFile, env, VIEW_RUNS);
  const fromCanary = followerLive.map((t) => t - canaryLive);
  const bakeDone = applying.filter(Number.isFinite).map((t) => t - canaryLive);
  results.stages = {
    pushToCanaryLiveMs: canaryLive - pushedAt,
    canaryLiveToBakeDone: {
      firstMs: Math.min(...bakeDone),
      p50Ms: percentile(bakeDone, 50),
      maxMs: Math.max(...bakeDone),
    },
    canaryLiveToFirstFollowerLiveMs: Math.min(...fromCanary),
    canaryLiveToAllFollowersLive: { p50Ms: percentile(fromCanary, 50), maxMs: Math.max(...fromCanary) },
    pushToAllLiveMs: Math.max(...followerLive) - pushedAt,
    followersLive: seen.size,
  };
  results.loadBefore = loadBefore;
  results.loadAfter = os.loadavg().map((x) => round(x));
  let problems = 0;
  for (const r of replicas) problems += (await records(r.log)).filter((x) => x.level >= 50).length;
  results.errorsLogged = problems;
} finally {
  await Promise.all(replicas.filter((r) => r.child).map((r) => stopTracked(r.child)));
  await health.terminate();
}

const s = results.stages;
const b = s.canaryLiveToBakeDone;
const all = s.canaryLiveToAllFollowersLive;
console.log(
  `hotpull staged rollout: 1 canary + ${FOLLOWERS} followers (real hotpull run processes, --interval 1s, --after the canary, --after-bake ${BAKE}); node ${context.node}, git ${context.git}, nproc ${context.nproc}; load average ${results.loadBefore.join(' ')} before the push, ${results.loadAfter.join(' ')} after`,
);
console.log('');
console.log(
  table(
    ['stage', 'ms'],
    [
      ['push → canary live (verified)', s.pushToCanaryLiveMs],
      ['canary live → after-bake done (first follower lets it through)', b.firstMs],
      ['canary live → after-bake done, p50 / max of followers', `${b.p50Ms} / ${b.maxMs}`],
      ['canary live → first follower live', s.canaryLiveToFirstFollowerLiveMs],
      [`canary live → all ${FOLLOWERS} followers live, p50 / max`, `${all.p50Ms} / ${all.maxMs}`],
      [`push → all ${FOLLOWERS + 1} live`, s.pushToAllLiveMs],
    ],
  ),
);
console.log('');
console.log(
  table(
    [
      `hotpull fleet --peers-file (${FOLLOWERS + 1} listeners)`,
      'runs',
      'cli --json median ms',
      'cli max',
      'exit',
      'rows',
      'reference (fleet --help) median',
      'round in-process median',
      'target (cli)',
    ],
    [
      ['at rest, before the push', ...viewRow(results.viewAtRest)],
      ['during the rollout (followers held)', ...viewRow(results.viewDuringRollout)],
      ['all on the new revision', ...viewRow(results.viewAllLive)],
    ],
  ),
);
console.log('');
console.log(`  ${s.followersLive}/${FOLLOWERS} followers live; ${results.errorsLogged} errors logged by the replicas`);
console.log(JSON.stringify({ bench: 'rollout', context, followers: FOLLOWERS, afterBake: BAKE, results }));

function viewRow(v) {
  return [
    v.runs,
    v.cli,
    v.cliMax,
    v.code,
    v.rows,
    v.reference,
    v.round,
    v.cli <= TARGET_VIEW_MS ? 'ok (<= 1000)' : 'MISSED (<= 1000)',
  ];
}
