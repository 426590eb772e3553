/**
 * Issue 13, the canary: an app server started from the staged revision on a free loopback port, judged with the
 * --health-url path and --health-expect before anything serving sees the revision, its process group gone after
 * every outcome. Real uWSGI and gunicorn; `--canary auto` on the Django example's ini and on an ini with %d.
 */
import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { itNeeds } from './helpers/requires.js';
import { commitAndPush, git, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { makePipeline, runCli, waitFor, waitForJudgeChild, type LogSink } from './helpers/hotpull.js';
import { wsgiAppSource } from './helpers/wsgi-app.js';
import { freePort, startUwsgi, workerVersions, UWSGI_BIN, type UwsgiServer } from './helpers/uwsgi.js';
import { exampleFiles, render } from './helpers/examples.js';
import { startHotpull, waitForRecord } from './helpers/procs.js';
import { runCanary } from '../src/deploy/canary.js';
import { killGroup } from '../src/proc/exec.js';

const PYTHON = '/usr/bin/python3';
/** A canary that never answers and leaves a second process in its group: the kill and stop tests' target. */
const HANGING_CANARY = ['--canary', 'sleep 300 & sleep 301 # {port}', '--canary-timeout', '60s'];

let sb: Sandbox | undefined;
let server: UwsgiServer | undefined;
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  await server?.stop();
  await sb?.cleanup();
  server = undefined;
  sb = undefined;
});

const itServers = itNeeds('uwsgi', 'gunicorn');

const UWSGI_CANARY = `${UWSGI_BIN} --plugin python3 --http-socket 127.0.0.1:{port} --master --processes 1 --chdir {dir} --wsgi-file {dir}/app.py --die-on-term --no-orphans`;
const appWithSha = (version: string, options: { crashOnImport?: boolean } = {}) =>
  wsgiAppSource(version, { reportSha: true, ...options });
/** Reports a revision that is not the one deployed: what a stale or wrong build answers. */
const appWithWrongSha = (version: string) =>
  appWithSha(version).replace(/^SHA = subprocess.*$/m, 'SHA = "0123456789abcdef0123456789abcdef01234567"');
const everyWorker = async (url: string) => [...new Set((await workerVersions(url, 2)).values())];
const mtime = async (file: string) => (await fs.stat(file)).mtimeMs;

/** The process groups of the canaries a pipeline started (from its log). */
const canaryGroups = (logs: LogSink) =>
  logs
    .records()
    .filter((r) => typeof r.msg === 'string' && /^canary for \w+ started/.test(r.msg))
    .map((r) => r.pid as number);

async function expectGone(groups: number[]): Promise<void> {
  expect(groups.length).toBeGreaterThan(0);
  // sync() waited for them already; a loaded machine may still be reaping
  for (const pgid of groups) await waitFor(`canary process group ${pgid} gone`, () => !killGroup(pgid, 0), 5000);
}

