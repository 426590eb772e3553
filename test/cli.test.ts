import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from './helpers/http-git-server.js';
import { CLI, makeDaemon, runCli, spawnCli, waitFor } from './helpers/hotpull.js';

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

async function lockFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.lock')) found.push(path.join(entry.parentPath ?? '', entry.name));
  }
  return found;
}

describe('bad configuration: one line naming option, rule and value; exit 2', () => {
  it.each([
    [
      ['run', '--interval', 'fast'],
      {},
      'hotpull: --interval must be a duration like 500ms, 2s or 1m of at least 100ms (got "fast")',
    ],
    [
      ['run', '--interval', '10ms'],
      {},
      'hotpull: --interval must be a duration like 500ms, 2s or 1m of at least 100ms (got "10ms")',
    ],
    [
      ['run'],
      { HOTPULL_SYNC_TIMEOUT: '5 minutes' },
      'hotpull: HOTPULL_SYNC_TIMEOUT must be a duration like 500ms, 2s or 1m of at least 100ms (got "5 minutes")',
    ],
    [['run', '--on-diverged', 'force'], {}, 'hotpull: --on-diverged must be one of stop, reset (got "force")'],
    [['run', '--frobnicate'], {}, 'hotpull: unknown option --frobnicate; see hotpull run --help'],
    [
      ['run', '--intreval', '2s'],
      {},
      'hotpull: unknown option --intreval (did you mean --interval?); see hotpull run --help',
    ],
    [
      ['host', 'up', '--imag=app:1'],
      {},
      'hotpull: unknown option --imag (did you mean --image?); see hotpull host up --help',
    ],
    [['status', '--url'], {}, "hotpull: Option '--url <value>' argument missing (see hotpull status --help)"],
    [
      ['sync', '--webhook-secret', 'x'],
      {},
      'hotpull: --webhook-secret is not a flag: set HOTPULL_WEBHOOK_SECRET (a command line is visible to every user in ps); see hotpull sync --help',
    ],
    [
      ['statsu'],
      {},
      'hotpull: unknown command "statsu" (did you mean status?): must be one of run, sync, status, fleet, log, pause, resume, approve, rollback, reset, reload-config, watch, host, supervisor-config, demo, completion, version, help (see hotpull --help)',
    ],
    [
      ['completion', 'bsh'],
      {},
      'hotpull: completion needs one shell: one of bash, zsh, fish (got "bsh"; did you mean bash?)',
    ],
    // `--poll` alone is `--poll on`: parsing gets past it to the next check
    [
      ['watch', '--poll', '--repo', '/nonexistent/app'],
      {},
      'hotpull: --repo must be an existing directory (got "/nonexistent/app")',
    ],
    [
      ['watch', '--repo', '/nonexistent/app', '--poll'],
      {},
      'hotpull: --repo must be an existing directory (got "/nonexistent/app")',
    ],
    [
      ['deploy'],
      {},
      'hotpull: unknown command "deploy": must be one of run, sync, status, fleet, log, pause, resume, approve, rollback, reset, reload-config, watch, host, supervisor-config, demo, completion, version, help (see hotpull --help)',
    ],
  ])('%j %j', async (args, env, message) => {
    const result = await runCli(args, { env });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(message);
    expect(result.stdout).toBe('');
  });

  it('missing repo directory', async () => {
    const result = await runCli(['run', '--repo', '/nonexistent/app']);
    expect([result.exitCode, result.stderr]).toEqual([
      2,
      'hotpull: --repo must be an existing directory (got "/nonexistent/app")',
    ]);
  });

  it('a directory that is not a git checkout', async () => {
    const dir = await tmpDir();
    const result = await runCli(['sync', '--repo', dir]);
    expect([result.exitCode, result.stderr]).toEqual([
      2,
      `hotpull: --repo must be a git checkout (got "${dir}": no git repository there)`,
    ]);
    await fs.rm(dir, { recursive: true });
  });

  it('a branch that does not exist on the remote', async () => {
    sb = await makeSandbox();
    const result = await runCli(['run', '--repo', sb.checkout, '--branch', 'release']);
    expect([result.exitCode, result.stderr]).toEqual([
      2,
      'hotpull: --branch must name a branch on the remote (got "release": no refs/heads/release on origin)',
    ]);
  });

  it('a checkout whose branch has no upstream: --branch is named, nothing is fetched', async () => {
    sb = await makeSandbox();
    // An unrelated history under the same branch name on the remote: following it would fail with git's own words.
    await git(sb.checkout, 'checkout', '-q', '--orphan', 'fresh');
    await git(sb.checkout, 'commit', '-q', '--allow-empty', '-m', 'unrelated');
    await git(sb.checkout, 'branch', '-q', '-M', 'fresh', 'main');
    await git(sb.checkout, 'config', '--remove-section', 'branch.main').catch(() => '');
    const before = await headOf(sb.checkout);
    const result = await runCli(['sync', '--repo', sb.checkout]);
    expect([result.exitCode, result.stderr]).toEqual([
      2,
      `hotpull: --branch is required: the checkout's branch "main" in ${sb.checkout} has no upstream branch to follow (pass --branch NAME, or give the branch an upstream: git branch --set-upstream-to=origin/main)`,
    ]);
    expect(await headOf(sb.checkout)).toBe(before);
  });

  it('a remote name the checkout does not have', async () => {
    sb = await makeSandbox();
    const result = await runCli(['run', '--repo', sb.checkout, '--remote', 'upstream']);
    expect([result.exitCode, result.stderr]).toEqual([
      2,
      'hotpull: --remote must be a remote of the checkout or a URL (got "upstream"; remotes: origin)',
    ]);
  });

  it('an unknown key in a config file, with a suggestion', async () => {
    sb = await makeSandbox();
    const file = path.join(sb.root, 'hotpull.config.yaml');
    await fs.writeFile(file, 'intervall: 2s\n');
    const result = await runCli(['run', '--repo', sb.checkout], { cwd: sb.root });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(
      new RegExp(
        `^hotpull: unknown key "intervall" in ${file} \\(did you mean "interval"\\?\\); known keys: repo, remote, `,
      ),
    );
  });

  it('a bad value in a config file names the key and the file', async () => {
    sb = await makeSandbox();
    const file = path.join(sb.root, '.hotpullrc.json');
    await fs.writeFile(file, JSON.stringify({ onDirty: 'clobber' }));
    const result = await runCli(['run', '--repo', sb.checkout], { cwd: sb.root });
    expect([result.exitCode, result.stderr]).toEqual([
      2,
      `hotpull: onDirty (in ${file}) must be one of stop, reset (got "clobber")`,
    ]);
  });
});

