#!/usr/bin/env node
// Where a webhook deploy's time goes in hotpull itself, without an app server: `hotpull run --listen` with a FIFO
// reload whose other end this bench reads (it stands for uWSGI's master FIFO). For each push: git push, then a
// GitHub-signed webhook POST; times from the end of the push to the 202, to the `r` arriving on the FIFO, and the
// stages hotpull logs for the deploy (fetch, apply, reload). The daemon's event-loop delay over the run comes from a
// small --import module (perf_hooks.monitorEventLoopDelay), written to a file every second.
// --trace-git puts a `git` first on the daemon's PATH that logs each command's start and end (bash, no extra
// process): which git commands a deploy runs and how long each took from spawn to exit, and what is left between them.
// Run: node bench/webhook.mjs [--pushes N] [--v8-flags shipped|none] [--trace-git] [--load N] (npm run build first).
// --load N keeps N busy loops running during the pushes (bench/lib.mjs startLoad): the target's load average on purpose. Shipped: the V8 flags of
// the installed entry's #! line (dist/bin.js); none: plain node, to see what the flags cost the deploy path. Needs git, Linux (mkfifo).
// Compare with machine load (printed): on an idle machine hotpull's share is a few tens of ms.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, openSync, closeSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  benchSandbox,
  cloneCheckout,
  git,
  machineContext,
  makeRemote,
  pushCommit,
  round,
  run,
  shippedNodeFlags,
  sleep,
  spawnTracked,
  startLoad,
  stopTracked,
  summarize,
  table,
} from './lib.mjs';

const { values: argv } = parseArgs({
  options: {
    pushes: { type: 'string', default: '10' },
    'v8-flags': { type: 'string', default: 'shipped' },
    'trace-git': { type: 'boolean', default: false },
    load: { type: 'string', default: '0' },
  },
  strict: true,
});
const PUSHES = Number(argv.pushes);
const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build first (npm run build)`);
if (!['shipped', 'none'].includes(argv['v8-flags']))
  throw new Error(`--v8-flags must be shipped or none (got ${argv['v8-flags']})`);
const NODE_FLAGS = argv['v8-flags'] === 'shipped' ? shippedNodeFlags(BIN) : [];
const progress = (text) => process.stderr.write(`bench: ${text}\n`);

const MONITOR = `
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
const h = monitorEventLoopDelay({ resolution: 10 });
h.enable();
setInterval(() => writeFileSync(process.env.BENCH_LOOP_FILE, JSON.stringify({ p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 })), 1000).unref();
`;

const context = machineContext();
const { root, env } = await benchSandbox('hotpull-bench-webhook-');
const { bare, author } = await makeRemote(root, env, { 'app.py': 'VERSION = 0\n' });
const checkout = await cloneCheckout(root, env, bare, 'checkout');
const fifo = path.join(root, 'master.fifo');
await run('mkfifo', [fifo]);
const monitor = path.join(root, 'monitor.mjs');
await writeFile(monitor, MONITOR);
const loopFile = path.join(root, 'loop.json');

// The FIFO's reader, as uWSGI's master would be: every byte's arrival time.
const arrivals = [];
// Opened read-write (no EOF when a writer closes) as a socket: polled by the event loop, not read in the thread pool,
// where a blocking FIFO read would keep the process from ever exiting.
const reader = new net.Socket({ fd: openSync(fifo, 'r+'), readable: true, writable: false });
reader.on('data', (chunk) => arrivals.push(...[...chunk.toString()].map(() => performance.now())));

// A git wrapper that logs `start end subcommand` (epoch seconds, µs) per command hotpull runs.
const traceFile = path.join(root, 'git-trace.log');
const traceDir = path.join(root, 'trace-bin');
if (argv['trace-git']) {
  const realGit = (await run('sh', ['-c', 'command -v git'], { env })).stdout.trim();
  await run('mkdir', ['-p', traceDir]);
  await writeFile(
    path.join(traceDir, 'git'),
    `#!/bin/bash
