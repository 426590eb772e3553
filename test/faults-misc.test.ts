/**
 * Smaller faults of issue 11, against real git and the built CLI: files in the way of a deploy, a committed reload
 * file that is a symlink out of the checkout, a checkout deleted and cloned again under a running daemon, and
 * SIGUSR1 / --inspect (Node's debugger must never be a way in).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf, type Sandbox } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import { accepts, faultFixtures, runHotpull, startHotpull, stop, waitForRecord, type Proc } from './helpers/procs.js';

const made = faultFixtures();

const following = (r: Record<string, unknown>) => String(r.msg).startsWith('hotpull following');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Commits `files` with `git add -f` (so ignored paths are committed too) and pushes. */
async function forceAddAndPush(sandbox: Sandbox, files: Record<string, string>): Promise<string> {
  for (const [file, content] of Object.entries(files)) await fs.writeFile(path.join(sandbox.seed, file), content);
  await git(sandbox.seed, 'add', '-f', '--', ...Object.keys(files));
  await git(sandbox.seed, 'commit', '-q', '--no-verify', '-m', `add ${Object.keys(files).join(', ')}`);
  await git(sandbox.seed, 'push', '-q', 'origin', 'main');
  return headOf(sandbox.seed);
}

/** Every regular file under .git/hotpull/backup/, relative to it (<stamp>/<path>), with its content. */
async function backups(checkout: string): Promise<Record<string, string>> {
  const dir = path.join(checkout, '.git', 'hotpull', 'backup');
  const found: Record<string, string> = {};
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    found[path.relative(dir, full)] = await fs.readFile(full, 'utf8');
  }
  return found;
}

describe('a local file at a path the push adds', { timeout: 240_000 }, () => {
  it.each([
    ['untracked', { 'app.py': 'VERSION = 1\n', 'uwsgi.ini': '[uwsgi]\n' }],
    ['ignored', { 'app.py': 'VERSION = 1\n', 'uwsgi.ini': '[uwsgi]\n', '.gitignore': 'settings_local.py\n' }],
  ])(
    '%s: sync stops as dirty naming it and leaves it alone; --on-dirty reset moves it into the backup and deploys',
    async (kind, files) => {
      const sb = await made.sandbox({ files });
      const local = path.join(sb.checkout, 'settings_local.py');
      await fs.writeFile(local, "DEBUG = True  # the operator's\n");
      if (kind === 'ignored') expect(await git(sb.checkout, 'status', '--porcelain')).toBe('');
      const before = await headOf(sb.checkout);
      const sha = await forceAddAndPush(sb, { 'settings_local.py': 'DEBUG = False\n', 'app.py': 'VERSION = 2\n' });

      const blocked = await runHotpull(['sync', '--repo', sb.checkout]);
      expect(blocked.code, `${blocked.stdout}${blocked.stderr}`).toBe(1);
      const record = blocked.records.find((r) => String(r.msg).startsWith('deploy blocked:'));
      expect(record, blocked.stdout).toMatchObject({ state: 'dirty' });
      expect(record!.msg).toContain(
        'untracked files in the checkout are in the way of files the new revision adds (settings_local.py)',
      );
      expect(blocked.stdout).not.toContain('sync failed');
      expect(await fs.readFile(local, 'utf8')).toBe("DEBUG = True  # the operator's\n");
      expect(await headOf(sb.checkout)).toBe(before);
      expect(await fs.readFile(path.join(sb.checkout, 'app.py'), 'utf8')).toBe('VERSION = 1\n');

      const reset = await runHotpull(['sync', '--repo', sb.checkout, '--on-dirty', 'reset']);
      expect(reset.code, `${reset.stdout}${reset.stderr}`).toBe(0);
      expect(await headOf(sb.checkout)).toBe(sha);
      expect(await fs.readFile(local, 'utf8')).toBe('DEBUG = False\n');
      expect(await git(sb.checkout, 'status', '--porcelain')).toBe('');
      const saved = await backups(sb.checkout);
      expect(Object.values(saved)).toEqual(["DEBUG = True  # the operator's\n"]);
      expect(Object.keys(saved)[0]).toMatch(/^\d{8}T\d{6}Z[^/]*\/settings_local\.py$/);
      expect(reset.stdout).toContain('moved 1 untracked file(s) in the way of the new revision to');
    },
  );

  it('a local file where the push adds a directory (lib -> lib/util.py) also counts as in the way', async () => {
    const sb = await made.sandbox();
    await fs.writeFile(path.join(sb.checkout, 'lib'), 'not a directory\n');
    const sha = await commitAndPush(sb, { 'lib/util.py': 'X = 1\n' });
    const blocked = await runHotpull(['sync', '--repo', sb.checkout]);
    expect(blocked.code).toBe(1);
    expect(blocked.records.find((r) => r.state === 'dirty')?.msg).toContain('(lib)');
    expect(await fs.readFile(path.join(sb.checkout, 'lib'), 'utf8')).toBe('not a directory\n');

    const reset = await runHotpull(['sync', '--repo', sb.checkout, '--on-dirty', 'reset']);
    expect(reset.code, `${reset.stdout}${reset.stderr}`).toBe(0);
    expect(await headOf(sb.checkout)).toBe(sha);
    expect(await fs.readFile(path.join(sb.checkout, 'lib', 'util.py'), 'utf8')).toBe('X = 1\n');
    expect(Object.values(await backups(sb.checkout))).toEqual(['not a directory\n']);
  });
});

