/**
 * The branch poll of a git:// remote without git (native-ls-remote.ts, native-poll.ts): against a real `git daemon`
 * on 127.0.0.1, against TCP servers that misbehave on purpose, and through the real CLI.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HotpullError } from '../src/errors.js';
import { Git } from '../src/git/repo.js';
import { NativeLsRemoteError, nativeLsRemote, parseGitUrl } from '../src/git/native-ls-remote.js';
import { gitOnlyConfig, gitOnlyEnv } from '../src/git/native-poll.js';
import { commitAndPush, git, gitEnv, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import { accepts, startHotpull, stopAll, waitForRecord } from './helpers/procs.js';
import { freePort, killOnExit } from './helpers/uwsgi.js';

const CI = process.env.CI === 'true';
const daemonHelp = spawnSync('git', ['daemon', '-h'], { encoding: 'utf8' });
const daemonMissing = `${daemonHelp.stdout}${daemonHelp.stderr}`.includes('usage: git daemon')
  ? undefined
  : 'git daemon is not installed (it comes with Debian package git)';

/** A pkt-line written out by hand (ASCII data). */
const pkt = (data: string) => (data.length + 4).toString(16).padStart(4, '0') + data;

interface GitDaemon {
  port: number;
  url(repo: string): string;
  stop(): Promise<void>;
}

/**
 * `git daemon` serving `base`, exporting only the directories in `exported`. freePort() can lose a race for the
 * port: a daemon that exits before it accepts is started again on another.
 */
