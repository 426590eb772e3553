// Issue 25 item 4 and issue 24 item 6: operator commands find the daemon of a checkout through what it recorded
// there (its unix socket, owner-only, no secret), a daemon started from flags alone included; `hotpull sync` beside
// a running daemon asks it for the pass instead of waiting for its lock.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf } from './helpers/git.js';
import { socketPath } from '../src/net/endpoint.js';
import { waitFor } from './helpers/hotpull.js';
import { SECRET, request } from './helpers/listener.js';
import { itAsRoot } from './helpers/requires.js';
import { NOBODY, cliForOtherUser, removeCopy } from './helpers/other-user.js';
import { faultFixtures, runHotpull, startHotpull, stop, waitForRecord, type Proc } from './helpers/procs.js';

const fx = faultFixtures();

const stateDir = (checkout: string) => path.join(checkout, '.git', 'hotpull');
const socketOf = (checkout: string) => path.join(stateDir(checkout), 'control', 'daemon.sock');
/** no webhook secret anywhere: what an operator's shell has */
const NO_SECRET = { HOTPULL_WEBHOOK_SECRET: undefined } as unknown as NodeJS.ProcessEnv;

/** `hotpull run` from flags alone (as supervisor-config writes it), no --listen; resolves once its first pass ended. */
async function socketDaemon(checkout: string, args: string[] = []): Promise<Proc> {
  const daemon = startHotpull(['run', '--repo', checkout, '--interval', '1h', '--log-level', 'debug', ...args], {
    env: NO_SECRET,
  });
  await waitForRecord(daemon, 'the operator socket', (r) => String(r.msg).startsWith('operator socket '));
  await waitForRecord(daemon, 'the first pass', (r) => /^pass \(start\)/.test(String(r.msg)));
  return daemon;
}

/** One request over a unix socket. */
/** One request over the operator socket (the listener helpers' request, connected to the unix socket). */
const overSocket = (
  socket: string,
  route: string,
  options: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {},
) => request('http://localhost', { ...options, path: route, socketPath: socket });

