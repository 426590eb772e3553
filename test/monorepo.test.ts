/**
 * Issue 30 item 4, monorepos (src/sync/pass/scope.ts, src/sync/scope-paths.ts): with --path, a push that changes
 * nothing under the paths moves the tree and is counted, with no hooks, reload, record or notification; a push under
 * them deploys. --sparse: the checkout, the in-place stage tree and each atomic release hold only the paths (and the
 * root's files). Real git on bare repos in temp dirs; reloads counted by a command reloader's lines.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { makePipeline } from './helpers/hotpull.js';
import { normalizeScopePaths, underPaths } from '../src/sync/scope-paths.js';
import { Metrics } from '../src/http/metrics.js';
import type { EngineChange } from '../src/sync/engine.js';

const FILES = {
  'app.py': 'VERSION = 1\n',
  'svc/api/main.py': 'API = 1\n',
  'svc/web/index.html': '<p>1</p>\n',
  'lib/util.py': 'U = 1\n',
};

let sb: Sandbox;
let tmp: string;
beforeAll(async () => {
  sb = await makeSandbox({ files: FILES });
  tmp = await tmpDir('hotpull-mono-');
});
afterAll(async () => {
  await sb?.cleanup();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

/** Every file under `dir` but .git, sorted, relative. */
async function filesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (at: string): Promise<void> => {
    for (const e of await fs.readdir(path.join(dir, at), { withFileTypes: true })) {
      const rel = at ? `${at}/${e.name}` : e.name;
      if (e.name === '.git') continue;
      if (e.isDirectory()) await walk(rel);
      else out.push(rel);
    }
  };
  await walk('');
  return out.sort();
}

