#!/usr/bin/env node
// Many apps, one process (issue 29): for N apps (1, 10, 20, 50, 100 by default), each its own bare repository and
// checkout in one temp dir, all at --interval 1s with no reload:
//   - ONE `hotpull run --config FILE` whose file lists the N apps (listener on 127.0.0.1:0), against N single-app
//     `hotpull run --repo X --interval 1s --listen 127.0.0.1:0` processes, both as shipped (dist/bin.js with the V8
//     flags of bin/hotpull), each single on a checkout of its own, so both sides run and are measured over the same
//     window (the same load on a shared machine);
//   - RSS: after a warm-up, VmRSS of /proc/PID/status sampled once a second over the window, the median (for the
//     singles, the sum of each one's median); VmHWM at the end of the window; the children (each app's ls-remote
//     helper shell, and whatever git it runs at that moment) summed apart, by RSS and by PSS (smaps_rollup, sampled
//     once in the middle of the window: the shells share dash's pages, so their PSS is what they really add);
//   - CPU: utime+stime of the process and all its descendants (a reaped git is in its parent's cutime/cstime) from
//     /proc/PID/stat at both ends of the same window, as % of one core, and per pass (the passes of the window from
//     hotpull_sync_duration_seconds_count in /metrics at both ends: on a loaded machine fewer polls run, and CPU
//     per pass compares the two sides whatever the load);
//   - push → live for one app while the others idle (the one process only, the singles stopped): a push to app K's bare repository, timed
//     until GET /apps/K/status on the shared listener says deployedSha = the pushed sha (asked every 50 ms), against
//     interval + 1 s.
// Targets (issue 29): ≤ 2 MB RSS per extra app, ≤ 90 MB for 20 apps, CPU no worse than the singles combined.
// Run: npm run build && node bench/apps.mjs [--sizes 1,10,20,50,100] [--warmup-seconds N] [--seconds N]
//   [--pushes N] [--singles-upto N]. Needs git and Linux /proc. A table goes to stdout, then the same figures as one
// JSON object on the last line; progress goes to stderr. Every process is killed by pid and the temp dir removed.
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  benchSandbox,
  git,
  machineContext,
  percentile,
  round,
  shippedNodeFlags,
  sleep,
  spawnTracked,
  stopTracked,
  table,
} from './lib.mjs';

const INTERVAL_MS = 1000;
const PUSH_TARGET_MS = INTERVAL_MS + 1000;
const PER_APP_TARGET_MB = 2;
const TWENTY_TARGET_MB = 90;
const START_BATCH = 10; // singles started together, then wait until each says it follows its remote

const { values: argv } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1,10,20,50,100' },
    'warmup-seconds': { type: 'string', default: '10' },
    seconds: { type: 'string', default: '20' },
    pushes: { type: 'string', default: '5' },
    // the singles' side for sizes up to this one (100 Node processes take a while to start on 2 cores)
    'singles-upto': { type: 'string', default: '100' },
  },
  strict: true,
});
const SIZES = argv.sizes.split(',').map(Number);
const WARMUP_S = Number(argv['warmup-seconds']);
const SECONDS = Number(argv.seconds);
const PUSHES = Number(argv.pushes);
const SINGLES_UPTO = Number(argv['singles-upto']);
if (SIZES.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--sizes: positive integers (got ${argv.sizes})`);
if (!(WARMUP_S >= 0) || !(SECONDS >= 5) || !Number.isInteger(PUSHES) || PUSHES < 0)
  throw new Error('--warmup-seconds ≥ 0; --seconds ≥ 5; --pushes an integer ≥ 0');

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build first (npm run build)`);
const NODE_FLAGS = shippedNodeFlags(BIN);
const progress = (text) => process.stderr.write(`bench: ${text}\n`);
const mb = (kb) => round(kb / 1024, 1);

// ---------------------------------------------------------------------------------------------------------
// /proc, read once per sample for all the processes measured (a full scan per process would itself cost CPU)

function statusKb(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { rss: field('VmRSS'), hwm: field('VmHWM') };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

function pssKb(pid) {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Every process: parent and utime+stime+cutime+cstime (ticks). The comm field may hold spaces: count from ')'. */
async function scanProc() {
  const procs = new Map();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const text = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (!text) continue;
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const ticks = rest.slice(11, 15).map(Number);
    procs.set(Number(entry), { ppid: Number(rest[1]), ticks: ticks[0] + ticks[1] + ticks[2] + ticks[3] });
  }
  return procs;
}

/** The descendants of `root` in a scan. */
function descendants(procs, root) {
  const children = new Map();
  for (const [pid, p] of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []));
  return tree.slice(1);
}