describe('operator commands find the daemon of a checkout', () => {
  it('started from flags only: status, pause and resume need no --url and no secret, in the checkout, below it or with --repo', async () => {
    const sb = await fx.sandbox();
    await socketDaemon(sb.checkout);
    const here = await runHotpull(['status'], { cwd: sb.checkout, env: NO_SECRET });
    expect(here.stderr).toBe('');
    expect(here.code).toBe(0);
    expect(here.stdout).toMatch(/^state\s+idle$/m);
    await fs.mkdir(path.join(sb.checkout, 'sub'));
    const below = await runHotpull(['status', '--json'], { cwd: path.join(sb.checkout, 'sub'), env: NO_SECRET });
    expect(JSON.parse(below.stdout)).toMatchObject({ state: 'idle', deployedSha: await headOf(sb.checkout) });
    const paused = await runHotpull(['pause', '--repo', sb.checkout, '--reason', 'freeze'], { env: NO_SECRET });
    expect(paused.stderr).toBe('');
    expect(paused.stdout).toMatch(/^paused by api at .*: freeze/);
    const resumed = await runHotpull(['resume', '--repo', sb.checkout], { env: NO_SECRET });
    expect(resumed.stdout).toMatch(/^resumed \(the pause by api: freeze is lifted\)/);
    // sync beside the daemon: the daemon's pass, and a flag for a pass of its own is said not to be used
    const beside = await runHotpull(['sync', '--repo', sb.checkout, '--touch', 'app.py'], { env: NO_SECRET });
    expect(beside.code).toBe(0);
    expect(beside.records.map((r) => r.msg)).toContain(
      `the daemon that owns ${sb.checkout} runs the pass with its own options: --touch not used`,
    );
    const now = await runHotpull(['sync', '--now', '--wait', '--repo', sb.checkout], { env: NO_SECRET });
    expect([now.code, now.stdout]).toEqual([0, `up to date at ${(await headOf(sb.checkout)).slice(0, 7)}\n`]);
  });

  it('outside a checkout, without --url: exit 2, one line saying what to pass', async () => {
    const dir = await fx.dir('hotpull-not-a-checkout-');
    const result = await runHotpull(['status'], { cwd: dir, env: NO_SECRET });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `hotpull: --url is needed to find the daemon: run this in the checkout it deploys, or pass --repo DIR, or --url http://HOST:PORT (got ${JSON.stringify(dir)}: not a git checkout)\n`,
    );
  });

  it('the socket is owner-only (0600 in a 0700 directory), recorded with the checkout, and gone after a stop', async () => {
    const sb = await fx.sandbox();
    const daemon = await socketDaemon(sb.checkout);
    const socket = socketOf(sb.checkout);
    expect((await fs.stat(path.dirname(socket))).mode & 0o777).toBe(0o700);
    const stat = await fs.stat(socket);
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
    expect(JSON.parse(await fs.readFile(path.join(stateDir(sb.checkout), 'daemon.json'), 'utf8'))).toEqual({
      pid: daemon.pid,
      socket,
    });
    expect((await stop(daemon)).code).toBe(0);
    await expect(fs.stat(socket)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.stat(path.join(stateDir(sb.checkout), 'daemon.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    const gone = await runHotpull(['status', '--repo', sb.checkout], { env: NO_SECRET });
    expect(gone.code).toBe(3);
    expect(gone.stderr).toBe(
      `hotpull: no hotpull daemon answers for ${sb.checkout} (no socket at ${socket}): is hotpull run running there? (or pass --url http://HOST:PORT)\n`,
    );
  });

  it('a socket left by a daemon killed with -9 is replaced at the next start; a second daemon leaves the live one alone', async () => {
    const sb = await fx.sandbox();
    const first = await socketDaemon(sb.checkout);
    await stop(first, 'SIGKILL');
    const socket = socketOf(sb.checkout);
    expect((await fs.stat(socket)).isSocket()).toBe(true);
    const stale = await runHotpull(['status', '--repo', sb.checkout], { env: NO_SECRET });
    expect(stale.code).toBe(3);
    expect(stale.stderr).toContain(`(${socket}: ECONNREFUSED)`);
    const second = await socketDaemon(sb.checkout);
    const third = await runHotpull(['run', '--repo', sb.checkout, '--interval', '1h'], { env: NO_SECRET });
    expect(third.code).toBe(2);
    const status = await runHotpull(['status', '--repo', sb.checkout, '--json'], { env: NO_SECRET });
    expect(status.code).toBe(0);
    expect(JSON.parse(await fs.readFile(path.join(stateDir(sb.checkout), 'daemon.json'), 'utf8')).pid).toBe(second.pid);
  });

  it('over TCP the secret stays required; on the socket the same routes need none but keep the bounds', async () => {
    const sb = await fx.sandbox();
    const daemon = startHotpull(['run', '--repo', sb.checkout, '--interval', '1h', '--listen', '127.0.0.1:0'], {
      env: { HOTPULL_WEBHOOK_SECRET: SECRET },
    });
    const listening = await waitForRecord(daemon, 'the listener', (r) => String(r.msg).startsWith('listening on '));
    const url = String(listening.url);
    // daemon.json is written after the socket listens: wait for the record, not for the socket
    const record = await waitFor('the daemon record', () =>
      fs.readFile(path.join(stateDir(sb.checkout), 'daemon.json'), 'utf8').catch(() => undefined),
    );
    expect(JSON.parse(record)).toEqual({
      pid: daemon.pid,
      socket: socketOf(sb.checkout),
      url,
    });
    const tcp = await fetch(`${url}/pause`, { method: 'POST' });
    expect(tcp.status).toBe(401);
    const local = await overSocket(socketOf(sb.checkout), '/pause', { method: 'POST' });
    expect([local.status, JSON.parse(local.body).ok]).toEqual([200, true]);
    const noSecret = await runHotpull(['resume', '--url', url], { env: NO_SECRET });
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toBe(
      `hotpull: resume over TCP (${url}) needs the webhook secret: set HOTPULL_WEBHOOK_SECRET or --webhook-secret-file (got neither; on the daemon's machine, run it in the checkout or with --repo instead)\n`,
    );
    // the socket's bounds are the listener's: a body over /sync's limit is refused before it is read
    const big = await overSocket(socketOf(sb.checkout), '/sync', { method: 'POST', body: Buffer.alloc(64 * 1024) });
    expect(big.status).toBe(413);
    // a webhook still needs its signature there
    const hook = await overSocket(socketOf(sb.checkout), '/webhook', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push' },
      body: '{}',
    });
    expect(hook.status).toBe(401);
  });
});

describe('another user on the same machine', () => {
  afterAll(removeCopy);
  const asNobody = async (args: string[], home: string) =>
    execa('setpriv', [...NOBODY, process.execPath, await cliForOtherUser(), ...args], {
      env: { HOTPULL_LOG_FORMAT: 'json', HOME: home },
      reject: false,
      timeout: 30_000,
    });

  itAsRoot('runs the CLI as uid 65534')(
    'is refused by the socket and asks the TCP URL the daemon recorded, where changes need the secret',
    async () => {
      const sb = await fx.sandbox();
      await fs.chmod(sb.root, 0o755);
      const daemon = startHotpull(['run', '--repo', sb.checkout, '--interval', '1h', '--listen', '127.0.0.1:0'], {
        env: { HOTPULL_WEBHOOK_SECRET: SECRET },
      });
      const listening = await waitForRecord(daemon, 'the listener', (r) => String(r.msg).startsWith('listening on '));
      await waitFor('the record', async () =>
        (await fs.readFile(path.join(stateDir(sb.checkout), 'daemon.json'), 'utf8').catch(() => '')).includes('url'),
      );
      const status = await asNobody(['status', '--repo', sb.checkout, '--json'], sb.root);
      expect([status.exitCode, status.stderr]).toEqual([0, '']);
      expect(JSON.parse(status.stdout)).toMatchObject({ state: 'idle' });
      const pause = await asNobody(['pause', '--repo', sb.checkout], sb.root);
      expect(pause.exitCode).toBe(2);
      expect(pause.stderr).toContain(`pause over TCP (${String(listening.url)}) needs the webhook secret`);
    },
  );
});

describe('where the socket is', () => {
  it('a state directory too deep for a socket address: under $TMPDIR/hotpull-<uid>/, 0700, found the same way', async () => {
    const sb = await fx.sandbox();
    const tmp = await fx.dir('hotpull-tmpdir-');
    const deep = path.join(sb.root, 'd'.repeat(100));
    await git(sb.root, 'clone', '-q', sb.bare, deep);
    const env = { ...NO_SECRET, TMPDIR: tmp };
    const daemon = startHotpull(['run', '--repo', deep, '--interval', '1h', '--log-level', 'debug'], { env });
    const record = await waitForRecord(daemon, 'the operator socket', (r) =>
      String(r.msg).startsWith('operator socket '),
    );
    const socket = String(record.socket);
    expect(path.dirname(socket)).toBe(path.join(tmp, `hotpull-${process.getuid!()}`));
    expect((await fs.stat(path.dirname(socket))).mode & 0o777).toBe(0o700);
    expect(socketPath(path.join(deep, '.git', 'hotpull'), process.getuid!(), tmp)).toBe(socket);
    const status = await runHotpull(['status', '--repo', deep], { env });
    expect([status.code, status.stderr]).toEqual([0, '']);
  });

  it('the atomic layout: in its repository under .hotpull/; status --repo ROOT finds it without --layout', async () => {
    const sb = await fx.sandbox();
    const root = await fx.dir('hotpull-atomic-');
    const daemon = startHotpull(
      ['run', '--layout', 'atomic', '--repo', root, '--remote', sb.bare, '--branch', 'main', '--interval', '1h'],
      { env: { ...NO_SECRET, HOTPULL_LOG_LEVEL: 'debug' } },
    );
    await waitForRecord(daemon, 'the first pass', (r) => /^pass \(start\)/.test(String(r.msg)), 60_000);
    expect((await fs.stat(path.join(root, '.hotpull', 'repo', 'hotpull', 'control', 'daemon.sock'))).isSocket()).toBe(
      true,
    );
    const status = await runHotpull(['status', '--repo', root, '--json'], { env: NO_SECRET });
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'idle', deployedSha: await headOf(sb.bare, 'main') });
  });
});