describe('--canary on uWSGI (in-place)', () => {
  itServers(
    'rejects a 500 and a wrong {sha} with nothing reloaded, passes a good commit which then goes live',
    async () => {
      sb = await makeSandbox({ files: { 'app.py': appWithSha('v1'), 'uwsgi.ini': '[uwsgi]\n' } });
      const touchFile = path.join(sb.checkout, 'uwsgi.ini');
      server = await startUwsgi({ dir: sb.checkout, touchReload: touchFile });
      const { engine, logs } = await makePipeline(sb.checkout, {
        healthUrl: `${server.url}/health`,
        healthExpect: '{sha}',
        canary: UWSGI_CANARY,
      });
      const good = await headOf(sb.checkout);
      const touched = await mtime(touchFile);

      const crashing = await commitAndPush(sb, { 'app.py': appWithSha('v2', { crashOnImport: true }) });
      expect(await engine.sync('test')).toMatchObject({
        kind: 'rejected',
        record: { result: 'rejected', to: crashing },
      });
      expect(engine.status).toMatchObject({ state: 'rejected', rejectedSha: crashing, deployedSha: good });
      expect(engine.status.reason).toMatch(
        /rejected before it was served: canary on port \d+: GET http:\/\/127\.0\.0\.1:\d+\/health answered 500/,
      );
      // its output's last lines say why
      expect(engine.status.reason).toContain('its output:');
      await expectGone(canaryGroups(logs));

      const wrong = await commitAndPush(sb, { 'app.py': appWithWrongSha('v3') });
      expect(await engine.sync('test')).toMatchObject({ kind: 'rejected', record: { result: 'rejected', to: wrong } });
      expect(engine.status.reason).toContain(`answered 200 without "${wrong}"`);
      await expectGone(canaryGroups(logs));
      expect(await headOf(sb.checkout)).toBe(good);
      expect(await mtime(touchFile)).toBe(touched);
      expect(await everyWorker(server.url)).toEqual(['v1']);

      const fixed = await commitAndPush(sb, { 'app.py': appWithSha('v4') });
      expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { result: 'live', to: fixed } });
      expect(await everyWorker(server.url)).toEqual(['v4']);
      expect(logs.text()).toMatch(/canary for \w+ healthy in \d+ms/);
      const groups = canaryGroups(logs);
      expect(groups).toHaveLength(3);
      await expectGone(groups);
    },
    90_000,
  );

  it('a canary that never answers times out cleanly: rejected, its whole process group gone', async () => {
    sb = await makeSandbox();
    const { engine, logs } = await makePipeline(sb.checkout, {
      reload: ['none'],
      canary: 'sleep 300 & sleep 301 # {port}',
      canaryTimeout: '1500ms',
    });
    const bad = await commitAndPush(sb, { 'README.md': 'two\n' });
    expect(await engine.sync('test')).toMatchObject({ kind: 'rejected', record: { result: 'rejected', to: bad } });
    expect(engine.status.reason).toMatch(
      /canary on port \d+: not healthy after [\d.]+m?s \(timeout 1\.5s\): GET http:\/\/127\.0\.0\.1:\d+\/ failed: ECONNREFUSED/,
    );
    await expectGone(canaryGroups(logs));
  }, 30_000);

  itServers(
    'a port taken between picking and binding is retried on another port',
    async () => {
      sb = await makeSandbox({ files: { 'app.py': appWithSha('v1') } });
      const sha = await headOf(sb.checkout);
      // the squatter even answers as the app would: only the canary's own exit tells it apart
      const squatter = http.createServer((_req, res) => res.end(`ok v0 ${sha}`));
      const taken = await new Promise<number>((resolve) =>
        squatter.listen(0, '127.0.0.1', () => resolve((squatter.address() as { port: number }).port)),
      );
      cleanups.push(() => new Promise((resolve) => squatter.close(resolve)));
      const ports = [taken];
      const runs: Array<{ pid: number; port: number }> = [];
      const verdict = await runCanary(
        {
          command: UWSGI_CANARY,
          timeoutMs: 20_000,
          path: '/health',
          expect: '{sha}',
          settleMs: 500,
          pickPort: async () => ports.shift() ?? freePort(),
          onRun: (run) => runs.push(run),
        },
        { dir: sb.checkout, sha, previousSha: '', env: process.env },
      );
      expect(verdict).toMatchObject({ ok: true });
      expect(runs.map((r) => r.port)).toHaveLength(2);
      expect(runs[0]!.port).toBe(taken);
      expect(runs[1]!.port).not.toBe(taken);
      await expectGone(runs.map((r) => r.pid));
    },
    60_000,
  );

  it('SIGTERM to hotpull during the canary: hotpull exits, the canary group is gone, nothing is rejected', async () => {
    sb = await makeSandbox();
    await commitAndPush(sb, { 'README.md': 'two\n' });
    const proc = startHotpull([
      'run',
      '--repo',
      sb.checkout,
      '--interval',
      '1s',
      '--reload',
      'none',
      ...HANGING_CANARY,
    ]);
    cleanups.push(() => (proc.alive() ? proc.child.kill('SIGKILL') : undefined));
    const started = await waitForRecord(
      proc,
      'the canary started',
      (r) => typeof r.msg === 'string' && r.msg.includes('started on 127.0.0.1'),
    );
    const pgid = started.pid as number;
    expect(killGroup(pgid, 0)).toBe(true);
    // not the helpers' stop(): it would kill what hotpull left behind and hide it
    proc.child.kill('SIGTERM');
    const { code } = await proc.exited;
    expect(code).toBe(0);
    await expectGone([pgid]);
    await expect(git(sb.checkout, 'rev-parse', '--verify', '-q', 'refs/hotpull/rejected')).rejects.toThrow();
  }, 60_000);
});

