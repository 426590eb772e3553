// Helpers for bench/core.mjs: real git in real temp dirs, child processes tracked by pid so none outlives the
// bench, /proc readers, and small statistics. Plain Node ESM, no dependencies.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

// Variables that would point git at some other repository (set when the bench is started from a git hook).
const GIT_LOCAL_ENV_VARS = new Set([
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_CONFIG',
  'GIT_CONFIG_PARAMETERS',
  'GIT_CONFIG_COUNT',
  'GIT_OBJECT_DIRECTORY',
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_IMPLICIT_WORK_TREE',
  'GIT_GRAFT_FILE',
  'GIT_INDEX_FILE',
  'GIT_NO_REPLACE_OBJECTS',
  'GIT_REPLACE_REF_BASE',
  'GIT_PREFIX',
  'GIT_INTERNAL_SUPER_PREFIX',
  'GIT_SHALLOW_FILE',
  'GIT_COMMON_DIR',
]);

/**
 * One environment for every git the bench runs, hotpull's and the bare baseline's alike: the caller's own
 * minus repo-locating and HOTPULL_* variables, with system and global git config replaced by an empty file so
 * an operator's ~/.gitconfig (fsmonitor, credential helpers, hooks) cannot tilt either side.
 */
export function benchEnv(globalConfigFile) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (
      v === undefined ||
      GIT_LOCAL_ENV_VARS.has(k) ||
      /^GIT_CONFIG_(KEY|VALUE)_\d+$/.test(k) ||
      k.startsWith('HOTPULL_')
    )
      continue;
    env[k] = v;
  }
  return {
    ...env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: globalConfigFile,
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'hotpull bench',
    GIT_AUTHOR_EMAIL: 'bench@example.invalid',
    GIT_COMMITTER_NAME: 'hotpull bench',
    GIT_COMMITTER_EMAIL: 'bench@example.invalid',
  };
}

// ---------------------------------------------------------------------------------------------------------
// Child processes: every one the bench starts is registered here and killed on the way out, however we leave.

const children = new Map(); // pid -> { child, group }
let cleanups = [];

/** spawn(), registered so it is stopped by pid on exit, error or signal. `group: true` = own process group. */
export function spawnTracked(command, args, options = {}) {
  const group = options.detached === true;
  const child = spawn(command, args, options);
  if (child.pid !== undefined) {
    children.set(child.pid, { child, group });
    child.once('exit', () => children.delete(child.pid));
  }
  return child;
}