describe('a committed reload file that is a symlink out of the checkout', { timeout: 240_000 }, () => {
  it('is not touched: the deploy reports the reload failure naming the link, the outside file keeps its mtime', async () => {
    const sb = await made.sandbox();
    const outsideDir = await made.dir('hotpull-outside-');
    const outside = path.join(outsideDir, 'outside.ini');
    await fs.writeFile(outside, "[uwsgi]\n# not hotpull's\n");
    const old = new Date('2020-01-01T00:00:00Z');
    await fs.utimes(outside, old, old);

    // the checkout starts with a regular uwsgi.ini (so the default touch reload is chosen); the push makes it a link
    await fs.rm(path.join(sb.seed, 'uwsgi.ini'));
    await fs.symlink(outside, path.join(sb.seed, 'uwsgi.ini'));
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });

    const result = await runHotpull(['sync', '--repo', sb.checkout]);
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(1);
    const link = path.join(sb.checkout, 'uwsgi.ini');
    expect(result.stdout).toContain(
      `not touching ${link}: it is a symlink (or behind one) leading out of the checkout, to ${outside}`,
    );
    expect((await fs.stat(outside)).mtime.getTime()).toBe(old.getTime());
    expect(await fs.readFile(outside, 'utf8')).toBe("[uwsgi]\n# not hotpull's\n");
    expect(await fs.readlink(link)).toBe(outside);
    // the tree is the pushed one; only the reload was refused
    expect(await headOf(sb.checkout)).toBe(sha);
  });

  it('a link that stays inside the checkout is touched as usual', async () => {
    const sb = await made.sandbox();
    await fs.mkdir(path.join(sb.seed, 'deploy'));
    await fs.writeFile(path.join(sb.seed, 'deploy', 'uwsgi.ini'), '[uwsgi]\n');
    await fs.rm(path.join(sb.seed, 'uwsgi.ini'));
    await fs.symlink('deploy/uwsgi.ini', path.join(sb.seed, 'uwsgi.ini'));
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const result = await runHotpull(['sync', '--repo', sb.checkout]);
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
    expect(await headOf(sb.checkout)).toBe(sha);
    expect(result.stdout).not.toContain('not touching');
  });
});

/** rm -rf the checkout and clone it again, as an operator would; retried when a git of the daemon writes meanwhile. */
async function reclone(sandbox: Sandbox): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await fs.rm(sandbox.checkout, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    try {
      await git(sandbox.root, 'clone', '-q', '--branch', 'main', sandbox.bare, sandbox.checkout);
      return;
    } catch (error) {
      if (attempt >= 5) throw error;
    }
  }
}

