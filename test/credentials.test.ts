/**
 * Passwords and tokens for http(s) remotes against the real smart-HTTP server with basic auth
 * (test/helpers/http-git-server.ts): password files (rotated while the daemon runs), HOTPULL_PASSWORD, credential
 * helpers, the refusal of credentials on a command line, and nothing secret in argv, logs, /status, /metrics or
 * supervisor-config. Pure parts (URL userinfo by position, the helper environment) by table.
 */
import { generateKeyPairSync, verify } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from './helpers/http-git-server.js';
import { CLI, makeDaemon, runCli, spawnCli, waitFor } from './helpers/hotpull.js';
import { readDocs } from './helpers/docs.js';
import { freePort } from './helpers/uwsgi.js';
import {
  commandLineCredentials,
  credentialEnv,
  credentialSetup,
  maskUserinfo,
  PASSWORD_HELPER,
  remoteKind,
  splitUserinfo,
} from '../src/git/credentials.js';
import { ensureCode } from '../src/host/code.js';

let sb: Sandbox | undefined;
let server: GitHttpServer | undefined;
let dir: string | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  await sb?.cleanup();
  sb = undefined;
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  dir = undefined;
});

beforeAll(async () => {
  await expect(fs.stat(CLI), 'npm test builds dist/ first').resolves.toBeTruthy();
});

