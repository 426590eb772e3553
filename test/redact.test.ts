import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { credentialsOf, decodeLenient, redact, redactUrl, splitUrl } from '../src/redact.js';
import { commitAndPush, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from './helpers/http-git-server.js';
import { CLI, runCli, spawnCli, waitFor } from './helpers/hotpull.js';
import { freePort } from './helpers/uwsgi.js';

// Every character git takes raw in a password and a URL parser or a regex trips on; each word between them is a
// marker that must appear in no output, whichever piece a redaction lets slip.
const NASTY = `Alpha"Bravo'Charlie Delta@Echo#Foxtrot?Golf%zzHotel%41India`;
const MARKERS = ['Alpha', 'Bravo', 'Charlie', 'Delta', 'Echo', 'Foxtrot', 'Golf', 'Hotel', 'India'];
const leaked = (text: string) => MARKERS.filter((m) => text.includes(m));

describe('redact: userinfo by position, whatever it holds', () => {
  it.each([
    [
      'plain user:password',
      'fatal: unable to access http://deploy:s3cret@127.0.0.1:8080/r.git/: 401',
      'fatal: unable to access http://deploy:***@127.0.0.1:8080/r.git/: 401',
    ],
    ['bare token', 'https://ghp_abcdef@github.com/o/r.git', 'https://***@github.com/o/r.git'],
    ['double quote and space', 'http://u:p"a b@127.0.0.1:9/r.git', 'http://u:***@127.0.0.1:9/r.git'],
    [
      'single quote, inside git quotes',
      "fatal: unable to access 'https://u:it's@h/r.git/': 401",
      "fatal: unable to access 'https://u:***@h/r.git/': 401",
    ],
    ['@ in the password: the last @ counts', 'https://u:p@ss@word@h/r.git', 'https://u:***@h/r.git'],
    ['# and ?', 'https://u:p#x?y@h/r.git', 'https://u:***@h/r.git'],
    ['raw and bad % escapes', 'https://u:50%off%zz%@h/r.git', 'https://u:***@h/r.git'],
    ['every one at once', `https://deploy:${NASTY}@127.0.0.1:9/r.git`, 'https://deploy:***@127.0.0.1:9/r.git'],
    [
      'JSON-escaped in a log line',
      JSON.stringify({ remote: `http://u:${NASTY}@h:9/r`, msg: 'x' }),
      '{"remote":"http://u:***@h:9/r","msg":"x"}',
    ],
    ['no path after the host', 'following http://u:pw@h:9 every 5s', 'following http://u:***@h:9 every 5s'],
    [
      'two URLs in one line',
      'from https://a:1@h1/x to https://b:2@h2/y',
      'from https://a:***@h1/x to https://b:***@h2/y',
    ],
    ['upper-case scheme, git+ssh', 'HTTPS://u:p@h/ and git+ssh://u:p@h/r', 'HTTPS://u:***@h/ and git+ssh://u:***@h/r'],
    ['an e-mail user name', 'https://me@example.com:pw@h/r', 'https://me@example.com:***@h/r'],
    ['a line break ends the authority', 'http://h:9\ncontact ops@example.com', 'http://h:9\ncontact ops@example.com'],
    ['no userinfo', 'https://github.com/o/r.git', 'https://github.com/o/r.git'],
    ['an @ in the path only', 'https://h/o/r@v1.git', 'https://h/o/r@v1.git'],
    // ssh's scp-like form carries no password: kept readable (config refuses user:password@host:path)
    ['scp-like', 'git@github.com:o/r.git and /srv/app', 'git@github.com:o/r.git and /srv/app'],
    ['scp-like with a colon', 'u:pass@host:path', 'u:pass@host:path'],
  ])('%s', (_name, text, expected) => {
    expect(redact(text)).toBe(expected);
    expect(redact(redact(text))).toBe(expected);
  });

  it.each([
    ['http://u:pa/ss@h/r', 'http://u:***@h/r'],
    ['http://tok/en@h/r', 'http://***@h/r'],
    [`https://deploy:${NASTY}@h/r`, 'https://deploy:***@h/r'],
    ['https://h/r.git', 'https://h/r.git'],
    ['origin', 'origin'],
  ])('redactUrl %j (one value known to be a URL: up to the last @ anywhere)', (url, expected) =>
    expect(redactUrl(url)).toBe(expected),
  );
});

describe('redact: the token positions of notification URLs (issue 30)', () => {
  it.each([
    [
      'slack:// hook token in the userinfo',
      'slack://hook:T0-B0-S3CRET@webhook?host=127.0.0.1:9',
      'slack://hook:***@webhook?***',
    ],
    ['slack:// legacy tokens in the path', 'to slack://T000/B000/S3CRET now', 'to slack://T000/*** now'],
    ['discord:// token in the userinfo', 'discord://S3CRET@123456 x', 'discord://***@123456 x'],
    [
      'telegram:// bot token, chats in the query',
      'telegram://123:S3CRET@telegram?chats=@c',
      'telegram://123:***@telegram?***',
    ],
    ['ntfy:// access token and topic', 'ntfy://:tk_S3CRET@ntfy.sh/S3CRETTOPIC', 'ntfy://:***@ntfy.sh/***'],
    [
      'gotify:// app token in the path, in a JSON log line',
      JSON.stringify({ url: 'gotify://g.example:443/sub/S3CRET', msg: 'x' }),
      '{"url":"gotify://g.example:443/***","msg":"x"}',
    ],
    [
      'teams:// workflow signature in the query',
      'teams://x.logic.azure.com/workflows/1/triggers/manual/paths/invoke?api-version=1&sig=S3CRET',
      'teams://x.logic.azure.com/***',
    ],
    [
      'https webhooks whose path is the token',
      'https://hooks.slack.com/services/T0/B0/S3CRET and https://discord.com/api/webhooks/1/S3CRET',
      'https://hooks.slack.com/services/*** and https://discord.com/api/webhooks/***',
    ],
    [
      'a Telegram bot URL',
      'POST https://api.telegram.org/bot123:S3CRET/sendMessage',
      'POST https://api.telegram.org/***',
    ],
    [
      'token query parameters in any URL',
      'https://prod.logic.azure.com:443/workflows/1/run?api-version=2016&sig=S3CRET&sv=1 http://h/x?token=S3CRET#f',
      'https://prod.logic.azure.com:443/workflows/1/run?api-version=2016&sig=***&sv=1 http://h/x?token=***#f',
    ],
    [
      'a proxy with credentials',
      'proxy http://proxyuser:S3CRET@127.0.0.1:3128 refused',
      'proxy http://proxyuser:***@127.0.0.1:3128 refused',
    ],
    [
      'a plain https URL keeps its path',
      'https://github.com/o/r.git/commit/abc',
      'https://github.com/o/r.git/commit/abc',
    ],
  ])('%s', (_name, text, expected) => {
    expect(redact(text)).toBe(expected);
    expect(redact(redact(text))).toBe(expected);
    expect(redact(text)).not.toContain('S3CRET');
  });
});

describe('splitting credentials out of a URL', () => {
  it.each([
    [
      'http://u:p%zz@h:9/r',
      { scheme: 'http://', userinfo: 'u:p%zz', rest: 'h:9/r' },
      { username: 'u', password: 'p%zz' },
    ],
    [
      'http://u:p%41%E2%82%AC@h/r',
      { scheme: 'http://', userinfo: 'u:p%41%E2%82%AC', rest: 'h/r' },
      { username: 'u', password: 'pA€' },
    ],
    [
      'https://a%40b:x:y@h/r',
      { scheme: 'https://', userinfo: 'a%40b:x:y', rest: 'h/r' },
      { username: 'a@b', password: 'x:y' },
    ],
    ['https://tok@h/r', { scheme: 'https://', userinfo: 'tok', rest: 'h/r' }, { username: 'tok', password: '' }],
    [
      `https://deploy:${NASTY}@h:99999/r`,
      { scheme: 'https://', userinfo: `deploy:${NASTY}`, rest: 'h:99999/r' },
      { username: 'deploy', password: NASTY.replace('%41', 'A') },
    ],
  ])('%s', (url, parts, credentials) => {
    expect(splitUrl(url)).toEqual(parts);
    expect(credentialsOf(splitUrl(url)!.userinfo!)).toEqual(credentials);
  });

  it.each(['https://h/r', 'origin', '/srv/r.git', 'git@h:r.git'])('%s has no userinfo', (url) =>
    expect(splitUrl(url)?.userinfo).toBeUndefined(),
  );
  it('decodes %XX as git does and keeps any other %', () => expect(decodeLenient('%zz%4%41%%2541')).toBe('%zz%4A%%41'));
});

describe('no secret in any output of a real process', () => {
  let sb: Sandbox | undefined;
  let server: GitHttpServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await sb?.cleanup();
    sb = undefined;
  });
  beforeAll(async () => {
    await expect(fs.stat(CLI), 'npm test builds dist/ first').resolves.toBeTruthy();
  });

  /** A `git` first on PATH that writes its argv to a file and runs the real git: what any `ps` could have seen. */
  async function gitArgvRecorder(dir: string): Promise<{ env: Record<string, string>; argv: () => Promise<string> }> {
    const real = (await execa('sh', ['-c', 'command -v git'])).stdout.trim();
    const bin = path.join(dir, 'argv-bin');
    const log = path.join(dir, 'git-argv.log');
    await fs.mkdir(bin);
    await fs.writeFile(path.join(bin, 'git'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${real}' "$@"\n`, {
      mode: 0o755,
    });
    return { env: { PATH: `${bin}:${process.env.PATH}` }, argv: () => fs.readFile(log, 'utf8').catch(() => '') };
  }

  it('sync over smart HTTP with the nasty password deploys, the password going through the credential helper only', async () => {
    sb = await makeSandbox();
    server = await startGitHttpServer({ projectRoot: sb.root, user: 'deploy', password: NASTY.replace('%41', 'A') });
    const recorder = await gitArgvRecorder(sb.root);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const remote = `http://deploy:${NASTY}@127.0.0.1:${server.port}/remote.git`;
    const result = await runCli(['sync', '--repo', sb.checkout, '--branch', 'main'], {
      env: { ...recorder.env, HOTPULL_REMOTE: remote },
    });
    expect([result.exitCode, result.stderr]).toEqual([0, '']);
    expect(await headOf(sb.checkout)).toBe(sha);
    expect(leaked(result.stdout)).toEqual([]);
    // git was given the URL with the user name only
    const argv = await recorder.argv();
    expect(argv).toContain(`ls-remote --heads -- http://deploy@127.0.0.1:${server.port}/remote.git refs/heads/main`);
    expect(leaked(argv)).toEqual([]);
  });

  it('run against a closed port: no output line, /status or /metrics holds any piece of the password', async () => {
    sb = await makeSandbox();
    const recorder = await gitArgvRecorder(sb.root);
    const [closed, listen] = [await freePort(), await freePort()];
    const remote = `https://deploy:${NASTY}@127.0.0.1:${closed}/remote.git`;
    const child = spawnCli(
      [
        'run',
        '--repo',
        sb.checkout,
        '--branch',
        'main',
        '--interval',
        '200ms',
        '--backoff-max',
        '500ms',
        '--listen',
        String(listen),
      ],
      {
        env: { ...recorder.env, HOTPULL_REMOTE: remote },
      },
    );
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    let status = '';
    let metrics = '';
    try {
      await waitFor('two failed passes', () => (out.match(/sync failed/g) ?? []).length >= 2, 20_000);
      status = await (await fetch(`http://127.0.0.1:${listen}/status`)).text();
      metrics = await (await fetch(`http://127.0.0.1:${listen}/metrics`)).text();
    } finally {
      child.kill('SIGTERM');
    }
    const result = await child;
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(status)).toMatchObject({
      state: 'failing',
      remote: `https://deploy:***@127.0.0.1:${closed}/remote.git`,
    });
    expect(metrics).toContain(`remote="https://deploy:***@127.0.0.1:${closed}/remote.git"`);
    expect(out).toContain(`Failed to connect to 127.0.0.1 port ${closed}`);
    for (const [what, text] of [
      ['stdout', result.stdout],
      ['stderr', result.stderr],
      ['/status', status],
      ['/metrics', metrics],
      ['git argv', await recorder.argv()],
    ]) {
      expect(leaked(text!), what).toEqual([]);
    }
  });

  it('an unparseable URL with a password is one config line, password masked, and git never runs', async () => {
    sb = await makeSandbox();
    const recorder = await gitArgvRecorder(sb.root);
    for (const remote of [
      `http://deploy:${NASTY}@127.0.0.1:99999/remote.git`,
      `http://deploy:${NASTY}@127.0.0.1:9/x@y`,
    ]) {
      const result = await runCli(['sync', '--repo', sb.checkout, '--branch', 'main'], {
        env: { ...recorder.env, HOTPULL_REMOTE: remote },
      });
      expect(result.exitCode).toBe(2);
      expect(result.stderr.split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(
        /^hotpull: HOTPULL_REMOTE must be a remote name or a URL \(got "http:\/\/deploy:\*\*\*@/,
      );
      expect(leaked(result.stdout + result.stderr)).toEqual([]);
    }
    expect(await recorder.argv()).toBe('');
  });
});