describe('a checkout deleted and cloned again under a running daemon', { timeout: 240_000 }, () => {
  it('is followed again: the next push is deployed', async () => {
    const sb = await made.sandbox();
    const daemon = startHotpull(['run', '--repo', sb.checkout, '--interval', '1s']);
    await waitForRecord(daemon, 'the daemon to start', following, 60_000);
    const first = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await waitFor('the first deploy', async () => (await headOf(sb.checkout)) === first, 30_000);

    await reclone(sb);
    const second = await commitAndPush(sb, { 'app.py': 'VERSION = 3\n' });
    await waitFor('the deploy into the new clone', async () => (await headOf(sb.checkout)) === second, 30_000);
    expect(await fs.readFile(path.join(sb.checkout, 'app.py'), 'utf8')).toBe('VERSION = 3\n');

    // and it keeps polling without the deleted directory's error
    const seen = daemon.stdout().length;
    const third = await commitAndPush(sb, { 'app.py': 'VERSION = 4\n' });
    await waitFor('one more deploy', async () => (await headOf(sb.checkout)) === third, 30_000);
    expect(daemon.stdout().slice(seen)).not.toContain('Unable to read current working directory');
    expect(daemon.alive()).toBe(true);
    expect(await stop(daemon)).toEqual({ code: 0, signal: null });
  });

  // The owner lock is checked each pass against the file now at its path: a checkout deleted and cloned again
  // gets the lock again, so a second daemon on the new clone is refused.
  it('still has one owner: a second daemon on the new clone is refused', async () => {
    const sb = await made.sandbox();
    const daemon = startHotpull(['run', '--repo', sb.checkout, '--interval', '1s']);
    await waitForRecord(daemon, 'the daemon to start', following, 60_000);
    await reclone(sb);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await waitFor('the deploy into the new clone', async () => (await headOf(sb.checkout)) === sha, 30_000);
    const second = await runHotpull(['run', '--repo', sb.checkout, '--interval', '1s'], { timeoutMs: 20_000 });
    expect([second.code, second.stderr]).toEqual([2, expect.stringContaining(`pid ${daemon.pid}`)]);
  });
});

