import { promises as fs } from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { commitAndPush, git, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { judgeChildFile, makePipeline, runCli, spawnCli, waitFor } from './helpers/hotpull.js';
import { JUDGE_MARK } from '../src/deploy/judge.js';
import { processesWithEnv } from '../src/proc/procfs.js';

let sb: Sandbox | undefined;
let extra: string[] = [];
afterEach(async () => {
  await sb?.cleanup();
  for (const dir of extra) await fs.rm(dir, { recursive: true, force: true });
  sb = undefined;
  extra = [];
});

async function volume(): Promise<string> {
  const root = await tmpDir('hotpull-volume-');
  extra.push(root);
  return path.join(root, 'app');
}

const currentSha = async (root: string) => path.basename(await fs.readlink(path.join(root, 'current')));

/** `hotpull run` on an atomic layout at `root`, polling every 100 ms, keeping 2 releases: the kill tests' daemon. */
const killTestArgs = (root: string, bare: string, ...extra: string[]) => [
  'run',
  '--layout',
  'atomic',
  '--repo',
  root,
  '--remote',
  bare,
  '--branch',
  'main',
  '--interval',
  '100ms',
  '--keep',
  '2',
  ...extra,
  '--log-level',
  'warn',
];

/** A last start, without a kill: `sha` goes live; then `whileRunning`, then a stop. */
async function restartUntilLive(args: string[], root: string, sha: string, whileRunning = async () => {}) {
  const child = spawnCli(args);
  try {
    await waitFor(
      'the last push deployed after restart',
      async () => (await currentSha(root).catch(() => '')) === sha,
      20_000,
    );
    await whileRunning();
  } finally {
    child.kill('SIGTERM');
    await child;
  }
}

/** Starts `args` until a first release is live, then kills it: from then on `current` must exist after every kill. */
async function firstRelease(args: string[], root: string): Promise<void> {
  const first = spawnCli(args);
  await waitFor(
    'the first release',
    () =>
      currentSha(root).then(
        () => true,
        () => false,
      ),
    20_000,
  );
  first.kill('SIGKILL');
  await first;
}

/** Every file of `sha` is in the release with the same bytes, and the release holds nothing else but .git. */
async function assertCompleteRelease(bare: string, root: string, sha: string): Promise<void> {
  const dir = path.join(root, 'releases', sha);
  const files = (await git(bare, 'ls-tree', '-r', '--name-only', sha)).split('\n').filter(Boolean);
  for (const file of files) {
    const blob = (await execa('git', ['show', `${sha}:${file}`], { cwd: bare, stripFinalNewline: false })).stdout;
    expect(await fs.readFile(path.join(dir, file), 'utf8'), `${sha}:${file}`).toBe(blob);
  }
  const present = (await fs.readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .filter((f) => f !== '.git');
  expect(present.sort()).toEqual([...files].sort());
}

describe('--layout atomic', () => {
  it('makes the first clone and release in an empty directory, then switches current per deploy', async () => {
    sb = await makeSandbox();
    const root = await volume();
    const { engine } = await makePipeline(root, { layout: 'atomic', remote: sb.bare, branch: 'main' });
    const first = await git(sb.bare, 'rev-parse', 'main');
    expect((await engine.sync('test')).kind).toBe('deployed');
    expect(await currentSha(root)).toBe(first);
    expect(await fs.readlink(path.join(root, 'current'))).toBe(path.join('releases', first));
    await assertCompleteRelease(sb.bare, root, first);

    const second = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n', 'lib/new.py': 'x = 1\n' });
    expect((await engine.sync('test')).kind).toBe('deployed');
    expect(await currentSha(root)).toBe(second);
    await assertCompleteRelease(sb.bare, root, second);
    expect(await fs.readFile(path.join(root, 'current/app.py'), 'utf8')).toBe('VERSION = 2\n');
    // the previous release stays for instant rollback
    await assertCompleteRelease(sb.bare, root, first);
  });

  it('--depth makes a shallow first clone, and later deploys still fetch and switch', async () => {
    sb = await makeSandbox();
    for (let i = 2; i <= 5; i++) await commitAndPush(sb, { 'app.py': `VERSION = ${i}\n` });
    const root = await volume();
    const { engine } = await makePipeline(root, {
      layout: 'atomic',
      remote: `file://${sb.bare}`,
      branch: 'main',
      depth: 1,
    });
    expect((await engine.sync('test')).kind).toBe('deployed');
    const repo = path.join(root, '.hotpull/repo');
    expect(await git(repo, 'rev-list', '--count', 'refs/remotes/origin/main')).toBe('1');
    const next = await commitAndPush(sb, { 'app.py': 'VERSION = 6\n' });
    expect((await engine.sync('test')).kind).toBe('deployed');
    expect(await currentSha(root)).toBe(next);
    await assertCompleteRelease(sb.bare, root, next);
  });

  it('sets aside a repository that fails git fsck and clones again in the same directory; current keeps serving', async () => {
    sb = await makeSandbox();
    const root = await volume();
    const first = await makePipeline(root, { layout: 'atomic', remote: sb.bare, branch: 'main' });
    await first.engine.sync('test');
    const served = await currentSha(root);
    // damage: every object gone, as after a crash on a full disk
    const objects = path.join(root, '.hotpull/repo/objects');
    for (const dir of await fs.readdir(objects))
      if (/^[0-9a-f]{2}$|^pack$/.test(dir)) await fs.rm(path.join(objects, dir), { recursive: true });
    await expect(git(path.join(root, '.hotpull/repo'), 'fsck', '--connectivity-only')).rejects.toThrow();

    const restarted = await makePipeline(root, { layout: 'atomic', branch: 'main' });
    expect(restarted.logs.text()).toContain('repository failed git fsck; set aside');
    expect(await currentSha(root)).toBe(served);
    await assertCompleteRelease(sb.bare, root, served);
    const next = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    expect((await restarted.engine.sync('test')).kind).toBe('deployed');
    expect(await currentSha(root)).toBe(next);
    await assertCompleteRelease(sb.bare, root, next);
    await git(path.join(root, '.hotpull/repo'), 'fsck', '--connectivity-only');
    expect((await fs.readdir(path.join(root, '.hotpull'))).some((n) => n.startsWith('repo.broken-'))).toBe(true);
  });

  it('refuses a non-empty directory that is not an atomic layout, and a first clone without a URL', async () => {
    sb = await makeSandbox();
    const result = await runCli(['sync', '--layout', 'atomic', '--repo', sb.checkout, '--remote', sb.bare]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(
      /^hotpull: --repo must be an empty directory or an existing atomic layout for --layout atomic \(got ".*checkout", which holds /,
    );
    const root = await volume();
    const noUrl = await runCli(['sync', '--layout', 'atomic', '--repo', root]);
    expect([noUrl.exitCode, noUrl.stderr]).toEqual([
      2,
      'hotpull: --remote must be a URL for the first clone of an atomic layout (got "origin")',
    ]);
  });

  it('runs onChange hooks inside the new release before the switch; a failure means no switch', async () => {
    sb = await makeSandbox();
    const root = await volume();
    const file = path.join(path.dirname(root), 'hotpull.config.json');
    await fs.writeFile(
      file,
      JSON.stringify({
        onChange: [{ paths: 'requirements.txt', run: 'test "$(cat requirements.txt)" = good && pwd > ../hook-ran-in' }],
      }),
    );
    const { engine } = await makePipeline(root, { layout: 'atomic', remote: sb.bare, branch: 'main', config: file });
    await engine.sync('test');
    const before = await currentSha(root);
    const good = await commitAndPush(sb, { 'requirements.txt': 'good' });
    expect((await engine.sync('test')).kind).toBe('deployed');
    expect((await fs.readFile(path.join(root, 'releases/hook-ran-in'), 'utf8')).trim()).toBe(
      path.join(await fs.realpath(root), 'releases', good),
    );
    expect(before).not.toBe(good);

    const bad = await commitAndPush(sb, { 'requirements.txt': 'bad' });
    expect((await engine.sync('test')).kind).toBe('rejected');
    expect(await currentSha(root)).toBe(good);
    await expect(fs.stat(path.join(root, 'releases', bad))).rejects.toThrow();
  });

  it('rolls back by switching current to the last verified release', async () => {
    sb = await makeSandbox({ files: { 'health.txt': 'ok' } });
    const root = await volume();
    // a real server that answers from whatever `current` points at, as an app server re-reading would
    const server = http.createServer(async (_req, res) => {
      const text = await fs.readFile(path.join(root, 'current/health.txt'), 'utf8').catch(() => 'missing');
      res.writeHead(text === 'ok' ? 200 : 500).end(text);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    try {
      const { engine } = await makePipeline(root, {
        layout: 'atomic',
        remote: sb.bare,
        branch: 'main',
        healthUrl: url,
        healthTimeout: '1s',
        healthSettle: '100ms',
        reload: ['none'],
      });
      expect((await engine.sync('test')).kind).toBe('deployed');
      const good = await currentSha(root);
      expect(engine.status.lastGoodSha).toBe(good);
      const bad = await commitAndPush(sb, { 'health.txt': 'broken' });
      const outcome = await engine.sync('test');
      expect(outcome).toMatchObject({ kind: 'rejected', record: { result: 'rolled-back', rolledBackTo: good } });
      expect(await currentSha(root)).toBe(good);
      expect(engine.status).toMatchObject({ state: 'rejected', rejectedSha: bad });
      expect((await engine.sync('test')).kind).toBe('blocked');
    } finally {
      server.close();
    }
  });

  it('at start, a current that names no complete release goes back to the newest that went live, never to one that did not', async () => {
    sb = await makeSandbox();
    const root = await volume();
    const first = await makePipeline(root, { layout: 'atomic', remote: sb.bare, branch: 'main' });
    await first.engine.sync('test');
    const live = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    expect((await first.engine.sync('test')).kind).toBe('deployed');
    first.engine.close();
    // a complete release that never went live, as a kill -9 during its canary or its hooks leaves it
    const judged = await commitAndPush(sb, { 'app.py': 'VERSION = 3\n' });
    const repo = path.join(root, '.hotpull', 'repo');
    await git(repo, 'fetch', '--quiet', sb.bare, 'main');
    await git(repo, 'worktree', 'add', '--quiet', '--detach', path.join(root, 'releases', judged), judged);
    // and current lost: it names a release that is not there
    await fs.rm(path.join(root, 'current'));
    await fs.symlink(path.join('releases', 'f'.repeat(40)), path.join(root, 'current'));

    const restarted = await makePipeline(root, { layout: 'atomic', branch: 'main' });
    // the pass judges nothing here (no --preflight, no --canary): it deploys `judged` as the branch head, after
    // start-up has put current back on the release that went live
    expect(await restarted.engine.sync('test')).toMatchObject({ kind: 'deployed', record: { from: live, to: judged } });
    expect(restarted.logs.text()).toContain(`current named no complete release; switched it to ${live}`);
    expect(await currentSha(root)).toBe(judged);
    restarted.engine.close();
  });

  it('keeps --keep live releases, never current, never one a process still uses', async () => {
    sb = await makeSandbox();
    const root = await volume();
    const { engine } = await makePipeline(root, { layout: 'atomic', remote: sb.bare, branch: 'main', keep: 2 });
    await engine.sync('test');
    const first = await currentSha(root);
    // a process whose working directory is the first release, like a uWSGI master after a chain reload
    const user = spawn('sleep', ['30'], { cwd: path.join(root, 'releases', first), stdio: 'ignore' });
    try {
      const shas = [];
      for (let i = 2; i <= 5; i++) {
        shas.push(await commitAndPush(sb, { 'app.py': `VERSION = ${i}\n` }));
        await engine.sync('test');
      }
      const releases = (await fs.readdir(path.join(root, 'releases'))).sort();
      expect(releases).toEqual([first, ...shas.slice(-2)].sort());
    } finally {
      user.kill('SIGKILL');
    }
    await commitAndPush(sb, { 'app.py': 'VERSION = 6\n' });
    await engine.sync('test');
    expect(await fs.readdir(path.join(root, 'releases'))).not.toContain(first);
  });

  it('survives kill -9 at random points across 50 deploys: current is always a complete pushed release', async () => {
    sb = await makeSandbox();
    const root = await volume();
    const pushed = new Set([await git(sb.bare, 'rev-parse', 'main')]);
    const args = killTestArgs(root, sb.bare);
    await firstRelease(args, root);
    for (let i = 0; i < 50; i++) {
      pushed.add(await commitAndPush(sb, { 'app.py': `VERSION = ${i}\n`, [`pkg/m${i % 7}.py`]: `N = ${i}\n` }));
      const child = spawnCli(args);
      // node start-up plus the pipeline take ~0.3-0.5 s here: the kill lands before, during or after a deploy
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 800));
      child.kill('SIGKILL');
      await child;
      const sha = path.basename(await fs.readlink(path.join(root, 'current')));
      expect(pushed.has(sha), `current names a pushed sha (${sha})`).toBe(true);
      await assertCompleteRelease(sb.bare, root, sha);
    }
    const last = await git(sb.bare, 'rev-parse', 'main');
    await restartUntilLive(args, root, last);
    await assertCompleteRelease(sb.bare, root, last);
    const leftovers = (await fs.readdir(path.join(root, 'releases'))).filter((n) => n.startsWith('.'));
    expect(leftovers).toEqual([]);
    expect((await fs.readdir(root)).filter((n) => n.startsWith('current.tmp-'))).toEqual([]);
    await git(path.join(root, '.hotpull/repo'), 'fsck', '--connectivity-only');
  }, 180_000);

  it('with --preflight, kill -9 at random points across 25 deploys: current never names a release the judge did not pass', async () => {
    sb = await makeSandbox({ files: { 'app.py': 'good = 0\n' } });
    const root = await volume();
    const good = new Set([await git(sb.bare, 'rev-parse', 'main')]);
    // slow enough that many kills land while it runs; `exec` so the pid hotpull records is the judging process
    const args = killTestArgs(root, sb.bare, '--preflight', 'sleep 0.3; exec grep -q good app.py');
    const judges = () => processesWithEnv(JUDGE_MARK, judgeChildFile(path.join(root, '.hotpull', 'repo')));
    await firstRelease(args, root);
    for (let i = 0; i < 25; i++) {
      // every third revision is one the preflight rejects
      const bad = i % 3 === 1;
      const sha = await commitAndPush(sb, { 'app.py': bad ? `broken = ${i}\n` : `good = ${i}\n` });
      if (!bad) good.add(sha);
      const child = spawnCli(args);
      // start-up, staging and the preflight's 0.3 s take about 1 s here: kills land before, during and after
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 1600));
      child.kill('SIGKILL');
      await child;
      const live = await currentSha(root);
      expect(good.has(live), `current names a revision the preflight passes (${live}, round ${i})`).toBe(true);
      await assertCompleteRelease(sb.bare, root, live);
    }
    const last = await commitAndPush(sb, { 'app.py': 'good = last\n' });
    await restartUntilLive(args, root, last, async () => {
      // nothing a judge started is left running
      expect(await judges()).toEqual([]);
    });
    expect((await fs.readdir(path.join(root, 'releases'))).filter((n) => n.startsWith('.'))).toEqual([]);
  }, 180_000);
});
