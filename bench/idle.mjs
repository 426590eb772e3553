#!/usr/bin/env node
// What an idle sidecar costs, and where it goes, on this machine:
//   1. idle `hotpull run --interval 1s --listen 127.0.0.1:0` (the sidecar as shipped: dist/bin.js run as a
//      program, so with the V8 flags of its #! line) beside bare Node holding a timer and the shell loop (git
//      ls-remote + sleep 1): RSS (max, mean, anonymous, file-backed), VmHWM, CPU, all run at the same time over
//      the same window; the same daemon without those flags or with some of them, and with each module hotpull
//      loads lazily forced in at start (`--import`), which is what that lazy load saves
//   2. the breakdown: fresh Node processes that import hotpull's dependencies one on top of the other, then
//      hotpull's own modules: RSS, anonymous and file-backed RSS, V8 heap used/total and external, module count
//      (ESM modules through a load hook, run separately so the hook thread does not skew the memory figures)
// Run: node bench/idle.mjs [--seconds N] [--variants LIST] (npm run build first). Needs git and Linux /proc.
// A table goes to stdout, then the same figures as one JSON object on the last line; progress goes to stderr.
import { existsSync, openSync, closeSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  benchSandbox,
  cloneCheckout,
  machineContext,
  makeRemote,
  readStatusKb,
  readTreeCpuTicks,
  round,
  run,
  shippedNodeFlags,
  sleep,
  spawnTracked,
  stopTracked,
  table,
} from './lib.mjs';

const RSS_TARGET_MB = 45;
const WARMUP_MS = 5000;

const { values: argv } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    variants: {
      type: 'string',
      default:
        'shipped,no-v8-flags,semi-space-1,import-control,eager-execa,eager-pino-pretty,eager-chokidar,eager-cosmiconfig',
    },
    repeat: { type: 'string', default: '3' },
  },
  strict: true,
});
const SECONDS = Number(argv.seconds);
const REPEAT = Number(argv.repeat);
if (!Number.isInteger(SECONDS) || SECONDS < 5)
  throw new Error(`--seconds must be an integer ≥ 5 (got ${argv.seconds})`);