describe('SIGUSR1 and the inspector', { timeout: 240_000 }, () => {
  const disable = process.allowedNodeEnvironmentFlags.has('--disable-sigusr1');
  /** Moments after spawn (ms) to send SIGUSR1 at; each is tried three times. */
  const MOMENTS = [0, 5, 10, 20, 40, 80];
  /** Later moments, while hotpull's own modules load (start-up takes 0.3–1 s on a loaded machine) */
  const LOADING = [150, 300, 600, 1000];

  interface EarlyTry {
    at: number;
    proc: Proc;
    /** Node's default action: the signal came before Node installed its own handler */
    killed: boolean;
  }

  async function signalEarly(checkout: string, at: number, nodeArgs: string[] = []): Promise<EarlyTry> {
    const proc = startHotpull(['run', '--repo', checkout, '--interval', '1s'], { nodeArgs });
    if (at > 0) await sleep(at);
    process.kill(proc.pid, 'SIGUSR1');
    // Let the signal land (or kill); then the process either runs on or is gone.
    const killed = await Promise.race([proc.exited.then((e) => e.signal === 'SIGUSR1'), sleep(1500).then(() => false)]);
    return { at, proc, killed };
  }

  it('once hotpull runs, no inspector is open whenever the signal came, and SIGUSR1 syncs without opening one', async () => {
    const sb = await made.sandbox();
    const tries = [...MOMENTS.flatMap((at) => [at, at, at]), ...LOADING];
    const outcomes: string[] = [];
    for (const at of tries) {
      const { proc, killed } = await signalEarly(sb.checkout, at);
      if (killed) {
        // Node's own start-up window, before hotpull has any say (see the note below)
        outcomes.push(`${at}ms: killed`);
        continue;
      }
      await waitForRecord(proc, `the daemon to start (SIGUSR1 at ${at}ms)`, following, 60_000);
      const opened = proc.stderr().includes('Debugger listening');
      const open = await accepts(9229);
      if (open && at >= 150) {
        // by 150 ms hotpull's handler is in place: an inspector open now is hotpull's failure
        expect(open, `127.0.0.1:9229 after SIGUSR1 at ${at}ms`).toBe(false);
      }
      // KNOWN (docs/operating.md, Signals): on Node 22+ an inspector Node opened in its own start-up window can stay open;
      // on Node 20 hotpull closes it. Recorded, not asserted, for the earliest moments.
      outcomes.push(
        `${at}ms: ${open ? 'inspector left open by Node' : opened ? 'inspector opened by Node, closed by hotpull' : 'clean'}`,
      );
      if (open) {
        await stop(proc);
        continue;
      }

      // the running daemon answers SIGUSR1 with a sync, never with the debugger
      const errBefore = proc.stderr();
      const sha = await commitAndPush(sb, { 'app.py': `VERSION = ${outcomes.length + 1}\n` });
      process.kill(proc.pid, 'SIGUSR1');
      await waitFor(`the deploy after SIGUSR1 (${at}ms try)`, async () => (await headOf(sb.checkout)) === sha, 30_000);
      await waitForRecord(proc, 'the SIGUSR1 log line', (r) => r.msg === 'SIGUSR1: syncing now');
      expect(proc.stderr()).toBe(errBefore);
      expect(await accepts(9229)).toBe(false);
      expect(await stop(proc)).toEqual({ code: 0, signal: null });
    }
    expect(outcomes).toHaveLength(tries.length);
    // at least one daemon ran through the whole check (the later moments land after Node's handler is installed)
    expect(
      outcomes.some((o) => !o.endsWith('killed')),
      outcomes.join('; '),
    ).toBe(true);
  }, 900_000);

  // Not tested here: a SIGUSR1 that arrives before any JavaScript runs (Node 20 has no handler yet: it kills the
  // process or opens the inspector until early.js closes it). That is Node's own start-up window, which no code in
  // dist/bin.js can reach; node --disable-sigusr1 (22.14+) on the command line closes it (below).
  // Node >= 22.14 with --disable-sigusr1 (the image sets it): no moment opens the inspector. A signal that lands
  // before Node has started at all still takes the default action (the process ends; Supervisor restarts it).
  (disable ? it : it.skip)(
    'with node --disable-sigusr1: no SIGUSR1 at any moment of start-up opens the inspector',
    async () => {
      const sb = await made.sandbox();
      const opened: string[] = [];
      for (const at of MOMENTS) {
        const { proc } = await signalEarly(sb.checkout, at, ['--disable-sigusr1']);
        if (proc.stderr().includes('Debugger listening')) opened.push(`${at}ms: ${proc.stderr().split('\n')[0]}`);
        expect(await accepts(9229)).toBe(false);
        await stop(proc);
      }
      expect(opened).toEqual([]);
    },
  );

  it.each([
    ['NODE_OPTIONS', { NODE_OPTIONS: '--inspect=127.0.0.1:0' }, [], '--inspect=127.0.0.1:0'],
    ['a node flag', {}, ['--inspect=127.0.0.1:0'], '--inspect=127.0.0.1:0'],
  ])('%s that opens the inspector is refused: exit 2, one line', async (_what, env, nodeFlags, flag) => {
    const sb = await made.sandbox();
    const result = await runHotpull(['sync', '--repo', sb.checkout], { env, nodeArgs: nodeFlags });
    expect(result.code).toBe(2);
    // Node itself announces the inspector it opened before any JavaScript ran; hotpull adds exactly one line
    const ours = result.stderr
      .split('\n')
      .filter((l) => l && !/^Debugger listening on |^For help, see: |^Debugger attached/.test(l));
    expect(ours).toEqual([
      `hotpull: NODE_OPTIONS and node's flags must not open the inspector (got ${flag}): anyone who can reach it runs code as hotpull`,
    ]);
    expect(result.stdout).toBe('');
  });
});
