/**
 * One owner per checkout (issue 11): a second daemon is refused naming the holder, `sync` waits for it and says so,
 * the kernel releases the lock however the owner ends, and a git lock some live process has open is never removed.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commitAndPush, headOf } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import {
  faultFixtures,
  runHotpull,
  startHotpull,
  startProcess,
  stop,
  waitFirstPass,
  waitForRecord,
  type Proc,
} from './helpers/procs.js';

const made = faultFixtures();

const following = (r: Record<string, unknown>) => String(r.msg).startsWith('hotpull following');
const lines = (text: string) => text.split('\n').filter(Boolean);

/** Starts `hotpull run` and waits until it follows the branch (the owner lock is taken before that line). */
async function startDaemon(args: string[]): Promise<Proc> {
  const daemon = startHotpull(['run', ...args]);
  await waitForRecord(daemon, 'the daemon to start', following, 60_000);
  return daemon;
}

/** A second `hotpull run` beside `first`: exit 2 at once (not after --sync-timeout), one stderr line naming the holder. */
async function expectRefused(args: string[], first: Proc): Promise<void> {
  const second = await runHotpull(['run', ...args, '--sync-timeout', '5m']);
  expect(second.code, second.stderr).toBe(2);
  const stderr = lines(second.stderr);
  expect(stderr).toHaveLength(1);
  expect(stderr[0]).toMatch(/^hotpull: --repo must not be followed by two daemons: /);
  expect(stderr[0]).toContain(`pid ${first.pid}`);
  expect(second.stdout).not.toContain('hotpull following');
}

describe('two daemons on one checkout', { timeout: 240_000 }, () => {
  it('in place: the second exits 2 naming the first, which keeps deploying', async () => {
    const sb = await made.sandbox();
    const args = ['--repo', sb.checkout, '--interval', '1s'];
    const first = await startDaemon(args);
    await expectRefused(args, first);
    expect(first.alive()).toBe(true);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await waitFor('the first daemon to deploy', async () => (await headOf(sb.checkout)) === sha, 30_000);
    expect(await stop(first)).toEqual({ code: 0, signal: null });
    expect(first.stdout()).not.toContain('removed stale git lock');
  });

  it('atomic layout: the second exits 2 naming the first, which keeps deploying', async () => {
    const sb = await made.sandbox();
    const volume = await made.dir('hotpull-volume-');
    const root = path.join(volume, 'app');
    const args = ['--layout', 'atomic', '--repo', root, '--remote', `file://${sb.bare}`, '--interval', '1s'];
    const first = await startDaemon(args);
    const current = async () => path.basename(await fs.readlink(path.join(root, 'current')).catch(() => ''));
    await waitFor('the first release', async () => (await current()) === (await headOf(sb.bare, 'main')), 30_000);
    await expectRefused(args, first);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await waitFor('the first daemon to deploy', async () => (await current()) === sha, 30_000);
    expect(await fs.readFile(path.join(root, 'current', 'app.py'), 'utf8')).toBe('VERSION = 2\n');
    expect(await stop(first)).toEqual({ code: 0, signal: null });
  });
});

/**
 * `hotpull sync` beside a daemon asks it over its operator socket (test/operator-socket.test.ts); without the
 * socket (removed here, or another user's) it waits for the owner lock, which these tests look at.
 */
const withoutOperatorSocket = (checkout: string) =>
  fs.rm(path.join(checkout, '.git', 'hotpull', 'control', 'daemon.sock'));