const lines = async (file: string) =>
  (await fs.readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

describe('--path (pure)', () => {
  it.each([
    [['svc/api'], ['svc/api']],
    [
      ['./svc/api/', 'svc//web', 'svc/api'],
      ['svc/api', 'svc/web'],
    ],
    [['svc/../lib'], ['lib']],
  ])('normalizes %j to %j', (raw, paths) => {
    expect(normalizeScopePaths(raw)).toEqual({ paths });
  });

  it.each([
    ['/srv/app', 'absolute'],
    ['../other', 'outside the repository'],
    ['svc/../..', 'outside the repository'],
    ['.', 'the whole repository'],
  ])('refuses %j in one line (%s)', (value, why) => {
    expect(normalizeScopePaths(['lib', value])).toEqual({
      problem: `--path must be a directory inside the repository, relative to its root (got ${JSON.stringify(value)}: ${why})`,
    });
  });

  it('counts a file under a path, not one whose name only begins like it', () => {
    expect(underPaths('svc/api/main.py', ['svc/api'])).toBe(true);
    expect(underPaths('svc/api', ['svc/api'])).toBe(true);
    expect(underPaths('svc/apix/main.py', ['svc/api'])).toBe(false);
  });
});

describe('--path in the pipeline', () => {
  it('in-place: a push outside the paths moves the checkout with no reload, record or notification; inside reloads once', async () => {
    const counter = path.join(tmp, 'reloads-in-place');
    const p = await makePipeline(sb.checkout, { path: ['svc/api/'], reload: [`command:echo r >> ${counter}`] });
    const events: EngineChange[] = [];
    p.listen((change) => events.push(change));
    const records = p.engine.status.deploys.length;

    const outside = await commitAndPush(sb, { 'svc/web/index.html': '<p>2</p>\n', 'lib/util.py': 'U = 2\n' });
    expect(await p.engine.sync('poll')).toEqual({ kind: 'up-to-date', sha: outside, skipped: true });
    expect(await headOf(sb.checkout)).toBe(outside);
    expect(await fs.readFile(path.join(sb.checkout, 'lib/util.py'), 'utf8')).toBe('U = 2\n');
    expect(await lines(counter)).toBe(0);
    expect(p.engine.status).toMatchObject({ state: 'idle', deployedSha: outside, skipped: { count: 1, to: outside } });
    expect(p.engine.status.deploys.length).toBe(records);
    expect(events.filter((e) => e.kind === 'deploy')).toEqual([]);
    expect(p.logs.text()).toContain('nothing to deploy (no change under --path svc/api)');
    expect(new Metrics().render(p.engine.status)).toContain('hotpull_skipped_deploys_total 1\n');
    // the next poll finds it up to date, nothing counted again
    expect(await p.engine.sync('poll')).toEqual({ kind: 'up-to-date', sha: outside });

    const inside = await commitAndPush(sb, { 'svc/api/main.py': 'API = 2\n' });
    expect((await p.engine.sync('poll')).kind).toBe('deployed');
    expect(await headOf(sb.checkout)).toBe(inside);
    expect(await lines(counter)).toBe(1);
    expect(p.engine.status.skipped?.count).toBe(1);
    expect(events.filter((e) => e.kind === 'deploy').length).toBe(1);
    p.engine.close();
  }, 30_000);

  it('--sparse in-place: the checkout and the stage tree a preflight looks at hold only the paths and the root files', async () => {
    const seen = path.join(tmp, 'stage-files');
    const p = await makePipeline(sb.checkout, {
      path: ['svc/api'],
      sparse: true,
      reload: ['none'],
      preflight: [`find . -path ./.git -prune -o -type f -print | sort > ${seen}`],
    });
    expect(await filesIn(sb.checkout)).toEqual(['app.py', 'svc/api/main.py']);
    await commitAndPush(sb, { 'svc/api/new.py': 'N = 1\n', 'svc/web/more.html': 'x\n' });
    expect((await p.engine.sync('poll')).kind).toBe('deployed');
    expect(await filesIn(sb.checkout)).toEqual(['app.py', 'svc/api/main.py', 'svc/api/new.py']);
    expect((await fs.readFile(seen, 'utf8')).trim().split('\n')).toEqual([
      './app.py',
      './svc/api/main.py',
      './svc/api/new.py',
    ]);
    p.engine.close();
  }, 30_000);

  it('--sparse atomic: each release holds only the paths; a push outside them switches current with no reload', async () => {
    const root = path.join(tmp, 'volume', 'app');
    await fs.mkdir(root, { recursive: true });
    const counter = path.join(tmp, 'reloads-atomic');
    const p = await makePipeline(root, {
      layout: 'atomic',
      remote: sb.bare,
      branch: 'main',
      path: ['svc/web'],
      sparse: true,
      reload: [`command:echo r >> ${counter}`],
    });
    expect((await p.engine.sync('poll')).kind).toBe('deployed');
    expect(await lines(counter)).toBe(1);
    const current = path.join(root, 'current');
    expect(await filesIn(current)).toEqual(['app.py', 'svc/web/index.html', 'svc/web/more.html']);

    const outside = await commitAndPush(sb, { 'lib/util.py': 'U = 3\n' });
    expect(await p.engine.sync('poll')).toEqual({ kind: 'up-to-date', sha: outside, skipped: true });
    expect(await fs.readlink(current)).toBe(path.join('releases', outside));
    expect(await filesIn(current)).toEqual(['app.py', 'svc/web/index.html', 'svc/web/more.html']);
    expect(await lines(counter)).toBe(1);

    await commitAndPush(sb, { 'svc/web/index.html': '<p>3</p>\n' });
    expect((await p.engine.sync('poll')).kind).toBe('deployed');
    expect(await lines(counter)).toBe(2);
    expect(await fs.readFile(path.join(current, 'svc/web/index.html'), 'utf8')).toBe('<p>3</p>\n');
    p.engine.close();
  }, 30_000);

  it('is checked at start: an absolute or escaping --path, and --sparse without --path (exit 2)', async () => {
    await expect(makePipeline(sb.checkout, { path: ['/srv/app'] })).rejects.toMatchObject({
      code: 'CONFIG',
      message: '--path must be a directory inside the repository, relative to its root (got "/srv/app": absolute)',
    });
    await expect(makePipeline(sb.checkout, { path: ['../x'] })).rejects.toThrow('(got "../x": outside the repository)');
    await expect(makePipeline(sb.checkout, { sparse: true })).rejects.toThrow(
      '--sparse needs --path DIR: the checkout would hold nothing but the files at its root',
    );
  });
});