describe('credentials as pure functions', () => {
  it.each([
    [
      'https://u:p@host/x.git',
      { url: 'https://u@host/x.git', bare: 'https://host/x.git', userinfo: 'u:p', user: 'u', password: 'p' },
    ],
    [
      'https://TOKEN@host/x.git',
      {
        url: 'https://TOKEN@host/x.git',
        bare: 'https://host/x.git',
        userinfo: 'TOKEN',
        user: 'TOKEN',
        password: undefined,
      },
    ],
    // by position: a password holding @, /, quotes or a bad % escape is still found whole
    [
      'https://u:p@ss/w"o\'rd@host:99999/x.git',
      {
        url: 'https://u@host:99999/x.git',
        bare: 'https://host:99999/x.git',
        userinfo: 'u:p@ss/w"o\'rd',
        user: 'u',
        password: 'p@ss/w"o\'rd',
      },
    ],
    [
      'https://u:100%zz@host/x.git',
      { url: 'https://u@host/x.git', bare: 'https://host/x.git', userinfo: 'u:100%zz', user: 'u', password: '100%zz' },
    ],
    [
      'https://u:p%40ss@host/x.git',
      { url: 'https://u@host/x.git', bare: 'https://host/x.git', userinfo: 'u:p%40ss', user: 'u', password: 'p@ss' },
    ],
    ['https://host/x.git', { url: 'https://host/x.git', bare: 'https://host/x.git' }],
    ['git@github.com:acme/web.git', { url: 'git@github.com:acme/web.git', bare: 'git@github.com:acme/web.git' }],
  ])('%s', (url, expected) => {
    expect(splitUserinfo(url)).toEqual(expected);
  });

  it('masks the whole userinfo and tells remote kinds apart', () => {
    expect(maskUserinfo('https://u:p@ss@host/x.git')).toBe('https://***@host/x.git');
    expect(maskUserinfo('https://host/x.git')).toBe('https://host/x.git');
    expect(
      ['https://h/x', 'ssh://git@h/x', 'git@h:x', '/srv/x.git', 'file:///srv/x', './x', 'git://h/x'].map(remoteKind),
    ).toEqual(['http', 'ssh', 'ssh', 'local', 'local', 'local', 'other']);
  });

  it('refuses credentials in command-line flags, pointing to the file and environment alternatives', () => {
    expect(commandLineCredentials({ remote: 'https://deploy:s3cret@git.example.com/app.git' }, {})).toBe(
      '--remote must not carry a password or token on the command line, where ps shows it to every user (got "https://***@git.example.com/app.git"): put the password or token in a file and give --password-file FILE (with --username NAME), or set HOTPULL_PASSWORD, or give the whole URL in HOTPULL_REMOTE',
    );
    expect(commandLineCredentials({ repo: 'https://ghp_token@github.com/acme/web.git' }, {})).toMatch(
      /^--repo must not carry a password or token on the command line, .* or give the whole URL in HOTPULL_REPO$/,
    );
    // with a password option the user in the URL is a user name, not a token
    expect(
      commandLineCredentials(
        { remote: 'https://deploy@git.example.com/app.git' },
        { passwordFile: '/run/secrets/token' },
      ),
    ).toBeUndefined();
    expect(commandLineCredentials({ remote: 'ssh://git@github.com/acme/web.git' }, {})).toBeUndefined();
    expect(commandLineCredentials({ healthUrl: 'http://admin:pw@127.0.0.1:8000/version' }, {})).toMatch(
      /^--health-url must not carry .*: give the URL in HOTPULL_HEALTH_URL instead$/,
    );
    expect(
      commandLineCredentials({ remote: 'origin', interval: '2s', reload: ['touch:uwsgi.ini'] }, {}),
    ).toBeUndefined();
  });

  it('where the password comes from, and the environment git gets', () => {
    expect(
      credentialSetup('origin', 'https://git.example.com/app.git', {
        passwordFile: '/run/secrets/token',
        username: 'deploy',
      }),
    ).toEqual({
      remote: 'origin',
      source: { kind: 'file', file: '/run/secrets/token', username: 'deploy' },
    });
    expect(credentialSetup('https://deploy:pw@h/x.git', 'https://deploy:pw@h/x.git', {})).toEqual({
      remote: 'https://deploy@h/x.git',
      source: { kind: 'url', password: 'pw', username: 'deploy' },
    });
    expect(credentialSetup('origin', 'https://TOKEN@h/x.git', {})).toEqual({
      remote: 'https://h/x.git',
      source: { kind: 'url', password: '', username: 'TOKEN' },
    });
    expect(credentialSetup('origin', 'https://h/x.git', { password: 'pw' })).toEqual({
      error:
        'HOTPULL_PASSWORD needs a user name: give --username NAME (any name works for a GitHub token, e.g. x-access-token) or put it in the URL (got "https://h/x.git")',
    });
    expect(credentialSetup('origin', 'https://u:pw@h/x.git', { passwordFile: '/f', username: 'u' })).toEqual({
      error: 'the remote URL carries a password and --password-file is given: keep one (got "https://***@h/x.git")',
    });
    expect(credentialEnv({ kind: 'file', file: '/run/secrets/token', username: 'deploy' })).toEqual({
      GIT_CONFIG_COUNT: '2',
      GIT_CONFIG_KEY_0: 'credential.helper',
      GIT_CONFIG_VALUE_0: '',
      GIT_CONFIG_KEY_1: 'credential.helper',
      GIT_CONFIG_VALUE_1: PASSWORD_HELPER,
      HOTPULL_GIT_USERNAME: 'deploy',
      HOTPULL_GIT_PASSWORD_FILE: '/run/secrets/token',
    });
    expect(
      credentialEnv({ kind: 'helper', command: '/usr/local/bin/github-app-token', username: 'x-access-token' }),
    ).toEqual({
      GIT_CONFIG_COUNT: '3',
      GIT_CONFIG_KEY_0: 'credential.helper',
      GIT_CONFIG_VALUE_0: '',
      GIT_CONFIG_KEY_1: 'credential.helper',
      GIT_CONFIG_VALUE_1: '/usr/local/bin/github-app-token',
      GIT_CONFIG_KEY_2: 'credential.username',
      GIT_CONFIG_VALUE_2: 'x-access-token',
    });
  });

  it('the helper git runs reads the first line of the file each time, a trailing CR dropped, and answers get only', async () => {
    dir = await tmpDir();
    const file = path.join(dir, 'token');
    const helper = PASSWORD_HELPER.slice(1); // git strips the leading !
    const ask = (action: string) =>
      execa('sh', ['-c', `${helper} "$@"`, 'helper', action], {
        env: { HOTPULL_GIT_USERNAME: 'deploy', HOTPULL_GIT_PASSWORD_FILE: file },
        extendEnv: false,
      });
    await fs.writeFile(file, 'first token\r\nsecond line\n');
    expect((await ask('get')).stdout).toBe('username=deploy\npassword=first token');
    await fs.writeFile(file, 'rotated'); // no newline at the end
    expect((await ask('get')).stdout).toBe('username=deploy\npassword=rotated');
    expect((await ask('store')).stdout).toBe('');
  });
});