const ROOT_DIR = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(ROOT_DIR, 'dist', 'cli.js');
const BIN = path.join(ROOT_DIR, 'dist', 'bin.js');
if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build first (npm run build)`);
const SHIPPED_FLAGS = shippedNodeFlags(BIN);

/** How each variant starts Node: node arguments and environment. `eager-X`: X imported before hotpull starts. */
const VARIANTS = {
  shipped: { node: SHIPPED_FLAGS },
  'no-v8-flags': { node: [] },
  'semi-space-1': { node: [...SHIPPED_FLAGS, '--max-semi-space-size=1'] },
  jitless: { node: ['--jitless'] },
  // --import itself costs memory: the eager-X rows are compared with this one, which imports a builtin already loaded
  'import-control': { node: [...SHIPPED_FLAGS, '--import', 'node:os'] },
  'eager-execa': { node: [...SHIPPED_FLAGS, '--import', 'execa'] },
  'eager-pino-pretty': { node: [...SHIPPED_FLAGS, '--import', 'pino-pretty'] },
  'eager-chokidar': { node: [...SHIPPED_FLAGS, '--import', 'chokidar'] },
  'eager-cosmiconfig': { node: [...SHIPPED_FLAGS, '--import', 'cosmiconfig'] },
};
const chosen = argv.variants.split(',');
for (const v of chosen)
  if (!VARIANTS[v]) throw new Error(`--variants: unknown ${v}; known: ${Object.keys(VARIANTS).join(', ')}`);

const progress = (text) => process.stderr.write(`bench: ${text}\n`);
const mb = (kb) => round(kb / 1024, 1);

async function statusKb(pid) {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile'), hwm: field('VmHWM') };
}

/** Samples every process once a second over the window; CPU from the process tree's ticks at both ends. */
async function measure(procs, seconds, clkTck) {
  const alive = () => {
    for (const p of procs)
      if (p.child.exitCode !== null || p.child.signalCode !== null)
        throw new Error(
          `${p.name} exited early (${p.child.exitCode ?? p.child.signalCode}); see ${p.log ?? 'its output'}`,
        );
  };
  await sleep(WARMUP_MS);
  alive();
  for (const p of procs) {
    p.samples = [];
    p.ticks0 = await readTreeCpuTicks(p.child.pid);
  }
  const start = performance.now();
  for (let s = 1; s <= seconds; s++) {
    await sleep(Math.max(0, start + s * 1000 - performance.now()));
    alive();
    for (const p of procs)
      p.samples.push({ ...(await statusKb(p.child.pid)), tree: (await readTreeCpuTicks(p.child.pid)).rssKb });
  }
  const elapsed = (performance.now() - start) / 1000;
  const result = {};
  for (const p of procs) {
    const ticks = (await readTreeCpuTicks(p.child.pid)).total - p.ticks0.total;
    const last = p.samples.at(-1);
    const mean = (key) => p.samples.reduce((a, s) => a + s[key], 0) / p.samples.length;
    result[p.name] = {
      rssMaxMB: mb(Math.max(...p.samples.map((s) => s.rss))),
      rssMeanMB: mb(mean('rss')),
      anonMB: mb(last.anon),
      fileMB: mb(last.file),
      vmHwmMB: mb(last.hwm),
      treeRssMeanMB: mb(mean('tree')),
      cpuPercent: round((ticks / clkTck / elapsed) * 100, 3),
    };
  }
  return result;
}

// A module that reports what the process holds once it has settled, printed as one JSON line on stdout.
const REPORTER = `
import { readFileSync } from 'node:fs';
const specs = process.argv.slice(1).filter(Boolean);
for (const s of specs) await import(s);
setTimeout(() => {
  const st = readFileSync('/proc/self/status', 'utf8');
  const kb = (f) => Number(new RegExp('^' + f + ':\\\\s+(\\\\d+) kB', 'm').exec(st)[1]);
  const m = process.memoryUsage();
  const builtins = process.moduleLoadList.filter((x) => x.startsWith('NativeModule ')).length;
  console.log(JSON.stringify({ rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile'), heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, builtins }));
}, 1500);
`;
const HOOKS = `
export async function load(url, context, next) {
  const r = await next(url, context);
  process.stdout.write(JSON.stringify({ url, bytes: r.source ? r.source.length : 0 }) + '\\n');
  return r;
}`;

/** Node 20's fetch() parses HTTP with WebAssembly (undici's llhttp); a flag that disables it breaks --health-url. */
async function wasmAvailable(nodeArgs) {
  const { stdout } = await run(process.execPath, [...nodeArgs, '-e', 'process.stdout.write(typeof WebAssembly)'], {});
  return stdout.trim().endsWith('object');
}

async function breakdown(root, env) {
  const steps = [
    ['bare node', []],
    ['+ pino (log.ts)', ['pino']],
    ['+ cosmiconfig (config file)', ['cosmiconfig']],
    ['+ simple-git (git/repo.ts)', ['simple-git']],
    [
      '+ hotpull run and the HTTP server (dist/)',
      [
        pathToFileURL(path.join(ROOT_DIR, 'dist/commands/run.js')).href,
        pathToFileURL(path.join(ROOT_DIR, 'dist/http/server.js')).href,
        pathToFileURL(CLI).href,
      ],
    ],
  ];
  const rows = [];
  let specs = [];
  for (const [label, add] of steps) {
    // bare names resolved here, from the repo's node_modules: the reporter runs from a string
    specs = [...specs, ...add.map((s) => (s.startsWith('file:') ? s : import.meta.resolve(s)))];
    const resolved = specs;
    // median of REPEAT fresh processes: one process's anonymous memory varies by a few MB with GC timing
    const runs = [];
    for (let i = 0; i < REPEAT; i++) {
      const { stdout } = await run(
        process.execPath,
        [...SHIPPED_FLAGS, '--input-type=module', '-e', REPORTER, '', ...resolved],
        { cwd: ROOT_DIR, env },
      );
      runs.push(JSON.parse(stdout.trim().split('\n').at(-1)));
    }
    const m = Object.fromEntries(
      Object.keys(runs[0]).map((k) => [
        k,
        runs.map((r) => r[k]).sort((a, b) => a - b)[Math.floor((runs.length - 1) / 2)],
      ]),
    );
    // the ESM modules each step loads, counted in a second process with a load hook
    const hookFile = path.join(root, 'hooks.mjs');
    await writeFile(hookFile, HOOKS);
    const listed = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hookFile).href)}); for (const s of process.argv.slice(1).filter(Boolean)) await import(s);`,
        '',
        ...resolved,
      ],
      { cwd: ROOT_DIR, env },
    );
    const mods = listed.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .filter((x) => !x.url.startsWith('node:') && !x.url.endsWith('/hooks.mjs'));
    rows.push({
      step: label,
      rssMB: mb(m.rss),
      anonMB: mb(m.anon),
      fileMB: mb(m.file),
      heapUsedMB: round(m.heapUsed / 2 ** 20, 1),
      heapTotalMB: round(m.heapTotal / 2 ** 20, 1),
      externalMB: round(m.external / 2 ** 20, 1),
      builtins: m.builtins,
      esmModules: mods.length,
      esmSourceKB: round(mods.reduce((a, x) => a + x.bytes, 0) / 1024, 0),
    });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------

const context = machineContext();
const { root, env } = await benchSandbox('hotpull-bench-idle-');
const { bare } = await makeRemote(root, env, { 'uwsgi.ini': '[uwsgi]\n', 'app.py': 'VERSION = 0\n' });
progress(
  `node ${context.node}, load average ${context.loadavgStart.join(' ')}; ${chosen.length} hotpull variants + bare node + shell loop, ${SECONDS} s after ${WARMUP_MS / 1000} s`,
);

const procs = [];
for (const name of chosen) {
  const checkout = await cloneCheckout(root, env, bare, `checkout-${name}`);
  const log = path.join(root, `${name}.log`);
  const fd = openSync(log, 'a');
  const v = VARIANTS[name];
  const child = spawnTracked(
    process.execPath,
    [...v.node, BIN, 'run', '--repo', checkout, '--interval', '1s', '--listen', '127.0.0.1:0', '--log-format', 'json'],
    {
      cwd: ROOT_DIR, // --import resolves bare names from here
      env: { ...env, ...v.env },
      stdio: ['ignore', fd, fd],
      detached: true,
    },
  );
  closeSync(fd);
  procs.push({ name: `hotpull ${name}`, child, log });
}
procs.push({
  name: 'bare node (setInterval)',
  child: spawnTracked(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', detached: true }),
});
const loop = `while kill -0 ${process.pid} 2>/dev/null; do git ls-remote '${bare}' refs/heads/main >/dev/null; sleep 1; done`;
procs.push({
  name: 'shell loop (ls-remote; sleep 1)',
  child: spawnTracked('bash', ['-c', loop], { cwd: root, env, stdio: 'ignore', detached: true }),
});

let idle;
try {
  idle = await measure(procs, SECONDS, context.clkTck);
} finally {
  await Promise.all(procs.map((p) => stopTracked(p.child)));
}
const warnings = [];
for (const p of procs.filter((x) => x.log)) {
  for (const line of (await readFile(p.log, 'utf8')).split('\n').filter(Boolean)) {
    // V8 prints its own notes (--jitless: "disabling flag --expose_wasm") outside the logger
    const record = line.startsWith('{') ? JSON.parse(line) : { level: 40, msg: line };
    if (record.level >= 40 && !/no webhook secret/.test(record.msg)) warnings.push(`${p.name}: ${record.msg}`);
  }
}
progress('breakdown: dependencies imported one on top of the other');
const layers = await breakdown(root, env);
context.loadavgEnd = os.loadavg().map((x) => round(x));

for (const name of chosen)
  if (idle[`hotpull ${name}`]) idle[`hotpull ${name}`].webAssembly = await wasmAvailable(VARIANTS[name].node);
const shipped = idle['hotpull shipped'];
const bareNode = idle['bare node (setInterval)'];
const control = idle['hotpull import-control'];
const rows = Object.entries(idle).map(([name, m]) => [
  `  ${name}`,
  m.rssMaxMB,
  m.rssMeanMB,
  m.anonMB,
  m.fileMB,
  m.vmHwmMB,
  m.treeRssMeanMB,
  m.cpuPercent.toFixed(3),
  shipped && name.startsWith('hotpull ') && name !== 'hotpull shipped' ? round(m.rssMeanMB - shipped.rssMeanMB, 1) : '',
  control && name.startsWith('hotpull eager-') ? round(m.rssMeanMB - control.rssMeanMB, 1) : '',
  m.webAssembly === undefined ? '' : m.webAssembly ? 'yes' : 'off (not needed: node:http)',
]);
console.log(
  `hotpull idle bench: node ${context.node}, git ${context.git}, nproc ${context.nproc}; load average ${context.loadavgStart.join(' ')} at the start, ${context.loadavgEnd.join(' ')} at the end`,
);
console.log('');
console.log(
  `1. Idle, ${SECONDS} s after a ${WARMUP_MS / 1000} s warm-up, interval 1 s, listener on 127.0.0.1, all at the same time; target: hotpull RSS ≤ ${RSS_TARGET_MB} MB`,
);
console.log(
  table(
    [
      '',
      'RSS max MB',
      'RSS mean MB',
      'anon MB',
      'file MB',
      'VmHWM MB',
      'tree RSS MB',
      'CPU % of a core',
      'Δ vs shipped',
      'Δ vs control',
      'WebAssembly',
    ],
    rows,
  ),
);
if (shipped)
  console.log(
    `  target: shipped RSS max ≤ ${RSS_TARGET_MB} MB: ${shipped.rssMaxMB <= RSS_TARGET_MB ? 'PASS' : 'FAIL'} (${shipped.rssMaxMB}; bare node ${bareNode.rssMaxMB})`,
  );
console.log(
  '  (file = pages of the node binary and libraries: shared by every process running the same binary; anon = this process alone.',
);
console.log(
  '   tree RSS adds the ls-remote helper shell; CPU counts the process tree, git included. eager-X = X imported at start with',
);
console.log('   --import; Δ vs control (--import of a builtin already loaded) is what loading X lazily saves.)');
console.log(`  warnings in the daemons' logs: ${warnings.length ? warnings.join('; ') : 'none'}`);
console.log('');
console.log(
  `2. Breakdown: each row imports what the rows above it did and one more, in a fresh process with the shipped flags (${SHIPPED_FLAGS.join(' ')}; 1.5 s settle; median of ${REPEAT})`,
);
console.log(
  table(
    [
      '',
      'RSS MB',
      'anon MB',
      'file MB',
      'heap used MB',
      'heap total MB',
      'external MB',
      'builtins',
      'ESM modules',
      'ESM source KB',
    ],
    layers.map((l) => [
      `  ${l.step}`,
      l.rssMB,
      l.anonMB,
      l.fileMB,
      l.heapUsedMB,
      l.heapTotalMB,
      l.externalMB,
      l.builtins,
      l.esmModules,
      l.esmSourceKB,
    ]),
  ),
);
console.log(
  '  (CommonJS packages, pino, cosmiconfig and their dependencies, load through require: not in the ESM count.)',
);
console.log('');
console.log(
  JSON.stringify({
    bench: 'idle',
    context,
    seconds: SECONDS,
    idle,
    layers,
    warnings,
    target: { rssMB: RSS_TARGET_MB, pass: shipped ? shipped.rssMaxMB <= RSS_TARGET_MB : undefined },
  }),
);