const treeTicks = (procs, root) =>
  [root, ...descendants(procs, root)].reduce((sum, pid) => sum + (procs.get(pid)?.ticks ?? 0), 0);

/**
 * The window, for every group at once (the one process, the N singles: the same load for both): each group's roots
 * sampled once a second for SECONDS after the warm-up. Returns, per group, sums over its roots: the median of own
 * VmRSS, VmHWM at the end, children's RSS (median) and PSS (mid-window), the children counted, CPU of the whole trees,
 * and the passes run (`passes()` at both ends).
 */
async function measure(groups, clkTck, alive) {
  await sleep(WARMUP_S * 1000);
  alive();
  const passes0 = await Promise.all(groups.map((g) => g.passes()));
  const before = await scanProc();
  const state = groups.map((g) => ({
    ticks0: g.roots.map((pid) => treeTicks(before, pid)),
    own: g.roots.map(() => []),
    kids: g.roots.map(() => []),
    ownPssKb: 0,
    childPssKb: 0,
    children: 0,
  }));
  const start = performance.now();
  for (let s = 1; s <= SECONDS; s++) {
    await sleep(Math.max(0, start + s * 1000 - performance.now()));
    alive();
    const procs = await scanProc();
    groups.forEach((g, gi) => {
      const st = state[gi];
      g.roots.forEach((pid, i) => {
        st.own[i].push(statusKb(pid).rss);
        const desc = descendants(procs, pid);
        st.kids[i].push(desc.reduce((sum, d) => sum + statusKb(d).rss, 0));
        if (s === Math.ceil(SECONDS / 2)) {
          st.ownPssKb += pssKb(pid);
          st.childPssKb += desc.reduce((sum, d) => sum + pssKb(d), 0);
          st.children += desc.length;
        }
      });
    });
  }
  const elapsed = (performance.now() - start) / 1000;
  const passes1 = await Promise.all(groups.map((g) => g.passes()));
  const after = await scanProc();
  const sum = (list) => list.reduce((x, y) => x + y, 0);
  return groups.map((g, gi) => {
    const st = state[gi];
    const ticks = g.roots.reduce((total, pid, i) => total + treeTicks(after, pid) - st.ticks0[i], 0);
    const passCount = passes1[gi] - passes0[gi];
    return {
      processes: g.roots.length,
      rssMedianMB: mb(sum(st.own.map((samples) => percentile(samples, 50)))),
      vmHwmMB: mb(sum(g.roots.map((pid) => statusKb(pid).hwm))),
      pssMB: mb(st.ownPssKb),
      children: st.children,
      childRssMedianMB: mb(sum(st.kids.map((samples) => percentile(samples, 50)))),
      childPssMB: mb(st.childPssKb),
      cpuPercent: round((ticks / clkTck / elapsed) * 100, 2),
      passes: passCount,
      passesPerSecond: round(passCount / elapsed, 1),
      cpuMsPerPass: round(((ticks / clkTck) * 1000) / passCount, 2),
      samplesEach: SECONDS,
    };
  });
}

// ---------------------------------------------------------------------------------------------------------
// The sandbox: one template repository, cloned bare per app (its remote) and again as the app's checkout; the
// singles have checkouts of their own, so both sides run at the same time

async function makeApps(root, env, n, singlesN) {
  const template = path.join(root, 'template.git');
  const author = path.join(root, 'author');
  await git(root, env, 'init', '--quiet', '--bare', '--initial-branch=main', template);
  await git(root, env, 'clone', '--quiet', template, author);
  await git(author, env, 'checkout', '--quiet', '-B', 'main');
  await writeFile(path.join(author, 'app.py'), 'VERSION = 0\n');
  await git(author, env, 'add', '-A');
  await git(author, env, 'commit', '--quiet', '-m', 'initial');
  await git(author, env, 'push', '--quiet', 'origin', 'main');
  const set = (prefix, count) =>
    Array.from({ length: count }, (_, i) => ({
      name: `${prefix}${i}`,
      bare: path.join(root, `${prefix}${i}.git`),
      checkout: path.join(root, `${prefix}${i}`),
    }));
  const apps = set('app', n);
  const solos = set('solo', singlesN);
  const all = [...apps, ...solos];
  for (let i = 0; i < all.length; i += 4)
    await Promise.all(
      all.slice(i, i + 4).map(async (a) => {
        await git(root, env, 'clone', '--quiet', '--bare', template, a.bare);
        await git(root, env, 'clone', '--quiet', '--branch', 'main', a.bare, a.checkout);
      }),
    );
  return { author, apps, solos };
}