describe('hotpull sync', () => {
  it('exits 0 when it updated and when up to date, 1 when the remote fails', async () => {
    sb = await makeSandbox();
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const updated = await runCli(['sync', '--repo', sb.checkout]);
    expect(updated.exitCode).toBe(0);
    expect(await headOf(sb.checkout)).toBe(sha);
    expect(updated.stdout).toContain(`"new":"${sha}"`);

    const upToDate = await runCli(['sync', '--repo', sb.checkout]);
    expect(upToDate.exitCode).toBe(0);
    expect(upToDate.stdout).toContain('up to date');

    await git(sb.checkout, 'remote', 'set-url', 'origin', path.join(sb.root, 'gone.git'));
    const failed = await runCli(['sync', '--repo', sb.checkout]);
    expect(failed.exitCode).toBe(1);
    expect(failed.stdout).toContain('sync failed');
  });
});

describe('pretty logs and colour', () => {
  it('colours with FORCE_COLOR, none with NO_COLOR or FORCE_COLOR=0 or in a pipe', async () => {
    sb = await makeSandbox();
    const ESC = '\u001b[';
    const sync = async (env: Record<string, string | undefined>) => {
      const result = await runCli(['sync', '--repo', sb!.checkout, '--log-format', 'pretty'], {
        env: { NO_COLOR: undefined, FORCE_COLOR: undefined, ...env } as Record<string, string>,
      });
      expect([result.exitCode, result.stdout]).toEqual([0, expect.stringContaining('up to date')]);
      return result.stdout.includes(ESC);
    };
    expect(await sync({})).toBe(false);
    expect(await sync({ FORCE_COLOR: '1' })).toBe(true);
    expect(await sync({ NO_COLOR: '1' })).toBe(false);
    expect(await sync({ FORCE_COLOR: '0' })).toBe(false);
  });
});

