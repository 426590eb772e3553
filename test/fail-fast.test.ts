/**
 * Issue 25.2: a WSGI app that raises under uWSGI drops the connection instead of answering 500, and that is a
 * verdict as much as a 500 is: verification (after the old code answered well) and the canary end well before
 * their timeouts. Real uWSGI, an app that raises at import and one that raises on every request.
 */
import path from 'node:path';
import { afterEach, describe, expect } from 'vitest';
import { commitAndPush, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { makePipeline } from './helpers/hotpull.js';
import { wsgiAppSource } from './helpers/wsgi-app.js';
import { itNeeds } from './helpers/requires.js';
import { startUwsgi, workerVersions, UWSGI_BIN, type UwsgiServer } from './helpers/uwsgi.js';

let sb: Sandbox | undefined;
let server: UwsgiServer | undefined;
afterEach(async () => {
  await server?.stop();
  await sb?.cleanup();
  server = undefined;
  sb = undefined;
});

const itUwsgi = itNeeds('uwsgi');

const TIMEOUT_MS = 30_000;
/** Imports fine, raises in every request: uWSGI logs the traceback and closes the connection without a status line. */
const raisesPerRequest = (version: string) =>
  wsgiAppSource(version).replace(
    'def application(environ, start_response):\n',
    `def application(environ, start_response):\n    raise RuntimeError("broken ${version}")\n`,
  );

describe('fail fast on dropped connections', () => {
  for (const [name, broken] of [
    ['raises at import', (v: string) => wsgiAppSource(v, { crashOnImport: true })],
    ['raises on every request', raisesPerRequest],
  ] as const) {
    itUwsgi(
      `verification: an app that ${name} is rolled back in well under half the timeout`,
      async () => {
        sb = await makeSandbox({ files: { 'app.py': wsgiAppSource('v1') } });
        // the master FIFO reloads at once (a touch waits for uWSGI's once-a-second check, and on a loaded machine
        // longer: the old workers could pass verification meanwhile, which says nothing about fail fast)
        const fifo = path.join(sb.root, 'master.fifo');
        server = await startUwsgi({ dir: sb.checkout, masterFifo: fifo });
        const { engine } = await makePipeline(sb.checkout, {
          reload: [`uwsgi-fifo:${fifo}`],
          healthUrl: `${server.url}/health`,
          // no {sha}: before issue 25 only a steady 5xx with a {sha} expectation ended verification early
          healthExpect: 'ok',
          healthTimeout: `${TIMEOUT_MS / 1000}s`,
          // the default
          healthSettle: '2s',
        });
        const good = await headOf(sb.checkout);
        const bad = await commitAndPush(sb, { 'app.py': broken('v2') });
        const outcome = await engine.sync('test');
        expect(outcome).toMatchObject({ kind: 'rejected', record: { result: 'rolled-back', to: bad } });
        if (outcome.kind !== 'rejected') throw new Error('unreachable');
        expect(outcome.record.error).toMatch(
          /(answered 5xx|dropped the connection) on every probe for .* \(the revision before answered well\)/,
        );
        expect(outcome.record.durations.verify).toBeLessThan(TIMEOUT_MS / 2);
        expect(engine.status.rejectedSha).toBe(bad);
        expect(await headOf(sb.checkout)).toBe(good);
        expect([...new Set((await workerVersions(server.url, 2)).values())]).toEqual(['v1']);
      },
      90_000,
    );
  }

  itUwsgi(
    'verification: an app server that is gone after the reload (refused, after the old code answered) is a verdict in seconds',
    async () => {
      sb = await makeSandbox({ files: { 'app.py': wsgiAppSource('v1') } });
      server = await startUwsgi({ dir: sb.checkout });
      const { engine } = await makePipeline(sb.checkout, {
        // the reload stops the app server for good: its port refuses every connection from then on
        reload: [`command:kill -INT ${server.pid}`],
        healthUrl: `${server.url}/health`,
        healthTimeout: `${TIMEOUT_MS / 1000}s`,
        healthSettle: '500ms',
      });
      const bad = await commitAndPush(sb, { 'app.py': wsgiAppSource('v2') });
      const outcome = await engine.sync('test');
      expect(outcome).toMatchObject({ kind: 'rejected', record: { result: 'rolled-back', to: bad } });
      if (outcome.kind !== 'rejected') throw new Error('unreachable');
      expect(outcome.record.error).toMatch(
        /refused the connection on every probe for [\d.]+s \(the revision before answered well\)/,
      );
      expect(outcome.record.durations.verify).toBeLessThan(TIMEOUT_MS / 2);
      // the rollback's reload (the same kill) fails: nothing serves, and the state says so
      expect(engine.status.state).toBe('failing');
      engine.close();
    },
    90_000,
  );

  itUwsgi(
    'canary: an app that raises on every request is judged in well under half the canary timeout',
    async () => {
      sb = await makeSandbox({ files: { 'app.py': wsgiAppSource('v1'), 'uwsgi.ini': '[uwsgi]\n' } });
      const { engine } = await makePipeline(sb.checkout, {
        reload: ['touch:uwsgi.ini'],
        healthUrl: 'http://127.0.0.1:9/health',
        canary: `${UWSGI_BIN} --plugin python3 --http-socket 127.0.0.1:{port} --master --processes 1 --chdir {dir} --wsgi-file {dir}/app.py --die-on-term --no-orphans`,
        canaryTimeout: `${TIMEOUT_MS / 1000}s`,
      });
      const good = await headOf(sb.checkout);
      const bad = await commitAndPush(sb, { 'app.py': raisesPerRequest('v2') });
      const started = Date.now();
      const outcome = await engine.sync('test');
      expect(outcome).toMatchObject({ kind: 'rejected', record: { result: 'rejected', to: bad } });
      if (outcome.kind !== 'rejected') throw new Error('unreachable');
      expect(outcome.record.error).toMatch(/dropped the connection without an answer 3 times in a row/);
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS / 2);
      expect(await headOf(sb.checkout)).toBe(good);
    },
    90_000,
  );
});
