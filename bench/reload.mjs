#!/usr/bin/env node
// Push-to-served latency under real uWSGI (2 workers), hotpull beside bare shell loops, in one run:
//   a. `hotpull run --interval 1s --reload touch:FILE`          c. bash loop, 1 s: ls-remote, fetch, merge --ff-only, touch
//   b. `hotpull run --interval 1s --reload uwsgi-fifo:FIFO:r`   d. the same loop writing `r` to the master FIFO
//   e. `hotpull run --listen 127.0.0.1:0` + a GitHub-signed push webhook POSTed right after `git push`, FIFO reload
//   f. the FIFO loop at its fastest poll (0.2 s), for comparison with e
//   and uWSGI's own reload: `r` written to the FIFO directly (new code already checked out) until served;
//   g. git alone at the push: one sh runs fetch, merge --ff-only and the FIFO write as soon as the push ends (the
//      least any git-based deployer can do once told of a push: e minus g is what hotpull adds to git's own work)
// Latency = from the end of `git push` (the start of the FIFO write for uWSGI alone) until one round of concurrent
// `?sleep=` requests, one pinned to each worker, is answered by the new version on every worker (the moment of
// that round's last answer minus the hold). After each deploy is served, 20 more requests (10 pinned pairs) count
// "mixed-version answers": any of an older version. hotpull verifies each deploy (--health-url with
// --health-expect {sha}); the next push waits until it has logged the deploy live, then every push waits 300 ms
// plus a part of the poll interval, spread evenly over the pushes (same seeded order for every variant), so the
// pushes land at all phases of the poll. Each variant gets its own remote, checkout and uWSGI. Pairs that a target
// compares run as a sandwich (A's first half, all of B, A's second half) against load drifting on a shared
// machine; each block starts with an untimed warm-up push.
// Caveat for the touch rows: uWSGI checks the touch file once a second on a clock that restarts with every reload,
// and in a bench of back-to-back deploys that clock stays in step with the deployer's poll cycle, so the touch
// variants' reload→served carries a phase offset that differs between variants and runs (0–1 s). Compare them on
// push→reload; only the FIFO rows have targets.
// Run: node bench/reload.mjs [--pushes N] [--warmup N] [--seed N] [--groups touch,fifo,webhook,fast] [--load N]
// (`npm run bench:reload` builds first). --groups runs only those groups (webhook: e, uWSGI alone and g); --load N
// keeps N busy loops running (bench/lib.mjs startLoad), for the targets named at a load average.
// Needs dist/ (npx tsc -p .), git, /usr/bin/uwsgi + python3 plugin, Linux. A table goes to stdout, then the same
// figures as one JSON object on the last line; progress goes to stderr. Everything runs in one mkdtemp directory,
// removed at the end; loopback and file remotes only.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  benchEnv,
  git,
  machineContext,
  makeRemote,
  removeAtExit,
  round,
  run,
  sleep,
  spawnTracked,
  startLoad,
  stopTracked,
  summarize,
  table,
} from './lib.mjs';
import { fetchText, pinnedRound, startUwsgi, uwsgiMissing, writeFifo, wsgiAppSource } from './uwsgi.mjs';

const WORKERS = 2;
const HOLD_MS = 30; // per pinned request while waiting for the new version: the measurement's resolution
const PROBE_GAP_MS = 20; // idle time between probe rounds, so the probes do not keep the workers busy
const SAMPLE_ROUNDS = 10; // × WORKERS = 20 requests after each deploy, for mixed versions
const SAMPLE_HOLD_MS = 5;
const SETTLE_MS = 300; // fixed part of the pause before each push
const SERVED_TIMEOUT_MS = 20_000;
const LIVE_TIMEOUT_MS = 40_000;
const FIFO_TARGET_S = 0.2; // hotpull FIFO median − bare FIFO loop median, same interval
const WEBHOOK_TARGET_S = 0.1; // webhook median − uWSGI's own reload median

