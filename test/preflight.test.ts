/**
 * Issue 13, stage and preflight: the fetched revision is judged in a tree of its own before anything serving sees
 * it. In-place: the staging worktree .git/hotpull/stage (reused, and made again after a crash left it broken);
 * atomic: releases/<sha>, after its onChange hooks. A failing preflight rejects the revision with nothing reloaded.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { itNeeds } from './helpers/requires.js';
import { commitAndPush, git, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { makePipeline, waitFor } from './helpers/hotpull.js';
import { wsgiAppSource } from './helpers/wsgi-app.js';
import { startUwsgi, workerVersions, type UwsgiServer } from './helpers/uwsgi.js';
import { StageTree } from '../src/sync/layout/stage-tree.js';
import { Git } from '../src/git/repo.js';

const PYTHON = '/usr/bin/python3';
let sb: Sandbox | undefined;
let server: UwsgiServer | undefined;
afterEach(async () => {
  await server?.stop();
  await sb?.cleanup();
  server = undefined;
  sb = undefined;
});

const itUwsgi = itNeeds('uwsgi');

const mtime = async (file: string) => (await fs.stat(file)).mtimeMs;
const everyWorker = async (url: string) => [...new Set((await workerVersions(url, 2)).values())];

describe('--preflight (in-place: the staging worktree)', () => {
  itUwsgi(
    'an import error is rejected before the reload: nothing reloaded, the old revision keeps serving',
    async () => {
      sb = await makeSandbox({ files: { 'app.py': wsgiAppSource('v1'), 'uwsgi.ini': '[uwsgi]\n' } });
      const touchFile = path.join(sb.checkout, 'uwsgi.ini');
      server = await startUwsgi({ dir: sb.checkout, touchReload: touchFile });
      const seen = path.join(sb.root, 'seen');
      const { engine, logs } = await makePipeline(sb.checkout, {
        healthUrl: `${server.url}/health`,
        preflight: [
          `echo "$(pwd) $HOTPULL_DIR $HOTPULL_SHA $HOTPULL_PREVIOUS_SHA" >> ${seen}`,
          `${PYTHON} -c "import app"`,
        ],
      });
      const good = await headOf(sb.checkout);
      const touchedBefore = await mtime(touchFile);
      const bad = await commitAndPush(sb, { 'app.py': wsgiAppSource('v2', { crashOnImport: true }) });

      const outcome = await engine.sync('test');
      expect(outcome).toMatchObject({ kind: 'rejected', record: { result: 'rejected', to: bad } });
      expect(engine.status).toMatchObject({ state: 'rejected', rejectedSha: bad, deployedSha: good });
      // the command's last output lines are in the verdict
      expect(engine.status.reason).toContain('rejected before it was served: preflight command');
      expect(engine.status.reason).toContain('RuntimeError: hotpull test app crashes at import (version v2)');
      expect(await headOf(sb.checkout)).toBe(good);
      expect(await git(sb.checkout, 'rev-parse', 'refs/hotpull/rejected')).toBe(bad);
      expect(await mtime(touchFile)).toBe(touchedBefore);
      expect(await everyWorker(server.url)).toEqual(['v1']);
      expect(logs.text()).toContain('rejected before it was served');

      // the commands ran in the staged tree, told where and what
      const stage = path.join(sb.checkout, '.git', 'hotpull', 'stage');
      expect((await fs.readFile(seen, 'utf8')).trim()).toBe(`${stage} ${stage} ${bad} ${good}`);
      // not retried while the branch stays there
      expect((await engine.sync('test')).kind).toBe('blocked');

      // a fix on top passes the preflight (the stage is reused) and goes live
      const fix = await commitAndPush(sb, { 'app.py': wsgiAppSource('v3') });
      expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { result: 'live', to: fix } });
      expect(await everyWorker(server.url)).toEqual(['v3']);
      expect(engine.status.rejectedSha).toBeUndefined();
    },
    60_000,
  );

  it('a preflight that outlives its time limit is a verdict, its process group ended', async () => {
    sb = await makeSandbox();
    const pidFile = path.join(sb.root, 'pid');
    const { engine } = await makePipeline(sb.checkout, {
      reload: ['none'],
      preflight: [`sh -c 'echo $$ > ${pidFile}; echo still checking; sleep 30'`],
      canaryTimeout: '1s',
    });
    const bad = await commitAndPush(sb, { 'README.md': 'two\n' });
    const outcome = await engine.sync('test');
    expect(outcome).toMatchObject({ kind: 'rejected', record: { result: 'rejected', to: bad } });
    expect(engine.status.reason).toMatch(/preflight command .* timed out after 1s: still checking/);
    const pid = Number(await fs.readFile(pidFile, 'utf8'));
    await waitFor('the timed-out preflight gone', () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  }, 30_000);
});

describe('the staging worktree', () => {
  it('is reused, comes back as a fresh checkout, and is made again whatever a kill -9 left of it', async () => {
    sb = await makeSandbox({ files: { 'a.txt': 'one\n' } });
    const repo = new Git(sb.checkout);
    const stateDir = path.join(sb.checkout, '.git', 'hotpull');
    const stage = new StageTree(repo, stateDir, process.env);
    const first = await headOf(sb.checkout);
    const second = await commitAndPush(sb, { 'a.txt': 'two\n', 'b.txt': 'new\n' });
    await git(sb.checkout, 'fetch', '-q', 'origin');

    const dir = await stage.prepare(first);
    expect(await fs.readFile(path.join(dir, 'a.txt'), 'utf8')).toBe('one\n');
    const marker = path.join(dir, '.git');
    const made = (await fs.stat(marker)).ino;
    // what a judge wrote there is gone next time; the tree is reused, not made again
    await fs.writeFile(path.join(dir, 'junk.pyc'), 'x');
    await fs.writeFile(path.join(dir, 'a.txt'), 'edited\n');
    await stage.prepare(second);
    expect(await fs.readFile(path.join(dir, 'a.txt'), 'utf8')).toBe('two\n');
    expect(await fs.readFile(path.join(dir, 'b.txt'), 'utf8')).toBe('new\n');
    await expect(fs.stat(path.join(dir, 'junk.pyc'))).rejects.toThrow();
    expect((await fs.stat(marker)).ino).toBe(made);
    // ignored files go too (a venv or __pycache__ a hook or a judge made), and a tree already clean stays so
    await fs.appendFile(path.join(sb.checkout, '.git', 'info', 'exclude'), 'built/\n');
    await fs.mkdir(path.join(dir, 'built'));
    await fs.writeFile(path.join(dir, 'built', 'out.txt'), 'x');
    await stage.prepare(second);
    await expect(fs.stat(path.join(dir, 'built'))).rejects.toThrow();
    await stage.prepare(second);
    expect(await headOf(dir)).toBe(second);
    expect((await git(dir, 'status', '--porcelain', '--ignored')).trim()).toBe('');

    // killed mid-checkout: the worktree's index.lock stays behind
    const own = (await git(dir, 'rev-parse', '--absolute-git-dir')).trim();
    await fs.writeFile(path.join(own, 'index.lock'), '');
    await stage.prepare(first);
    expect(await headOf(dir)).toBe(first);

    // killed mid `worktree add`: a directory git does not know (no .git), and a registry entry without a tree
    await fs.rm(marker);
    await stage.prepare(second);
    expect(await headOf(dir)).toBe(second);
    await fs.rm(dir, { recursive: true });
    await stage.prepare(first);
    expect(await headOf(dir)).toBe(first);
    // the served checkout never moved and stays clean
    expect(await headOf(sb.checkout)).toBe(first);
    expect((await git(sb.checkout, 'status', '--porcelain')).trim()).toBe('');
    expect((await git(sb.checkout, 'worktree', 'list')).trim().split('\n')).toHaveLength(2);
  }, 30_000);
});

describe('--preflight (atomic: the release directory, after its hooks)', () => {
  it('onChange run hooks prepare releases/<sha> first; a failing preflight removes the release and current stays', async () => {
    sb = await makeSandbox({ files: { 'app.py': 'ok = True\n', 'requirements.txt': 'a\n' } });
    // inside the sandbox, so the afterEach that removes it removes this too, passed or failed
    const root = path.join(sb.root, 'atomic-root');
    await fs.mkdir(root);
    const configFile = path.join(sb.root, 'hotpull.config.json');
    await fs.writeFile(
      configFile,
      JSON.stringify({ onChange: [{ paths: ['requirements.txt'], run: ['echo prepared > prepared.txt'] }] }),
    );
    const flags = { layout: 'atomic', remote: sb.bare, branch: 'main', reload: ['none'], config: configFile };
    const preflight = ['test -f prepared.txt', `${PYTHON} -c "import app"`];
    const { engine } = await makePipeline(root, { ...flags, preflight });
    const first = await headOf(sb.seed);
    expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { to: first } });

    const bad = await commitAndPush(sb, { 'app.py': 'import missing_module\n', 'requirements.txt': 'b\n' });
    const outcome = await engine.sync('test');
    expect(outcome).toMatchObject({ kind: 'rejected', record: { result: 'rejected', to: bad } });
    expect(engine.status.reason).toContain("ModuleNotFoundError: No module named 'missing_module'");
    expect(await fs.readlink(path.join(root, 'current'))).toBe(path.join('releases', first));
    await expect(fs.stat(path.join(root, 'releases', bad))).rejects.toThrow();
  }, 30_000);
});