describe('hotpull sync beside a daemon', { timeout: 240_000 }, () => {
  it('waits for it and says so, gives up after --sync-timeout, and works once the daemon is stopped', async () => {
    const sb = await made.sandbox();
    const daemon = await startDaemon(['--repo', sb.checkout, '--interval', '10m', '--listen', '127.0.0.1:0']);
    await waitFirstPass(daemon);
    await withoutOperatorSocket(sb.checkout);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });

    const blocked = await runHotpull(['sync', '--repo', sb.checkout, '--sync-timeout', '2s']);
    expect(blocked.code, blocked.stderr).toBe(1);
    const waiting = blocked.records.filter((r) => /waiting up to 2s/.test(String(r.msg)));
    expect(waiting).toHaveLength(1);
    expect(waiting[0]!.msg).toContain(`pid ${daemon.pid}`);
    expect(waiting[0]!.holder).toMatchObject({ pid: daemon.pid, role: 'run' });
    expect(lines(blocked.stderr)).toHaveLength(1);
    expect(blocked.stderr).toMatch(
      new RegExp(
        `^hotpull: another hotpull \\(pid ${daemon.pid}, hotpull run, since [^)]+\\) still owns the checkout .*gave up waiting`,
      ),
    );
    // the daemon (interval 10m) has not run a pass since its first, and sync did not deploy either
    expect(await headOf(sb.checkout)).not.toBe(sha);

    expect(await stop(daemon)).toEqual({ code: 0, signal: null });
    const synced = await runHotpull(['sync', '--repo', sb.checkout]);
    expect(synced.code, `${synced.stdout}${synced.stderr}`).toBe(0);
    expect(synced.stdout).not.toContain('waiting up to');
    expect(synced.records.some((r) => r.new === sha)).toBe(true);
    expect(await headOf(sb.checkout)).toBe(sha);
  });

  it('a sync that starts while the daemon stops gets the checkout as soon as it is free', async () => {
    const sb = await made.sandbox();
    const daemon = await startDaemon(['--repo', sb.checkout, '--interval', '10m', '--listen', '127.0.0.1:0']);
    await waitFirstPass(daemon);
    await withoutOperatorSocket(sb.checkout);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const sync = startHotpull(['sync', '--repo', sb.checkout, '--sync-timeout', '60s']);
    await waitForRecord(sync, 'sync to wait for the daemon', (r) => String(r.msg).includes(`pid ${daemon.pid}`));
    await stop(daemon);
    const { code } = await sync.exited;
    expect(code, `${sync.stdout()}${sync.stderr()}`).toBe(0);
    // the sync deployed it, not the daemon (interval 10m, its one pass ended before the push)
    expect(sync.records().some((r) => r.new === sha)).toBe(true);
    expect(await headOf(sb.checkout)).toBe(sha);
  });
});

describe('the owner lock after kill -9', { timeout: 240_000 }, () => {
  it('is released by the kernel: a new daemon starts at once and deploys', async () => {
    const sb = await made.sandbox();
    const args = ['--repo', sb.checkout, '--interval', '1s'];
    const killed = await startDaemon(args);
    expect(await stop(killed, 'SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    // the lock file stays, naming a dead pid: only the kernel's lock counts
    expect(await fs.readFile(path.join(sb.checkout, '.git', 'hotpull', 'owner'), 'utf8')).toMatch(
      new RegExp(`^${killed.pid} run `),
    );

    const next = await startDaemon(args);
    expect(next.stderr()).toBe('');
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await waitFor('the new daemon to deploy', async () => (await headOf(sb.checkout)) === sha, 30_000);
    // and it owns the checkout now
    await withoutOperatorSocket(sb.checkout);
    const sync = await runHotpull(['sync', '--repo', sb.checkout, '--sync-timeout', '500ms']);
    expect(sync.code).toBe(1);
    expect(sync.stderr).toContain(`pid ${next.pid}`);
    expect(await stop(next)).toEqual({ code: 0, signal: null });
  });
});

describe('a git lock a live process has open', { timeout: 240_000 }, () => {
  it('is not removed; once its holder is gone the next sync removes it and deploys', async () => {
    const sb = await made.sandbox();
    const lock = path.join(sb.checkout, '.git', 'index.lock');
    // `exec` twice: the shell itself becomes the sleep, so the pid we kill is the one holding the descriptor
    const holder = startProcess('sh', ['-c', 'exec 3>>.git/index.lock; exec sleep 300'], { cwd: sb.checkout });
    await waitFor(
      'the holder to open the lock',
      async () => (await fs.readlink(`/proc/${holder.pid}/fd/3`).catch(() => '')) === lock,
    );
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });

    const refused = await runHotpull(['sync', '--repo', sb.checkout], { timeoutMs: 90_000 });
    expect(refused.code, `${refused.stdout}${refused.stderr}`).toBe(1);
    expect(`${refused.stdout}${refused.stderr}`).toContain(`git lock ${lock} is in use (open in pid ${holder.pid})`);
    expect(refused.stdout).not.toContain('removed stale git lock');
    await expect(fs.stat(lock)).resolves.toBeTruthy();
    expect(await headOf(sb.checkout)).not.toBe(sha);

    await stop(holder, 'SIGKILL');
    const synced = await runHotpull(['sync', '--repo', sb.checkout], { timeoutMs: 90_000 });
    expect(synced.code, `${synced.stdout}${synced.stderr}`).toBe(0);
    expect(synced.records.map((r) => r.msg)).toContain(
      `removed stale git lock ${lock} (no process has it open; left by a killed git)`,
    );
    await expect(fs.stat(lock)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await headOf(sb.checkout)).toBe(sha);
  });
});