const { values: argv } = parseArgs({
  options: {
    pushes: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    groups: { type: 'string', default: 'touch,fifo,webhook,fast' },
    load: { type: 'string', default: '0' },
  },
  strict: true,
});
const count = (name, min) => {
  const n = Number(argv[name]);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min} (got ${argv[name]})`);
  return n;
};
const PUSHES = count('pushes', 1);
const WARMUP = count('warmup', 0);
const LOAD = count('load', 0);
const GROUP_NAMES = ['touch', 'fifo', 'webhook', 'fast'];
const GROUPS_RUN = argv.groups.split(',').map((g) => g.trim());
for (const g of GROUPS_RUN)
  if (!GROUP_NAMES.includes(g)) throw new Error(`--groups takes ${GROUP_NAMES.join(', ')} (got ${g})`);
const SEED = count('seed', 0);

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p .)`);
const missing = uwsgiMissing();
if (missing) throw new Error(missing);

const progress = (text) => process.stderr.write(`bench: ${text}\n`);
const sec = (msValue) => (msValue === undefined || msValue === null ? '' : (msValue / 1000).toFixed(2));

const VARIANTS = [
  { key: 'a', label: 'hotpull run, touch, 1 s', kind: 'hotpull', reload: 'touch', intervalMs: 1000 },
  { key: 'b', label: 'hotpull run, FIFO r, 1 s', kind: 'hotpull', reload: 'fifo', intervalMs: 1000 },
  { key: 'c', label: 'bare loop, touch, 1 s', kind: 'bare', reload: 'touch', intervalMs: 1000 },
  { key: 'd', label: 'bare loop, FIFO r, 1 s', kind: 'bare', reload: 'fifo', intervalMs: 1000 },
  // Polls only every minute: every deploy here should be the webhook's (the trigger of each is checked).
  { key: 'e', label: 'hotpull webhook, FIFO r', kind: 'webhook', reload: 'fifo', intervalMs: 60_000, pauseSpanMs: 0 },
  { key: 'f', label: 'bare loop, FIFO r, 0.2 s', kind: 'bare', reload: 'fifo', intervalMs: 200 },
  { key: 'own', label: 'uWSGI alone: FIFO r → served', kind: 'own', reload: 'fifo', pauseSpanMs: 0 },
  // The least any git-based deployer can do once told of a push: one shell runs fetch, merge and the FIFO write.
  { key: 'g', label: 'git alone at the push: fetch, merge, FIFO r', kind: 'git-alone', reload: 'fifo', pauseSpanMs: 0 },
];

/** mulberry32: a small seeded PRNG, so every variant gets the same sequence of pauses. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------------------
// The sandbox: one bare remote and an author clone; each variant clones a fresh checkout at the current head.

let versionCounter = 0;

/** Commits a new app version and pushes it; resolves when `git push` has exited, with that moment. */
async function push(author, env) {
  const version = `v${++versionCounter}`;
  await writeFile(path.join(author, 'app.py'), wsgiAppSource(version));
  await git(author, env, 'commit', '--quiet', '-am', version);
  const sha = await git(author, env, 'rev-parse', 'HEAD');
  await run('git', ['push', '--quiet', 'origin', 'main'], { cwd: author, env });
  return { version, sha, pushedAt: performance.now(), pushedEpoch: Date.now() };
}

// ---------------------------------------------------------------------------------------------------------
// The deployers. Each exposes `reloadedEpoch(sha)`: when it triggered the app server's reload for that sha
// (ms since the epoch), to split the latency into "ours" (push → reload written) and "the app server's".

