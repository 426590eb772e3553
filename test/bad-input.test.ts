import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { systemErrorLine } from '../src/errors.js';
import { OPTIONS } from '../src/config/options.js';
import { flagName, envName } from '../src/config/names.js';
import { makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { CLI, ROOT, runCli } from './helpers/hotpull.js';
import { NOBODY, cliForOtherUser, removeCopy } from './helpers/other-user.js';

let sb: Sandbox | undefined;
let dir: string | undefined;
afterEach(async () => {
  await sb?.cleanup();
  sb = undefined;
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  dir = undefined;
});
beforeAll(async () => {
  await expect(fs.stat(CLI), 'npm test builds dist/ first').resolves.toBeTruthy();
});

/** The config error with exactly this message. */
const config = (message: string) => ({ code: 'CONFIG', cliExitCode: 2, message });
const load = (flags: Record<string, unknown>, env: Record<string, string> = {}) =>
  loadConfig({ flags, env, cwd: dir ?? ROOT, isTTY: false });

/** The whole of stderr is one `hotpull: …` line, and no Node stack frame reached it. */
function expectOneLine(result: { exitCode?: number; stderr: string; stdout: string }, message: string) {
  expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 2, stderr: `hotpull: ${message}` });
  expect(`${result.stdout}${result.stderr}`).not.toMatch(/^\s+at /m);
}

describe('durations: capped at 24h, negative ones told apart, compounds accepted', () => {
  // an option with a tighter cap of its own (--traffic-every: 1m) is checked against it below
  const durationKeys = OPTIONS.filter((o) => o.kind === 'duration' && !('max' in o)).map((o) => o.key);

  it.each(durationKeys)('--%s is capped at 24h, from a flag and from the environment', async (key) => {
    await expect(load({ [key]: '1000h' })).rejects.toMatchObject(
      config(`--${flagName(key)} must be at most 24h (got "1000h")`),
    );
    await expect(load({}, { [envName(key)]: '24h1ms' })).rejects.toMatchObject(
      config(`${envName(key)} must be at most 24h (got "24h1ms")`),
    );
    expect((await load({ [key]: '24h' }))[key as 'interval']).toBe(86_400_000);
  });

  it.each([
    [{ trafficEvery: '61s' }, '--traffic-every must be at most 1m (got "61s")'],
    [{ interval: '-1s' }, '--interval must be a positive duration like 2s (got "-1s")'],
    [{ healthSettle: '-500ms' }, '--health-settle must be a positive duration like 2s (got "-500ms")'],
    [{ interval: '1m1m' }, '--interval must be a duration like 500ms, 2s or 1m of at least 100ms (got "1m1m")'],
    [{ interval: '30s1m' }, '--interval must be a duration like 500ms, 2s or 1m of at least 100ms (got "30s1m")'],
    [{ interval: '-fast' }, '--interval must be a duration like 500ms, 2s or 1m of at least 100ms (got "-fast")'],
  ])('%j', async (flags, message) => {
    await expect(load(flags)).rejects.toMatchObject(config(message));
  });

  it('compound durations', async () => {
    const c = await load({ interval: '1m30s', syncTimeout: '1h5m', healthTimeout: '2s500ms' });
    expect([c.interval, c.syncTimeout, c.healthTimeout]).toEqual([90_000, 3_900_000, 2500]);
  });

  it('a hook timeout in a config file is capped too', async () => {
    dir = await tmpDir();
    const file = path.join(dir, 'hotpull.config.json');
    await fs.writeFile(file, JSON.stringify({ onChange: [{ paths: 'x', run: 'y', timeout: '1000h' }] }));
    await expect(load({})).rejects.toMatchObject(
      config(`onChange[0].timeout (in ${file}) must be at most 24h (got "1000h")`),
    );
    await fs.writeFile(file, JSON.stringify({ healthTimeout: '25h' }));
    await expect(load({})).rejects.toMatchObject(config(`healthTimeout (in ${file}) must be at most 24h (got "25h")`));
  });

  it.each([
    [['run', '--interval', '1000h'], '--interval must be at most 24h (got "1000h")'],
    [['run', '--sync-timeout', '1000h'], '--sync-timeout must be at most 24h (got "1000h")'],
    [['run', '--reload-timeout', '1000h'], '--reload-timeout must be at most 24h (got "1000h")'],
    [['run', '--interval', '-1s'], '--interval must be a positive duration like 2s (got "-1s")'],
    [['run', '--interval=-1s'], '--interval must be a positive duration like 2s (got "-1s")'],
  ])('hotpull %j: exit 2, one line', async (args, message) => {
    expectOneLine(await runCli(args), message);
  });
});