describe('hotpull run: signals', () => {
  it('SIGUSR1 syncs now', async () => {
    sb = await makeSandbox();
    const child = spawnCli(['run', '--repo', sb.checkout, '--interval', '10m']);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor('the first sync', () => out.includes('hotpull following'), 60_000);
      // pushed before the signal: whichever pass the signal starts (or queues after the one running) deploys it
      const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
      child.kill('SIGUSR1');
      await waitFor('deploy after SIGUSR1', async () => (await headOf(sb!.checkout)) === sha, 60_000);
    } finally {
      child.kill('SIGTERM');
      expect((await child).exitCode).toBe(0);
    }
  });

  it('SIGTERM during a slow fetch exits 0 within 10 s and leaves no lock', async () => {
    sb = await makeSandbox();
    server = await startGitHttpServer({
      projectRoot: sb.root,
      user: 'deploy',
      password: 's3cret-pw',
      slowFetchMs: 30_000,
    });
    await git(
      sb.checkout,
      'remote',
      'set-url',
      'origin',
      `${server.url.replace('http://', 'http://deploy:s3cret-pw@')}remote.git`,
    );
    await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const child = spawnCli(['run', '--repo', sb.checkout, '--interval', '10m', '--log-level', 'debug']);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor('the fetch to start', () => out.includes('fetching main'), 60_000);
    // mid-fetch (the server holds it for 30 s), git and its transport helper are running: the password is on no
    // process's command line, read once git-remote-http is seen
    const everyCmdline = async () =>
      Promise.all(
        (await fs.readdir('/proc'))
          .filter((p) => /^\d+$/.test(p))
          .map((p) => fs.readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')),
      );
    const cmdlines = await waitFor(
      'git-remote-http running',
      async () => {
        const all = await everyCmdline();
        return all.some((c) => c.includes('remote-http')) ? all : undefined;
      },
      20_000,
    );
    expect(cmdlines.filter((c) => c.includes('s3cret-pw'))).toEqual([]);
    const sent = Date.now();
    child.kill('SIGTERM');
    const result = await child;
    expect([result.exitCode, result.signal, result.stderr]).toEqual([0, undefined, '']);
    expect(Date.now() - sent).toBeLessThan(10_000);
    expect(await lockFiles(path.join(sb.checkout, '.git'))).toEqual([]);
    expect(out).not.toContain('s3cret-pw');
  });
});

