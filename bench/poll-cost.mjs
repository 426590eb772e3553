// The CPU one branch poll of a git:// remote costs: hotpull's native ref-advertisement read (src/git/native-ls-remote.ts)
// against the long-lived helper shell running `git ls-remote` (src/git/coprocess.ts, HOTPULL_NATIVE_POLL=0), both
// through Git.lsRemote, one after the other against one `git daemon` on 127.0.0.1. Per poll: this process's CPU
// (process.cpuUsage), the helper shell's with the git processes it reaped (/proc/<pid>/stat), git daemon's tree
// (each connection forks a child running `git upload-pack`), and the wall time.
//
// Usage: npm run build && node bench/poll-cost.mjs [--polls 200] [--rounds 1]
// Needs git (git daemon) and Linux /proc. Prints figures; asserts no target.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  benchSandbox,
  cloneCheckout,
  git,
  machineContext,
  makeRemote,
  readCpuTicks,
  readTreeCpuTicks,
  round,
  sleep,
  spawnTracked,
  stopTracked,
  summarize,
  table,
} from './lib.mjs';
import { freePort } from './uwsgi.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: argv } = parseArgs({
  options: { polls: { type: 'string', default: '200' }, rounds: { type: 'string', default: '1' } },
});
const POLLS = Number(argv.polls);
const ROUNDS = Number(argv.rounds);

const { Git } = await import(path.join(ROOT, 'dist/git/repo.js'));
const context = machineContext();
const TICK_MS = 1000 / context.clkTck;

/** The ls-remote helper shell this process started (its argv[0] is `hotpull-ls-remote`), if one runs. */
async function helperShell() {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid !== process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('hotpull-ls-remote')) return Number(entry);
  }
  return undefined;
}

const { root, env } = await benchSandbox('hotpull-poll-cost-');
const { bare } = await makeRemote(root, env, { 'app.py': 'VERSION = 0\n' });
const port = await freePort();
const daemon = spawnTracked(
  'git',
  ['daemon', '--reuseaddr', '--export-all', `--base-path=${root}`, '--listen=127.0.0.1', `--port=${port}`, root],
  { env, stdio: ['ignore', 'ignore', 'inherit'] },
);
const url = `git://127.0.0.1:${port}/remote.git`;
for (let i = 0; i < 100; i++) {
  if (
    await git(root, env, 'ls-remote', url).then(
      () => true,
      () => false,
    )
  )
    break;
  await sleep(100);
}
const checkout = await cloneCheckout(root, env, bare, 'checkout');
await git(checkout, env, 'remote', 'set-url', 'origin', url);
const expected = await git(bare, env, 'rev-parse', 'main');

async function measure(mode) {
  const adapter = new Git(checkout, { ...env, ...(mode === 'native' ? {} : { HOTPULL_NATIVE_POLL: '0' }) });
  const paths = [];
  adapter.onCommand = (command) => paths.push(command.startsWith('native') ? 'native' : 'git');
  const poll = async () => {
    const sha = await adapter.lsRemote('origin', 'main', { timeoutMs: 30_000 });
    if (sha !== expected) throw new Error(`${mode}: got ${sha}, expected ${expected}`);
  };
  for (let i = 0; i < 5; i++) await poll(); // warm up: the route, the helper shell, JIT
  paths.length = 0;
  const shell = await helperShell();
  const shell0 = shell ? (await readCpuTicks(shell)).total : 0;
  const daemon0 = (await readTreeCpuTicks(daemon.pid)).total;
  const cpu0 = process.cpuUsage();
  const walls = [];
  for (let i = 0; i < POLLS; i++) {
    const t = performance.now();
    await poll();
    walls.push(performance.now() - t);
  }
  const cpu = process.cpuUsage(cpu0);
  const shellTicks = shell ? (await readCpuTicks(shell)).total - shell0 : 0;
  const daemonTicks = (await readTreeCpuTicks(daemon.pid)).total - daemon0;
  adapter.close();
  const own = (cpu.user + cpu.system) / 1000 / POLLS;
  const helper = (shellTicks * TICK_MS) / POLLS;
  return {
    mode,
    path: [...new Set(paths)].join('+'),
    ownMs: round(own),
    helperMs: round(helper),
    clientMs: round(own + helper),
    daemonMs: round((daemonTicks * TICK_MS) / POLLS),
    wall: summarize(walls),
  };
}

const results = [];
for (let r = 0; r < ROUNDS; r++) for (const mode of ['git', 'native']) results.push(await measure(mode));
await stopTracked(daemon);

console.log(
  `${POLLS} polls each of git://127.0.0.1 (git daemon, one branch) through Git.lsRemote; node ${context.node}, git ${context.git}, ${context.nproc} cores, load ${context.loadavgStart.join(' ')} at the start`,
);
console.log(
  table(
    [
      'per poll',
      'path taken',
      'hotpull CPU',
      'helper shell + git CPU',
      'client total',
      'git daemon CPU',
      'wall p50',
      'wall p90',
    ],
    results.map((x) => [
      x.mode === 'native' ? 'native (default)' : 'helper shell (HOTPULL_NATIVE_POLL=0)',
      x.path,
      `${x.ownMs} ms`,
      `${x.helperMs} ms`,
      `${x.clientMs} ms`,
      `${x.daemonMs} ms`,
      `${x.wall.median} ms`,
      `${x.wall.p90} ms`,
    ]),
  ),
);
console.log(
  JSON.stringify({ polls: POLLS, context: { ...context, loadavgEnd: (await import('node:os')).loadavg() }, results }),
);