/** Reads a child's stdout line by line into `lines`, waking waiters on each line. */
function lineReader(stream) {
  const state = { lines: [], waiters: new Set() };
  createInterface({ input: stream }).on('line', (line) => {
    state.lines.push(line);
    for (const w of state.waiters) w();
  });
  state.waitFor = (predicate, timeoutMs, what) =>
    new Promise((resolve, reject) => {
      const check = () => {
        for (const line of state.lines) {
          const hit = predicate(line);
          if (hit !== undefined && hit !== false) {
            cleanup();
            resolve(hit);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; last output:\n${state.lines.slice(-15).join('\n')}`,
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        state.waiters.delete(check);
      };
      state.waiters.add(check);
      check();
    });
  return state;
}

const parseJson = (line) => {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
};

async function startHotpull({ variant, checkout, reloadArg, server, env, secret }) {
  const args = [
    CLI,
    'run',
    '--repo',
    checkout,
    '--interval',
    `${variant.intervalMs}ms`,
    '--reload',
    reloadArg,
    '--health-url',
    `${server.url}/health`,
    '--health-expect',
    '{sha}',
    '--log-format',
    'json',
  ];
  if (variant.kind === 'webhook') args.push('--listen', '127.0.0.1:0');
  const childEnv = secret ? { ...env, HOTPULL_WEBHOOK_SECRET: secret } : env;
  const child = spawnTracked(process.execPath, args, {
    cwd: checkout,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const out = lineReader(child.stdout);
  const err = lineReader(child.stderr);
  child.once('exit', (code, signal) =>
    out.lines.push(`(hotpull exited ${code ?? signal}; stderr: ${err.lines.slice(-5).join(' | ')})`),
  );
  await out.waitFor((l) => parseJson(l)?.msg?.startsWith('hotpull following'), 15_000, 'hotpull to start');
  const url =
    variant.kind === 'webhook'
      ? await out.waitFor(
          (l) => parseJson(l)?.msg?.startsWith('listening on') && parseJson(l).url,
          5000,
          'the listener',
        )
      : undefined;
  const deployLine = (sha) => (l) => {
    const j = parseJson(l);
    return j?.new === sha && j.result !== undefined ? j : undefined;
  };
  return {
    child,
    url,
    async settled(sha) {
      const j = await out.waitFor(deployLine(sha), LIVE_TIMEOUT_MS, `hotpull to log the deploy of ${sha.slice(0, 7)}`);
      if (j.result !== 'live') throw new Error(`hotpull deployed ${sha.slice(0, 7)} as ${j.result}: ${j.msg}`);
      return j;
    },
    async reloadedEpoch(sha) {
      // The deploy line is logged right after the record closes: pass start ≈ time − total; reload written at
      // start + detect + fetch + apply + reload (a few ms of error: the last-good ref update after verifying).
      const j = await this.settled(sha);
      const d = j.ms;
      const passStart = Date.parse(j.time) - d.total;
      return {
        epoch: passStart + d.detect + d.fetch + d.apply + d.reload,
        passStart,
        trigger: j.trigger,
        durations: d,
      };
    },
    // warn and above, and anything printed outside the logger (but not our own note of a clean exit on SIGTERM)
    warnings: () => out.lines.filter((l) => (parseJson(l)?.level ?? 40) >= 40 && !l.startsWith('(hotpull exited 0;')),
    stop: () => stopTracked(child),
  };
}

/** The DESIGN.md loop: poll with ls-remote; on a new head fetch, merge --ff-only, reload; then sleep. */
const BARE_LOOP = `
set -u
head=$(git rev-parse HEAD)
while kill -0 "$BENCH_PID" 2>/dev/null; do
  remote=$(git ls-remote origin refs/heads/main)
  remote=\${remote%%[[:space:]]*}
  if [ -n "$remote" ] && [ "$remote" != "$head" ]; then
    git fetch -q origin main && git merge -q --ff-only origin/main && $RELOAD_CMD && head=$(git rev-parse HEAD) && echo "reloaded $(date +%s%3N) $head"
  fi
  sleep "$INTERVAL"
done
`;

async function startBareLoop({ variant, checkout, touchFile, fifo, env }) {
  const reloadCmd = variant.reload === 'touch' ? 'touch "$RELOAD_FILE"' : 'printf r > "$RELOAD_FILE"';
  const script = BARE_LOOP.replace('$RELOAD_CMD', reloadCmd);
  const child = spawnTracked('bash', ['-c', script], {
    cwd: checkout,
    env: {
      ...env,
      BENCH_PID: String(process.pid),
      INTERVAL: String(variant.intervalMs / 1000),
      RELOAD_FILE: variant.reload === 'touch' ? touchFile : fifo,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const out = lineReader(child.stdout);
  const err = lineReader(child.stderr);
  child.once('exit', (code, signal) =>
    out.lines.push(`(loop exited ${code ?? signal}; stderr: ${err.lines.slice(-5).join(' | ')})`),
  );
  return {
    child,
    async reloadedEpoch(sha) {
      const epoch = await out.waitFor(
        (l) => {
          const m = /^reloaded (\d+) (\S+)$/.exec(l);
          return m && m[2] === sha ? Number(m[1]) : undefined;
        },
        5000,
        `the loop to report ${sha.slice(0, 7)}`,
      );
      return { epoch };
    },
    warnings: () => err.lines,
    stop: () => stopTracked(child),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Measuring

/** Pinned rounds until every worker answers `version`; returns when, counting probe errors on the way. */
async function waitServed(url, version, since) {
  let errors = 0;
  let rounds = 0;
  for (;;) {
    const answers = await pinnedRound(url, WORKERS, HOLD_MS);
    rounds++;
    errors += answers.filter((a) => a.error).length;
    const pids = new Set(answers.map((a) => a.pid));
    if (pids.size === WORKERS && answers.every((a) => a.version === version)) {
      return { servedAt: Math.max(...answers.map((a) => a.at)) - HOLD_MS, errors, rounds };
    }
    if (performance.now() - since > SERVED_TIMEOUT_MS) {
      throw new Error(
        `${version} not served by every worker within ${SERVED_TIMEOUT_MS} ms; last answers ${JSON.stringify(answers)}`,
      );
    }
    await sleep(PROBE_GAP_MS);
  }
}

/** 20 requests right after a deploy is served (pinned pairs, so both workers answer): any older version is mixed. */
async function sampleMixed(url, version) {
  let mixed = 0;
  let errors = 0;
  const pids = new Set();
  for (let i = 0; i < SAMPLE_ROUNDS; i++) {
    for (const a of await pinnedRound(url, WORKERS, SAMPLE_HOLD_MS)) {
      if (a.error) errors++;
      else if (a.version !== version) mixed++;
      else pids.add(a.pid);
    }
  }
  return { mixed, errors, workersSeen: pids.size };
}

function signGitHub(secret, body) {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

async function postWebhook(url, secret, { sha, before }) {
  const body = Buffer.from(
    JSON.stringify({
      ref: 'refs/heads/main',
      before,
      after: sha,
      created: false,
      deleted: false,
      forced: false,
      repository: { full_name: 'bench/app', default_branch: 'main' },
      pusher: { name: 'hotpull-bench' },
      head_commit: { id: sha, message: 'bench push' },
    }),
  );
  const answer = await fetchText(`${url}/webhook`, 5000, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'content-length': String(body.length),
      'user-agent': 'GitHub-Hookshot/bench',
      'x-github-event': 'push',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': signGitHub(secret, body),
    },
  });
  if (answer.status !== 202) throw new Error(`webhook answered ${answer.status ?? answer.error}: ${answer.body ?? ''}`);
}

/** The same seeded permutation of 0..PUSHES-1 for every variant: which slot of the poll interval each push uses. */
function slotOrder() {
  const random = prng(SEED);
  const order = Array.from({ length: PUSHES }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return { order, random };
}

/**
 * A variant's own remote, checkout, uWSGI and deployer, kept up while its group runs. `block(from, to)` makes
 * `--warmup` untimed pushes, then the timed pushes for slots order[from..to).
 */
async function openVariant(variant, { root, env }) {
  const dir = path.join(root, variant.key);
  await mkdir(dir);
  // Its own remote: the deployers of a group all run at once and must not deploy each other's pushes.
  const { bare, author } = await makeRemote(dir, env, { 'app.py': wsgiAppSource('v0') });
  const checkout = path.join(dir, 'checkout');
  await git(dir, env, 'clone', '--quiet', '--branch', 'main', bare, checkout);
  const touchFile = path.join(dir, 'reload.touch'); // outside the checkout, as in production
  const fifo = path.join(dir, 'master.fifo');
  if (variant.reload === 'touch') await writeFile(touchFile, '');
  const server = await startUwsgi({
    dir: checkout,
    workers: WORKERS,
    env,
    logDir: dir,
    ...(variant.reload === 'touch' ? { touchReload: touchFile } : { masterFifo: fifo }),
  });
  let deployer;
  const secret = variant.kind === 'webhook' ? randomBytes(20).toString('hex') : undefined;
  try {
    if (variant.kind === 'hotpull' || variant.kind === 'webhook') {
      const reloadArg = variant.reload === 'touch' ? `touch:${touchFile}` : `uwsgi-fifo:${fifo}:r`;
      deployer = await startHotpull({ variant, checkout, reloadArg, server, env, secret });
    } else if (variant.kind === 'bare') {
      deployer = await startBareLoop({ variant, checkout, touchFile, fifo, env });
    }
  } catch (error) {
    await server.stop();
    throw error;
  }
  const samples = [];
  const { order, random } = slotOrder();
  const pauseSpan = variant.pauseSpanMs ?? variant.intervalMs;
  let previousSha = await git(checkout, env, 'rev-parse', 'HEAD');

  async function deployOnce(pauseMs) {
    await sleep(pauseMs);
    const p = await push(author, env);
    let start = p.pushedAt;
    let startEpoch = p.pushedEpoch;
    let reloadedEpoch = startEpoch;
    if (variant.kind === 'webhook') {
      await postWebhook(deployer.url, secret, { sha: p.sha, before: previousSha });
    } else if (variant.kind === 'own') {
      // New code on disk first (untimed), then the clock starts as the FIFO is written.
      await git(checkout, env, 'fetch', '-q', 'origin', 'main');
      await git(checkout, env, 'merge', '-q', '--ff-only', 'origin/main');
      start = performance.now();
      startEpoch = Date.now();
      reloadedEpoch = startEpoch;
      await writeFifo(fifo, 'r');
    } else if (variant.kind === 'git-alone') {
      // the commands hotpull runs, with its flags (no tags, no FETCH_HEAD, no auto maintenance on the way), from sh
      const c = 'git -c maintenance.auto=false';
      const script = `${c} fetch -q --no-tags --no-recurse-submodules --no-write-fetch-head origin +refs/heads/main:refs/remotes/origin/main && ${c} merge -q --ff-only origin/main && printf r > "$1" && date +%s%3N`;
      const { stdout } = await run('sh', ['-c', script, 'git-alone', fifo], { cwd: checkout, env });
      reloadedEpoch = Number(stdout.trim());
    }
    const served = await waitServed(server.url, p.version, start);
    const after = await sampleMixed(server.url, p.version);
    // hotpull: this also waits until it has logged the deploy live, so the next push meets an idle daemon.
    const reloaded = deployer ? await deployer.reloadedEpoch(p.sha) : { epoch: reloadedEpoch };
    previousSha = p.sha;
    return {
      version: p.version,
      latencyMs: round(served.servedAt - start, 1),
      ourMs: round(reloaded.epoch - startEpoch, 1), // push end → reload written
      mixed: after.mixed,
      errorsAfter: after.errors,
      workersSeenAfter: after.workersSeen,
      probeErrors: served.errors,
      trigger: reloaded.trigger,
      hotpullMs: reloaded.durations && { toPass: reloaded.passStart - startEpoch, ...reloaded.durations },
    };
  }

  return {
    variant,
    samples,
    async block(from, to) {
      if (to <= from) return;
      // Untimed first: warms caches, and makes the previous deploy (a fixed point of the deployer's poll cycle)
      // this variant's own, whatever ran in between.
      for (let w = 0; w < WARMUP; w++) {
        const sample = await deployOnce(SETTLE_MS + random() * pauseSpan);
        progress(`  ${variant.key}: warm-up ${sample.version} served in ${sec(sample.latencyMs)} s`);
      }
      for (let i = from; i < to; i++) {
        // 300 ms plus this slot's share of the poll interval after the previous deploy settled: the pushes land
        // at evenly spread phases of the deployer's poll cycle, the same spread for every variant, instead of
        // each variant's own luck of the draw (10 random phases move a median by ±0.1 s).
        const sample = await deployOnce(SETTLE_MS + pauseSpan * ((order[i] + 0.5) / PUSHES));
        samples.push(sample);
        progress(
          `  ${variant.key}: push ${samples.length}/${PUSHES} (${sample.version}) served in ${sec(sample.latencyMs)} s (reload written after ${sec(sample.ourMs)} s), mixed ${sample.mixed}`,
        );
      }
    },
    warnings: () => deployer?.warnings() ?? [],
    async close() {
      await deployer?.stop();
      await server.stop();
    },
  };
}

function summarizeVariant(variant, samples, warnings) {
  const triggers = {};
  for (const s of samples) if (s.trigger) triggers[s.trigger] = (triggers[s.trigger] ?? 0) + 1;
  const hp = samples[0]?.hotpullMs
    ? Object.fromEntries(
        ['toPass', 'detect', 'fetch', 'apply', 'reload', 'verify'].map((k) => [
          k,
          summarize(samples.map((s) => s.hotpullMs[k])).median,
        ]),
      )
    : undefined;
  return {
    label: variant.label,
    intervalMs: variant.kind === 'own' ? undefined : variant.intervalMs,
    latencyMs: summarize(samples.map((s) => s.latencyMs)),
    pushToReloadMs: summarize(samples.map((s) => s.ourMs)),
    reloadToServedMs: summarize(samples.map((s) => s.latencyMs - s.ourMs)),
    mixed: samples.reduce((n, s) => n + s.mixed, 0),
    errorsAfter: samples.reduce((n, s) => n + s.errorsAfter, 0),
    probeErrorsWhileDeploying: samples.reduce((n, s) => n + s.probeErrors, 0),
    triggers: Object.keys(triggers).length ? triggers : undefined,
    hotpullStageMedianMs: hp,
    warnings: warnings.length,
    firstWarning: warnings[0],
    samples: samples.map(({ hotpullMs, ...s }) => s),
  };
}

async function main() {
  const started = performance.now();
  const context = machineContext({ uwsgi: ['/usr/bin/uwsgi', ['--version']] });
  console.log(
    `hotpull reload bench: node ${context.node}, git ${context.git}, uWSGI ${context.uwsgi}, nproc ${context.nproc}`,
  );
  console.log(`  ${context.cpu ?? 'unknown cpu'}; ${context.kernel}; load average ${context.loadavgStart.join(' ')}`);
  console.log(
    `  ${PUSHES} pushes per variant (after ${WARMUP} warm-up), ${WORKERS} uWSGI workers, probe hold ${HOLD_MS} ms, seed ${SEED}`,
  );

  const root = await mkdtemp(path.join(os.tmpdir(), 'hotpull-bench-reload-'));
  removeAtExit(root);
  const globalConfig = path.join(root, 'gitconfig');
  writeFileSync(globalConfig, '');
  const env = benchEnv(globalConfig);

  const results = {};
  // Variants a target compares run as a sandwich, A (first half) · B (all) · A (second half), with both set up
  // for the whole group: load from other work on the machine that drifts linearly then weighs on both alike.
  const half = Math.floor(PUSHES / 2);
  const GROUPS = [
    {
      name: 'touch',
      open: ['a', 'c'],
      steps: [
        ['a', 0, half],
        ['c', 0, PUSHES],
        ['a', half, PUSHES],
      ],
    },
    {
      name: 'fifo',
      open: ['b', 'd'],
      steps: [
        ['b', 0, half],
        ['d', 0, PUSHES],
        ['b', half, PUSHES],
      ],
    },
    {
      name: 'webhook',
      open: ['e', 'own', 'g'],
      steps: [
        ['e', 0, half],
        ['own', 0, PUSHES],
        ['g', 0, PUSHES],
        ['e', half, PUSHES],
      ],
    },
    { name: 'fast', open: ['f'], steps: [['f', 0, PUSHES]] },
  ];
  const load = await startLoad(LOAD, progress);
  for (const group of GROUPS.filter((g) => GROUPS_RUN.includes(g.name))) {
    const open = new Map();
    try {
      for (const key of group.open)
        open.set(
          key,
          await openVariant(
            VARIANTS.find((v) => v.key === key),
            { root, env },
          ),
        );
      for (const [key, from, to] of group.steps) {
        if (to > from) progress(`${key}. ${open.get(key).variant.label}: pushes ${from + 1}–${to}`);
        await open.get(key).block(from, to);
      }
    } finally {
      for (const v of open.values()) await v.close();
    }
    for (const [key, v] of open) results[key] = summarizeVariant(v.variant, v.samples, v.warnings());
  }

  const r = results;
  const ran = VARIANTS.filter((v) => r[v.key]);
  const targets = {};
  if (r.b && r.d) {
    targets.fifo = {
      rule: `hotpull FIFO (b) median − bare FIFO loop (d) median ≤ ${FIFO_TARGET_S} s, and 0 mixed-version answers in b`,
      diffS: round((r.b.latencyMs.median - r.d.latencyMs.median) / 1000, 3),
      mixed: r.b.mixed,
    };
    targets.fifo.pass = targets.fifo.diffS <= FIFO_TARGET_S && targets.fifo.mixed === 0;
  }
  if (r.e && r.own) {
    targets.webhook = {
      rule: `webhook (e) median − uWSGI's own reload median ≤ ${WEBHOOK_TARGET_S} s`,
      diffS: round((r.e.latencyMs.median - r.own.latencyMs.median) / 1000, 3),
    };
    targets.webhook.pass = targets.webhook.diffS <= WEBHOOK_TARGET_S;
  }
  if (r.e && r.g) targets.overGitInfo = { diffS: round((r.e.latencyMs.median - r.g.latencyMs.median) / 1000, 3) };
  if (r.a && r.c) targets.touchInfo = { diffS: round((r.a.latencyMs.median - r.c.latencyMs.median) / 1000, 3) };
  context.load = load.sampled();
  context.loadavgEnd = os.loadavg().map((x) => round(x));
  const wallS = round((performance.now() - started) / 1000, 1);

  console.log('');
  console.log('Push-to-served latency, seconds (from the end of `git push` until every worker serves the new version)');
  console.log(
    table(
      ['', 'median', 'p90', 'min', 'max', 'mixed', 'push→reload', 'reload→served'],
      ran.map((v) => {
        const x = r[v.key];
        return [
          `  ${v.key === 'own' ? '' : `${v.key}. `}${v.label}`,
          sec(x.latencyMs.median),
          sec(x.latencyMs.p90),
          sec(x.latencyMs.min),
          sec(x.latencyMs.max),
          `${x.mixed}/${x.samples.length * SAMPLE_ROUNDS * WORKERS}`,
          sec(x.pushToReloadMs.median),
          sec(x.reloadToServedMs.median),
        ];
      }),
    ),
  );
  console.log(
    '  push→reload, reload→served: medians of the split at the moment the touch or FIFO write was made (hotpull: from its',
  );
  console.log(
    '  deploy log line; loops: `date` right after the write); for uWSGI alone the clock starts at the FIFO write.',
  );
  const stages = ['a', 'b', 'e']
    .filter((k) => r[k])
    .map((k) => [
      `  ${k}. ${r[k].label}`,
      ...['toPass', 'detect', 'fetch', 'apply', 'reload', 'verify'].map((s) => r[k].hotpullStageMedianMs?.[s] ?? ''),
      JSON.stringify(r[k].triggers ?? {}),
    ]);
  if (stages.length > 0) {
    console.log('');
    console.log(
      'hotpull stages, median ms, from its deploy log lines (push→pass: from the end of `git push` to the start of the',
    );
    console.log(
      'pass that deployed it: the poll wait, or the webhook POST and hand-over; detect: rev-parse + ls-remote)',
    );
    console.log(table(['', 'push→pass', 'detect', 'fetch', 'apply', 'reload', 'verify', 'triggers'], stages));
  }
  const errs = ran.map((v) => `${v.key} ${r[v.key].probeErrorsWhileDeploying}/${r[v.key].errorsAfter}`).join(', ');
  console.log(
    `  probe errors while deploying / after: ${errs}; deployer warnings: ${
      ran
        .filter((v) => r[v.key].warnings)
        .map((v) => `${v.key} ${r[v.key].warnings}`)
        .join(', ') || 'none'
    }`,
  );
  console.log('');
  const pass = (ok) => (ok ? 'PASS' : 'FAIL');
  const signed = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(3)} s`;
  if (targets.fifo)
    console.log(
      `target: ${targets.fifo.rule}: ${pass(targets.fifo.pass)} (${signed(targets.fifo.diffS)}, ${targets.fifo.mixed} mixed)`,
    );
  if (targets.webhook)
    console.log(`target: ${targets.webhook.rule}: ${pass(targets.webhook.pass)} (${signed(targets.webhook.diffS)})`);
  if (targets.overGitInfo)
    console.log(
      `  (no target) webhook (e) − git alone at the push (g), what hotpull adds to git's own work: ${signed(targets.overGitInfo.diffS)}`,
    );
  if (targets.touchInfo)
    console.log(`  (no target) hotpull touch (a) − bare touch loop (c): ${signed(targets.touchInfo.diffS)}`);
  const during = context.load
    ? `; with --load ${LOAD}, load average ${context.load.min}–${context.load.max} during the run`
    : '';
  console.log(
    `wall time ${wallS} s; load average at the end: ${context.loadavgEnd.join(' ')} (nproc ${context.nproc})${during}`,
  );
  console.log(
    JSON.stringify({
      context,
      pushes: PUSHES,
      warmup: WARMUP,
      seed: SEED,
      workers: WORKERS,
      holdMs: HOLD_MS,
      wallSeconds: wallS,
      targets,
      variants: results,
    }),
  );
}

try {
  await main();
} catch (error) {
  process.exitCode = 1;
  console.error(`bench failed: ${error?.stack ?? error}`);
}
// Whatever happened, lib.mjs's exit handler kills any child still registered and removes the temp dir.