s=$EPOCHREALTIME; sub=; skip=
for a in "$@"; do if [ -n "$skip" ]; then skip=; elif [ "$a" = -c ] || [ "$a" = -C ]; then skip=1; elif [ -z "$sub" ] && [ "\${a#-}" = "$a" ]; then sub=$a; fi; done
${realGit} "$@"; rc=$?
echo "$s $EPOCHREALTIME $sub" >> ${traceFile}
exit $rc
`,
    { mode: 0o755 },
  );
}
const gitTrace = async () =>
  (await readFile(traceFile, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [start, end, sub] = l.split(' ');
      return { start: Number(start) * 1000, end: Number(end) * 1000, sub };
    });

const secret = randomBytes(20).toString('hex');
const logFile = path.join(root, 'hotpull.log');
const fd = openSync(logFile, 'a');
const child = spawnTracked(
  process.execPath,
  [
    ...NODE_FLAGS,
    '--import',
    pathToFileURL(monitor).href,
    BIN,
    'run',
    '--repo',
    checkout,
    '--interval',
    '60s',
    '--listen',
    '127.0.0.1:0',
    '--reload',
    `uwsgi-fifo:${fifo}:r`,
    '--log-format',
    'json',
  ],
  {
    env: {
      ...env,
      HOTPULL_WEBHOOK_SECRET: secret,
      BENCH_LOOP_FILE: loopFile,
      ...(argv['trace-git'] ? { PATH: `${traceDir}:${env.PATH}` } : {}),
    },
    stdio: ['ignore', fd, fd],
    detached: true,
  },
);
closeSync(fd);
const logLines = async () =>
  (await readFile(logFile, 'utf8'))
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
let url;
for (let i = 0; i < 300 && !url; i++) {
  url = (await logLines()).find((l) => l.msg?.startsWith('listening on'))?.url;
  if (!url) await sleep(100);
}
if (!url) throw new Error(`hotpull did not start listening; see ${logFile}`);
progress(`node ${context.node}, load average ${context.loadavgStart.join(' ')}; hotpull at ${url}`);

const load = await startLoad(Number(argv.load), progress);
const rows = [];
let before = await git(author, env, 'rev-parse', 'HEAD');
try {
  for (let p = 1; p <= PUSHES + 1; p++) {
    const sha = await pushCommit(author, env, p);
    const pushed = performance.now();
    const pushedEpoch = Date.now();
    const body = Buffer.from(
      JSON.stringify({
        ref: 'refs/heads/main',
        before,
        after: sha,
        repository: { full_name: 'bench/app' },
        head_commit: { id: sha },
      }),
    );
    before = sha;
    const n = arrivals.length;
    const response = await fetch(`${url}/webhook`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
      },
    });
    const acked = performance.now();
    if (response.status !== 202) throw new Error(`webhook answered ${response.status}: ${await response.text()}`);
    while (arrivals.length === n && performance.now() - pushed < 30_000) await sleep(2);
    const reloaded = arrivals[n];
    let deployed;
    for (let i = 0; i < 300 && !deployed; i++) {
      deployed = (await logLines()).find((l) => l.msg?.startsWith('deployed') && l.msg.includes(sha.slice(0, 7)));
      if (!deployed) await sleep(20);
    }
    if (p === 1) continue; // warm-up
    const d = /in (\d+)ms \(detect (\d+)ms, fetch (\d+)ms, apply (\d+)ms, reload (\d+)ms/.exec(deployed?.msg ?? '');
    const row = {
      ack: acked - pushed,
      reload: reloaded - pushed,
      total: Number(d?.[1]),
      detect: Number(d?.[2]),
      fetch: Number(d?.[3]),
      apply: Number(d?.[4]),
      reloadStage: Number(d?.[5]),
    };
    if (argv['trace-git']) {
      // the git commands between the push and the `r`, each as [subcommand, ms from the push to its start, its ms]
      const until = pushedEpoch + (reloaded - pushed);
      row.git = (await gitTrace())
        .filter((g) => g.start >= pushedEpoch && g.start < until && g.sub !== 'ls-remote')
        .map((g) => [g.sub, round(g.start - pushedEpoch, 1), round(g.end - g.start, 1)]);
      // time covered by at least one git command (they can overlap: the dirty check beside the fetch)
      let covered = 0;
      let edge = pushedEpoch;
      for (const [, at, ms] of [...row.git].sort((a, b) => a[1] - b[1])) {
        const from = Math.max(edge, pushedEpoch + at);
        const to = pushedEpoch + at + ms;
        if (to > from) covered += to - from;
        edge = Math.max(edge, to);
      }
      row.inGit = covered;
      row.outsideGit = row.reload - covered;
    }
    rows.push(row);
    progress(
      `push ${p - 1}/${PUSHES}: ${JSON.stringify(rows.at(-1), (k, v) => (typeof v === 'number' ? round(v, 1) : v))}`,
    );
    await sleep(500);
  }
} finally {
  await stopTracked(child);
  reader.destroy();
}
const loop = JSON.parse(await readFile(loopFile, 'utf8').catch(() => '{}'));
context.loadavgEnd = os.loadavg().map((x) => round(x));
context.load = load.sampled();
const stat = (key) => summarize(rows.map((r) => r[key]));
const lines = [
  ['  push → 202 from the listener', 'ack'],
  ['  push → `r` on the FIFO', 'reload'],
  ["  hotpull's logged deploy total (from the trigger)", 'total'],
  ['    detect (a webhook pass fetches straight away: the fetch of one ref, the dirty check beside it)', 'detect'],
  ['    fetch (0 for a webhook pass: done in detect)', 'fetch'],
  ['    apply (merge --ff-only and the record)', 'apply'],
  ['    reload (the FIFO write)', 'reloadStage'],
  ...(argv['trace-git']
    ? [
        ['  push → `r`: inside git commands (spawn to exit)', 'inGit'],
        ['  push → `r`: outside them (HTTP, JavaScript, waiting for a core)', 'outsideGit'],
      ]
    : []),
].map(([label, key]) => [label, ...['median', 'p90', 'min', 'max'].map((k) => round(stat(key)[k], 1))]);
console.log(
  `hotpull webhook bench: node ${context.node}, git ${context.git}, nproc ${context.nproc}; load average ${context.loadavgStart.join(' ')} at the start, ${context.loadavgEnd.join(' ')} at the end${context.load ? `; with --load ${argv.load}, ${context.load.min}–${context.load.max} during the pushes` : ''}`,
);
console.log(
  `${PUSHES} pushes (after one warm-up), each a git push then a signed webhook; FIFO read by this bench in place of uWSGI; node flags: ${NODE_FLAGS.join(' ') || 'none'}`,
);
console.log(table(['ms', 'median', 'p90', 'min', 'max'], lines));
if (argv['trace-git']) {
  const bySub = new Map();
  for (const r of rows) for (const [sub, , ms] of r.git) bySub.set(sub, [...(bySub.get(sub) ?? []), ms]);
  console.log(
    `  git commands per deploy: ${round(rows.reduce((a, r) => a + r.git.length, 0) / rows.length, 1)}; each, median ms (count): ${[...bySub].map(([sub, ms]) => `${sub} ${round(summarize(ms).median, 1)} (${ms.length})`).join(', ')}`,
  );
  console.log(`  one deploy's git commands [name, ms after the push, ms]: ${JSON.stringify(rows.at(-1)?.git)}`);
}
console.log(
  `  hotpull's event-loop delay over the run: p50 ${round(loop.p50, 1)} ms, p99 ${round(loop.p99, 1)} ms, max ${round(loop.max, 1)} ms`,
);
console.log(JSON.stringify({ bench: 'webhook', context, pushes: PUSHES, rows, eventLoopDelayMs: loop }));
