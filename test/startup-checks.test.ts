/**
 * Issue 25.1: what a newcomer gets wrong is said at start, before the first pass. A touch path glued to another
 * value is refused (exit 2) and never becomes a directory; reload targets of the wrong kind are refused, missing
 * ones are said once; the health URL is probed and the served revision checked at start; and a check that fails
 * before a deploy is no verdict on it (a wrong port in --health-url rolled back a good commit and rejected it).
 */
import { promises as fs } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { makePipeline, runCli, waitFor } from './helpers/hotpull.js';
import { SECRET, onTeardown, request, startDaemon, teardownAll } from './helpers/listener.js';
import { wsgiAppSource } from './helpers/wsgi-app.js';
import { itNeeds } from './helpers/requires.js';
import { fetchText, freePort, startUwsgi, workerVersions, type UwsgiServer } from './helpers/uwsgi.js';

let sb: Sandbox | undefined;
let server: UwsgiServer | undefined;
afterEach(async () => {
  await teardownAll();
  await server?.stop();
  await sb?.cleanup();
  server = undefined;
  sb = undefined;
});

const itUwsgi = itNeeds('uwsgi');

/** `/health` answers 500: the app is up but broken for the revision it serves. */
const unhealthy = (version: string) =>
  wsgiAppSource(version).replace('start_response("200 OK"', 'start_response("500 Internal Server Error"');
const everyWorker = async (url: string) => [...new Set((await workerVersions(url, 2)).values())];

describe('reload targets at start', () => {
  it.each([
    ['--reload', 'touch:uwsgi.ini - uwsgi-fifo:/x', '--reload must be one of touch:FILE'],
    ['--touch', 'uwsgi.ini - uwsgi-fifo:/x', '--touch must be a file path without spaces or colons'],
    ['--touch', 'uwsgi.ini:r', '--touch must be a file path without spaces or colons'],
  ])(
    '%s %j: exit 2, one line naming the option, the rule and the value; nothing created',
    async (flag, value, says) => {
      sb = await makeSandbox();
      const before = await fs.readdir(sb.checkout);
      const result = await runCli(['sync', '--repo', sb.checkout, flag, value]);
      expect(result.exitCode).toBe(2);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(says);
      expect(lines[0]).toContain(JSON.stringify(value));
      expect(lines[0]).toMatch(/spaces or colons/);
      expect(await fs.readdir(sb.checkout)).toEqual(before);
    },
  );

  it('a FIFO that is a regular file and a touch file that is a directory: exit 2 before the first pass', async () => {
    sb = await makeSandbox({ files: { 'run/fifo': 'not a fifo\n', 'conf/uwsgi.ini/keep': '' } });
    const head = await headOf(sb.checkout);
    await commitAndPush(sb, { 'app.py': 'v2\n' });
    const fifo = await runCli(['sync', '--repo', sb.checkout, '--reload', 'uwsgi-fifo:run/fifo']);
    expect(fifo.exitCode).toBe(2);
    expect(fifo.stderr.trim()).toBe(
      `hotpull: --reload uwsgi-fifo:run/fifo:r must name uWSGI's --master-fifo, a FIFO (got ${path.join(sb.checkout, 'run/fifo')}: a regular file; uWSGI creates the FIFO itself)`,
    );
    const touch = await runCli(['sync', '--repo', sb.checkout, '--touch', 'conf/uwsgi.ini']);
    expect(touch.exitCode).toBe(2);
    expect(touch.stderr).toContain(
      `must name a regular file (got ${path.join(sb.checkout, 'conf/uwsgi.ini')}: a directory)`,
    );
    // nothing was deployed
    expect(await headOf(sb.checkout)).toBe(head);
  });

  it('a missing FIFO, a stale pid file and a touch file in a missing directory: one warning line each, and the touch creates no directory', async () => {
    sb = await makeSandbox();
    const dead = execFileSync('sh', ['-c', 'sh -c "echo \\$\\$" ; true']).toString().trim();
    await fs.writeFile(path.join(sb.checkout, '..', 'stale.pid'), `${dead}\n`);
    const { engine, logs } = await makePipeline(sb.checkout, {
      reload: [
        'uwsgi-fifo:/nonexistent/hotpull.fifo',
        `signal:${path.join(sb.checkout, '..', 'stale.pid')}`,
        'touch:typo-dir/x.ini',
      ],
    });
    const warnings = logs
      .records()
      .filter((r) => r.level === 40 && typeof r.msg === 'string' && r.msg.startsWith('--reload '))
      .map((r) => r.msg as string);
    expect(warnings).toEqual([
      '--reload uwsgi-fifo:/nonexistent/hotpull.fifo:r: /nonexistent/hotpull.fifo does not exist (yet); start uWSGI with --master-fifo /nonexistent/hotpull.fifo, or reloads fail',
      `--reload signal:${path.join(sb.checkout, '..', 'stale.pid')}:HUP: pid file ${path.join(sb.checkout, '..', 'stale.pid')} names process ${dead}, which is not running (stale)`,
      `--reload touch:typo-dir/x.ini: neither ${path.join(sb.checkout, 'typo-dir/x.ini')} nor its directory exists; hotpull creates the file, never a directory, so the reload fails until it does`,
    ]);
    // the deploy's reload fails on the FIFO first; the touch strategy alone shows it creates no directory
    engine.close();
    const touchOnly = await makePipeline(sb.checkout, { reload: ['touch:typo-dir/x.ini'] });
    await commitAndPush(sb, { 'app.py': 'v2\n' });
    await expect(touchOnly.engine.sync('test')).rejects.toThrow(
      /its directory .*typo-dir does not exist \(hotpull creates the touch file, never a directory\)/,
    );
    await expect(fs.stat(path.join(sb.checkout, 'typo-dir'))).rejects.toThrow(/ENOENT/);
    touchOnly.engine.close();
  });
});

