#!/usr/bin/env node
// Dev-mode figures for `hotpull watch` (one fs.watch per directory on Linux) on this machine:
//   1. write-to-reload: time from writing app.py to uwsgi.ini's mtime changing (the touch reload), median of
//      --saves saves, at the default 150 ms debounce and at 0 ms (what the watcher itself adds)
//   2. a generated tree of 50,000 files in 5,000 directories: time to ready, RSS and inotify watches of
//      `hotpull watch` beside `inotifywait -m -r` (inotify-tools), chokidar 5 with its defaults and Node's own
//      `fs.watch(dir, { recursive: true })` on the same tree, in the same run, rounds alternating which goes
//      first; then write-to-reload on that tree
//   3. with --limit N: `hotpull watch` on the tree in a user namespace whose inotify watch limit is N (unshare -U -r),
//      to show the line it prints when the limit is hit
// Run: node bench/watch.mjs [--saves N] [--tree-rounds N] [--files N] [--dirs N] [--references LIST] [--limit N] [--v8-flags shipped|none]
// (npm run build first); --references is a comma-separated subset of inotifywait,chokidar,recursive (or none).
// Needs dist/ (npx tsc -p .), inotifywait and Linux /proc. A table goes to stdout, then the same figures as one
// JSON object on the last line; progress goes to stderr. Everything runs in one mkdtemp directory, removed at the end.
import { existsSync, watch as fsWatch } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  readCpuTicks,
  readStatusKb,
  removeAtExit,
  round,
  shippedNodeFlags,
  sleep,
  spawnTracked,
  stopTracked,
  summarize,
  table,
} from './lib.mjs';

const DEBOUNCE_MS = 150;
const LATENCY_SLACK_MS = 20; // target: write-to-reload within debounce + 20 ms
const READY_TARGET_MS = 1000;
const RSS_TARGET_MB = 100;
const PAUSE_MS = 250; // between saves, so each save is its own burst
const ROUND_TIMEOUT_MS = 5000;

const { values: argv } = parseArgs({
  options: {
    saves: { type: 'string', default: '50' },
    'tree-rounds': { type: 'string', default: '3' },
    files: { type: 'string', default: '50000' },
    dirs: { type: 'string', default: '5000' },
    references: { type: 'string', default: 'inotifywait,chokidar,recursive' },
    limit: { type: 'string', default: '0' },
    'v8-flags': { type: 'string', default: 'shipped' },
  },
  strict: true,
});
const count = (name, min) => {
  const n = Number(argv[name]);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min} (got ${argv[name]})`);
  return n;
};
const SAVES = count('saves', 1);
const TREE_ROUNDS = count('tree-rounds', 1);
const FILES = count('files', 1);
const DIRS = count('dirs', 1);
const LIMIT = count('limit', 0);
const REFERENCES = argv.references === 'none' ? [] : argv.references.split(',');
for (const r of REFERENCES)
  if (!['inotifywait', 'chokidar', 'recursive'].includes(r)) throw new Error(`--references: unknown ${r}`);

const CLI = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build)`);
if (!['shipped', 'none'].includes(argv['v8-flags']))
  throw new Error(`--v8-flags must be shipped or none (got ${argv['v8-flags']})`);
// shipped: the V8 flags of the installed entry's #! line; none: plain node
const NODE_FLAGS = argv['v8-flags'] === 'shipped' ? shippedNodeFlags(CLI) : [];

const progress = (text) => process.stderr.write(`bench: ${text}\n`);
const mb = (kb) => round(kb / 1024, 1);
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('HOTPULL_') && !k.startsWith('CHOKIDAR_')),
);

// ---------------------------------------------------------------------------------------------------------

/** Resolves with the first line of `stream` matching `re`, or rejects after timeoutMs. */
function waitForLine(stream, re, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      stream.off('data', onData);
      reject(new Error(`timed out after ${timeoutMs}ms waiting for ${what}; output so far: ${buffer.slice(-500)}`));
    }, timeoutMs);
    function onData(chunk) {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((l) => re.test(l));
      if (line !== undefined) {
        clearTimeout(timer);
        stream.off('data', onData);
        resolve(line);
      }
    }
    stream.on('data', onData);
  });
}

