/**
 * Issue 24 item 2: what a judge's commands detach (a canary that daemonizes, a preflight that runs `setsid`) is
 * found again by the mark in its environment and by the judge's cgroup where one can be made, and ended after every
 * judge and at the start after a kill -9 of hotpull: nothing marked is left, and the port it held is free.
 * Real uWSGI (--daemonize) and gunicorn (--daemon).
 */
import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { itNeeds } from './helpers/requires.js';
import { commitAndPush, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { judgeChildFile, makePipeline, waitFor, type LogSink } from './helpers/hotpull.js';
import { wsgiAppSource } from './helpers/wsgi-app.js';
import { freePort, UWSGI_BIN } from './helpers/uwsgi.js';
import { GUNICORN_BIN } from './helpers/gunicorn.js';
import { accepts, startHotpull, waitForRecord } from './helpers/procs.js';
import { JUDGE_MARK } from '../src/deploy/judge.js';
import { judgeCgroup } from '../src/deploy/judge-procs.js';
import { processesWithEnv } from '../src/proc/procfs.js';

let sb: Sandbox | undefined;
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  await sb?.cleanup();
  sb = undefined;
});

const itUwsgi = itNeeds('uwsgi');
const itGunicorn = itNeeds('gunicorn');

/**
 * What the served app's health check asks (the canary gets its path, /health, from --health-url): always good, the
 * app served is not what these tests are about.
 */