/** Every process's command line right now, and the `ps` view of them. */
async function argvEverywhere(): Promise<string> {
  const pids = (await fs.readdir('/proc')).filter((p) => /^\d+$/.test(p));
  const cmdlines = await Promise.all(pids.map((p) => fs.readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')));
  const ps = await execa('ps', ['-eo', 'args'], { reject: false });
  return `${cmdlines.join('\n')}\n${ps.stdout}`;
}

async function writeSecret(file: string, text: string): Promise<void> {
  // the way a Kubernetes Secret or a Vault agent replaces it: a new file renamed over the old one
  await fs.writeFile(`${file}.tmp`, text, { mode: 0o600 });
  await fs.rename(`${file}.tmp`, file);
}

async function httpSandbox(password: string, user = 'deploy'): Promise<{ s: Sandbox; url: string; secrets: string }> {
  const s = (sb = await makeSandbox());
  server = await startGitHttpServer({ projectRoot: s.root, user, password });
  const url = `http://127.0.0.1:${server.port}/remote.git`;
  await git(s.checkout, 'remote', 'set-url', 'origin', url);
  dir = await tmpDir('hotpull-secrets-');
  return { s, url, secrets: dir };
}

describe('http(s) remotes with a password file, HOTPULL_PASSWORD or a credential helper (real smart HTTP)', () => {
  it('a daemon with --password-file deploys; the password is in no argv (ps, /proc), log, /status, /metrics or status output', async () => {
    const password = 'pw-file-s3cret-1';
    const { s, secrets } = await httpSandbox(password);
    const file = path.join(secrets, 'token');
    await writeSecret(file, `${password}\n`);
    const sha = await commitAndPush(s, { 'app.py': 'VERSION = 2\n' });
    const listen = String(await freePort());
    const child = spawnCli([
      'run',
      '--repo',
      s.checkout,
      '--interval',
      '200ms',
      '--listen',
      listen,
      '--username',
      'deploy',
      '--password-file',
      file,
      '--log-level',
      'debug',
    ]);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor('the deploy over http', async () => (await headOf(s.checkout)) === sha, 60_000);
      // the daemon's own command line, and every git and git-remote-http it starts while polling
      const own = await fs.readFile(`/proc/${child.pid}/cmdline`, 'utf8');
      expect(own.split('\0')).toContain(file);
      let seen = 0;
      for (let i = 0; i < 20; i++) {
        const argv = await argvEverywhere();
        if (argv.includes('remote-http')) seen += 1;
        expect(argv).not.toContain(password);
      }
      expect(seen, 'caught git-remote-http running at least once').toBeGreaterThan(0);
      const status = await (await fetch(`http://127.0.0.1:${listen}/status`)).text();
      expect(JSON.parse(status).auth).toBe(`password file ${file} (user deploy)`);
      const metrics = await (await fetch(`http://127.0.0.1:${listen}/metrics`)).text();
      const text = await runCli(['status', '--url', `http://127.0.0.1:${listen}`]);
      expect(text.stdout).toContain(`auth      password file ${file} (user deploy)`);
      for (const shown of [status, metrics, text.stdout, out]) expect(shown).not.toContain(password);
    } finally {
      child.kill('SIGTERM');
      const result = await child;
      expect(result.exitCode).toBe(0);
      expect(`${result.stdout}${result.stderr}`).not.toContain(password);
    }
  }, 120_000);

  it('a rotated password file takes effect on the next pass, without a restart', async () => {
    const { s, secrets } = await httpSandbox('rotate-one');
    const file = path.join(secrets, 'token');
    await writeSecret(file, 'rotate-one\n');
    const { daemon, engine, logs } = await makeDaemon(s.checkout, {
      username: 'deploy',
      passwordFile: file,
      interval: '200ms',
      backoffMax: '400ms',
    });
    // four waits of 25 s fit in the test's 120 s: a stuck step fails with its name and the daemon's log
    const step = async (what: string, check: () => unknown) => {
      try {
        await waitFor(what, check, 25_000);
      } catch (error) {
        throw new Error(`${(error as Error).message}; state ${engine.status.state}\n${logs.text().slice(-6000)}`);
      }
    };
    daemon.start();
    try {
      const v2 = await commitAndPush(s, { 'app.py': 'VERSION = 2\n' });
      await step('v2 with the first password', async () => (await headOf(s.checkout)) === v2);
      server!.setPassword('rotate-two');
      const v3 = await commitAndPush(s, { 'app.py': 'VERSION = 3\n' });
      await step('the old password refused', () =>
        engine.status.lastError?.includes('the server refused the credentials'),
      );
      await writeSecret(file, 'rotate-two\n');
      await step('v3 with the rotated password', async () => (await headOf(s.checkout)) === v3);
      await step('idle again', () => engine.status.state === 'idle');
    } finally {
      await daemon.stop();
    }
    expect(logs.text()).not.toContain('rotate-one');
    expect(logs.text()).not.toContain('rotate-two');
  }, 120_000);

  it('a wrong password: one clear line, backoff, and the password in no log line or status', async () => {
    const { s, url, secrets } = await httpSandbox('the-right-one');
    const file = path.join(secrets, 'token');
    await writeSecret(file, 'wr0ng-pa55\n');
    const { daemon, engine, logs } = await makeDaemon(s.checkout, {
      username: 'deploy',
      passwordFile: file,
      interval: '100ms',
      backoffMax: '2s',
    });
    daemon.start();
    try {
      await waitFor('three failures', () => engine.status.consecutiveFailures >= 3, 60_000);
    } finally {
      await daemon.stop();
    }
    expect(engine.status.state).toBe('failing');
    expect(engine.status.lastError).toBe(
      `git ls-remote --heads -- origin refs/heads/main failed: Authentication failed for '${url}/': the server refused the credentials (password file ${file} (user deploy))`,
    );
    const failures = logs.records().filter((r) => String(r.msg).startsWith('sync failed'));
    const waits = failures.map((r) => r.retryInMs as number);
    expect(waits.length).toBeGreaterThanOrEqual(3);
    // backoff: each wait at least the previous one (jitter of ±10% on a doubling wait), up to backoffMax
    expect(waits[2]!).toBeGreaterThan(waits[0]!);
    expect(JSON.stringify(engine.status)).not.toContain('wr0ng-pa55');
    expect(logs.text()).not.toContain('wr0ng-pa55');
  }, 120_000);

  it('HOTPULL_PASSWORD (environment only) works; the password is in no argv, log or status', async () => {
    const password = 'env-s3cret-pw';
    const { s } = await httpSandbox(password);
    const sha = await commitAndPush(s, { 'app.py': 'VERSION = 2\n' });
    const result = await runCli(['sync', '--repo', s.checkout, '--username', 'deploy'], {
      env: { HOTPULL_PASSWORD: password },
    });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(await headOf(s.checkout)).toBe(sha);
    expect(`${result.stdout}${result.stderr}`).not.toContain(password);
    const { engine, logs } = await makeDaemon(s.checkout, { username: 'deploy' }, { HOTPULL_PASSWORD: password });
    expect(engine.status.auth).toBe('password from HOTPULL_PASSWORD (user deploy)');
    expect(`${JSON.stringify(engine.status)}${logs.text()}`).not.toContain(password);
    const flag = await runCli(['sync', '--repo', s.checkout, '--password', password]);
    expect([flag.exitCode, flag.stderr]).toEqual([
      2,
      'hotpull: --password is not a flag: set HOTPULL_PASSWORD (a command line is visible to every user in ps); see hotpull sync --help',
    ]);
  }, 120_000);

  it('--credential-helper is handed to git as is (a script that prints the token)', async () => {
    const { s, secrets } = await httpSandbox('helper-token');
    const script = path.join(secrets, 'token-helper');
    await fs.writeFile(
      script,
      '#!/bin/sh\ntest "$1" = get || exit 0\necho username=deploy\necho password=helper-token\n',
      { mode: 0o700 },
    );
    const sha = await commitAndPush(s, { 'app.py': 'VERSION = 2\n' });
    const { engine, logs } = await makeDaemon(s.checkout, { credentialHelper: script });
    expect(engine.status.auth).toBe(`credential helper ${script}`);
    expect((await engine.sync('test')).kind).toBe('deployed');
    expect(await headOf(s.checkout)).toBe(sha);
    engine.close();
    expect(logs.text()).not.toContain('helper-token');
  }, 120_000);

  it('a password with @, a space, a quote and a bad % escape in HOTPULL_REMOTE works and leaks nowhere', async () => {
    // (a raw / in it makes the URL ambiguous, for git as well: refused as bad configuration, see bad-input.test.ts)
    const password = 'p@ss w"rd%zz';
    const { s } = await httpSandbox(password);
    const sha = await commitAndPush(s, { 'app.py': 'VERSION = 2\n' });
    const remote = `http://deploy:${password}@127.0.0.1:${server!.port}/remote.git`;
    const result = await runCli(['sync', '--repo', s.checkout, '--branch', 'main'], {
      env: { HOTPULL_REMOTE: remote },
    });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(await headOf(s.checkout)).toBe(sha);
    expect(`${result.stdout}${result.stderr}`).not.toContain('w"rd');
  }, 120_000);

  it('the atomic layout with the token in HOTPULL_REMOTE: deployed, and its repository on the volume holds no token', async () => {
    const { s, secrets } = await httpSandbox('atomic-t0ken');
    const root = path.join(secrets, 'volume');
    const remote = `http://deploy:atomic-t0ken@127.0.0.1:${server!.port}/remote.git`;
    for (let i = 0; i < 2; i++) {
      const result = await runCli(['sync', '--layout', 'atomic', '--repo', root, '--branch', 'main'], {
        env: { HOTPULL_REMOTE: remote },
      });
      expect(result.exitCode, result.stdout).toBe(0);
      expect(result.stdout).not.toContain('atomic-t0ken');
    }
    expect(await fs.readlink(path.join(root, 'current'))).toBe(`releases/${await headOf(s.seed)}`);
    const config = await fs.readFile(path.join(root, '.hotpull', 'repo', 'config'), 'utf8');
    expect(config).toContain(`url = http://deploy@127.0.0.1:${server!.port}/remote.git`);
    expect(config).not.toContain('atomic-t0ken');
  }, 120_000);

  it('host up: the first clone uses the password file, and the clone keeps no password', async () => {
    const { s, url, secrets } = await httpSandbox('clone-pw');
    const file = path.join(secrets, 'token');
    await writeSecret(file, 'clone-pw\n');
    const code = path.join(secrets, 'code');
    const state = await ensureCode(code, {
      repo: url,
      branch: 'main',
      env: process.env,
      auth: { username: 'deploy', passwordFile: file },
    });
    expect(state).toEqual({ kind: 'cloned', sha: await headOf(s.seed) });
    expect(await git(code, 'config', 'remote.origin.url')).toBe(url);
    expect(await fs.readFile(path.join(code, '.git', 'config'), 'utf8')).not.toContain('clone-pw');
  }, 120_000);
});

describe('the documented GitHub App credential helper (README.md + docs/*.md), as written', () => {
  it('mints an installation token with a JWT signed by the app key, caches it, and hotpull deploys with it', async () => {
    const readme = await readDocs();
    const script = /```python\n(#!\/usr\/bin\/env python3\n[\s\S]*?access_tokens[\s\S]*?)```/.exec(readme)?.[1];
    expect(script).toBeDefined();
    const token = 'ghs_minted-installation-token';
    const { s, secrets } = await httpSandbox(token, 'x-access-token');
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = path.join(secrets, 'app.pem');
    await fs.writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const helper = path.join(secrets, 'github-app-token');
    await fs.writeFile(helper, script!, { mode: 0o755 });

    // A stand-in for api.github.com: the two calls of the recipe, each checking the JWT as GitHub does.
    const calls: string[] = [];
    const api = http.createServer((req, res) => {
      const jwt = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const [head, body, signature] = jwt.split('.');
      const claims = JSON.parse(Buffer.from(body ?? '', 'base64url').toString() || '{}') as {
        iat?: number;
        exp?: number;
        iss?: string;
      };
      const now = Date.now() / 1000;
      const valid =
        verify('sha256', Buffer.from(`${head}.${body}`), publicKey, Buffer.from(signature ?? '', 'base64url')) &&
        JSON.parse(Buffer.from(head!, 'base64url').toString()).alg === 'RS256' &&
        claims.iss === 'Iv1.test-client-id' &&
        claims.iat! <= now &&
        claims.exp! > now &&
        claims.exp! - claims.iat! <= 600;
      calls.push(`${req.method} ${req.url}${valid ? '' : ' (bad JWT)'}`);
      res.setHeader('Content-Type', 'application/json');
      if (!valid) return void res.writeHead(401).end('{"message":"A JSON web token could not be decoded"}');
      if (req.method === 'GET' && req.url === '/repos/acme/web/installation') return void res.end('{"id":4242}');
      if (req.method === 'POST' && req.url === '/app/installations/4242/access_tokens') {
        return void res.writeHead(201).end(
          JSON.stringify({
            token,
            expires_at: new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
          }),
        );
      }
      res.writeHead(404).end('{"message":"Not Found"}');
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    try {
      const env = {
        GITHUB_APP_ID: 'Iv1.test-client-id',
        GITHUB_APP_KEY_FILE: keyFile,
        GITHUB_APP_REPO: 'acme/web',
        GITHUB_API_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}`,
        GITHUB_APP_TOKEN_CACHE: path.join(secrets, 'token-cache.json'),
      };
      for (const version of [2, 3]) {
        const sha = await commitAndPush(s, { 'app.py': `VERSION = ${version}\n` });
        const result = await runCli(['sync', '--repo', s.checkout, '--credential-helper', helper], {
          env,
          timeout: 120_000,
        });
        expect(result.exitCode, result.stdout).toBe(0);
        expect(await headOf(s.checkout)).toBe(sha);
        expect(`${result.stdout}${result.stderr}`).not.toContain(token);
      }
      // one token for both runs: the helper caches it until ten minutes before it expires
      expect(calls).toEqual(['GET /repos/acme/web/installation', 'POST /app/installations/4242/access_tokens']);
      expect((await fs.stat(env.GITHUB_APP_TOKEN_CACHE)).mode & 0o777).toBe(0o600);
    } finally {
      await new Promise((resolve) => api.close(resolve));
    }
  }, 120_000);
});

describe('credentials on a command line are refused (exit 2), supervisor-config never prints one', () => {
  it.each([
    [
      ['run', '--remote', 'https://deploy:s3cret@git.example.com/app.git'],
      '--remote',
      'HOTPULL_REMOTE',
      'https://***@git.example.com/app.git',
    ],
    [
      ['sync', '--remote', 'https://ghp_t0ken@github.com/acme/web.git'],
      '--remote',
      'HOTPULL_REMOTE',
      'https://***@github.com/acme/web.git',
    ],
    [
      [
        'host',
        'up',
        '--name',
        'web',
        '--image',
        'app:1',
        '--code',
        '/srv/web',
        '--repo',
        'https://x-access-token:ghs_t0ken@github.com/acme/web.git',
      ],
      '--repo',
      'HOTPULL_REPO',
      'https://***@github.com/acme/web.git',
    ],
    [
      ['supervisor-config', '--remote', 'https://deploy:s3cret@git.example.com/app.git'],
      '--remote',
      'HOTPULL_REMOTE',
      'https://***@git.example.com/app.git',
    ],
  ])('%j', async (args, flag, env, shown) => {
    const result = await runCli(args);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(
      `hotpull: ${flag} must not carry a password or token on the command line, where ps shows it to every user (got "${shown}"): put the password or token in a file and give --password-file FILE (with --username NAME), or set HOTPULL_PASSWORD, or give the whole URL in ${env}`,
    );
    expect(result.stdout).toBe('');
  });

  it('conflicting or incomplete options, and a bad password file, are config errors', async () => {
    sb = await makeSandbox();
    dir = await tmpDir();
    const file = path.join(dir, 'token');
    await fs.writeFile(file, 'x\n');
    await git(sb.checkout, 'remote', 'set-url', 'origin', 'https://git.example.com/app.git');
    const cases: Array<[string[], Record<string, string>, string]> = [
      [
        ['--username', 'deploy', '--password-file', file],
        { HOTPULL_PASSWORD: 'x' },
        'give one of --password-file and HOTPULL_PASSWORD (got both)',
      ],
      [
        ['--password-file', file],
        {},
        `--password-file needs a user name: give --username NAME (any name works for a GitHub token, e.g. x-access-token) or put it in the URL (got "https://git.example.com/app.git")`,
      ],
      [
        ['--username', 'deploy'],
        {},
        '--username needs a password: --password-file FILE, HOTPULL_PASSWORD or --credential-helper CMD (got "deploy" alone)',
      ],
      [
        ['--username', 'deploy', '--password-file', path.join(dir, 'missing')],
        {},
        `--password-file must be a readable file (got "${path.join(dir, 'missing')}": no such file)`,
      ],
      [
        ['--credential-helper', 'store', '--password-file', file],
        {},
        '--credential-helper supplies the password itself: drop --password-file (got both)',
      ],
    ];
    for (const [args, env, message] of cases) {
      const result = await runCli(['sync', '--repo', sb.checkout, '--branch', 'main', ...args], { env });
      expect([result.exitCode, result.stderr]).toEqual([2, `hotpull: ${message}`]);
    }
    await fs.writeFile(file, '');
    const empty = await runCli([
      'sync',
      '--repo',
      sb.checkout,
      '--branch',
      'main',
      '--username',
      'u',
      '--password-file',
      file,
    ]);
    expect([empty.exitCode, empty.stderr]).toEqual([
      2,
      `hotpull: --password-file must not be empty (got "${file}", an empty file)`,
    ]);
    await git(sb.checkout, 'remote', 'set-url', 'origin', sb.bare);
    const local = await runCli(['sync', '--repo', sb.checkout, '--username', 'u', '--password-file', file]);
    expect([local.exitCode, local.stderr]).toEqual([
      2,
      `hotpull: --password-file applies to http(s) remotes (got "${sb.bare}")`,
    ]);
  }, 120_000);

  it('supervisor-config names the secret and prints the file or environment alternative, never the secret', async () => {
    const printed = await runCli(
      ['supervisor-config', '--repo', '/app', '--username', 'deploy', '--password-file', '/run/secrets/git_token'],
      {
        env: {
          HOTPULL_LOG_FORMAT: '',
          HOTPULL_PASSWORD: 'never-print-me-1',
          HOTPULL_REMOTE: 'https://deploy:never-print-me-2@git.example.com/app.git',
        },
      },
    );
    expect(printed.exitCode, printed.stderr).toBe(0);
    expect(printed.stdout).not.toContain('never-print-me');
    expect(printed.stdout).toContain(
      'command=hotpull run --repo /app --username deploy --password-file /run/secrets/git_token\n',
    );
    expect(printed.stdout).toContain(
      '; Set where this was printed and left out on purpose: HOTPULL_REMOTE, HOTPULL_PASSWORD.',
    );
    expect(printed.stdout).toContain(
      "HOTPULL_PASSWORD (or a URL with\n; a token in HOTPULL_REMOTE) in supervisord's environment, or --password-file FILE / --ssh-key-file FILE.",
    );
    const plain = await runCli(['supervisor-config', '--repo', '/app'], {
      env: { HOTPULL_LOG_FORMAT: '', HOTPULL_REMOTE: 'https://git.example.com/app.git' },
    });
    expect(plain.stdout).toContain('environment=HOTPULL_REMOTE="https://git.example.com/app.git"');
  });
});

describe('local-path remotes leave nothing in $TMPDIR', () => {
  it('N runs of hotpull sync leave no hotpull-git-* directory (the trust file lives in the repository)', async () => {
    sb = await makeSandbox();
    dir = await tmpDir('hotpull-tmpdir-');
    for (let i = 0; i < 5; i++) {
      const sha = await commitAndPush(sb, { 'app.py': `VERSION = ${i + 2}\n` });
      const result = await runCli(['sync', '--repo', sb.checkout], { env: { TMPDIR: dir } });
      expect(result.exitCode, result.stdout).toBe(0);
      expect(await headOf(sb.checkout)).toBe(sha);
    }
    expect(await fs.readdir(dir)).toEqual([]);
    const shim = await fs.readFile(path.join(sb.checkout, '.git', 'hotpull-global.gitconfig'), 'utf8');
    expect(shim).toContain(`directory = "${await fs.realpath(sb.bare)}"`);
    expect((await fs.readdir(path.join(sb.checkout, '.git'))).filter((f) => f.includes('.tmp'))).toEqual([]);
  }, 120_000);
});