async function startGitDaemon(base: string, exported: string[]): Promise<GitDaemon> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn(
      'git',
      [
        'daemon',
        '--reuseaddr',
        `--base-path=${base}`,
        '--export-all',
        `--port=${port}`,
        '--listen=127.0.0.1',
        ...exported,
      ],
      { env: gitEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const forget = killOnExit(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    let gone = false;
    void exited.then(() => (gone = true));
    const ready = await waitFor('git daemon to accept', async () => gone || (await accepts(port)), 30_000);
    if (ready === true && !gone)
      return {
        port,
        url: (repo) => `git://127.0.0.1:${port}/${repo}`,
        stop: async () => {
          if (!gone) child.kill('SIGTERM');
          await exited;
          forget();
        },
      };
    forget();
    if (attempt >= 4) throw new Error(`git daemon did not start: ${stderr}`);
  }
}

/** A TCP server on 127.0.0.1 that hands each connection to `onConnection`; remembers what it received and closes. */
async function rogueServer(onConnection: (socket: net.Socket) => void) {
  const sockets: Array<{ socket: net.Socket; received: Buffer[]; closed: Promise<void> }> = [];
  const server = net.createServer((socket) => {
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    sockets.push({ socket, received, closed });
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `git://127.0.0.1:${port}/repo.git`,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function outcome<T>(promise: Promise<T>): Promise<T | Error> {
  return promise.catch((error: Error) => error);
}

describe('parseGitUrl: git:// URLs as git connects to them', () => {
  it.each([
    ['git://127.0.0.1:9000/r.git', { host: '127.0.0.1', port: 9000, hostHeader: '127.0.0.1:9000', path: '/r.git' }],
    ['git://example.org/r.git', { host: 'example.org', port: 9418, hostHeader: 'example.org', path: '/r.git' }],
    ['git://[::1]:9000/r.git', { host: '::1', port: 9000, hostHeader: '[::1]:9000', path: '/r.git' }],
    ['git://[::1]/r.git', { host: '::1', port: 9418, hostHeader: '[::1]', path: '/r.git' }],
    ['git://h/~alice/r.git', { host: 'h', port: 9418, hostHeader: 'h', path: '~alice/r.git' }],
    ['git://h//srv/r.git/', { host: 'h', port: 9418, hostHeader: 'h', path: '//srv/r.git/' }],
    ['git://h/a b.git', { host: 'h', port: 9418, hostHeader: 'h', path: '/a b.git' }],
  ])('%s', (url, parts) => {
    expect(parseGitUrl(url)).toEqual(parts);
  });

  it.each([
    ['https://h/r.git'],
    ['ssh://h/r.git'],
    ['/srv/r.git'],
    ['origin'],
    ['git://h'], // git: "no path specified"
    ['git://h:/r.git'],
    ['git://h:70000/r.git'],
    ['git://h:0/r.git'],
    ['git://user@h/r.git'], // git takes `user@h` as the host name
    ['git://h/r%2egit'], // git decodes the escape
    ['git://h/r.git\n'],
  ])('%j goes to git', (url) => {
    expect(parseGitUrl(url)).toBeUndefined();
  });
});

describe('when the poll must go through git', () => {
  it.each([
    [{}, undefined],
    [{ HOTPULL_NATIVE_POLL: '1' }, undefined],
    [{ HOTPULL_NATIVE_POLL: '0' }, 'HOTPULL_NATIVE_POLL=0'],
    [{ GIT_PROXY_COMMAND: '/bin/proxy' }, 'GIT_PROXY_COMMAND'],
    [{ GIT_ALLOW_PROTOCOL: 'https' }, 'GIT_ALLOW_PROTOCOL'],
  ])('environment %j → %j', (env, why) => {
    expect(gitOnlyEnv(env)).toBe(why);
  });

  it.each([
    [['core.bare', 'remote.origin.url'], 'origin', undefined],
    [['core.gitproxy'], 'origin', 'core.gitproxy'],
    [['core.gitProxy'], 'origin', 'core.gitProxy'],
    [['protocol.allow'], 'origin', 'protocol.allow'],
    [['protocol.git.allow'], 'origin', 'protocol.git.allow'],
    [['protocol.https.allow'], 'origin', 'protocol.https.allow'],
    [['remote.origin.uploadpack'], 'origin', 'remote.origin.uploadpack'],
    [['remote.other.uploadpack'], 'origin', undefined],
    [['url.git://h/.insteadof'], 'origin', undefined],
  ])('config keys %j, remote %s → %j', (keys, remote, key) => {
    expect(gitOnlyConfig(keys, remote)).toBe(key);
  });
});

describe.skipIf(daemonMissing !== undefined && !CI)('against git daemon', () => {
  let sb: Sandbox;
  let daemon: GitDaemon;
  let empty: string;
  const adapters: Git[] = [];
  /** the checkout's adapter with every command it runs recorded */
  const adapter = (env: NodeJS.ProcessEnv = {}) => {
    const g = new Git(sb.checkout, { ...gitEnv(), ...env });
    const commands: string[] = [];
    g.onCommand = (command) => commands.push(command);
    adapters.push(g);
    return { g, commands, polls: () => commands.filter((c) => /ls-remote (?!--get-url)/.test(c)) };
  };

  beforeAll(async () => {
    if (daemonMissing) throw new Error(daemonMissing);
    sb = await makeSandbox();
    empty = path.join(sb.root, 'empty.git');
    await git(sb.root, 'init', '-q', '--bare', '-b', 'main', empty);
    await git(sb.root, 'init', '-q', '--bare', '-b', 'main', path.join(sb.root, 'private.git'));
    daemon = await startGitDaemon(sb.root, [sb.bare, empty]);
    await git(sb.checkout, 'remote', 'set-url', 'origin', daemon.url('remote.git'));
  });
  afterEach(async () => {
    for (const g of adapters.splice(0)) g.close();
    // what a test changed in the checkout's config
    const keys = await git(sb.checkout, 'config', '--name-only', '--get-regexp', '^(url\\.|core\\.gitproxy)').catch(
      () => '',
    );
    for (const key of new Set(keys.split('\n').filter(Boolean)))
      await git(sb.checkout, 'config', '--unset-all', key).catch(() => undefined);
    await git(sb.checkout, 'remote', 'set-url', 'origin', daemon.url('remote.git'));
  });
  afterAll(async () => {
    await stopAll();
    await daemon?.stop();
    await sb?.cleanup();
  });

  it('reads the same sha as git ls-remote, undefined for an absent branch and for an empty repository', async () => {
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const byGit = (url: string, ref: string) => git(sb.root, 'ls-remote', url, ref);
    expect(await byGit(daemon.url('remote.git'), 'refs/heads/main')).toBe(`${sha}\trefs/heads/main`);
    expect(await nativeLsRemote(daemon.url('remote.git'), 'main', { timeoutMs: 30_000 })).toBe(sha);
    expect(await byGit(daemon.url('remote.git'), 'refs/heads/absent')).toBe('');
    expect(await nativeLsRemote(daemon.url('remote.git'), 'absent', { timeoutMs: 30_000 })).toBeUndefined();
    expect(await byGit(daemon.url('empty.git'), 'refs/heads/main')).toBe('');
    expect(await nativeLsRemote(daemon.url('empty.git'), 'main', { timeoutMs: 30_000 })).toBeUndefined();

    const { g, polls } = adapter();
    expect(await g.lsRemote('origin', 'main', { timeoutMs: 30_000 })).toBe(sha);
    expect(await g.lsRemote('origin', 'absent', { timeoutMs: 30_000 })).toBeUndefined();
    expect(polls()).toEqual([
      `native git:// ls-remote ${daemon.url('remote.git')} refs/heads/main`,
      `native git:// ls-remote ${daemon.url('remote.git')} refs/heads/absent`,
    ]);
  });

  it('a repository that is not exported: a clear error, and lsRemote gives the git path’s error', async () => {
    const error = await outcome(nativeLsRemote(daemon.url('private.git'), 'main', { timeoutMs: 30_000 }));
    expect(error).toBeInstanceOf(NativeLsRemoteError);
    expect((error as NativeLsRemoteError).problem).toBe('remote');
    expect((error as Error).message).toBe(
      `native git:// ls-remote ${daemon.url('private.git')} refs/heads/main failed: remote error: access denied or repository not exported: /private.git (from 127.0.0.1:${daemon.port})`,
    );

    await git(sb.checkout, 'remote', 'set-url', 'origin', daemon.url('private.git'));
    const { g, polls } = adapter();
    const viaRepo = await outcome(g.lsRemote('origin', 'main', { timeoutMs: 30_000 }));
    expect(viaRepo).toBeInstanceOf(HotpullError);
    expect(viaRepo).not.toBeInstanceOf(NativeLsRemoteError);
    expect((viaRepo as HotpullError).code).toBe('GIT');
    expect((viaRepo as Error).message).toBe(
      'git ls-remote --heads -- origin refs/heads/main failed: fatal: remote error: access denied or repository not exported: /private.git',
    );
    expect(polls()).toEqual([
      `native git:// ls-remote ${daemon.url('private.git')} refs/heads/main`,
      'git ls-remote --heads -- origin refs/heads/main',
    ]);
  });

  it('follows url.<base>.insteadOf both ways, and works the URL out again when .git/config changes', async () => {
    // a file:// remote that differs from what the daemon serves
    const other = path.join(sb.root, 'other');
    await fs.mkdir(other, { recursive: true });
    await git(sb.root, 'clone', '-q', '--bare', sb.bare, path.join(other, 'remote.git'));
    const clone = path.join(sb.root, 'other-work');
    await git(sb.root, 'clone', '-q', path.join(other, 'remote.git'), clone);
    await git(clone, 'commit', '-q', '--allow-empty', '-m', 'only in the file remote');
    await git(clone, 'push', '-q', 'origin', 'HEAD:main');
    const fileSha = await headOf(clone);
    const daemonSha = await headOf(sb.seed);
    expect(fileSha).not.toBe(daemonSha);

    const { g, polls } = adapter();
    expect(await g.lsRemote('origin', 'main', { timeoutMs: 30_000 })).toBe(daemonSha);
    await git(sb.checkout, 'config', `url.file://${other}/.insteadOf`, `git://127.0.0.1:${daemon.port}/`);
    expect(await g.lsRemote('origin', 'main', { timeoutMs: 30_000 })).toBe(fileSha);
    expect(polls()).toEqual([
      `native git:// ls-remote ${daemon.url('remote.git')} refs/heads/main`,
      'git ls-remote --heads -- origin refs/heads/main',
    ]);

    // the other way: a URL that is not git:// rewritten to one
    await git(sb.checkout, 'config', '--remove-section', `url.file://${other}/`);
    await git(sb.checkout, 'remote', 'set-url', 'origin', 'https://git.invalid/remote.git');
    await git(sb.checkout, 'config', `url.git://127.0.0.1:${daemon.port}/.insteadOf`, 'https://git.invalid/');
    expect(await g.lsRemote('origin', 'main', { timeoutMs: 30_000 })).toBe(daemonSha);
    expect(polls().at(-1)).toBe(`native git:// ls-remote ${daemon.url('remote.git')} refs/heads/main`);
  });

  it('HOTPULL_NATIVE_POLL=0, GIT_PROXY_COMMAND and core.gitProxy send the poll through git', async () => {
    const sha = await headOf(sb.seed);
    const off = adapter({ HOTPULL_NATIVE_POLL: '0' });
    expect(await off.g.lsRemote('origin', 'main', { timeoutMs: 30_000 })).toBe(sha);
    expect(off.commands).toEqual(['git ls-remote --heads -- origin refs/heads/main']);

    // a proxy that answers with an advertisement of its own: its sha proves git (and the proxy) answered
    const fake = 'f'.repeat(40);
    const dir = path.join(sb.root, 'proxy');
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'advert'), `${pkt(`${fake} refs/heads/main\0agent=fake\n`)}0000`);
    const proxy = path.join(dir, 'proxy.sh');
    await fs.writeFile(proxy, `#!/bin/sh\ncat "${dir}/advert"\ncat >/dev/null\n`, { mode: 0o755 });

    const viaEnv = adapter({ GIT_PROXY_COMMAND: proxy });
    expect(await viaEnv.g.lsRemote('origin', 'main', { timeoutMs: 30_000 })).toBe(fake);
    expect(viaEnv.polls()).toEqual(['git ls-remote --heads -- origin refs/heads/main']);

    await git(sb.checkout, 'config', 'core.gitProxy', proxy);
    const viaConfig = adapter();
    expect(await viaConfig.g.lsRemote('origin', 'main', { timeoutMs: 30_000 })).toBe(fake);
    expect(viaConfig.polls()).toEqual(['git ls-remote --heads -- origin refs/heads/main']);
  });

  it('deploys a pushed commit: hotpull run --interval 1s against git://127.0.0.1', async () => {
    const proc = startHotpull(['run', '--repo', sb.checkout, '--interval', '1s', '--log-level', 'debug']);
    await waitForRecord(proc, 'hotpull following', (r) => String(r.msg).startsWith('hotpull following'), 60_000);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 3\n' });
    await waitFor('the checkout at the pushed commit', async () => (await headOf(sb.checkout)) === sha, 60_000);
    const commands = proc.records().map((r) => String(r.command ?? ''));
    expect(commands).toContain(`native git:// ls-remote ${daemon.url('remote.git')} refs/heads/main`);
    expect(commands.filter((c) => c.startsWith('git ls-remote --heads'))).toEqual([]);
  });
});

describe('against servers that misbehave', () => {
  const servers: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });
  const serve = async (onConnection: (socket: net.Socket) => void) => {
    const server = await rogueServer(onConnection);
    servers.push(server);
    return server;
  };

  it('a complete advertisement: the sha, then a flush back and the socket closed', async () => {
    const sha = 'e'.repeat(40);
    const server = await serve((socket) => socket.write(`${pkt(`${sha} refs/heads/main\0agent=x\n`)}0000`));
    expect(await nativeLsRemote(server.url, 'main', { timeoutMs: 30_000 })).toBe(sha);
    await server.sockets[0]!.closed;
    expect(Buffer.concat(server.sockets[0]!.received).toString('latin1')).toBe(
      `${pkt(`git-upload-pack /repo.git\0host=127.0.0.1:${server.port}\0`)}0000`,
    );
  });

  it('a server that accepts and says nothing: TIMEOUT within timeoutMs and some slack, the socket closed', async () => {
    const server = await serve(() => undefined);
    const started = performance.now();
    const error = await outcome(nativeLsRemote(server.url, 'main', { timeoutMs: 1000 }));
    const took = performance.now() - started;
    expect(error).toBeInstanceOf(HotpullError);
    expect((error as HotpullError).code).toBe('TIMEOUT');
    expect((error as Error).message).toBe(`native git:// ls-remote ${server.url} refs/heads/main timed out after 1s`);
    expect(took).toBeGreaterThanOrEqual(990);
    expect(took).toBeLessThan(1000 + 10_000);
    await server.sockets[0]!.closed;
    expect(Buffer.concat(server.sockets[0]!.received).toString('latin1')).toBe(
      pkt(`git-upload-pack /repo.git\0host=127.0.0.1:${server.port}\0`),
    );
  });

  it('a stop while the advertisement is coming: ABORTED, the socket closed', async () => {
    const controller = new AbortController();
    const server = await serve((socket) => {
      socket.write(pkt(`${'a'.repeat(40)} HEAD\0agent=x\n`), () => setTimeout(() => controller.abort(), 50));
    });
    const error = await outcome(nativeLsRemote(server.url, 'main', { timeoutMs: 60_000, signal: controller.signal }));
    expect((error as HotpullError).code).toBe('ABORTED');
    expect((error as Error).message).toBe(`native git:// ls-remote ${server.url} refs/heads/main: stopped`);
    await server.sockets[0]!.closed;
  });

  it('an already aborted signal: ABORTED without a connection', async () => {
    const server = await serve(() => undefined);
    const error = await outcome(nativeLsRemote(server.url, 'main', { signal: AbortSignal.abort() }));
    expect((error as HotpullError).code).toBe('ABORTED');
    expect(server.sockets).toHaveLength(0);
  });

  it.each([
    [
      'garbage',
      'HTTP/1.1 400 Bad Request\r\n\r\n',
      'protocol',
      /failed: bad pkt-line length "HTTP" \(not four hex digits\) \(from 127\.0\.0\.1:\d+\)$/,
    ],
    ['an ERR line', pkt('ERR no such repository'), 'remote', /failed: remote error: no such repository \(from/],
    ['protocol v2', `${pkt('version 2\n')}0000`, 'protocol', /failed: the remote answered with protocol 2, not v0/],
    [
      'a close before the flush',
      pkt(`${'a'.repeat(40)} HEAD\0agent=x\n`),
      'connection',
      /failed: 127\.0\.0\.1:\d+ closed the connection before the end of the ref list \(after 58 bytes; is the repository exported\?\)$/,
    ],
  ])('a server that sends %s: %s error, socket closed', async (_name, reply, problem, message) => {
    const server = await serve((socket) => socket.end(reply));
    const error = await outcome(nativeLsRemote(server.url, 'main', { timeoutMs: 30_000 }));
    expect(error).toBeInstanceOf(NativeLsRemoteError);
    expect((error as NativeLsRemoteError).problem).toBe(problem);
    expect((error as Error).message).toMatch(new RegExp(`^native git:// ls-remote ${server.url} refs/heads/main`));
    expect((error as Error).message).toMatch(message);
    await server.sockets[0]!.closed;
  });

  it('a server that never stops advertising: too-large at the 8 MB cap, no hang, the socket closed', async () => {
    const line = Buffer.from(pkt(`${'a'.repeat(40)} refs/heads/branch-with-a-long-name\n`).repeat(1000));
    const server = await serve((socket) => {
      const more = () => {
        while (!socket.destroyed && socket.write(line));
      };
      socket.on('drain', more);
      more();
    });
    const error = await outcome(nativeLsRemote(server.url, 'main', { timeoutMs: 60_000 }));
    expect((error as NativeLsRemoteError).problem).toBe('too-large');
    expect((error as Error).message).toMatch(/failed: the ref advertisement is larger than 8388608 bytes/);
    await server.sockets[0]!.closed;
  });

  it('nothing listening: a connection error naming the address', async () => {
    const port = await freePort();
    const error = await outcome(nativeLsRemote(`git://127.0.0.1:${port}/r.git`, 'main', { timeoutMs: 30_000 }));
    expect((error as NativeLsRemoteError).problem).toBe('connection');
    expect((error as Error).message).toBe(
      `native git:// ls-remote git://127.0.0.1:${port}/r.git refs/heads/main failed: connection refused (127.0.0.1:${port})`,
    );
  });

  it('a protocol error in lsRemote falls back to git, whose error the caller sees', async () => {
    const server = await serve((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const sb = await makeSandbox();
    try {
      await git(sb.checkout, 'remote', 'set-url', 'origin', server.url);
      const g = new Git(sb.checkout, gitEnv());
      const commands: string[] = [];
      g.onCommand = (command) => commands.push(command);
      const error = await outcome(g.lsRemote('origin', 'main', { timeoutMs: 30_000 }));
      expect(error).not.toBeInstanceOf(NativeLsRemoteError);
      expect((error as HotpullError).code).toBe('GIT');
      expect((error as Error).message).toMatch(
        /^git ls-remote --heads -- origin refs\/heads\/main failed: .*protocol error/,
      );
      expect(commands.filter((c) => c.includes('ls-remote') && !c.includes('--get-url'))).toEqual([
        `native git:// ls-remote ${server.url} refs/heads/main`,
        'git ls-remote --heads -- origin refs/heads/main',
      ]);
      expect(server.sockets).toHaveLength(2);
      // the remote speaks something else: git answers until the config changes
      await outcome(g.lsRemote('origin', 'main', { timeoutMs: 30_000 }));
      expect(commands.at(-1)).toBe('git ls-remote --heads -- origin refs/heads/main');
      expect(server.sockets).toHaveLength(3);
      g.close();
    } finally {
      await sb.cleanup();
    }
  });
});