async function healthUrl(): Promise<string> {
  const server = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/health`;
}

const marked = async (gitDir: string) => (await processesWithEnv(JUDGE_MARK, judgeChildFile(gitDir))) ?? [];

/** Ends whatever a failing test left marked, so a red run leaks nothing either. */
function sweepAfter(gitDir: string): void {
  cleanups.push(async () => {
    for (const { pid } of await marked(gitDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
}

const messages = (logs: LogSink) =>
  logs
    .records()
    .map((r) => String(r.msg))
    .join('\n');

/** The canary ports a pipeline's judges used (from its log). */
const canaryPorts = (logs: LogSink) =>
  logs
    .records()
    .map((r) => (typeof r.msg === 'string' ? /^canary for \w+ started on 127\.0\.0\.1:(\d+)/.exec(r.msg) : null))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]));

async function expectNothingLeft(gitDir: string, ports: number[]): Promise<void> {
  expect(await marked(gitDir)).toEqual([]);
  for (const port of ports) expect(await accepts(port), `port ${port} is free`).toBe(false);
  // the judge's cgroup (where one can be made here) is removed with what it held
  const cgroup = await judgeCgroup(judgeChildFile(gitDir));
  if (cgroup) {
    expect(await fs.readFile(path.join(cgroup, 'cgroup.procs'), 'utf8')).toBe('');
    await fs.rmdir(cgroup);
  }
}

describe('a judge that detaches processes leaves none running', () => {
  itUwsgi(
    'uwsgi --daemonize as the canary: judged by its answers, then every uWSGI process is gone and the port free, deploy after deploy',
    async () => {
      sb = await makeSandbox({ files: { 'app.py': wsgiAppSource('v1') } });
      const gitDir = path.join(sb.checkout, '.git');
      sweepAfter(gitDir);
      const { engine, logs } = await makePipeline(sb.checkout, {
        reload: ['none'],
        healthUrl: await healthUrl(),
        canary: `${UWSGI_BIN} --plugin python3 --http-socket 127.0.0.1:{port} --master --processes 2 --chdir {dir} --wsgi-file {dir}/app.py --daemonize {tmp}/uwsgi.log`,
      });
      for (const version of ['v2', 'v3']) {
        const sha = await commitAndPush(sb, { 'app.py': wsgiAppSource(version) });
        expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { to: sha } });
        expect(await headOf(sb.checkout)).toBe(sha);
      }
      expect(messages(logs)).toMatch(/^ended 3 processes the judge of \w+ left running: \S*uwsgi .* \(×3\)$/m);
      await expectNothingLeft(gitDir, canaryPorts(logs));
    },
    60_000,
  );

  itGunicorn(
    'gunicorn --daemon as the canary, a revision that fails: rejected, and nothing of gunicorn left',
    async () => {
      sb = await makeSandbox({ files: { 'app.py': wsgiAppSource('v1') } });
      const gitDir = path.join(sb.checkout, '.git');
      sweepAfter(gitDir);
      const { engine, logs } = await makePipeline(sb.checkout, {
        reload: ['none'],
        healthUrl: await healthUrl(),
        canary: `${GUNICORN_BIN} --daemon --bind 127.0.0.1:{port} --workers 2 --chdir {dir} --pid {tmp}/pid --log-file {tmp}/log app:application`,
        canaryTimeout: '5s',
      });
      const good = await commitAndPush(sb, { 'app.py': wsgiAppSource('v2') });
      expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { to: good } });
      const bad = await commitAndPush(sb, { 'app.py': wsgiAppSource('v3', { crashOnImport: true }) });
      expect(await engine.sync('test')).toMatchObject({ kind: 'rejected', record: { to: bad } });
      expect(messages(logs)).toMatch(/^ended \d+ process(es)? the judge of \w+ left running: .*gunicorn/m);
      await expectNothingLeft(gitDir, canaryPorts(logs));
    },
    60_000,
  );

  // what is found depends on when: `setsid` forking, its child not yet `sleep` (its command line says which)
  it('a preflight whose script runs setsid: its session is ended with the judge', async () => {
    sb = await makeSandbox();
    const gitDir = path.join(sb.checkout, '.git');
    sweepAfter(gitDir);
    const { engine, logs } = await makePipeline(sb.checkout, {
      reload: ['none'],
      preflight: ["setsid sh -c 'exec sleep 300' </dev/null >/dev/null 2>&1 &"],
    });
    const sha = await commitAndPush(sb, { 'README.md': 'two\n' });
    expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { to: sha } });
    expect(messages(logs)).toMatch(/^ended \d+ process(es)? the judge of \w+ left running: .*sleep 300/m);
    await expectNothingLeft(gitDir, []);
  });
});

describe('a hotpull killed with -9 while a judge has detached processes', () => {
  itUwsgi(
    'the next start ends a daemonized uWSGI and a setsid sleep: nothing marked left, the port free',
    async () => {
      sb = await makeSandbox({ files: { 'app.py': wsgiAppSource('v1') } });
      const gitDir = path.join(sb.checkout, '.git');
      sweepAfter(gitDir);
      const head = await commitAndPush(sb, { 'app.py': wsgiAppSource('v2') });
      // uWSGI daemonizes onto a port of the test's, never the canary's: the canary never answers, so the kill lands
      // while the judge runs
      const port = await freePort();
      const canary = `${UWSGI_BIN} --plugin python3 --http-socket 127.0.0.1:${port} --master --processes 1 --chdir {dir} --wsgi-file {dir}/app.py --daemonize /dev/null; setsid sleep 300 & exec sleep 301 # {port}`;
      const args = ['run', '--repo', sb.checkout, '--interval', '1s', '--reload', 'none'];
      const first = startHotpull([...args, '--canary', canary, '--canary-timeout', '60s']);
      cleanups.push(() => (first.alive() ? first.child.kill('SIGKILL') : undefined));
      await waitForRecord(first, 'the canary started', (r) => String(r.msg).includes('started on 127.0.0.1'));
      await waitFor('uWSGI up and the setsid sleep marked', async () => {
        const commands = await Promise.all(
          (await marked(gitDir)).map((p) => fs.readFile(`/proc/${p.pid}/cmdline`, 'utf8').catch(() => '')),
        );
        return (await accepts(port)) && commands.some((c) => c.startsWith('sleep\u0000300'));
      });
      first.child.kill('SIGKILL');
      await first.exited;
      expect((await marked(gitDir)).length).toBeGreaterThanOrEqual(3);

      const second = startHotpull(args);
      cleanups.push(() => (second.alive() ? second.child.kill('SIGKILL') : undefined));
      await waitForRecord(second, 'the leftovers ended', (r) =>
        String(r.msg).startsWith('ended the staged hook, preflight or canary'),
      );
      // without --canary now: deployed unjudged
      await waitFor('the deploy', async () => (await headOf(sb!.checkout)) === head);
      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
      await expectNothingLeft(gitDir, [port]);
    },
    60_000,
  );
});