function killTracked(pid, signal) {
  const entry = children.get(pid);
  if (!entry) return;
  try {
    // A detached child leads its own process group (pgid = its pid): killing the group also stops whatever it
    // has running right now (the bash loop's git or sleep).
    process.kill(entry.group ? -pid : pid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM, wait up to `graceMs` for the exit, then SIGKILL. Resolves once the process has exited. */
export async function stopTracked(child, graceMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  killTracked(child.pid, 'SIGTERM');
  const timer = setTimeout(() => killTracked(child.pid, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  // A group leader's exit does not end its group: a git the bash loop had started may still be running.
  if (children.has(child.pid)) children.delete(child.pid);
}

/**
 * `--load N`: N busy shell loops (one core's worth each) for the rest of the run, so a target named at a load
 * average can be measured there on purpose and not only when other work happens to be running. Resolves once the
 * 1-minute load average has climbed to 90 % of N (it is an average: about a minute), at most after 120 s. Returns
 * `sampled()`: the load averages seen every 5 s since then, min and max, for the report.
 */
export async function startLoad(n, progress = () => {}) {
  if (!Number.isInteger(n) || n < 0) throw new Error(`--load must be an integer ≥ 0 (got ${n})`);
  const seen = [];
  if (n === 0) return { sampled: () => undefined };
  // unref'd: they must not keep the bench alive once its work is done (the exit handler kills them). Each also
  // ends by itself once the bench is gone (`kill -0` is a builtin: the loop stays a busy loop), which the exit
  // handler cannot see to after a kill -9.
  for (let i = 0; i < n; i++)
    spawnTracked('sh', ['-c', 'while kill -0 "$PPID" 2>/dev/null; do :; done'], { stdio: 'ignore' }).unref();
  const since = Date.now();
  while (os.loadavg()[0] < 0.9 * n && Date.now() - since < 120_000) {
    progress(`--load ${n}: load average ${round(os.loadavg()[0])}, waiting for ${round(0.9 * n)}`);
    await sleep(5000);
  }
  const timer = setInterval(() => seen.push(os.loadavg()[0]), 5000);
  timer.unref();
  seen.push(os.loadavg()[0]);
  return {
    sampled: () => ({ busyLoops: n, min: round(Math.min(...seen)), max: round(Math.max(...seen)) }),
  };
}

/** Registers a synchronous cleanup (temp dir removal) run on exit, error or signal, after children are killed. */
export function onCleanup(fn) {
  cleanups.push(fn);
}

function cleanupNow() {
  for (const pid of [...children.keys()]) killTracked(pid, 'SIGKILL');
  children.clear();
  const fns = cleanups;
  cleanups = [];
  for (const fn of fns.reverse()) {
    try {
      fn();
    } catch {
      // best effort on the way out
    }
  }
}

process.once('exit', cleanupNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    cleanupNow();
    process.exit(128 + { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[signal]);
  });
}

/** Removes a directory at exit (sync, so it also runs from the 'exit' handler). */
export function removeAtExit(dir) {
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
}

/** A temp directory removed at exit, and the bench environment with an empty global git config inside it. */
export async function benchSandbox(prefix) {
  const root = await mkdtemp(path.join(os.tmpdir(), prefix));
  removeAtExit(root);
  const globalConfig = path.join(root, 'gitconfig');
  await writeFile(globalConfig, '');
  return { root, env: benchEnv(globalConfig) };
}

// ---------------------------------------------------------------------------------------------------------
// Running commands

/** Runs a command to completion (all stdio closed), collecting output; rejects on a non-zero exit. */
export function run(command, args, { cwd, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

export const git = (cwd, env, ...args) => run('git', args, { cwd, env }).then((r) => r.stdout.trim());

/** Wall time of one awaited call, in ms. */
export async function timed(fn) {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

// ---------------------------------------------------------------------------------------------------------
// The sandbox: a bare remote, an author clone that pushes, and any number of deployed checkouts.

/** A bare remote on `main` holding `files` (path → content) as its first commit, and an author clone that pushes. */
export async function makeRemote(root, env, files) {
  const bare = path.join(root, 'remote.git');
  const author = path.join(root, 'author');
  await git(root, env, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
  await git(root, env, 'clone', '--quiet', bare, author);
  await git(author, env, 'checkout', '--quiet', '-B', 'main');
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(author, name)), { recursive: true });
    await writeFile(path.join(author, name), content);
  }
  await git(author, env, 'add', '-A');
  await git(author, env, 'commit', '--quiet', '-m', 'initial');
  await git(author, env, 'push', '--quiet', 'origin', 'main');
  return { bare, author };
}

/** Node, git, CPU and load of the machine a bench runs on, plus `extra` fields; other work skews every figure. */
export function machineContext(extra = {}) {
  const sh = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
    } catch {
      return undefined;
    }
  };
  const entries = Object.entries(extra).map(([key, [cmd, args]]) => [key, sh(cmd, args)]);
  return {
    node: process.version,
    git: sh('git', ['--version'])?.replace(/^git version /, ''),
    ...Object.fromEntries(entries),
    nproc: Number(sh('nproc', []) ?? os.availableParallelism()),
    clkTck: Number(sh('getconf', ['CLK_TCK']) ?? 100),
    cpu: os.cpus()[0]?.model,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    tmpdir: os.tmpdir(),
    // shown at the start and end of a run
    loadavgStart: os.loadavg().map((x) => round(x)),
  };
}

export async function cloneCheckout(root, env, bare, name) {
  const dir = path.join(root, name);
  await git(root, env, 'clone', '--quiet', '--branch', 'main', bare, dir);
  return dir;
}

/** Commits one change to app.py in the author clone and pushes it; returns the new sha. */
export async function pushCommit(author, env, n) {
  await writeFile(path.join(author, 'app.py'), `VERSION = ${n}\n`);
  await git(author, env, 'commit', '--quiet', '-am', `release ${n}`);
  await git(author, env, 'push', '--quiet', 'origin', 'main');
  return git(author, env, 'rev-parse', 'HEAD');
}

// ---------------------------------------------------------------------------------------------------------
// /proc readers (Linux)

export async function readStatusKb(pid, field) {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]);
}

/** utime+stime+cutime+cstime in clock ticks. The comm field may hold spaces, so fields count from its ')'. */
export async function readCpuTicks(pid) {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime..cstime are fields 14..17
  const [utime, stime, cutime, cstime] = rest.slice(11, 15).map(Number);
  return { utime, stime, cutime, cstime, total: utime + stime + cutime + cstime };
}

/**
 * CPU ticks of a process and all its live descendants. A long-lived child (hotpull's ls-remote helper shell)
 * is never waited for while the parent runs, so its ticks (and those of the git processes it reaps) never
 * reach the parent's cutime/cstime: they are added here from its own /proc entry. A child that exited in the
 * meantime is in its parent's cutime, so the sum over a window stays exact.
 */
export async function readTreeCpuTicks(pid) {
  const { readdir } = await import('node:fs/promises');
  const parents = new Map();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const text = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (!text) continue;
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    parents.set(Number(entry), Number(rest[1]));
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  const own = await readCpuTicks(pid);
  let rssKb = 0;
  for (const member of tree) rssKb += await readStatusKb(member, 'VmRSS').catch(() => 0);
  let descendants = 0;
  for (const child of tree.slice(1)) descendants += (await readCpuTicks(child).catch(() => ({ total: 0 }))).total;
  return { ...own, cutime: own.cutime + descendants, total: own.total + descendants, processes: tree.length, rssKb };
}

// ---------------------------------------------------------------------------------------------------------
// Statistics and formatting

/** Nearest-rank percentile of an unsorted sample. */
export function percentile(samples, p) {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export function summarize(samples) {
  const sum = samples.reduce((a, b) => a + b, 0);
  return {
    n: samples.length,
    median: round(percentile(samples, 50)),
    p90: round(percentile(samples, 90)),
    min: round(Math.min(...samples)),
    max: round(Math.max(...samples)),
    mean: round(sum / samples.length),
  };
}

export const round = (x, digits = 2) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
export const ratio = (a, b) => round(a / b);

/** A plain left/right-aligned text table. `rows` are arrays; the first column is left-aligned. */
export function table(header, rows, indent = '  ') {
  const all = [header, ...rows].map((r) => r.map((c) => (c === undefined || c === null ? '' : String(c))));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) => indent + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('   '))
    .join('\n');
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Node's flags as bin/hotpull (the installed command) gives them to this Node line: how a sidecar is started as
 * shipped. `bin` is dist/bin.js; the launcher is ../bin/hotpull beside dist/.
 */
export function shippedNodeFlags(bin) {
  const script = readFileSync(new URL('../bin/hotpull', `file://${bin}`), 'utf8');
  for (const m of script.matchAll(/^\s+(\S+)\) exec node(.*?) "\$here/gm)) {
    const glob = new RegExp(`^${m[1].replace(/\./g, '\\.').replace(/\*/g, '.*')}$`);
    if (glob.test(process.version)) return m[2].trim().split(' ').filter(Boolean);
  }
  return [];
}

/** The kernel's count of connections dropped because a listen queue was full (all sockets of the machine). */
export function listenOverflows() {
  const lines = readFileSync('/proc/net/netstat', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('TcpExt:'));
  const names = lines[0].split(/\s+/);
  const values = lines[1].split(/\s+/);
  return Number(values[names.indexOf('ListenOverflows')]);
}
