import { promises as fs, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { execa } from 'execa';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { resolveReloads } from '../src/commands/pipeline.js';
import { startWatching } from '../src/commands/watch.js';
import { ReloadGate } from '../src/reload/gate.js';
import type { DevWatch } from '../src/watch/dev.js';
import { Debouncer, describePaths } from '../src/watch/debounce.js';
import { DEFAULT_IGNORES, ignoreMatcher } from '../src/watch/ignore.js';
import { gitIgnored } from '../src/watch/gitignore.js';
import { probeMessage, watchErrorMessage } from '../src/watch/messages.js';
import { isProbePath, probeMount, PROBE_PREFIX } from '../src/watch/probe.js';
import { commitAndPush, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { CLI, logSink, makeDaemon, spawnCli, waitFor } from './helpers/hotpull.js';
import { itAsRoot, itRequires, skipUnlessCI } from './helpers/requires.js';

/** Longer than the debounce plus a loaded machine's event delay: a second reload would have come by then. */
const SETTLE_MS = 600;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let root: string | undefined;
let watching: DevWatch | undefined;
let sb: Sandbox | undefined;
afterEach(async () => {
  await watching?.close();
  watching = undefined;
  if (root) await fs.rm(root, { recursive: true, force: true });
  root = undefined;
  await sb?.cleanup();
  sb = undefined;
});

interface Dev {
  repo: string;
  watching: DevWatch;
  logs: ReturnType<typeof logSink>;
  /** reloads so far: each appends a line to a file outside the repo */
  reloads(): Promise<number>;
  /**
   * Waits until n reloads have run and the watcher has logged n of them as "reloaded": the command's line lands
   * before the watcher sees the command exit and logs, so a test that reads the log must wait for both.
   */
  reloaded(n: number, what: string): Promise<void>;
  write(rel: string, text?: string): Promise<void>;
}

/**
 * A repo with app.py and a real watcher wired the way `hotpull watch` wires it: config from flags, the shared
 * reload resolution, a touch file inside the repo and a command reload that counts.
 */
async function dev(
  flags: Record<string, unknown> = {},
  reload?: string[],
  files: Record<string, string> = {},
): Promise<Dev> {
  root ??= await tmpDir('hotpull-watch-');
  const repo = path.join(root, 'repo');
  await fs.mkdir(repo);
  for (const [rel, text] of Object.entries({ 'app.py': 'VERSION = 1\n', ...files })) {
    await fs.mkdir(path.dirname(path.join(repo, rel)), { recursive: true });
    await fs.writeFile(path.join(repo, rel), text);
  }
  const counter = path.join(root, 'reloads.log');
  const logs = logSink();
  const config = await loadConfig({
    flags: { repo, touch: 'reload.ini', reload: reload ?? [`command:echo r >> ${counter}`], ...flags },
    env: {},
    cwd: repo,
    isTTY: false,
  });
  const logger = await createLogger({ level: 'debug', format: 'json', destination: logs });
  watching = startWatching(config, repo, await resolveReloads(config, repo, process.env), logger);
  await watching.ready;
  const dir = repo;
  const reloads = async () => (await fs.readFile(counter, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
  return {
    repo,
    watching,
    logs,
    reloads,
    reloaded: (n, what) =>
      waitFor(
        what,
        async () => (await reloads()) === n && messages(logs).filter((m) => m.includes('reloaded')).length === n,
      ),
    write: async (rel, text = `${Date.now()}\n`) => {
      await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await fs.writeFile(path.join(dir, rel), text);
    },
  };
}

const messages = (logs: ReturnType<typeof logSink>) => logs.records().map((r) => r.msg as string);

/** inotify watches this process holds: one `inotify wd:` line per watch in the fdinfo of its inotify descriptors. */
function inotifyWatches(): number {
  let watches = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let target = '';
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed since the listing
    }
    if (target === 'anon_inode:inotify')
      watches += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('inotify wd:')).length;
  }
  return watches;
}

describe('hotpull watch: real files, real inotify (chokidar when polling)', () => {
  it('one save gives one reload, and touching its own reload file does not cause another', async () => {
    const d = await dev();
    await d.write('app.py', 'VERSION = 2\n');
    await d.reloaded(1, 'a reload');
    await sleep(SETTLE_MS);
    expect(await d.reloads()).toBe(1);
    // touch:reload.ini ran first: the file exists in the repo and its change was not a reason to reload again
    await expect(fs.stat(path.join(d.repo, 'reload.ini'))).resolves.toBeTruthy();
    expect(messages(d.logs)).toContainEqual(
      expect.stringMatching(/^1 change \(app\.py\): reloaded in [\d.]+m?s \(touch:.*reload\.ini, command:/),
    );
  });

  it('200 files written in a burst give one reload, logged as the first few paths and a count', async () => {
    const d = await dev();
    await Promise.all(Array.from({ length: 200 }, (_, i) => d.write(`m${String(i).padStart(3, '0')}.py`)));
    await d.reloaded(1, 'a reload');
    await sleep(SETTLE_MS);
    expect(await d.reloads()).toBe(1);
    expect(messages(d.logs)).toContainEqual(
      expect.stringMatching(/^200 changes \(m\d{3}\.py, m\d{3}\.py, m\d{3}\.py and 197 more\): reloaded/),
    );
  });

  it('ignored paths give no reload: defaults, --ignore globs and --ext', async () => {
    const d = await dev({ ignore: ['media/', '*.log'], ext: ['py', 'html'] });
    for (const rel of [
      '.git/objects/ab/cdef',
      '__pycache__/app.cpython-311.pyc',
      'legacy.pyc',
      'node_modules/left-pad/index.py',
      '.venv/bin/activate.py',
      'venv/lib/site.py',
      '.app.py.swp',
      'app.py~',
      '.#app.py',
      '4913',
      'media/upload.py',
      'server.log',
      'site.css',
      'reload.ini',
    ]) {
      await d.write(rel);
    }
    await sleep(SETTLE_MS);
    expect(await d.reloads()).toBe(0);
    await d.write('index.html');
    await d.reloaded(1, 'a reload for the template');
    expect(messages(d.logs)).toContainEqual(expect.stringMatching(/^1 change \(index\.html\): reloaded/));
  });

  it("the checkout's .gitignore files and .git/info/exclude: what git leaves untracked gives no reload", async () => {
    const d = await dev({}, undefined, {
      '.gitignore': 'build/\n*.log\n!keep.log\n/local_only.py\n',
      'pkg/.gitignore': 'generated_*.py\n',
      '.git/info/exclude': 'scratch/\n',
    });
    for (const rel of [
      'build/out.py',
      'build/deep/x.py',
      'server.log',
      'pkg/server.log',
      'local_only.py',
      'pkg/generated_models.py',
      'scratch/try.py',
    ])
      await d.write(rel);
    await sleep(SETTLE_MS);
    expect(await d.reloads()).toBe(0);
    // anchored (/local_only.py) and per-directory rules apply only where they are written; ! brings a file back
    await d.write('keep.log');
    await d.reloaded(1, 'a reload for keep.log');
    await d.write('pkg/local_only.py');
    await d.reloaded(2, 'a reload for pkg/local_only.py');
    await d.write('generated_models.py');
    await d.reloaded(3, 'a reload for generated_models.py');
    expect(messages(d.logs).filter((m) => /reloaded/.test(m))).toEqual([
      expect.stringMatching(/^1 change \(keep\.log\): reloaded/),
      expect.stringMatching(/^1 change \(pkg\/local_only\.py\): reloaded/),
      expect.stringMatching(/^1 change \(generated_models\.py\): reloaded/),
    ]);
    // a changed .gitignore applies from the next event on (its own change may reload once)
    await d.write('.gitignore', 'build/\n*.log\n*.tmp\n');
    await d.reloaded(4, 'the .gitignore change settled');
    await sleep(SETTLE_MS);
    const before = await d.reloads();
    await d.write('notes.tmp');
    await d.write('keep.log');
    await sleep(SETTLE_MS);
    expect(await d.reloads()).toBe(before);
  });

  it('a rename-save (write a temp file, rename it over the original) reloads', async () => {
    const d = await dev();
    await fs.writeFile(path.join(d.repo, 'app.py.tmp1234'), 'VERSION = 3\n');
    await fs.rename(path.join(d.repo, 'app.py.tmp1234'), path.join(d.repo, 'app.py'));
    await d.reloaded(1, 'a reload');
    await sleep(SETTLE_MS);
    expect(await d.reloads()).toBe(1);
  });

  it('a delete, a new directory and a removed directory each reload', async () => {
    const d = await dev();
    await fs.rm(path.join(d.repo, 'app.py'));
    await d.reloaded(1, 'a reload for the delete');
    await fs.mkdir(path.join(d.repo, 'pkg'));
    await d.reloaded(2, 'a reload for the new directory');
    await fs.rm(path.join(d.repo, 'pkg'), { recursive: true });
    await d.reloaded(3, 'a reload for the removed directory');
    expect(messages(d.logs).filter((m) => m.includes('reloaded'))).toEqual([
      expect.stringMatching(/^1 change \(app\.py\)/),
      expect.stringMatching(/^1 change \(pkg\)/),
      expect.stringMatching(/^1 change \(pkg\)/),
    ]);
  });

  it('edits deep in directories that existed at start, and in directories made since, reload', async () => {
    const d = await dev({}, undefined, { 'pkg/sub/deep/mod.py': 'X = 1\n' });
    await d.write('pkg/sub/deep/mod.py', 'X = 2\n');
    await d.reloaded(1, 'a reload for the existing file');
    await d.write('new/inner/views.py', 'V = 1\n');
    await d.reloaded(2, 'a reload for the new directories');
    await sleep(SETTLE_MS);
    await d.write('new/inner/views.py', 'V = 2\n');
    await d.reloaded(3, 'a reload for an edit in the new directory');
    expect(
      messages(d.logs)
        .filter((m) => m.includes('reloaded'))
        .at(-1),
    ).toMatch(/^1 change \(new\/inner\/views\.py\): reloaded/);
  });

  it('a directory removed and made again, or renamed, is watched afresh', async () => {
    const d = await dev({}, undefined, { 'pkg/sub/mod.py': 'X = 1\n', 'old/views.py': 'V = 1\n' });
    await fs.rm(path.join(d.repo, 'pkg'), { recursive: true });
    await d.reloaded(1, 'a reload for the removal');
    await d.write('pkg/sub/mod.py', 'X = 2\n');
    await d.reloaded(2, 'a reload for the new tree');
    await sleep(SETTLE_MS);
    await d.write('pkg/sub/mod.py', 'X = 3\n');
    await d.reloaded(3, 'a reload for an edit in the remade directory');
    await fs.rename(path.join(d.repo, 'old'), path.join(d.repo, 'new'));
    await d.reloaded(4, 'a reload for the rename');
    await sleep(SETTLE_MS);
    await d.write('new/views.py', 'V = 2\n');
    await d.reloaded(5, 'a reload for an edit in the renamed directory');
    expect(
      messages(d.logs)
        .filter((m) => m.includes('reloaded'))
        .at(-1),
    ).toMatch(/^1 change \(new\/views\.py\): reloaded/);
  });

  it('a tree of more directories than one scan batch: edits in the first and the last reload', async () => {
    const files = Object.fromEntries(
      Array.from({ length: 450 }, (_, i) => [`lib/d${String(i).padStart(3, '0')}/m.py`, 'X = 1\n']),
    );
    const d = await dev({}, undefined, files);
    await d.write('lib/d000/m.py', 'X = 2\n');
    await d.reloaded(1, 'a reload for the first directory');
    await sleep(SETTLE_MS);
    await d.write('lib/d449/m.py', 'X = 2\n');
    await d.reloaded(2, 'a reload for the last directory');
  });

  it('files already in a directory made since the start are reported; a directory replaced under the same name is watched afresh', async () => {
    const d = await dev();
    // made elsewhere and moved in whole: the watcher only sees the move, then finds the files by listing the directory
    const outside = path.join(root!, 'staged');
    await fs.mkdir(path.join(outside, 'inner'), { recursive: true });
    await fs.writeFile(path.join(outside, 'inner', 'views.py'), 'V = 1\n');
    await fs.rename(outside, path.join(d.repo, 'moved'));
    await d.reloaded(1, 'a reload for the moved-in tree');
    expect(
      messages(d.logs)
        .filter((m) => m.includes('reloaded'))
        .at(-1),
    ).toMatch(/^3 changes \(moved, moved\/inner and moved\/inner\/views\.py\): reloaded/);
    await sleep(SETTLE_MS);
    // removed and made again at once: the old watch (on the old inode) must not stand in for the new directory
    await fs.rm(path.join(d.repo, 'moved'), { recursive: true });
    await fs.mkdir(path.join(d.repo, 'moved'));
    await d.reloaded(2, 'a reload for the replacement');
    await sleep(SETTLE_MS);
    await d.write('moved/new.py', 'N = 1\n');
    await d.reloaded(3, 'a reload for a file in the replacement');
    expect(
      messages(d.logs)
        .filter((m) => m.includes('reloaded'))
        .at(-1),
    ).toMatch(/^1 change \(moved\/new\.py\): reloaded/);
  });

  it('ignored directories get no inotify watch, even when made after the start; a symlinked directory outside the repo is followed', async () => {
    root ??= await tmpDir('hotpull-watch-');
    const shared = path.join(root, 'shared-lib');
    await fs.mkdir(path.join(shared, 'sub'), { recursive: true });
    await fs.writeFile(path.join(shared, 'sub', 'util.py'), 'U = 1\n');
    const before = inotifyWatches();
    const d = await dev({ ignore: ['media/'] }, undefined, {
      'pkg/a.py': '',
      'media/big/x.py': '',
      'node_modules/m/index.js': '',
      '.git/HEAD': '',
    });
    await fs.symlink(shared, path.join(d.repo, 'lib'));
    await d.reloaded(1, 'a reload for the new link');
    await sleep(SETTLE_MS);
    await fs.mkdir(path.join(d.repo, 'media', 'later'), { recursive: true });
    await fs.mkdir(path.join(d.repo, '__pycache__'));
    // the repo, pkg, lib and lib/sub; not media, node_modules, .git, __pycache__ or anything below them
    await waitFor('the watches on the linked tree', () => inotifyWatches() - before === 4);
    await sleep(SETTLE_MS);
    expect(inotifyWatches() - before).toBe(4);
    expect(await d.reloads()).toBe(1);
    await fs.writeFile(path.join(shared, 'sub', 'util.py'), 'U = 2\n');
    await d.reloaded(2, 'a reload for an edit through the link');
    expect(
      messages(d.logs)
        .filter((m) => m.includes('reloaded'))
        .at(-1),
    ).toMatch(/^1 change \(lib\/sub\/util\.py\): reloaded/);
  });

  it('--poll on watches by polling', async () => {
    const d = await dev({ poll: 'on' });
    expect(d.watching.polling).toBe(true);
    expect(messages(d.logs)).toContainEqual(expect.stringMatching(/for changes \(polling every 250ms\), ready in/));
    await d.write('app.py', 'VERSION = 4\n');
    await d.reloaded(1, 'a reload');
    await sleep(SETTLE_MS);
    expect(await d.reloads()).toBe(1);
  });

  it('--poll auto keeps inotify on a mount that delivers events; the probe file neither reloads nor stays', async () => {
    const d = await dev({ poll: 'auto' });
    expect(d.watching.polling).toBe(false);
    await sleep(SETTLE_MS);
    expect(await d.reloads()).toBe(0);
    expect((await fs.readdir(d.repo)).filter((f) => f.startsWith(PROBE_PREFIX))).toEqual([]);
    expect(d.logs.records().filter((r) => (r.level as number) >= 40)).toEqual([]);
  });

  it('a failing reload strategy is reported and the watcher keeps going', async () => {
    const flagDir = await tmpDir('hotpull-watch-flag-');
    const flag = path.join(flagDir, 'fail');
    await fs.writeFile(flag, '');
    try {
      const d = await dev({}, [`command:test ! -e ${flag}`]);
      await d.write('app.py', 'VERSION = 5\n');
      await waitFor('the failure', () => d.watching.stats.failures === 1);
      expect(d.logs.records().find((r) => r.level === 50)?.msg).toMatch(
        /^1 change \(app\.py\): reload failed \(command:"test ! -e .*"\): .*; still watching, the next change tries again$/,
      );
      await fs.rm(flag);
      await d.write('app.py', 'VERSION = 6\n');
      await waitFor('a reload', () => d.watching.stats.reloads === 1);
      expect(d.watching.stats.failures).toBe(1);
    } finally {
      await fs.rm(flagDir, { recursive: true, force: true });
    }
  });
});

describe('run --watch: deploys and local edits share one reload gate', () => {
  it("the daemon's own git apply does not reload a second time; a local edit does", async () => {
    sb = await makeSandbox();
    root = await tmpDir('hotpull-watch-');
    const counter = path.join(root, 'reloads.log');
    const { daemon, config, target, reloading, gate, logger, outcomes } = await makeDaemon(sb.checkout, {
      watch: true,
      interval: '200ms',
      reload: [`command:echo r >> ${counter}`],
    });
    expect(gate).toBeInstanceOf(ReloadGate);
    const reloads = async () => (await fs.readFile(counter, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
    watching = startWatching(config, target.dir, reloading, logger, gate);
    await watching.ready;
    daemon.start();
    try {
      await waitFor('the first pass', () => outcomes.length > 0);
      await commitAndPush(sb, { 'app.py': 'VERSION = 2\n', 'views/home.py': 'HOME = 1\n' });
      await waitFor('the deploy', () => outcomes.some((o) => !(o instanceof Error) && o.kind === 'deployed'));
      await sleep(SETTLE_MS + 200);
      expect(await reloads()).toBe(1);
      expect(watching.stats.reloads).toBe(0);

      await fs.writeFile(path.join(sb.checkout, 'notes.txt'), 'local edit\n');
      await waitFor('the local edit reload', () => watching!.stats.reloads === 1);
      expect(await reloads()).toBe(2);
    } finally {
      await daemon.stop();
    }
  });

  it('a file-watch reload waits for a deploy holding the gate, and skips the files it wrote', async () => {
    const gate = new ReloadGate(200);
    const order: string[] = [];
    const release = await gate.enter(async () => ['app.py']);
    expect(gate.deploying).toBe(true);
    const waiting = gate.exclusive(async () => {
      order.push(
        `watch reload; deploy wrote app.py: ${gate.wroteRecently('app.py')}, views.py: ${gate.wroteRecently('views.py')}`,
      );
    });
    await sleep(50);
    order.push('deploy reloaded');
    release();
    await waiting;
    expect(order).toEqual(['deploy reloaded', 'watch reload; deploy wrote app.py: true, views.py: false']);
    await sleep(250);
    expect(gate.wroteRecently('app.py')).toBe(false);
  });
});

describe('the built CLI', () => {
  beforeAll(async () => {
    await expect(fs.stat(CLI), 'build first: npx tsc -p .').resolves.toBeTruthy();
  });

  it('hotpull watch reloads on a save and exits 0 on SIGTERM', async () => {
    root = await tmpDir('hotpull-watch-');
    const repo = path.join(root, 'repo');
    await fs.mkdir(repo);
    await fs.writeFile(path.join(repo, 'uwsgi.ini'), '[uwsgi]\n');
    const child = spawnCli(['watch', '--repo', repo, '--debounce', '100ms']);
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await waitFor('the watcher to be ready', () => out.includes('for changes (inotify), ready in'), 60_000);
    const before = (await fs.stat(path.join(repo, 'uwsgi.ini'))).mtimeMs;
    await fs.writeFile(path.join(repo, 'app.py'), 'VERSION = 2\n');
    await waitFor('the touch reload', async () => (await fs.stat(path.join(repo, 'uwsgi.ini'))).mtimeMs > before);
    child.kill('SIGTERM');
    const result = await child;
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe('');
    const lines = String(result.stdout)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).msg as string);
    expect(lines).toContainEqual(
      expect.stringMatching(/^1 change \(app\.py\): reloaded in [\d.]+m?s \(touch:.*uwsgi\.ini\)$/),
    );
    expect(lines.slice(-2)).toEqual(['SIGTERM: stopping', 'stopped']);
  });
});

describe('the built CLI meets a watch limit and an unreadable directory', () => {
  /**
   * Starts `hotpull watch` through `wrapper`, waits for an error line, stops it; returns the exit code and lines.
   * A CLI that exits first (it could not even start) fails at once with what it said, rather than a timeout.
   */
  async function watchUntilError(wrapper: string[], repo: string, cli = CLI) {
    const child = execa(wrapper[0]!, [...wrapper.slice(1), process.execPath, cli, 'watch', '--repo', repo], {
      cwd: path.dirname(repo),
      env: { HOTPULL_LOG_FORMAT: 'json' },
      reject: false,
    });
    let out = '';
    let err = '';
    let exited: number | string | undefined;
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('exit', (code, signal) => (exited = code ?? signal ?? 'exit'));
    // A whole CLI start: on a loaded 2-core machine that alone has taken over 10 s.
    await waitFor(
      'an error line and ready',
      () => {
        if (exited !== undefined)
          throw new Error(
            `hotpull watch exited (${exited}) before an error line and ready: ${(err || out).trim().split('\n')[0]}`,
          );
        return out.includes('"level":50') && out.includes('ready in');
      },
      60_000,
    );
    child.kill('SIGTERM');
    const result = await child;
    const records = String(result.stdout)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    return {
      exitCode: result.exitCode,
      stderr: result.stderr,
      errors: records.filter((r) => r.level >= 50).map((r) => r.msg),
    };
  }

  const asUid = (uid: number) => ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
  const canRead = (uid: number, file: string) =>
    spawnSync(
      asUid(uid)[0]!,
      [...asUid(uid).slice(1), process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(file)}, 4)`],
      { cwd: '/', timeout: 30_000 },
    ).status === 0;

  /**
   * The built CLI where `uid` can read it: this checkout's when it can, else a copy of dist/ and node_modules/ in
   * `dir` (hard links where the file system allows: a clone inside a mode-700 directory is out of its reach).
   */
  async function cliFor(uid: number, dir: string): Promise<string> {
    if (canRead(uid, CLI)) return CLI;
    const repoRoot = path.resolve(path.dirname(CLI), '..');
    await fs.mkdir(dir, { mode: 0o755 });
    for (const part of ['package.json', 'dist', 'node_modules']) {
      const linked = spawnSync('cp', ['-al', path.join(repoRoot, part), dir]);
      if (linked.status !== 0) await fs.cp(path.join(repoRoot, part), path.join(dir, part), { recursive: true });
    }
    return path.join(dir, 'dist', 'cli.js');
  }

  // A user namespace has its own inotify limit: set it to 3 there, for this one process, not the machine.
  const userns =
    spawnSync('unshare', ['-U', '-r', 'sh', '-c', 'echo 3 > /proc/sys/user/max_inotify_watches']).status === 0;
  itRequires(userns ? undefined : 'no user namespace here (unshare -U -r) to lower the inotify watch limit in')(
    'ENOSPC: one line with the sysctl fix, no stack trace, and it keeps going',
    async () => {
      root = await tmpDir('hotpull-watch-');
      for (const dir of ['repo/a/b', 'repo/c/d', 'repo/e']) await fs.mkdir(path.join(root, dir), { recursive: true });
      await fs.writeFile(path.join(root, 'repo/uwsgi.ini'), '');
      const { exitCode, stderr, errors } = await watchUntilError(
        ['unshare', '-U', '-r', 'sh', '-c', 'echo 3 > /proc/sys/user/max_inotify_watches && exec "$@"', 'sh'],
        path.join(root, 'repo'),
      );
      expect(errors).toEqual([
        expect.stringMatching(
          /^cannot watch [a-e/]+: the inotify watch limit is reached \(3 watches per user\), so changes below it will not reload; raise it on the host with `sysctl fs\.inotify\.max_user_watches=524288`, or --ignore large directories, or use --poll on$/,
        ),
      ]);
      expect([exitCode, stderr]).toEqual([0, '']);
    },
  );

  itAsRoot('running the watcher as uid 65534')(
    'EACCES: an unreadable directory is named, with the fix',
    async (ctx) => {
      root = await tmpDir('hotpull-watch-');
      await fs.chmod(root, 0o755);
      if (!canRead(65534, process.execPath))
        skipUnlessCI(ctx, `uid 65534 cannot run ${process.execPath} (it sits in a directory only its owner can enter)`);
      const cli = await cliFor(65534, path.join(root, 'cli'));
      const repo = path.join(root, 'repo');
      await fs.mkdir(path.join(repo, 'secret'), { recursive: true });
      await fs.writeFile(path.join(repo, 'uwsgi.ini'), '');
      await fs.chmod(repo, 0o777);
      await fs.chmod(path.join(repo, 'uwsgi.ini'), 0o666);
      await fs.chmod(path.join(repo, 'secret'), 0o000);
      const { exitCode, stderr, errors } = await watchUntilError(asUid(65534), repo, cli);
      expect(errors).toEqual([
        'cannot watch secret: permission denied (EACCES) for uid 65534, so changes to it will not reload; make it readable (chmod, chown) or --ignore it',
      ]);
      expect([exitCode, stderr]).toEqual([0, '']);
    },
  );
});

describe('watch: pure parts', () => {
  it('ignore matching: defaults, directory globs at any depth, anchored globs, reload files, --ext', () => {
    const ignored = ignoreMatcher({
      ignore: [...DEFAULT_IGNORES, 'media/', 'docs/*.md', '*.log'],
      ext: [],
      reloadFiles: ['uwsgi.ini'],
    });
    const yes = [
      '.git',
      '.git/HEAD',
      'sub/.git/config',
      'pkg/__pycache__/m.cpython-311.pyc',
      'x.pyc',
      'node_modules/a/b.py',
      '.venv',
      'venv/lib/x.py',
      '.x.py.swp',
      'x.py~',
      '.#x.py',
      'pkg/4913',
      'media',
      'a/media/b.py',
      'docs/a.md',
      'logs/app.log',
      'uwsgi.ini',
    ];
    for (const p of yes) expect([p, ignored(p)]).toEqual([p, true]);
    const no = [
      'app.py',
      'templates/index.html',
      'pkg',
      'docs/sub/a.md',
      'venvs/x.py',
      'mediafile.py',
      'sub/uwsgi.ini',
      'README',
    ];
    for (const p of no) expect([p, ignored(p)]).toEqual([p, false]);
    // a file named like a directory glob is not a directory
    expect([ignored('venv', 'file'), ignored('venv', 'dir'), ignored('venv')]).toEqual([false, true, true]);

    const onlyPy = ignoreMatcher({ ignore: DEFAULT_IGNORES, ext: ['py', 'html'], reloadFiles: [] });
    expect(['app.py', 'APP.PY', 'a/b/index.html', 'site.css', 'README'].map((p) => onlyPy(p, 'file'))).toEqual([
      false,
      false,
      false,
      true,
      true,
    ]);
    // directories always count; a path of unknown kind (an inotify create or delete) is held to --ext too
    expect([onlyPy('static', 'dir'), onlyPy('static'), onlyPy('views.py')]).toEqual([false, true, false]);
  });

  it('gitignore rules: deeper files win, ! re-includes, anchored rules, directory rules, unknown kinds, a forgotten file is read again', () => {
    const files: Record<string, string> = {
      '/r/.gitignore': 'build/\n*.log\n!keep.log\n/top.py\n',
      '/r/a/.gitignore': '!debug.log\nout/\n',
      '/r/.git/info/exclude': 'scratch\n',
    };
    const reads: string[] = [];
    const ignored = gitIgnored('/r', (file) => (reads.push(file), files[file]));
    const cases: Array<[string, 'file' | 'dir' | undefined, boolean]> = [
      ['build', 'dir', true],
      ['build', 'file', false],
      ['build', undefined, true],
      ['build/x.py', 'file', true],
      ['a/build/x.py', 'file', true],
      ['x.log', 'file', true],
      ['keep.log', 'file', false],
      ['a/debug.log', 'file', false],
      ['b/debug.log', 'file', true],
      ['top.py', 'file', true],
      ['a/top.py', 'file', false],
      ['a/out', 'dir', true],
      ['out', 'dir', false],
      ['scratch', 'dir', true],
      ['a/scratch', 'file', true],
      ['app.py', 'file', false],
      ['', 'dir', false],
    ];
    for (const [rel, kind, want] of cases) expect([rel, kind, ignored(rel, kind)]).toEqual([rel, kind, want]);
    // each directory's .gitignore is read once, until forgotten
    expect(reads.filter((f) => f === '/r/a/.gitignore')).toHaveLength(1);
    files['/r/a/.gitignore'] = '*.py\n';
    expect(ignored('a/app.py', 'file')).toBe(false);
    ignored.forget('a');
    expect(ignored('a/app.py', 'file')).toBe(true);
    // a directory listed without a .gitignore is not looked in for one
    ignored.listed('c', ['app.py']);
    expect(ignored('c/app.py', 'file')).toBe(false);
    expect(reads).not.toContain('/r/c/.gitignore');
    // with the --ignore matcher: a directory git ignores hides what is below it
    const both = ignoreMatcher({ ignore: [], ext: [], reloadFiles: [], also: ignored });
    expect([both('build/deep/x.py', 'file'), both('src/app.py', 'file')]).toEqual([true, false]);
  });

  it('a debouncer turns a burst into one batch, and a stream that never goes quiet still flushes', () => {
    vi.useFakeTimers();
    try {
      const batches: string[][] = [];
      const d = new Debouncer({
        quietMs: 150,
        maxWaitMs: 1000,
        onFlush: (b) => batches.push([...b.paths]),
        timers: { setTimeout, clearTimeout, now: Date.now },
      });
      for (const p of ['a.py', 'b.py', 'a.py']) {
        d.add(p);
        vi.advanceTimersByTime(100);
      }
      expect(batches).toEqual([]);
      vi.advanceTimersByTime(50);
      expect(batches).toEqual([['a.py', 'b.py']]);
      for (let i = 0; i < 12; i++) {
        d.add('app.log');
        vi.advanceTimersByTime(100);
      }
      expect(batches).toEqual([['a.py', 'b.py'], ['app.log']]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('describes changed paths as the first few and a count', () => {
    expect(describePaths(['a.py'])).toBe('a.py');
    expect(describePaths(['a.py', 'b.py'])).toBe('a.py and b.py');
    expect(describePaths(['a.py', 'b.py', 'c.py'])).toBe('a.py, b.py and c.py');
    expect(describePaths(['a', 'b', 'c', 'd', 'e'])).toBe('a, b, c and 2 more');
  });

  it('says what the watch limit and a permission error mean and how to fix them, in one line', () => {
    const enospc = Object.assign(new Error('ENOSPC: System limit for number of file watchers reached, watch'), {
      code: 'ENOSPC',
    });
    expect(watchErrorMessage(enospc, { where: 'pkg/sub', watchLimit: 8192 })).toBe(
      'cannot watch pkg/sub: the inotify watch limit is reached (8192 watches per user), so changes below it will not reload; ' +
        'raise it on the host with `sysctl fs.inotify.max_user_watches=524288`, or --ignore large directories, or use --poll on',
    );
    const eacces = Object.assign(new Error('EACCES: permission denied, watch'), { code: 'EACCES' });
    expect(watchErrorMessage(eacces, { where: 'secret.py', uid: 1000 })).toBe(
      'cannot watch secret.py: permission denied (EACCES) for uid 1000, so changes to it will not reload; make it readable (chmod, chown) or --ignore it',
    );
  });

  it('a mount that delivers no events: the probe times out, warns, and with auto says it polls', async () => {
    root = await tmpDir('hotpull-probe-');
    const result = await probeMount({ dir: root, timeoutMs: 100, heard: () => new Promise(() => undefined) });
    expect(result).toEqual({ kind: 'silent', waitedMs: 100 });
    expect(await fs.readdir(root)).toEqual([]);
    expect(probeMessage(result, '/app', 'off', 250)).toBe(
      'no file event arrived within 100ms of writing a probe file in /app: this mount does not deliver inotify events ' +
        '(a Docker Desktop or WSL2 bind mount?), so edits will not reload; use --poll on (or --poll auto)',
    );
    expect(probeMessage(result, '/app', 'auto', 250)).toMatch(/; polling every 250ms instead \(--poll auto\)$/);
    expect(isProbePath(`${PROBE_PREFIX}1-ab`)).toBe(true);
    expect(isProbePath(`sub/${PROBE_PREFIX}1-ab`)).toBe(false);
  });

  it.each([
    [{ poll: 'yes' }, {}, '--poll must be one of off, on, auto (got "yes")'],
    [{ ext: 'py,,html' }, {}, '--ext must be a comma-separated list of file extensions like py,html (got "py,,html")'],
    [{ debounce: 'soon' }, {}, '--debounce must be a duration like 500ms, 2s or 1m (got "soon")'],
    [
      {},
      { HOTPULL_IGNORE: '[""]' },
      'HOTPULL_IGNORE must be a glob relative to the repo like *.log or media/ (env: one value or a JSON list) (got "[\\"\\"]")',
    ],
  ])('config errors name option, rule and value: %j %j', async (flags, env, message) => {
    await expect(loadConfig({ flags, env, cwd: process.cwd(), isTTY: false })).rejects.toThrow(message);
  });

  it('config: --ext drops dots, --ignore repeats, HOTPULL_IGNORE takes a JSON list, defaults', async () => {
    const given = await loadConfig({
      flags: { ext: '.py, html', ignore: ['media/', '*.log'], watch: true },
      env: { HOTPULL_POLL: 'auto' },
      cwd: process.cwd(),
      isTTY: false,
    });
    expect([given.ext, given.ignore, given.watch, given.poll, given.debounce]).toEqual([
      ['py', 'html'],
      ['media/', '*.log'],
      true,
      'auto',
      150,
    ]);
    const fromEnv = await loadConfig({
      flags: {},
      env: { HOTPULL_IGNORE: '["a/", "*.tmp"]', HOTPULL_DEBOUNCE: '1s' },
      cwd: process.cwd(),
      isTTY: false,
    });
    expect([fromEnv.ignore, fromEnv.debounce, fromEnv.ext, fromEnv.watch, fromEnv.poll]).toEqual([
      ['a/', '*.tmp'],
      1000,
      [],
      false,
      'off',
    ]);
  });
});
