import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { commitAndPush, forcePush, git, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { makeDaemon, makePipeline, waitFor } from './helpers/hotpull.js';
import { itAsRoot } from './helpers/requires.js';

// chown to another uid needs root; CI runs as root, so there these always run
const itRoot = itAsRoot('chown to another uid needs root');

/** Pids that have `file` open, from /proc/<pid>/fd. */
async function pidsHolding(file: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fds = await fs.readdir(`/proc/${entry}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      if ((await fs.readlink(`/proc/${entry}/fd/${fd}`).catch(() => '')) !== file) continue;
      pids.push(Number(entry));
      break;
    }
  }
  return pids;
}

let sb: Sandbox;
afterEach(async () => {
  await sb?.cleanup();
});

const mtimeOf = async (file: string) => (await fs.stat(file)).mtimeMs;

describe('sync engine against a file:// remote', () => {
  it('deploys a new commit and touches the reload file', async () => {
    sb = await makeSandbox();
    const { engine, logs } = await makePipeline(sb.checkout);
    const before = await mtimeOf(path.join(sb.checkout, 'uwsgi.ini'));
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });

    const outcome = await engine.sync('test');

    expect(outcome.kind).toBe('deployed');
    expect(await headOf(sb.checkout)).toBe(sha);
    expect(await fs.readFile(path.join(sb.checkout, 'app.py'), 'utf8')).toBe('VERSION = 2\n');
    expect(await mtimeOf(path.join(sb.checkout, 'uwsgi.ini'))).toBeGreaterThan(before);
    expect(engine.status.state).toBe('idle');
    expect(engine.status.deployedSha).toBe(sha);
    const line = logs.records().find((r) => r.new === sha);
    expect(line, 'one log line per deploy with old and new sha').toMatchObject({ level: 30, new: sha });
    expect(Object.keys(line!.ms as object)).toEqual(['detect', 'fetch', 'apply', 'reload', 'verify', 'total']);
    expect(await headOf(sb.checkout, 'refs/remotes/origin/main')).toBe(sha);
  });

  it('does not touch anything when the remote has not moved', async () => {
    sb = await makeSandbox();
    const { engine } = await makePipeline(sb.checkout);
    const touch = path.join(sb.checkout, 'uwsgi.ini');
    const before = await mtimeOf(touch);
    const fetchHeadBefore = await fs.stat(path.join(sb.checkout, '.git/FETCH_HEAD')).catch(() => undefined);

    expect((await engine.sync('test')).kind).toBe('up-to-date');
    expect((await engine.sync('test')).kind).toBe('up-to-date');

    expect(await mtimeOf(touch)).toBe(before);
    expect(await fs.stat(path.join(sb.checkout, '.git/FETCH_HEAD')).catch(() => undefined)).toEqual(fetchHeadBefore);
    expect(engine.status.state).toBe('idle');
  });

  it('gives two deploys within one second two distinct whole-second mtimes and ends on the last head', async () => {
    sb = await makeSandbox();
    const { engine } = await makePipeline(sb.checkout);
    const touch = path.join(sb.checkout, 'uwsgi.ini');
    await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await engine.sync('test');
    const first = await mtimeOf(touch);
    const last = await commitAndPush(sb, { 'app.py': 'VERSION = 3\n' });
    await engine.sync('test');
    const second = await mtimeOf(touch);

    expect(Math.floor(second / 1000)).toBeGreaterThan(Math.floor(first / 1000));
    expect(await headOf(sb.checkout)).toBe(last);
  });

  it('creates a missing reload file given by --touch (never a directory: test/startup-checks.test.ts)', async () => {
    sb = await makeSandbox();
    const { engine } = await makePipeline(sb.checkout, { touch: 'reload.touch' });
    await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await engine.sync('test');
    expect((await fs.stat(path.join(sb.checkout, 'reload.touch'))).isFile()).toBe(true);
  });

  it('never rewrites a checkout when the remote was force-pushed, and resumes on a fast-forwardable head', async () => {
    sb = await makeSandbox();
    const { engine } = await makePipeline(sb.checkout);
    const deployed = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await engine.sync('test');
    const touch = path.join(sb.checkout, 'uwsgi.ini');
    const touchedAt = await mtimeOf(touch);

    const rewritten = await forcePush(sb, { 'app.py': 'VERSION = 2b\n' });
    const outcome = await engine.sync('test');

    expect(outcome).toMatchObject({ kind: 'blocked', state: 'diverged' });
    expect(engine.status.state).toBe('diverged');
    expect(engine.status.remoteSha).toBe(rewritten);
    expect(await headOf(sb.checkout)).toBe(deployed);
    expect(await fs.readFile(path.join(sb.checkout, 'app.py'), 'utf8')).toBe('VERSION = 2\n');
    expect(await mtimeOf(touch)).toBe(touchedAt);
    // still polling, still blocked, no new fetch needed
    expect((await engine.sync('test')).kind).toBe('blocked');

    // the branch is restored on top of what we deployed: deploys resume
    await git(sb.seed, 'reset', '--hard', deployed);
    const resumed = await commitAndPush(sb, { 'app.py': 'VERSION = 3\n' }).catch(async () => {
      await git(sb.seed, 'push', '--force', 'origin', 'main');
      return headOf(sb.seed);
    });
    await git(sb.seed, 'push', '--force', 'origin', 'main');
    expect((await engine.sync('test')).kind).toBe('deployed');
    expect(await headOf(sb.checkout)).toBe(resumed);
    expect(engine.status.state).toBe('idle');
  });

  it('with --on-diverged reset saves the old head under refs/hotpull/backup/ and resets', async () => {
    sb = await makeSandbox();
    const { engine } = await makePipeline(sb.checkout, { onDiverged: 'reset' });
    const old = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await engine.sync('test');
    const rewritten = await forcePush(sb, { 'app.py': 'VERSION = 2b\n' });

    expect((await engine.sync('test')).kind).toBe('deployed');

    expect(await headOf(sb.checkout)).toBe(rewritten);
    const backups = (
      await git(sb.checkout, 'for-each-ref', '--format=%(objectname) %(refname)', 'refs/hotpull/backup/')
    ).split('\n');
    expect(backups).toHaveLength(1);
    expect(backups[0]).toMatch(new RegExp(`^${old} refs/hotpull/backup/\\d{8}T\\d{6}Z$`));
  });

  it('never clobbers tracked files modified in the checkout', async () => {
    sb = await makeSandbox();
    const { engine } = await makePipeline(sb.checkout);
    const before = await headOf(sb.checkout);
    await fs.writeFile(path.join(sb.checkout, 'app.py'), 'VERSION = "hotfix in the container"\n');
    await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });

    const outcome = await engine.sync('test');

    expect(outcome).toMatchObject({ kind: 'blocked', state: 'dirty' });
    expect(engine.status.reason).toContain('app.py');
    expect(await headOf(sb.checkout)).toBe(before);
    expect(await fs.readFile(path.join(sb.checkout, 'app.py'), 'utf8')).toBe('VERSION = "hotfix in the container"\n');
  });

  it('with --on-dirty reset keeps the local change in a backup ref, then deploys', async () => {
    sb = await makeSandbox();
    const { engine } = await makePipeline(sb.checkout, { onDirty: 'reset' });
    await fs.writeFile(path.join(sb.checkout, 'app.py'), 'VERSION = "hotfix"\n');
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });

    expect((await engine.sync('test')).kind).toBe('deployed');

    expect(await headOf(sb.checkout)).toBe(sha);
    const ref = (await git(sb.checkout, 'for-each-ref', '--format=%(refname)', 'refs/hotpull/backup/')).trim();
    expect(ref).toMatch(/-worktree$/);
    expect(await git(sb.checkout, 'show', `${ref}:app.py`)).toBe('VERSION = "hotfix"');
  });

  it('removes a stale index.lock that no process holds, with a warning', async () => {
    sb = await makeSandbox();
    const { engine, logs } = await makePipeline(sb.checkout);
    const lock = path.join(sb.checkout, '.git/index.lock');
    await fs.writeFile(lock, '');
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });

    expect((await engine.sync('test')).kind).toBe('deployed');

    expect(await headOf(sb.checkout)).toBe(sha);
    await expect(fs.stat(lock)).rejects.toThrow();
    expect(logs.records().some((r) => r.level === 40 && String(r.msg).includes('stale git lock'))).toBe(true);
  });

  it('leaves a lock alone while a process holds it open', async () => {
    sb = await makeSandbox();
    const { engine } = await makePipeline(sb.checkout);
    const lock = path.join(sb.checkout, '.git/index.lock');
    const { spawn } = await import('node:child_process');
    // one real other process holding the lock open, as a running git does (`exec sleep`: the shell does not stay
    // as a second holder, which would hide a check that misses a lone one)
    const holder = spawn('sh', ['-c', `exec 3>"${lock}"; exec sleep 30`], { stdio: 'ignore' });
    try {
      await waitFor('the sleep alone to hold the lock', async () => {
        const pids = await pidsHolding(lock);
        return pids.length === 1 && (await fs.readFile(`/proc/${holder.pid}/comm`, 'utf8')) === 'sleep\n';
      });
      expect(await pidsHolding(lock)).toEqual([holder.pid]);
      await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
      await expect(engine.sync('test')).rejects.toThrow(`git lock ${lock} is in use (open in pid ${holder.pid})`);
      expect((await fs.stat(lock)).isFile()).toBe(true);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  itRoot('fetches from a local bare remote owned by another user, without touching the global git config', async () => {
    sb = await makeSandbox();
    const home = path.join(sb.root, 'home');
    await fs.mkdir(home);
    await fs.writeFile(path.join(home, '.gitconfig'), '[user]\n\tname = kept\n');
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await execa('chown', ['-R', '65534:65534', sb.bare, sb.checkout]);
    const env = { HOME: home, GIT_CONFIG_NOSYSTEM: '1' };
    await expect(execa('git', ['ls-remote', sb.bare], { env: { ...process.env, ...env } })).rejects.toThrow(
      /dubious ownership/,
    );
    const { engine } = await makePipeline(sb.checkout, {}, env);
    expect((await engine.sync('test')).kind).toBe('deployed');
    expect(await git(sb.checkout, '-c', `safe.directory=${sb.checkout}`, 'rev-parse', 'HEAD')).toBe(sha);
    expect(await fs.readdir(home)).toEqual(['.gitconfig']);
    expect(await fs.readFile(path.join(home, '.gitconfig'), 'utf8')).toBe('[user]\n\tname = kept\n');
  });

  it('ignores GIT_DIR and friends inherited from the environment (a git hook, a Supervisor env)', async () => {
    sb = await makeSandbox();
    const elsewhere = path.join(sb.root, 'elsewhere.git');
    await git(sb.root, 'init', '-q', '--bare', elsewhere);
    const { engine } = await makePipeline(
      sb.checkout,
      {},
      { GIT_DIR: elsewhere, GIT_INDEX_FILE: path.join(sb.root, 'stray-index'), GIT_WORK_TREE: sb.root },
    );
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    expect((await engine.sync('test')).kind).toBe('deployed');
    expect(await headOf(sb.checkout)).toBe(sha);
    expect(await fs.readFile(path.join(sb.checkout, 'app.py'), 'utf8')).toBe('VERSION = 2\n');
  });

  itRoot('works on a checkout owned by another user without touching the global git config', async () => {
    sb = await makeSandbox();
    await fs.chown(sb.checkout, 65534, 65534);
    const home = path.join(sb.root, 'home');
    await fs.mkdir(home);
    const { engine } = await makePipeline(sb.checkout, {}, { HOME: home, GIT_CONFIG_NOSYSTEM: '1' });
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });

    expect((await engine.sync('test')).kind).toBe('deployed');
    expect(await git(sb.checkout, '-c', `safe.directory=${sb.checkout}`, 'rev-parse', 'HEAD')).toBe(sha);
    expect(await fs.readdir(home)).toEqual([]);
  });
});

describe('daemon: latest wins, backoff, recovery', () => {
  it('backs off while the remote is gone (each wait twice the last, up to the cap) and recovers by itself', async () => {
    sb = await makeSandbox();
    const { daemon, engine, outcomes, logs } = await makeDaemon(sb.checkout, {
      interval: '100ms',
      backoffMax: '800ms',
    });
    // when each failed pass ended: the gap to the next is at least the wait chosen after it (more under load)
    const failedAt: number[] = [];
    daemon.onPass((o) => void (o instanceof Error && failedAt.push(performance.now())));
    const moved = `${sb.bare}.away`;
    daemon.start();
    try {
      await waitFor('first sync', () => engine.status.state === 'idle');
      await fs.rename(sb.bare, moved);
      await waitFor('four failures', () => failedAt.length >= 4, 20_000);
      expect(engine.status.state).toBe('failing');
      expect(engine.status.lastError).toMatch(/ls-remote/);
      // the waits chosen, as logged: 200, 400, 800, 800 ms (interval doubled per failure, capped), ±10 % jitter
      const waits = logs
        .records()
        .filter((r) => typeof r.retryInMs === 'number')
        .slice(0, 4)
        .map((r) => [r.failures, r.retryInMs]);
      expect(waits.map(([f]) => f)).toEqual([1, 2, 3, 4]);
      [200, 400, 800, 800].forEach((base, i) => {
        expect(waits[i]![1]).toBeGreaterThanOrEqual(base * 0.9);
        expect(waits[i]![1]).toBeLessThanOrEqual(base * 1.1);
      });
      // and waited: each gap at least the wait logged before it (a timer fires no earlier, give or take 2 ms)
      for (let i = 0; i < 3; i++)
        expect(failedAt[i + 1]! - failedAt[i]!).toBeGreaterThanOrEqual((waits[i]![1] as number) - 2);
      await fs.rename(moved, sb.bare);
      const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
      await waitFor('recovery and deploy', async () => (await headOf(sb.checkout)) === sha);
      await waitFor('idle again', () => engine.status.state === 'idle');
      expect(engine.status.consecutiveFailures).toBe(0);
      expect(outcomes.some((o) => o instanceof Error)).toBe(true);
    } finally {
      await daemon.stop();
    }
  });

  it('collapses triggers that arrive during a pass into one follow-up pass', async () => {
    sb = await makeSandbox();
    const { daemon } = await makeDaemon(sb.checkout, { interval: '1m' });
    const triggers: string[] = [];
    daemon.onPass((_o, pass) => void triggers.push(pass.trigger));
    daemon.start();
    for (let i = 0; i < 50; i++) daemon.trigger('burst');
    try {
      await waitFor('passes to finish', () => triggers.length >= 2);
      // a barrier, not a sleep: a pass asked for now. Had the burst left a pass wanted, this one would fold into
      // it and report the burst's trigger; a stray pass already running would end before it.
      await daemon.syncAndWait('barrier');
      expect(triggers).toEqual(['start', 'burst', 'barrier']); // the start pass, one for the whole burst, ours
    } finally {
      await daemon.stop();
    }
  });
});

describe('an interrupted in-place apply (journal)', () => {
  it('is finished on the next pass: the half-applied paths brought to the new revision, a local edit elsewhere kept and saved', async () => {
    sb = await makeSandbox({
      files: { 'app.py': 'VERSION = 1\n', 'uwsgi.ini': '[uwsgi]\n', 'lib/a.py': 'A = 1\n', 'notes.txt': 'mine\n' },
    });
    const old = await headOf(sb.checkout);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n', 'lib/a.py': null, 'lib/b.py': 'B = 2\n' });
    await git(sb.checkout, 'fetch', '-q', 'origin');
    // what a kill in the middle of `merge --ff-only` leaves: one file written, one new file untracked, HEAD old
    await fs.writeFile(path.join(sb.checkout, 'app.py'), 'VERSION = 2\n');
    await fs.writeFile(path.join(sb.checkout, 'lib/b.py'), 'B = 2\n');
    await fs.writeFile(path.join(sb.checkout, '.git/index.lock'), '');
    // and a person's edit to a file the deploy does not touch
    await fs.writeFile(path.join(sb.checkout, 'notes.txt'), 'edited by hand\n');
    await fs.mkdir(path.join(sb.checkout, '.git/hotpull'), { recursive: true });
    await fs.writeFile(
      path.join(sb.checkout, '.git/hotpull/journal.json'),
      JSON.stringify({ from: old, to: sha, stage: 'apply', mode: 'ff', at: new Date().toISOString() }),
    );

    const { engine, logs } = await makePipeline(sb.checkout, { onDirty: 'stop' });
    const outcome = await engine.sync('test');

    expect(outcome.kind).toBe('deployed');
    expect(await headOf(sb.checkout)).toBe(sha);
    expect(await fs.readFile(path.join(sb.checkout, 'app.py'), 'utf8')).toBe('VERSION = 2\n');
    await expect(fs.stat(path.join(sb.checkout, 'lib/a.py'))).rejects.toThrow();
    expect(await fs.readFile(path.join(sb.checkout, 'notes.txt'), 'utf8')).toBe('edited by hand\n');
    expect(await git(sb.checkout, 'status', '--porcelain')).toBe('M notes.txt');
    const backups = await git(sb.checkout, 'for-each-ref', '--format=%(refname)', 'refs/hotpull/backup/');
    expect(backups).toMatch(/-interrupted$/);
    expect(logs.text()).toMatch(/that did not finish was finished: the checkout is at/);
    await expect(fs.stat(path.join(sb.checkout, '.git/hotpull/journal.json'))).rejects.toThrow();
    // the edit is still protected: the next push is blocked as dirty
    await commitAndPush(sb, { 'app.py': 'VERSION = 3\n' });
    expect(await engine.sync('test')).toMatchObject({ kind: 'blocked', state: 'dirty' });
  });
});