let pushed = 0;
/** One commit in the author clone, pushed to app `a`'s remote (always a fast-forward: every app starts from the template). */
async function pushTo(author, env, a) {
  pushed += 1;
  await writeFile(path.join(author, 'app.py'), `VERSION = ${pushed}\n`);
  await git(author, env, 'commit', '--quiet', '-am', `release ${pushed}`);
  await git(author, env, 'push', '--quiet', a.bare, 'HEAD:refs/heads/main');
  return git(author, env, 'rev-parse', 'HEAD');
}

async function waitForLine(file, re, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = re.exec(await readFile(file, 'utf8').catch(() => ''));
    if (match) return match;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${re} in ${file}`);
}

function start(args, log, env) {
  const fd = openSync(log, 'a');
  const child = spawnTracked(process.execPath, [...NODE_FLAGS, BIN, ...args], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return child;
}

const aliveCheck = (children) => () => {
  for (const c of children)
    if (c.child.exitCode !== null || c.child.signalCode !== null)
      throw new Error(`${c.log}: hotpull exited early (${c.child.exitCode ?? c.child.signalCode})`);
};

async function deployedSha(url) {
  const res = await fetch(url).catch(() => undefined);
  if (!res?.ok) return undefined;
  return (await res.json().catch(() => ({}))).deployedSha;
}

/** Passes run so far by the daemons behind `urls`: the sum of hotpull_sync_duration_seconds_count in /metrics. */
async function passesOf(urls) {
  let sum = 0;
  for (const url of urls) {
    const res = await fetch(`${url}/metrics`);
    if (!res.ok) throw new Error(`${url}/metrics answered ${res.status}`);
    for (const m of (await res.text()).matchAll(/^hotpull_sync_duration_seconds_count(?:\{[^}]*\})? (\d+)$/gm))
      sum += Number(m[1]);
  }
  return sum;
}

/** The N apps in one process, started; resolves once it listens and follows them all. */
async function startOne(n, root, env, sandbox) {
  const file = path.join(root, `apps-${n}.yaml`);
  const log = path.join(root, `apps-${n}.log`);
  const apps = sandbox.apps.slice(0, n);
  await writeFile(
    file,
    [
      `interval: ${INTERVAL_MS}ms`,
      'branch: main',
      'reload: [none]',
      'listen: 127.0.0.1:0',
      'logFormat: json',
      'apps:',
      ...apps.map((a) => `  - {name: ${a.name}, repo: ${JSON.stringify(a.checkout)}}`),
      '',
    ].join('\n'),
  );
  const started = performance.now();
  const one = { child: start(['run', '--config', file], log, env), log, apps };
  [, one.url] = await waitForLine(log, /"url":"(http:\/\/127\.0\.0\.1:\d+)"/, 120_000);
  await waitForLine(log, /hotpull following \d+ apps/, 120_000);
  one.startMs = round(performance.now() - started, 0);
  progress(`N=${n}: one process up in ${one.startMs} ms`);
  return one;
}

/** N single-app daemons on checkouts of their own, started a batch at a time. */
async function startSingles(n, root, env, sandbox, procs) {
  const started = performance.now();
  for (let i = 0; i < n; i += START_BATCH) {
    const batch = sandbox.solos.slice(i, Math.min(n, i + START_BATCH)).map((a) => {
      const log = path.join(root, `single-${n}-${a.name}.log`);
      const args = ['run', '--repo', a.checkout, '--interval', `${INTERVAL_MS}ms`, '--log-format', 'json'];
      args.push('--listen', '127.0.0.1:0');
      return { child: start(args, log, env), log };
    });
    procs.push(...batch);
    await Promise.all(
      batch.map(async (s) => {
        [, s.url] = await waitForLine(s.log, /"url":"(http:\/\/127\.0\.0\.1:\d+)"/, 120_000);
        await waitForLine(s.log, /hotpull following/, 120_000);
      }),
    );
  }
  const startMs = round(performance.now() - started, 0);
  progress(`N=${n}: ${n} singles up in ${startMs} ms`);
  return startMs;
}

/** Push → live for one app at a time of the one process, the others idle. */
async function pushes(n, env, sandbox, one) {
  const results = [];
  for (let p = 0; p < PUSHES; p++) {
    const a = one.apps[(p * 37 + Math.floor(n / 2)) % n];
    const sha = await pushTo(sandbox.author, env, a);
    const t0 = performance.now();
    let ms;
    while (performance.now() - t0 < 30_000) {
      if ((await deployedSha(`${one.url}/apps/${a.name}/status`)) === sha) {
        ms = performance.now() - t0;
        break;
      }
      await sleep(50);
    }
    results.push({ app: a.name, ms: ms === undefined ? undefined : round(ms, 0) });
    progress(`N=${n}: push to ${a.name}: ${ms === undefined ? 'not live after 30 s' : `${round(ms, 0)} ms`}`);
    await sleep(500 + Math.random() * 1000); // the next push at another point of the poll cycle
  }
  return results;
}

/** Warnings and errors in the one process's log, but the one expected: no webhook secret. */
async function problemsIn(log) {
  let problems = 0;
  for (const line of (await readFile(log, 'utf8')).split('\n').filter(Boolean)) {
    const record = line.startsWith('{') ? JSON.parse(line) : { level: 50 };
    if (record.level >= 40 && !/no webhook secret/.test(record.msg ?? '')) problems += 1;
  }
  return problems;
}

/** One size: the singles and the one process side by side over one window, then the pushes with the singles gone. */
async function size(n, root, env, sandbox, context) {
  const procs = [];
  let one;
  try {
    const singlesStartMs = n <= SINGLES_UPTO ? await startSingles(n, root, env, sandbox, procs) : undefined;
    one = await startOne(n, root, env, sandbox);
    progress(`N=${n}: measuring`);
    const groups = [{ roots: [one.child.pid], passes: () => passesOf([one.url]) }];
    if (procs.length > 0)
      groups.push({ roots: procs.map((s) => s.child.pid), passes: () => passesOf(procs.map((s) => s.url)) });
    const [oneIdle, singlesIdle] = await measure(groups, context.clkTck, aliveCheck([one, ...procs]));
    progress(`N=${n}: one process ${JSON.stringify(oneIdle)}`);
    if (singlesIdle) progress(`N=${n}: singles ${JSON.stringify(singlesIdle)}`);
    await Promise.all(procs.map((s) => stopTracked(s.child)));
    const pushed = await pushes(n, env, sandbox, one);
    const afterPushes = statusKb(one.child.pid);
    return {
      n,
      one: {
        ...oneIdle,
        startMs: one.startMs,
        pushes: pushed,
        rssAfterPushesMB: mb(afterPushes.rss),
        vmHwmAfterPushesMB: mb(afterPushes.hwm),
        problems: await problemsIn(one.log),
      },
      singles: singlesIdle && { ...singlesIdle, startMs: singlesStartMs },
    };
  } finally {
    await Promise.all([...procs.map((s) => stopTracked(s.child)), one && stopTracked(one.child)]);
  }
}

const context = machineContext();
const { root, env } = await benchSandbox('hotpull-bench-apps-');
progress(
  `node ${context.node}, git ${context.git}, nproc ${context.nproc}, load average ${context.loadavgStart.join(' ')}`,
);
const maxN = Math.max(...SIZES);
progress(`bare repositories and checkouts: ${maxN} apps, and as many for the singles`);
const sandbox = await makeApps(root, env, maxN, Math.max(0, ...SIZES.filter((n) => n <= SINGLES_UPTO)));
const results = [];
for (const n of SIZES) results.push(await size(n, root, env, sandbox, context));
context.loadavgEnd = os.loadavg().map((x) => round(x));

const base = results.find((r) => r.n === 1)?.one;
const perExtra = (r) => (base && r.n > 1 ? round((r.one.rssMedianMB - base.rssMedianMB) / (r.n - 1), 2) : undefined);
const pushMs = (r) => r.one.pushes.map((p) => p.ms ?? Infinity);
const summary = results.map((r) => ({
  n: r.n,
  perExtraAppMB: perExtra(r),
  cpuVsSingles: r.singles ? round(r.one.cpuPercent / r.singles.cpuPercent, 2) : undefined,
  cpuPerPassVsSingles: r.singles ? round(r.one.cpuMsPerPass / r.singles.cpuMsPerPass, 2) : undefined,
  pushP50Ms: r.one.pushes.length ? percentile(pushMs(r), 50) : undefined,
  pushMaxMs: r.one.pushes.length ? Math.max(...pushMs(r)) : undefined,
}));
const twenty = results.find((r) => r.n === 20);
const pass = {
  perExtraApp: summary.every((s) => s.perExtraAppMB === undefined || s.perExtraAppMB <= PER_APP_TARGET_MB),
  twentyApps: twenty ? twenty.one.rssMedianMB <= TWENTY_TARGET_MB : undefined,
  cpu: summary.every((s) => s.cpuPerPassVsSingles === undefined || s.cpuPerPassVsSingles <= 1),
  push: summary.every((s) => s.pushMaxMs === undefined || s.pushMaxMs <= PUSH_TARGET_MS),
};

console.log(
  `hotpull many-apps bench: node ${context.node} (${NODE_FLAGS.join(' ') || 'no flags'}), git ${context.git}, nproc ${context.nproc}; load average ${context.loadavgStart.join(' ')} at the start, ${context.loadavgEnd.join(' ')} at the end`,
);
console.log(
  `--interval 1s, no reload; warm-up ${WARMUP_S} s, then ${SECONDS} s: RSS = median of ${SECONDS} VmRSS samples (1/s; singles: sum of medians), HWM = VmHWM at the end, children (ls-remote helper shells, their git) RSS median and PSS (mid-window) apart; CPU = utime+stime of the process trees over the window, % of one core`,
);
console.log('');
const row = (n, side, procs, m, extra) => [
  n,
  side,
  procs,
  m.rssMedianMB,
  m.vmHwmMB,
  m.pssMB,
  m.children,
  m.childRssMedianMB,
  m.childPssMB,
  m.cpuPercent,
  m.passesPerSecond,
  m.cpuMsPerPass,
  extra,
  m.startMs,
];
console.log(
  table(
    [
      'N',
      'side',
      'procs',
      'RSS MB',
      'HWM MB',
      'PSS MB',
      'children',
      'child RSS',
      'child PSS',
      'CPU %',
      'passes/s',
      'CPU ms/pass',
      'MB/extra app',
      'started in ms',
    ],
    results.flatMap((r) => [
      row(r.n, 'one process', 1, r.one, perExtra(r)),
      ...(r.singles ? [row(r.n, 'singles', r.n, r.singles, '')] : []),
    ]),
  ),
);
console.log('');
console.log(
  table(
    ['N', 'pushes', 'p50 ms', 'max ms', `target ${PUSH_TARGET_MS} ms`, 'RSS after MB', 'HWM after MB', 'warnings'],
    results.map((r, i) => [
      r.n,
      r.one.pushes.length,
      summary[i].pushP50Ms,
      summary[i].pushMaxMs,
      summary[i].pushMaxMs === undefined ? '' : summary[i].pushMaxMs <= PUSH_TARGET_MS ? 'ok' : 'MISSED',
      r.one.rssAfterPushesMB,
      r.one.vmHwmAfterPushesMB,
      r.one.problems,
    ]),
  ),
);
console.log('');
console.log(
  `  targets: ≤ ${PER_APP_TARGET_MB} MB RSS per extra app (one process, own RSS): ${pass.perExtraApp ? 'ok' : 'MISSED'}; ≤ ${TWENTY_TARGET_MB} MB for 20 apps: ${pass.twentyApps === undefined ? 'not measured' : pass.twentyApps ? 'ok' : 'MISSED'}; CPU per pass ≤ the singles': ${pass.cpu ? 'ok' : 'MISSED'} (one/singles: ${summary.map((s) => `N=${s.n} ${s.cpuPerPassVsSingles ?? '-'}`).join(', ')}); push → live ≤ ${PUSH_TARGET_MS} ms: ${pass.push ? 'ok' : 'MISSED'}`,
);
console.log(
  "  (each app, in one process or alone, keeps a helper shell for git ls-remote: counted in 'children' and the CPU;",
);
console.log(
  "   the shells share dash's pages, so their PSS is what they add. Each single has its own listener, as the one process has one.)",
);
console.log('');
console.log(
  JSON.stringify({
    bench: 'apps',
    context,
    intervalMs: INTERVAL_MS,
    warmupSeconds: WARMUP_S,
    seconds: SECONDS,
    results,
    summary,
    pass,
  }),
);