describe('smart-HTTP remote with basic auth', () => {
  it('deploys over HTTP with the right password', async () => {
    sb = await makeSandbox();
    server = await startGitHttpServer({ projectRoot: sb.root, user: 'deploy', password: 'right-pw' });
    await git(sb.checkout, 'remote', 'set-url', 'origin', `http://deploy:right-pw@127.0.0.1:${server.port}/remote.git`);
    const { engine, logs } = await makeDaemon(sb.checkout);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    expect((await engine.sync('test')).kind).toBe('deployed');
    expect(await headOf(sb.checkout)).toBe(sha);
    expect(logs.text()).not.toContain('right-pw');
  });

  it('a token-only URL (https://TOKEN@host) works, and the token is on no command line', async () => {
    sb = await makeSandbox();
    server = await startGitHttpServer({ projectRoot: sb.root, user: 't0ken-abc', password: '' });
    const { engine, target } = await makeDaemon(
      sb.checkout,
      { branch: 'main' },
      { HOTPULL_REMOTE: `http://t0ken-abc@127.0.0.1:${server.port}/remote.git` },
    );
    expect(target.remote).toBe(`http://127.0.0.1:${server.port}/remote.git`);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    expect((await engine.sync('test')).kind).toBe('deployed');
    expect(await headOf(sb.checkout)).toBe(sha);
  });

  it('a wrong password gives state failing and the password reaches no log line', async () => {
    sb = await makeSandbox();
    server = await startGitHttpServer({ projectRoot: sb.root, user: 'deploy', password: 'right-pw' });
    const url = `http://deploy:wr0ng-pa55@127.0.0.1:${server.port}/remote.git`;
    const { daemon, engine, logs } = await makeDaemon(
      sb.checkout,
      { branch: 'main', interval: '100ms', backoffMax: '200ms' },
      { HOTPULL_REMOTE: url },
    );
    daemon.start();
    try {
      await waitFor('two failures', () => engine.status.consecutiveFailures >= 2);
    } finally {
      await daemon.stop();
    }
    expect(engine.status.state).toBe('failing');
    expect(engine.status.lastError).toMatch(/Authentication failed|401/);
    expect(JSON.stringify(engine.status)).not.toContain('wr0ng-pa55');
    expect(logs.lines.length).toBeGreaterThan(0);
    expect(logs.text()).not.toContain('wr0ng-pa55');
    // the password never reached git's command line, so git's own message names the URL without it
    expect(logs.text()).toContain(`Authentication failed for 'http://127.0.0.1:${server.port}/remote.git/'`);

    // the daemon process, whole stdout and stderr (the URL in the environment: a flag holding it is refused)
    const child = spawnCli(['run', '--repo', sb.checkout, '--branch', 'main', '--interval', '200ms'], {
      env: { HOTPULL_REMOTE: url },
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor('a failure line', () => out.includes('sync failed'), 10_000);
    child.kill('SIGTERM');
    const result = await child;
    expect(result.exitCode).toBe(0);
    expect(`${result.stdout}${result.stderr}`).not.toContain('wr0ng-pa55');
  });
});

describe('host deploy: one result on stdout, logs on stderr, the exit code of the CLI', () => {
  it('--json prints one JSON line; without it, one human line; the logs go to stderr either way', async () => {
    sb = await makeSandbox();
    const old = await headOf(sb.checkout);
    const pushed = await commitAndPush(sb, { 'index.html': 'v2\n' });
    const json = await runCli(['host', 'deploy', '--code', sb.checkout, '--json']);
    expect(json.exitCode, json.stderr).toBe(0);
    expect(json.stdout.split('\n')).toHaveLength(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      action: 'deployed',
      changed: true,
      sha: pushed,
      from: old,
      result: 'reloaded',
      dir: sb.checkout,
      branch: 'main',
    });
    expect(json.stderr).toMatch(/^\{"level":\d+/m);
    const again = await runCli(['host', 'deploy', '--code', sb.checkout]);
    expect([again.exitCode, again.stdout]).toEqual([
      0,
      `up to date: ${sb.checkout} is at ${pushed.slice(0, 7)} (origin main)`,
    ]);
  });

  it('a command: reload that exits 2 is a failed deploy (exit 1), not bad configuration; --json still says where the checkout is', async () => {
    sb = await makeSandbox();
    const old = await headOf(sb.checkout);
    const pushed = await commitAndPush(sb, { 'index.html': 'v2\n' });
    const result = await runCli([
      'host',
      'deploy',
      '--code',
      sb.checkout,
      '--reload',
      'command:echo no such app >&2; exit 2',
      '--json',
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr.split('\n').at(-1)).toBe(
      'hotpull: command "echo no such app >&2; exit 2" exited with code 2: no such app',
    );
    expect(JSON.parse(result.stdout)).toEqual({
      action: 'failed',
      changed: true,
      sha: pushed,
      from: old,
      error: 'command "echo no such app >&2; exit 2" exited with code 2: no such app',
      dir: sb.checkout,
      branch: 'main',
      remote: 'origin',
    });
  });

  it("error kinds map to CLI exits in one table; a child's exit code is its own field", async () => {
    const { EXIT_CODES, HotpullError, interruptedError } = await import('../src/errors.js');
    const reload = new HotpullError('RELOAD', 'command "x" exited with code 2', { childExitCode: 2 });
    expect([reload.cliExitCode, reload.childExitCode]).toEqual([1, 2]);
    expect(EXIT_CODES).toMatchObject({ CONFIG: 2, UNREACHABLE: 3, RELOAD: 1, REFUSED: 1 });
    expect([
      interruptedError('timeout', 'git fetch', 1500).message,
      interruptedError('stopped', 'git fetch', 1500).message,
    ]).toEqual(['git fetch timed out after 1.5s', 'git fetch: stopped']);
    expect([interruptedError('timeout', 'x', 1).code, interruptedError('stopped', 'x', 1).code]).toEqual([
      'TIMEOUT',
      'ABORTED',
    ]);
  });
});

describe('what a remote or branch text is (one check for config, target and git)', () => {
  it.each([
    ['origin', 'name'],
    ['upstream-2', 'name'],
    ['https://git.example.com/app.git', 'url'],
    ['ssh://git@h:2222/app.git', 'url'],
    ['git@github.com:acme/web.git', 'url'],
    ['h:app.git', 'url'],
    ['/srv/git/app.git', 'path'],
    ['../remote.git', 'path'],
    ['remote/app.git', 'path'],
  ] as const)('%s is a %s', async (text, kind) => {
    const { locationKind } = await import('../src/git/location.js');
    expect(locationKind(text)).toBe(kind);
  });

  it('branch names git refuses are refused with the reason, in one line, before git sees them', async () => {
    const { branchNameProblem } = await import('../src/git/location.js');
    expect(['main', 'release/1.2', 'a..b', '-x', 'a b', 'a@{1}'].map(branchNameProblem)).toEqual([
      undefined,
      undefined,
      'it holds a space, ~ ^ : ? * [ \\, ".." or "@{"',
      'it starts with "-"',
      'it holds a space, ~ ^ : ? * [ \\, ".." or "@{"',
      'it holds a space, ~ ^ : ? * [ \\, ".." or "@{"',
    ]);
    sb = await makeSandbox();
    const result = await runCli(['sync', '--repo', sb.checkout, '--branch', 'a..b']);
    expect([result.exitCode, result.stderr]).toEqual([
      2,
      'hotpull: --branch must be a valid branch name (got "a..b": it holds a space, ~ ^ : ? * [ \\, ".." or "@{")',
    ]);
  });
});