/** inotify watches a process holds: one `inotify wd:` line per watch in /proc/PID/fdinfo of its inotify fds. */
async function inotifyWatches(pid) {
  let watches = 0;
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    if (target !== 'anon_inode:inotify') continue;
    const info = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => '');
    watches += info.split('\n').filter((l) => l.startsWith('inotify wd:')).length;
  }
  return watches;
}

async function startHotpull(repo, extra = []) {
  const started = performance.now();
  const child = spawnTracked(
    process.execPath,
    [...NODE_FLAGS, CLI, 'watch', '--repo', repo, '--log-format', 'json', ...extra],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stderr.on('data', (b) => progress(`hotpull stderr: ${b.toString().trim()}`));
  const line = await waitForLine(child.stdout, /for changes \(.*\), ready in/, 120_000, 'hotpull to be ready');
  const readyMs = performance.now() - started;
  return { child, readyMs, selfReportedMs: JSON.parse(line).readyMs, cpuMs: await cpuMs(child.pid) };
}

/** CPU time (user + system) a process has used so far: on a busy machine, what its wall time would be on an idle one. */
async function cpuMs(pid) {
  const { utime, stime } = await readCpuTicks(pid);
  return (utime + stime) * 10; // CLK_TCK 100
}

async function startInotifywait(tree) {
  const started = performance.now();
  const child = spawnTracked('inotifywait', ['-m', '-r', '-e', 'modify,attrib,close_write,move,create,delete', tree], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await waitForLine(child.stderr, /Watches established/, 120_000, 'inotifywait to be ready');
  return { child, readyMs: performance.now() - started, cpuMs: await cpuMs(child.pid) };
}

/**
 * Write-to-reload: writes `file`, waits for `reloadFile`'s mtime to change (heard through fs.watch on it, then
 * confirmed with a stat), `saves` times. Returns ms samples; a save that never reloaded counts as a miss.
 */
async function writeToReload(file, reloadFile, saves) {
  const samples = [];
  let misses = 0;
  let lastMtime = (await stat(reloadFile)).mtimeMs;
  let onChange;
  const watcher = fsWatch(reloadFile, () => onChange?.());
  try {
    for (let i = 0; i < saves; i++) {
      const changed = new Promise((resolve) => {
        const timer = setTimeout(() => resolve(undefined), ROUND_TIMEOUT_MS);
        onChange = async () => {
          const now = performance.now();
          const { mtimeMs } = await stat(reloadFile);
          if (mtimeMs !== lastMtime) {
            lastMtime = mtimeMs;
            clearTimeout(timer);
            resolve(now);
          }
        };
      });
      const t0 = performance.now();
      await writeFile(file, `VERSION = ${i}\n`);
      const t1 = await changed;
      onChange = undefined;
      if (t1 === undefined) misses += 1;
      else samples.push(t1 - t0);
      await sleep(PAUSE_MS);
    }
  } finally {
    watcher.close();
  }
  return { ...summarize(samples.length ? samples : [NaN]), misses };
}

/** `dirs` directories (a tenth of them at the top, the rest one level below), `files` spread evenly. */
async function generateTree(root, files, dirs) {
  const top = Math.max(1, Math.round(dirs / 100));
  const all = [];
  for (let t = 0; t < top; t++) {
    const dir = path.join(root, `pkg${String(t).padStart(3, '0')}`);
    all.push(dir);
    for (let s = 0; s < Math.ceil(dirs / top) - 1 && all.length < dirs; s++)
      all.push(path.join(dir, `sub${String(s).padStart(3, '0')}`));
  }
  for (const dir of all) await mkdir(dir, { recursive: true });
  const writes = [];
  for (let i = 0; i < files; i++) {
    writes.push(writeFile(path.join(all[i % all.length], `m${i}.py`), `X = ${i}\n`));
    if (writes.length >= 256) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
  await writeFile(path.join(root, 'uwsgi.ini'), '[uwsgi]\n');
  return all;
}

async function measureHotpullTree(tree) {
  const { child, readyMs, selfReportedMs, cpuMs: cpu } = await startHotpull(tree);
  const rss = await readStatusKb(child.pid, 'VmRSS');
  const hwm = await readStatusKb(child.pid, 'VmHWM');
  const watches = await inotifyWatches(child.pid);
  return {
    child,
    result: { readyMs: round(readyMs), cpuMs: cpu, selfReportedMs, rssMB: mb(rss), peakRssMB: mb(hwm), watches },
  };
}

/** A Node script that watches the tree and prints "ready" once its watcher is set up, measured like the others. */
async function measureScript(tree, script, what) {
  const started = performance.now();
  const child = spawnTracked(process.execPath, ['--input-type=module', '-e', script, tree], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await waitForLine(child.stdout, /^ready/, 180_000, `${what} to be ready`);
  const readyMs = performance.now() - started;
  const cpu = await cpuMs(child.pid);
  // Node's recursive watch keeps adding (and reporting) as it goes: let it settle before RSS is read.
  await sleep(500);
  const result = {
    readyMs: round(readyMs),
    cpuMs: cpu,
    rssMB: mb(await readStatusKb(child.pid, 'VmRSS')),
    peakRssMB: mb(await readStatusKb(child.pid, 'VmHWM')),
    watches: await inotifyWatches(child.pid),
  };
  await stopTracked(child);
  return result;
}

/** chokidar 5 with its defaults (a watch on every file as well as every directory), for scale. */
function measureChokidarDefaults(tree) {
  const chokidar = new URL('../node_modules/chokidar/index.js', import.meta.url).href;
  return measureScript(
    tree,
    `import { watch } from ${JSON.stringify(chokidar)};
watch(process.argv[1], { ignoreInitial: true }).on('ready', () => process.stdout.write('ready\\n'));`,
    'chokidar',
  );
}

/** Node's own recursive fs.watch (on Linux since Node 20: a JS walk that stat()s and watches every file and directory). */
function measureRecursive(tree) {
  return measureScript(
    tree,
    `import { watch } from 'node:fs';
let events = 0;
watch(process.argv[1], { recursive: true }, () => events++);
process.stdout.write('ready\\n');
setTimeout(() => process.stderr.write('bench: fs.watch recursive reported ' + events + ' events for files that already existed\\n'), 400);`,
    'fs.watch recursive',
  );
}

async function measureInotifywait(tree) {
  const { child, readyMs, cpuMs: cpu } = await startInotifywait(tree);
  const rss = await readStatusKb(child.pid, 'VmRSS');
  const hwm = await readStatusKb(child.pid, 'VmHWM');
  const watches = await inotifyWatches(child.pid);
  await stopTracked(child);
  return { readyMs: round(readyMs), cpuMs: cpu, rssMB: mb(rss), peakRssMB: mb(hwm), watches };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

// ---------------------------------------------------------------------------------------------------------

const root = await mkdtemp(path.join(os.tmpdir(), 'hotpull-bench-watch-'));
removeAtExit(root);
const limit = Number((await readFile('/proc/sys/fs/inotify/max_user_watches', 'utf8')).trim());
const loadStart = os.loadavg().map((x) => round(x));
progress(
  `node ${process.version}, ${os.cpus().length} cores, fs.inotify.max_user_watches=${limit}, load average ${loadStart.join(' ')}, temp dir ${root}`,
);

// 1. write-to-reload on a small app
const app = path.join(root, 'app');
await mkdir(path.join(app, 'pkg'), { recursive: true });
await writeFile(path.join(app, 'uwsgi.ini'), '[uwsgi]\nmodule = app\n');
await writeFile(path.join(app, 'app.py'), 'VERSION = 0\n');
for (let i = 0; i < 100; i++) await writeFile(path.join(app, 'pkg', `mod${i}.py`), `def f():\n    return ${i}\n`);
const latency = {};
for (const debounce of [DEBOUNCE_MS, 0]) {
  progress(`write-to-reload, debounce ${debounce}ms: ${SAVES} saves`);
  const { child } = await startHotpull(app, ['--debounce', `${debounce}ms`]);
  await sleep(300);
  latency[`debounce${debounce}ms`] = await writeToReload(path.join(app, 'app.py'), path.join(app, 'uwsgi.ini'), SAVES);
  await stopTracked(child);
}

// 2. the large tree
const tree = path.join(root, 'tree');
progress(`generating ${FILES} files in ${DIRS} directories`);
const genStarted = performance.now();
const dirs = await generateTree(tree, FILES, DIRS);
progress(`generated in ${round((performance.now() - genStarted) / 1000, 1)}s (${dirs.length} directories + the root)`);
const hotpullRounds = [];
const referenceRounds = { inotifywait: [], chokidar: [], recursive: [] };
const measureReference = {
  inotifywait: measureInotifywait,
  chokidar: measureChokidarDefaults,
  recursive: measureRecursive,
};
let treeLatency;
for (let r = 0; r < TREE_ROUNDS; r++) {
  // Alternate who goes first, so neither always finds the dentry cache warmed by the other.
  const order = r % 2 === 0 ? ['hotpull', ...REFERENCES] : [...REFERENCES].reverse().concat('hotpull');
  for (const who of order) {
    progress(`tree round ${r + 1}/${TREE_ROUNDS}: ${who}`);
    if (who !== 'hotpull') {
      referenceRounds[who].push(await measureReference[who](tree));
      continue;
    }
    const { child, result } = await measureHotpullTree(tree);
    hotpullRounds.push(result);
    if (r === 0) {
      progress('write-to-reload on the large tree: 10 saves of a file two levels down');
      treeLatency = await writeToReload(path.join(dirs.at(-1), 'm0.py'), path.join(tree, 'uwsgi.ini'), 10);
    }
    await stopTracked(child);
  }
}

// 3. the watch limit, lowered for one process in a user namespace
let limitHit;
if (LIMIT > 0) {
  progress(`hotpull watch with an inotify watch limit of ${LIMIT} (user namespace)`);
  const started = performance.now();
  const child = spawnTracked(
    'unshare',
    [
      '-U',
      '-r',
      'sh',
      '-c',
      `echo ${LIMIT} > /proc/sys/user/max_inotify_watches && exec "$@"`,
      'sh',
      process.execPath,
      ...NODE_FLAGS,
      CLI,
      'watch',
      '--repo',
      tree,
      '--log-format',
      'json',
    ],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stderr.on('data', (b) => progress(`hotpull stderr: ${b.toString().trim()}`));
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  await waitForLine(child.stdout, /ready in/, 120_000, 'hotpull to be ready');
  const errors = out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((l) => l.level >= 50)
    .map((l) => l.msg);
  limitHit = { limit: LIMIT, readyMs: round(performance.now() - started), errors };
  await stopTracked(child);
}

const pick = (rounds, key) => median(rounds.map((x) => x[key]));
const hp = Object.fromEntries(
  ['readyMs', 'cpuMs', 'selfReportedMs', 'rssMB', 'peakRssMB', 'watches'].map((k) => [k, pick(hotpullRounds, k)]),
);
const refs = Object.fromEntries(
  REFERENCES.map((who) => [
    who,
    Object.fromEntries(
      ['readyMs', 'cpuMs', 'rssMB', 'peakRssMB', 'watches'].map((k) => [k, pick(referenceRounds[who], k)]),
    ),
  ]),
);
const iw = refs.inotifywait;
const latencyTarget = DEBOUNCE_MS + LATENCY_SLACK_MS;
const verdict = (ok) => (ok ? 'ok' : 'MISSED');

const ms = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const l150 = latency[`debounce${DEBOUNCE_MS}ms`];
const l0 = latency.debounce0ms;
const REFERENCE_LABELS = {
  inotifywait: 'inotifywait -m -r',
  chokidar: 'chokidar 5 defaults',
  recursive: `fs.watch recursive (node ${process.version})`,
};
const refRow = (who) => [
  REFERENCE_LABELS[who],
  ms(refs[who].readyMs),
  refs[who].cpuMs,
  refs[who].rssMB,
  refs[who].peakRssMB,
  refs[who].watches,
  '',
];
process.stdout.write(
  [
    `hotpull watch (one fs.watch per directory; node flags: ${NODE_FLAGS.join(' ') || 'none'}) on ${os.cpus().length} cores, node ${process.version}, load average ${loadStart.join(' ')} at the start, ${os
      .loadavg()
      .map((x) => round(x))
      .join(' ')} at the end`,
    '',
    `write-to-reload (file write → touch file mtime change), ${SAVES} saves each; target median ≤ ${latencyTarget} ms`,
    table(
      ['case', 'median ms', 'p90 ms', 'min ms', 'max ms', 'misses', 'target'],
      [
        [
          `small app, debounce ${DEBOUNCE_MS}ms`,
          ms(l150.median),
          ms(l150.p90),
          ms(l150.min),
          ms(l150.max),
          l150.misses,
          verdict(l150.median <= latencyTarget),
        ],
        ['small app, debounce 0ms', ms(l0.median), ms(l0.p90), ms(l0.min), ms(l0.max), l0.misses, ''],
        [
          `${FILES}-file tree, debounce ${DEBOUNCE_MS}ms (10 saves)`,
          ms(treeLatency.median),
          ms(treeLatency.p90),
          ms(treeLatency.min),
          ms(treeLatency.max),
          treeLatency.misses,
          verdict(treeLatency.median <= latencyTarget),
        ],
      ],
    ),
    '',
    `${FILES} files in ${dirs.length + 1} directories, median of ${TREE_ROUNDS} rounds; targets: ready ≤ ${READY_TARGET_MS} ms, RSS ≤ ${RSS_TARGET_MB} MB`,
    table(
      ['watcher', 'ready ms', 'CPU ms to ready', 'RSS MB', 'peak RSS MB', 'inotify watches', 'target'],
      [
        [
          'hotpull watch',
          ms(hp.readyMs),
          hp.cpuMs,
          hp.rssMB,
          hp.peakRssMB,
          hp.watches,
          `ready ${verdict(hp.readyMs <= READY_TARGET_MS)}, RSS ${verdict(hp.peakRssMB <= RSS_TARGET_MB)}`,
        ],
        ...REFERENCES.map(refRow),
        ...(iw
          ? [
              [
                'hotpull / inotifywait',
                round(hp.readyMs / iw.readyMs, 1),
                round(hp.cpuMs / iw.cpuMs, 1),
                round(hp.rssMB / iw.rssMB, 1),
                round(hp.peakRssMB / iw.peakRssMB, 1),
                round(hp.watches / iw.watches, 1),
                '',
              ],
            ]
          : []),
      ],
    ),
    '  (hotpull and inotifywait watch directories only: inotify reports file changes on the directory watch. chokidar',
    "   defaults and Node's recursive fs.watch watch every file too; both stat every file while scanning.)",
    `  (ready = spawn to the "ready" line, node start-up included; hotpull reports ${ms(hp.selfReportedMs)} ms from watcher start.`,
    '   CPU ms to ready: user + system time the process used until then, what ready would take on an idle machine)',
    ...(limitHit
      ? [
          '',
          `with an inotify watch limit of ${limitHit.limit} (user namespace), ready in ${ms(limitHit.readyMs)} ms, error lines:`,
          ...limitHit.errors.map((e) => `  ${e}`),
        ]
      : []),
    '',
    JSON.stringify({
      bench: 'watch',
      node: process.version,
      nodeFlags: NODE_FLAGS,
      cores: os.cpus().length,
      loadavgStart: loadStart,
      loadavgEnd: os.loadavg().map((x) => round(x)),
      maxUserWatches: limit,
      saves: SAVES,
      debounceMs: DEBOUNCE_MS,
      writeToReload: {
        [`debounce${DEBOUNCE_MS}ms`]: l150,
        debounce0ms: l0,
        largeTree: treeLatency,
        targetMs: latencyTarget,
      },
      tree: {
        files: FILES,
        dirs: dirs.length + 1,
        rounds: TREE_ROUNDS,
        hotpull: hp,
        references: refs,
        hotpullRounds,
        referenceRounds,
        targets: { readyMs: READY_TARGET_MS, rssMB: RSS_TARGET_MB },
      },
      limitHit,
    }),
    '',
  ].join('\n'),
);