describe('hotpull sync beside a running daemon', () => {
  it('40 at once: each asks the daemon, all exit 0 with the outcome of its pass', async () => {
    const sb = await fx.sandbox();
    const daemon = await socketDaemon(sb.checkout);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const syncs = await Promise.all(
      Array.from({ length: 40 }, () =>
        runHotpull(['sync', '--repo', sb.checkout, '--sync-timeout', '20s'], { env: NO_SECRET, timeoutMs: 60_000 }),
      ),
    );
    expect(syncs.map((s) => s.code)).toEqual(Array(40).fill(0));
    const short = sha.slice(0, 7);
    for (const s of syncs) {
      const line = s.records.find((r) => String(r.msg).startsWith('asked the daemon that owns'));
      expect(line?.msg).toMatch(new RegExp(`: (up to date at ${short}|[0-9a-f]{7} → ${short}: reloaded)$`));
    }
    expect(await headOf(sb.checkout)).toBe(sha);
    // the daemon deployed it once, and nobody waited for its lock
    const history = (await fs.readFile(path.join(stateDir(sb.checkout), 'history.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { to: string });
    expect(history.filter((d) => d.to === sha)).toHaveLength(1);
    expect(syncs.some((s) => s.stdout.includes('waiting up to'))).toBe(false);
    expect(daemon.alive()).toBe(true);
  });
});