describe('the health URL at start', () => {
  itUwsgi(
    'a wrong port: unverified at start with the reason and a hint, and a good commit goes live unverified, never rejected',
    async () => {
      sb = await makeSandbox({ files: { 'app.py': wsgiAppSource('v1'), 'uwsgi.ini': '[uwsgi]\n' } });
      server = await startUwsgi({ dir: sb.checkout, touchReload: path.join(sb.checkout, 'uwsgi.ini') });
      const wrong = `http://127.0.0.1:${await freePort()}/health`;
      const { engine, logs } = await makePipeline(sb.checkout, {
        healthUrl: wrong,
        healthTimeout: '30s',
        healthSettle: '500ms',
      });
      expect(await engine.sync('start')).toMatchObject({ kind: 'up-to-date' });
      expect(engine.status.state).toBe('unverified');
      expect(engine.status.reason).toContain(`GET ${wrong} failed: ECONNREFUSED`);
      expect(engine.status.reason).toContain('is --health-url the address and port the app server listens on?');
      expect(logs.text()).toContain('ECONNREFUSED');

      const good = await commitAndPush(sb, { 'app.py': wsgiAppSource('v2') });
      const started = Date.now();
      const outcome = await engine.sync('test');
      // before: 61.7 s, rolled back and rejected
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(outcome).toMatchObject({ kind: 'deployed', record: { result: 'reloaded', to: good } });
      expect(engine.status.rejectedSha).toBeUndefined();
      expect(engine.status.state).toBe('unverified');
      expect(engine.status.reason).toMatch(
        /reloaded, verification impossible: the health check failed before this deploy too/,
      );
      expect(await headOf(sb.checkout)).toBe(good);
      await expect(git(sb.checkout, 'rev-parse', '--verify', '-q', 'refs/hotpull/rejected')).rejects.toThrow();
      await waitFor('v2 served', async () => (await everyWorker(server!.url)).join() === 'v2', 20_000);
      engine.close();
    },
    90_000,
  );

  itUwsgi(
    'a bad deploy whose verification a stop interrupted is still judged at the next start (what answers then may be it)',
    async () => {
      sb = await makeSandbox({ files: { 'app.py': wsgiAppSource('v1'), 'uwsgi.ini': '[uwsgi]\n' } });
      server = await startUwsgi({ dir: sb.checkout, touchReload: path.join(sb.checkout, 'uwsgi.ini') });
      const flags = { healthUrl: `${server.url}/health`, healthExpect: 'ok', healthTimeout: '30s' };
      const first = await makePipeline(sb.checkout, flags);
      const good = await commitAndPush(sb, { 'app.py': wsgiAppSource('v2') });
      expect(await first.engine.sync('test')).toMatchObject({ kind: 'deployed', record: { result: 'live' } });
      const bad = await commitAndPush(sb, { 'app.py': wsgiAppSource('v3', { crashOnImport: true }) });
      const stop = new AbortController();
      const pass = first.engine.sync('test', stop.signal).catch((e: unknown) => e);
      await waitFor('verifying', () => first.engine.status.state === 'verifying', 20_000);
      stop.abort();
      expect(String(await pass)).toMatch(/verification stopped: no verdict/);
      first.engine.close();
      // the reload happened: the broken revision is what answers when the next start looks
      await waitFor('the broken revision served', async () => {
        const answer = await fetchText(`${server!.url}/health`);
        return !('status' in answer) || answer.status !== 200;
      });

      const second = await makePipeline(sb.checkout, flags);
      const outcome = await second.engine.sync('start');
      expect(outcome).toMatchObject({
        kind: 'rejected',
        record: { result: 'rolled-back', to: bad, rolledBackTo: good },
      });
      expect(second.engine.status.rejectedSha).toBe(bad);
      second.engine.close();
    },
    120_000,
  );

  itUwsgi(
    'the served revision answers 500: unverified at start (and /healthz says so); a fixing deploy goes live',
    async () => {
      sb = await makeSandbox({ files: { 'app.py': unhealthy('v1'), 'uwsgi.ini': '[uwsgi]\n' } });
      server = await startUwsgi({ dir: sb.checkout, touchReload: path.join(sb.checkout, 'uwsgi.ini') });
      const daemon = await startDaemon(sb.checkout, [
        '--interval',
        '1h',
        '--health-url',
        `${server.url}/health`,
        '--health-settle',
        '300ms',
      ]);
      onTeardown(() => daemon.stop());
      // 200 still (a sidecar's startup probe must not keep the app from starting), saying what is wrong
      const healthz = await request(daemon.url, { path: '/healthz' });
      expect(healthz.status).toBe(200);
      expect(healthz.body).toMatch(/^ok unverified \w{40} \(\w{7} is not verified: GET .*\/health answered 500/);
      const status = JSON.parse((await request(daemon.url, { path: '/status' })).body) as Record<string, unknown>;
      expect(status).toMatchObject({ state: 'unverified', live: false });

      const fixed = await commitAndPush(sb, { 'app.py': wsgiAppSource('v2') });
      const sync = await runCli(['sync', '--now', '--wait', '--url', daemon.url], {
        env: { HOTPULL_WEBHOOK_SECRET: SECRET },
        timeout: 60_000,
      });
      expect(sync.exitCode).toBe(0);
      const after = JSON.parse((await request(daemon.url, { path: '/status' })).body) as Record<string, any>;
      expect(after).toMatchObject({ state: 'idle', lastGoodSha: fixed });
      expect(after.deploys[0]).toMatchObject({ to: fixed, result: 'live' });
      expect((await request(daemon.url, { path: '/healthz' })).status).toBe(200);
    },
    90_000,
  );
});

describe('what serves from disk', () => {
  it('a one-shot sync asks the old code before the tree changes: a static server that loses its page on the push rolls it back', async () => {
    sb = await makeSandbox({ files: { 'index.html': 'version=1\n' } });
    const good = await headOf(sb.checkout);
    const port = await freePort();
    // python's http.server answers from the checkout itself: the new tree is served the moment it is applied
    const httpd = execa('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '-d', sb.checkout], {
      reject: false,
      stdio: 'ignore',
    });
    try {
      const url = `http://127.0.0.1:${port}/index.html`;
      await waitFor('the static server', async () => (await fetchText(url).catch(() => undefined))?.status === 200);
      const bad = await commitAndPush(sb, { 'index.html': null, 'other.html': 'moved\n' });
      const result = await runCli(['sync', '--repo', sb.checkout, '--health-url', url, '--health-timeout', '2s']);
      // before: the probe ran after the apply, found 404 "before the deploy too" and left the bad revision unverified
      expect(result.exitCode, result.stderr).not.toBe(0);
      expect(result.stdout + result.stderr).toContain('rolled back');
      expect(await headOf(sb.checkout)).toBe(good);
      expect(await git(sb.checkout, 'rev-parse', 'refs/hotpull/rejected')).toBe(bad);
    } finally {
      httpd.kill('SIGKILL');
      await httpd;
    }
  });
});