describe('URL options', () => {
  it.each([
    [
      { healthUrl: 'http://127.0.0.1:8000/health%zz' },
      '--health-url must be an http:// or https:// URL (got "http://127.0.0.1:8000/health%zz": "%zz" is not a %XX escape (write a literal % as %25))',
    ],
    [
      { healthUrl: 'http://127.0.0.1:8000/%' },
      '--health-url must be an http:// or https:// URL (got "http://127.0.0.1:8000/%": "%" is not a %XX escape (write a literal % as %25))',
    ],
    [
      { healthUrl: 'http://127.0.0.1:99999/health' },
      '--health-url must be an http:// or https:// URL (got "http://127.0.0.1:99999/health": port 99999 is above 65535)',
    ],
    [
      { healthUrl: 'http://u:s3cr"t@127.0.0.1:8000/' },
      '--health-url must be an http:// or https:// URL (got "http://u:***@127.0.0.1:8000/": a URL to fetch cannot carry credentials)',
    ],
    [
      { url: 'http://127.0.0.1:9300/%zz' },
      '--url must be an http:// or https:// URL (got "http://127.0.0.1:9300/%zz": "%zz" is not a %XX escape (write a literal % as %25))',
    ],
    [
      { healthUrl: 'localhost:8000/health' },
      '--health-url must be an http:// or https:// URL (got "localhost:8000/health")',
    ],
  ])('%j', async (flags, message) => {
    await expect(load(flags)).rejects.toMatchObject(config(message));
  });

  it.each([
    [
      'http://deploy:p"a b@c@127.0.0.1:99999/r.git',
      'port 99999 is above 65535',
      'http://deploy:***@127.0.0.1:99999/r.git',
    ],
    ['https://deploy:p#w?d@h:99999/r.git', 'port 99999 is above 65535', 'https://deploy:***@h:99999/r.git'],
    ['https://deploy:pw@h:port/r.git', 'it does not parse as a URL', 'https://deploy:***@h:port/r.git'],
    [
      'https://deploy:pa/ss@h/r.git',
      'an @ after the host is ambiguous (in a path write %40; in a password write / as %2F)',
      'https://deploy:***@h/r.git',
    ],
    [
      'ssh://git:pw@h/r.git',
      'only http:// and https:// URLs can carry a password, not ssh://',
      'ssh://git:***@h/r.git',
    ],
    [
      'deploy:pw@h:r.git',
      'in the form user:password@host:path git reads "deploy" as the host, and ssh takes no password; use an ssh:// URL and a key',
      'deploy:***@h:r.git',
    ],
    ['https://deploy:pw@h/r.git\n', 'it holds a control character', 'https://deploy:***@h/r.git\n'],
  ])('--remote %j', async (remote, why, shown) => {
    const message = `HOTPULL_REMOTE must be a remote name or a URL (got ${JSON.stringify(shown)}: ${why})`;
    await expect(load({}, { HOTPULL_REMOTE: remote })).rejects.toMatchObject(config(message));
  });

  it.each([
    'origin',
    'https://deploy:p%zz"a b@c#?@h:8443/r.git',
    'https://x-access-token:tok@github.com/o/r.git',
    'ssh://git@127.0.0.1:2222/srv/r.git',
    'git@github.com:o/r.git',
    'file:///srv/r.git',
    '/srv/r.git',
  ])('--remote %j is accepted', async (remote) => {
    expect((await load({}, { HOTPULL_REMOTE: remote })).remote).toBe(remote);
  });

  it('hotpull sync --health-url with a bad escape: exit 2, one line', async () => {
    expectOneLine(
      await runCli(['sync', '--health-url', 'http://127.0.0.1:8000/%zz']),
      '--health-url must be an http:// or https:// URL (got "http://127.0.0.1:8000/%zz": "%zz" is not a %XX escape (write a literal % as %25))',
    );
  });

  it('a bad escape in the password of a checkout remote neither crashes nor reaches git', async () => {
    sb = await makeSandbox();
    await execa('git', ['-C', sb.checkout, 'remote', 'set-url', 'origin', 'http://deploy:p%zz@127.0.0.1:9/remote.git']);
    const result = await runCli(['sync', '--repo', sb.checkout, '--branch', 'main', '--sync-timeout', '5s']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain("unable to access 'http://127.0.0.1:9/remote.git/'");
    expect(result.stdout).not.toContain('zz');
  });
});

describe('the environment', () => {
  it('git missing from PATH', async () => {
    sb = await makeSandbox();
    const empty = path.join(sb.root, 'empty-bin');
    await fs.mkdir(empty);
    expectOneLine(
      await runCli(['sync', '--repo', sb.checkout], { env: { PATH: empty } }),
      'git was not found on PATH (install git, or give hotpull a PATH that holds it)',
    );
  });

  it.each([
    [
      'cwd',
      'hotpull.config.json',
      '{"interval": "2s",}\n',
      'cannot be parsed as JSON: Expected double-quoted property name at line 1 column 19',
    ],
    [
      'repo',
      '.hotpullrc',
      'interval: [2s\n',
      'cannot be parsed as YAML: unexpected end of the stream within a flow collection at line 2 column 1',
    ],
    [
      'cwd',
      'hotpull.config.yaml',
      'interval: 2s\n  branch: main\n',
      'cannot be parsed as YAML: bad indentation of a mapping entry at line 2 column 9',
    ],
    ['repo', 'hotpull.config.mjs', 'export default {\n', 'cannot be parsed: Unexpected end of input'],
    [
      'cwd',
      'hotpull.config.cjs',
      'module.exports = {\n  interval: ,\n};\n',
      "cannot be parsed: Unexpected token ',' at line 2",
    ],
    ['cwd', 'hotpull.config.cjs', 'throw new Error("no config today");\n', 'failed to load: no config today'],
    [
      'repo',
      '.hotpullrc.json',
      '{\n  "interval": "2s",\n  "branch": tru\n}\n',
      'cannot be parsed as JSON: Unexpected line break',
    ],
    [
      'cwd',
      'package.json',
      '{"name": "app", hotpull: {}}\n',
      'cannot be parsed as JSON: Expected double-quoted property name at line 1 column 17',
    ],
  ])(
    'a broken config file found by search in the %s: %s is named, with the problem',
    async (where, name, text, problem) => {
      sb = await makeSandbox();
      const cwd = path.join(sb.root, 'cwd');
      await fs.mkdir(cwd);
      const file = path.join(where === 'cwd' ? cwd : sb.checkout, name);
      await fs.writeFile(file, text);
      expectOneLine(await runCli(['sync', '--repo', sb.checkout], { cwd }), `config file ${file} ${problem}`);
    },
  );

  it('an explicit --config that is a directory', async () => {
    dir = await tmpDir();
    expectOneLine(
      await runCli(['sync', '--config', dir]),
      `--config must name a readable config file; ${dir} cannot be read: it is a directory`,
    );
  });

  describe('a checkout this user cannot read', () => {
    // root reads anything: as root the CLI runs as uid 65534 (nobody), which must reach node, the CLI and its
    // node_modules; mkdtemp makes the sandbox 0700, so it is opened up to 0755 first.
    const asRoot = process.getuid?.() === 0;
    // from a clone in a private directory, uid 65534 runs a world-readable copy (helpers/other-user.ts)
    afterAll(removeCopy);
    const asUser = async (args: string[], home: string) =>
      asRoot
        ? execa('setpriv', [...NOBODY, process.execPath, await cliForOtherUser(), ...args], {
            env: { HOTPULL_LOG_FORMAT: 'json', HOME: home },
            reject: false,
            timeout: 30_000,
          })
        : runCli(args, { env: { HOME: home } });

    async function unreadable(): Promise<Sandbox> {
      const sandbox = await makeSandbox();
      await fs.chmod(sandbox.root, 0o755);
      if (asRoot) {
        const reach = await execa(
          'setpriv',
          [
            '--reuid=65534',
            '--regid=65534',
            '--clear-groups',
            process.execPath,
            '-e',
            `require('fs').accessSync(${JSON.stringify(await cliForOtherUser())})`,
          ],
          { reject: false },
        );
        expect(
          reach.exitCode,
          `uid 65534 cannot read ${await cliForOtherUser()} (every directory above it must be world-executable): ${reach.stderr.split('\n')[0]}`,
        ).toBe(0);
      }
      return sandbox;
    }

    it.each([
      ['the checkout', (s: Sandbox) => s.checkout, (s: Sandbox) => s.checkout, []],
      ['its .git', (s: Sandbox) => path.join(s.checkout, '.git'), (s: Sandbox) => path.join(s.checkout, '.git'), []],
      ['an atomic layout root', (s: Sandbox) => s.checkout, (s: Sandbox) => s.checkout, ['--layout', 'atomic']],
    ])('chmod 000 on %s', async (_what, locked, named, extra) => {
      sb = await unreadable();
      const target = locked(sb);
      await fs.chmod(target, 0o000);
      try {
        expectOneLine(
          await asUser(['sync', '--repo', sb.checkout, ...extra], sb.root),
          `cannot read the checkout ${named(sb)}: permission denied (run as a user that can read it)`,
        );
      } finally {
        await fs.chmod(target, 0o755);
      }
    });
  });
});

describe('a system error that reaches the CLI unwrapped', () => {
  it('is one line in words, not a stack', async () => {
    expect(systemErrorLine(await fs.readFile('/nonexistent/hotpull.yaml').catch((e: unknown) => e))).toEqual({
      line: 'cannot open /nonexistent/hotpull.yaml: no such file or directory',
      exitCode: 1,
    });
    expect(systemErrorLine(await fs.readFile(ROOT).catch((e: unknown) => e))).toEqual({
      line: 'cannot read: is a directory',
      exitCode: 1,
    });
    expect(
      systemErrorLine(Object.assign(new Error('x'), { code: 'EACCES', syscall: 'mkdir', path: '/srv/app' })),
    ).toEqual({
      line: 'cannot mkdir /srv/app: permission denied',
      exitCode: 2,
    });
    expect(systemErrorLine(new TypeError('x is undefined'))).toBeUndefined();
  });
});