describe('bad canary options', () => {
  it.each([
    {
      args: ['--canary', 'uwsgi --http-socket 127.0.0.1:8000'],
      says: '--canary must be a command with {port} (the canary\'s port) or auto (got "uwsgi --http-socket 127.0.0.1:8000")',
    },
    { args: ['--canary', 'auto'], says: '--canary auto found no app server configuration in' },
  ])(
    '$args.1: exit 2 and one line',
    async ({ args, says }) => {
      sb = await makeSandbox();
      const result = await runCli(['sync', '--repo', sb.checkout, ...args]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(says);
    },
    30_000,
  );
});

describe('fail fast after the reload', () => {
  itServers(
    'steady 5xx from the new revision for the settle window rolls back then, not after --health-timeout',
    async () => {
      sb = await makeSandbox({ files: { 'app.py': appWithSha('v1'), 'uwsgi.ini': '[uwsgi]\n' } });
      server = await startUwsgi({ dir: sb.checkout, touchReload: path.join(sb.checkout, 'uwsgi.ini') });
      const { engine, logs } = await makePipeline(sb.checkout, {
        healthUrl: `${server.url}/health`,
        healthExpect: '{sha}',
        healthTimeout: '60s',
        healthSettle: '1s',
      });
      const good = await headOf(sb.checkout);
      const bad = await commitAndPush(sb, { 'app.py': appWithSha('v2', { crashOnImport: true }) });
      const outcome = await engine.sync('test');
      expect(outcome).toMatchObject({
        kind: 'rejected',
        record: { result: 'rolled-back', rolledBackTo: good, to: bad },
      });
      expect(engine.status.reason).toMatch(/answered 5xx on every probe for \d/);
      // the verdict came before the half-way repeat of the reload
      expect(logs.text()).not.toContain('reloading once more');
      expect(await everyWorker(server.url)).toEqual(['v1']);
    },
    90_000,
  );
});

describe('a hotpull killed with -9 during the canary', () => {
  it.each([
    {
      layout: 'in-place',
      canaryAgain: true,
      title: 'the next start ends the process group it left before judging again',
    },
    {
      layout: 'atomic',
      canaryAgain: true,
      title: 'the next start ends the process group it left before judging again',
    },
    { layout: 'in-place', canaryAgain: false, title: 'a start without --canary ends it too, then deploys unjudged' },
  ] as const)(
    '$layout: $title',
    async ({ layout, canaryAgain }) => {
      sb = await makeSandbox();
      const head = await commitAndPush(sb, { 'README.md': 'two\n' });
      // atomic: a root of its own, cloned by the first start; its first release is judged like any other
      const root = layout === 'atomic' ? await tmpDir('hotpull-atomic-canary-kill-') : sb.checkout;
      if (layout === 'atomic') cleanups.push(() => fs.rm(root, { recursive: true, force: true }));
      const args = [
        'run',
        '--repo',
        root,
        ...(layout === 'atomic' ? ['--layout', 'atomic', '--remote', sb.bare, '--branch', 'main'] : []),
        '--interval',
        '1s',
        '--reload',
        'none',
        ...HANGING_CANARY,
      ];
      const first = startHotpull(args);
      const started = await waitForRecord(
        first,
        'the canary started',
        (r) => typeof r.msg === 'string' && r.msg.includes('started on 127.0.0.1'),
      );
      const left = started.pid as number;
      cleanups.push(() => killGroup(left, 'SIGKILL'));
      // the write of the group's pid and start time may trail the log line
      await waitForJudgeChild(layout === 'atomic' ? path.join(root, '.hotpull', 'repo') : path.join(root, '.git'));
      first.child.kill('SIGKILL');
      await first.exited;
      expect(killGroup(left, 0)).toBe(true);

      const second = startHotpull(canaryAgain ? args : args.slice(0, -HANGING_CANARY.length));
      cleanups.push(() => (second.alive() ? second.child.kill('SIGKILL') : undefined));
      const ended = await waitForRecord(
        second,
        'the leftover ended',
        (r) => typeof r.msg === 'string' && r.msg.startsWith('ended the staged hook, preflight or canary'),
        60_000,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; its log:\n${second.stdout().slice(-3000)}`);
      });
      expect(ended.pid).toBe(left);
      await expectGone([left]);
      if (!canaryAgain) {
        await waitFor('the unjudged deploy', async () => (await headOf(sb!.checkout)) === head);
        second.child.kill('SIGTERM');
        expect((await second.exited).code).toBe(0);
        return;
      }
      const again = await waitForRecord(
        second,
        'a new canary',
        (r) => typeof r.msg === 'string' && r.msg.includes('started on 127.0.0.1'),
      );
      if (layout === 'atomic') {
        // judged again, not served unjudged at start: no release went live yet, so there is no `current`
        await expect(fs.lstat(path.join(root, 'current'))).rejects.toThrow(/ENOENT/);
        expect(second.stdout()).toContain('nothing deployed yet');
      }
      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
      await expectGone([again.pid as number]);
    },
    120_000,
  );
});

describe('--canary auto', () => {
  itServers(
    "the Django example's ini: Django from the staged tree, a broken view rejected, a good commit through",
    async () => {
      // the example's hotpull.config.yaml is for the container (its /venv pip hook, port 8000): flags here instead
      const { 'hotpull.config.yaml': _config, ...files } = await exampleFiles('django-uwsgi');
      sb = await makeSandbox({ files: { ...files, 'uwsgi.ini': '[uwsgi]\n' } });
      const venv = path.join(sb.root, 'venv');
      await execa(PYTHON, ['-m', 'venv', '--system-site-packages', '--without-pip', venv]);
      // the container's /app and /venv are this test's
      const ini = render(files['uwsgi.ini']!, {
        app: sb.checkout,
        run: path.join(sb.root, 'run'),
        venv,
        appPort: 8000,
        hotpullPort: 9300,
      });
      await commitAndPush(sb, { 'uwsgi.ini': ini });
      await git(sb.checkout, 'pull', '-q', '--ff-only');
      const { engine, logs } = await makePipeline(
        sb.checkout,
        { canary: 'auto', reload: ['none'], healthExpect: 'sha={sha}' },
        { DJANGO_SECRET_KEY: 'test' },
      );
      const said = logs
        .records()
        .find((r) => typeof r.msg === 'string' && r.msg.startsWith('--canary auto: uWSGI ini'));
      expect(said?.msg).toContain(
        `uWSGI ini ${path.join(sb.checkout, 'uwsgi.ini')}: kept plugins, chdir, pythonpath, module, env, virtualenv`,
      );
      expect(said?.msg).toContain('dropped http-socket, touch-reload, disable-logging; 1 worker');
      expect(said?.msg).toContain(`--virtualenv ${venv}`);

      const views = files['hello/views.py']!;
      const broken = await commitAndPush(sb, {
        'hello/views.py': views.replace('from .version import VERSION', 'from .version import VERSION, MISSING'),
      });
      expect(await engine.sync('test')).toMatchObject({ kind: 'rejected', record: { to: broken } });
      expect(engine.status.reason).toMatch(/canary on port \d+: GET http:\/\/127\.0\.0\.1:\d+\/ answered 500/);
      expect(engine.status.reason).toContain("ImportError: cannot import name 'MISSING'");

      const good = await commitAndPush(sb, { 'hello/views.py': views, 'hello/version.py': 'VERSION = "2"\n' });
      expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { to: good } });
      expect(await headOf(sb.checkout)).toBe(good);
      await expectGone(canaryGroups(logs));
    },
    90_000,
  );

  itServers(
    'an ini that uses %d, outside the served tree paths untouched: the canary runs the staged revision',
    async () => {
      const ini = [
        '[uwsgi]',
        'plugins = python3',
        'chdir = %d',
        'wsgi-file = %dapp.py',
        'master = true',
        'processes = 4',
        'socket = %d/run/%n.sock',
        'pidfile = %d/run/%n.pid',
        'logto = %d/log/%n.log',
        'touch-reload = %p',
        '',
      ].join('\n');
      sb = await makeSandbox({ files: { 'deploy/site.ini': ini, 'deploy/app.py': appWithSha('v1') } });
      const { engine, logs } = await makePipeline(sb.checkout, {
        canary: 'auto',
        reload: ['touch:deploy/site.ini'],
        healthUrl: 'http://127.0.0.1:1/health',
        healthExpect: 'ok v2 {sha}',
        healthTimeout: '200ms',
        rollback: false,
      });
      const said = logs.records().find((r) => typeof r.msg === 'string' && r.msg.startsWith('--canary auto:'));
      expect(said?.msg).toContain(`uWSGI ini ${path.join(sb.checkout, 'deploy/site.ini')}`);
      expect(said?.msg).toContain('dropped socket, pidfile, logto, touch-reload');
      expect(said?.canary).toBe(
        "uwsgi --plugins python3 --chdir '{dir}/deploy/' --wsgi-file '{dir}/deploy/app.py' --http-socket '127.0.0.1:{port}' --master --processes 1 --die-on-term --no-orphans",
      );

      // the canary judged the staged v2 (its sha on its /health); the (absent) production answered neither before
      // nor after the deploy, which is no verdict on it (issue 25): reloaded, unverified
      const next = await commitAndPush(sb, { 'deploy/app.py': appWithSha('v2') });
      const outcome = await engine.sync('test');
      expect(logs.text()).toMatch(new RegExp(`canary for ${next.slice(0, 7)} healthy`));
      expect(outcome).toMatchObject({ kind: 'deployed', record: { result: 'reloaded', to: next } });
      expect(engine.status.reason).toContain('verification impossible');
      // nothing production-only was written by the canary
      await expect(fs.stat(path.join(sb.checkout, 'deploy', 'run'))).rejects.toThrow();
      await expect(fs.stat(path.join(sb.checkout, '.git', 'hotpull', 'stage', 'deploy', 'run'))).rejects.toThrow();
      await expectGone(canaryGroups(logs));
    },
    60_000,
  );

  itServers(
    'gunicorn: its config from the staged tree, bind, workers and pid file overridden',
    async () => {
      const pidDir = await tmpDir('hotpull-gunicorn-pid-');
      cleanups.push(() => fs.rm(pidDir, { recursive: true, force: true }));
      const conf = `wsgi_app = "app:application"\nbind = "127.0.0.1:1"\nworkers = 3\npidfile = "${pidDir}/prod.pid"\n`;
      sb = await makeSandbox({ files: { 'gunicorn.conf.py': conf, 'app.py': appWithSha('v1') } });
      const { engine, logs } = await makePipeline(sb.checkout, {
        canary: 'auto',
        reload: ['none'],
        healthUrl: 'http://127.0.0.1:1/health',
        healthExpect: '{sha}',
        healthTimeout: '200ms',
        rollback: false,
      });
      expect(logs.text()).toContain('--canary auto: gunicorn config');

      const crashing = await commitAndPush(sb, { 'app.py': appWithSha('v2', { crashOnImport: true }) });
      expect(await engine.sync('test')).toMatchObject({ kind: 'rejected', record: { to: crashing } });
      expect(engine.status.reason).toMatch(
        /canary "gunicorn .*" exited with code \d+ before it was healthy: .*RuntimeError: hotpull test app crashes at import/,
      );

      const good = await commitAndPush(sb, { 'app.py': appWithSha('v3') });
      await engine.sync('test');
      expect(logs.text()).toMatch(new RegExp(`canary for ${good.slice(0, 7)} healthy`));
      await expect(fs.stat(path.join(pidDir, 'prod.pid'))).rejects.toThrow();
      await expectGone(canaryGroups(logs));
      await fs.rm(pidDir, { recursive: true, force: true });
    },
    60_000,
  );
});
