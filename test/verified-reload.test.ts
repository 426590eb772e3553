/**
 * Issue 3 against real app servers: uWSGI (touch, master FIFO, signal, command) and gunicorn (signal), with
 * health verification, rollback of a commit that breaks at import, run-hook failures and hold rules.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { itNeeds } from './helpers/requires.js';
import { commitAndPush, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { makeDaemon, makePipeline, waitFor } from './helpers/hotpull.js';
import { wsgiAppSource } from './helpers/wsgi-app.js';
import { startUwsgi, workerVersions, sampleVersions, type UwsgiServer, type UwsgiOptions } from './helpers/uwsgi.js';
import { startGunicorn } from './helpers/gunicorn.js';
import { runHotpull } from './helpers/procs.js';
import { ROOT } from './helpers/hotpull.js';

const LAUNCHER = path.join(ROOT, 'bin/hotpull');

/** The node flags bin/hotpull's `case` gives a Node version: the first pattern (a shell glob) it matches. */
function launcherFlags(script: string, version: string): string[] {
  for (const m of script.matchAll(/^\s+(\S+)\) exec node(.*?) "\$here/gm)) {
    const glob = new RegExp(`^${m[1]!.replace(/\./g, '\\.').replace(/\*/g, '.*')}$`);
    if (glob.test(version)) return m[2]!.trim().split(' ').filter(Boolean);
  }
  throw new Error(`bin/hotpull has no case for ${version}`);
}

let sb: Sandbox | undefined;
let server: UwsgiServer | undefined;
/** directories a test made for a FIFO or a pid file, removed after it with the sandbox */
const scratch: string[] = [];
afterEach(async () => {
  await server?.stop();
  await sb?.cleanup();
  for (const dir of scratch.splice(0)) await fs.rm(dir, { recursive: true, force: true });
  server = undefined;
  sb = undefined;
});

async function scratchDir(prefix: string): Promise<string> {
  const dir = await tmpDir(prefix);
  scratch.push(dir);
  return dir;
}

const itServers = itNeeds('uwsgi', 'gunicorn');

async function withUwsgi(options: Partial<UwsgiOptions> = {}) {
  sb = await makeSandbox({ files: { 'app.py': wsgiAppSource('v1'), 'uwsgi.ini': '[uwsgi]\n' } });
  server = await startUwsgi({ dir: sb.checkout, touchReload: path.join(sb.checkout, 'uwsgi.ini'), ...options });
  return { sb, server };
}

const everyWorker = async (url: string) => [...new Set((await workerVersions(url, 2)).values())];

describe('reload strategies make the new code served, verified', () => {
  itServers('touch (the default: uwsgi.ini)', async () => {
    const { sb, server } = await withUwsgi();
    const { engine } = await makePipeline(sb.checkout, { healthUrl: `${server.url}/health`, healthExpect: 'ok v2' });
    await commitAndPush(sb, { 'app.py': wsgiAppSource('v2') });
    const outcome = await engine.sync('test');
    expect(outcome).toMatchObject({ kind: 'deployed', record: { result: 'live' } });
    expect(await everyWorker(server.url)).toEqual(['v2']);
    expect(engine.status.lastGoodSha).toBe(await headOf(sb.checkout));
  });

  itServers('uwsgi-fifo r (graceful) and c (chain, lazy-apps)', async () => {
    const fifo = path.join(await scratchDir('hotpull-fifo-'), 'master.fifo');
    const { sb, server } = await withUwsgi({ masterFifo: fifo, lazyApps: true });
    for (const [cmd, version] of [
      ['r', 'v2'],
      ['c', 'v3'],
    ] as const) {
      const { engine } = await makePipeline(sb.checkout, {
        reload: [`uwsgi-fifo:${fifo}:${cmd}`],
        healthUrl: `${server.url}/health`,
        healthExpect: `ok ${version}`,
      });
      await commitAndPush(sb, { 'app.py': wsgiAppSource(version) });
      expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { result: 'live' } });
      expect(await everyWorker(server.url)).toEqual([version]);
    }
  });

  itServers('signal (uWSGI pid file, HUP) and command', async () => {
    const dir = await scratchDir('hotpull-pid-');
    const pidfile = path.join(dir, 'uwsgi.pid');
    const { sb, server } = await withUwsgi({ pidfile });
    const signal = await makePipeline(sb.checkout, {
      reload: [`signal:${pidfile}`],
      healthUrl: `${server.url}/health`,
      healthExpect: 'ok v2',
    });
    await commitAndPush(sb, { 'app.py': wsgiAppSource('v2') });
    expect(await signal.engine.sync('test')).toMatchObject({ kind: 'deployed', record: { result: 'live' } });
    expect(await everyWorker(server.url)).toEqual(['v2']);

    const command = await makePipeline(sb.checkout, {
      reload: [`command:kill -HUP $(cat ${pidfile})`],
      healthUrl: `${server.url}/health`,
      healthExpect: 'ok v3',
    });
    await commitAndPush(sb, { 'app.py': wsgiAppSource('v3') });
    expect(await command.engine.sync('test')).toMatchObject({ kind: 'deployed', record: { result: 'live' } });
    expect(await everyWorker(server.url)).toEqual(['v3']);
  });

  itServers(
    "the installed command's V8 flags (bin/hotpull: no WebAssembly): hotpull sync deploys, verifies over HTTP, says nothing on stderr",
    async () => {
      const { sb, server } = await withUwsgi();
      // the flags bin/hotpull gives this Node line
      const flags = launcherFlags(await fs.readFile(LAUNCHER, 'utf8'), process.version);
      if (!/^v2[13]\./.test(process.version)) expect(flags).toContain('--lite-mode');
      const sha = await commitAndPush(sb, { 'app.py': wsgiAppSource('v2') });
      const result = await runHotpull(
        ['sync', '--repo', sb.checkout, '--health-url', `${server.url}/health`, '--health-expect', 'ok v2'],
        { nodeArgs: flags, timeoutMs: 120_000 },
      );
      expect([result.code, result.stderr]).toEqual([0, '']);
      expect(result.records).toContainEqual(
        expect.objectContaining({ msg: expect.stringMatching(/live|verified|healthy/) }),
      );
      expect(await everyWorker(server.url)).toEqual(['v2']);
      expect(await headOf(sb.checkout)).toBe(sha);
    },
  );

  itServers('gunicorn: signal:PIDFILE (HUP)', async () => {
    sb = await makeSandbox({ files: { 'app.py': wsgiAppSource('v1') } });
    const pidfile = path.join(sb.root, 'gunicorn.pid');
    server = await startGunicorn({ dir: sb.checkout, pidfile });
    const { engine } = await makePipeline(sb.checkout, {
      reload: [`signal:${pidfile}`],
      healthUrl: `${server.url}/health`,
      healthExpect: 'ok v2',
      healthSettle: '500ms',
    });
    await commitAndPush(sb, { 'app.py': wsgiAppSource('v2') });
    expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { result: 'live' } });
    expect(await everyWorker(server.url)).toEqual(['v2']);
  });
});

describe('deploys that must not go live', () => {
  itServers(
    'eight pushes in quick succession end with every worker serving the last one (chain reloads)',
    async () => {
      const fifo = path.join(await scratchDir('hotpull-fifo-'), 'master.fifo');
      const { sb, server } = await withUwsgi({ masterFifo: fifo, lazyApps: true });
      const { daemon, engine } = await makeDaemon(sb.checkout, {
        interval: '100ms',
        reload: [`uwsgi-fifo:${fifo}:c`],
        healthUrl: `${server.url}/health`,
        // exact: every answer must come from the deployed revision, so a chain reload still running (or one
        // uWSGI dropped) is not taken for done
        healthExpect: '{sha}',
      });
      daemon.start();
      try {
        let last = '';
        for (let i = 2; i <= 9; i++) {
          last = await commitAndPush(sb, { 'app.py': wsgiAppSource(`v${i}`, { reportSha: true }) });
          await new Promise((r) => setTimeout(r, 150));
        }
        await waitFor(
          'the last push live',
          () =>
            engine.status.deployedSha === last &&
            engine.status.state === 'idle' &&
            engine.status.deploys[0]?.to === last,
          60_000,
        );
        expect(engine.status.deploys[0]?.result).toBe('live');
        expect(await everyWorker(server.url)).toEqual(['v9']);
        expect([...(await sampleVersions(server.url, 20)).keys()]).toEqual(['v9']);
      } finally {
        await daemon.stop();
      }
    },
    90_000,
  );

  itServers(
    'a commit whose app raises at import is rolled back; the old version keeps being served',
    async () => {
      const { sb, server } = await withUwsgi();
      const { engine, logs } = await makePipeline(sb.checkout, {
        healthUrl: `${server.url}/health`,
        healthTimeout: '6s',
      });
      const good = await headOf(sb.checkout);
      const bad = await commitAndPush(sb, { 'app.py': wsgiAppSource('v2', { crashOnImport: true }) });
      const outcome = await engine.sync('test');
      expect(outcome).toMatchObject({ kind: 'rejected', record: { result: 'rolled-back', rolledBackTo: good } });
      expect(engine.status).toMatchObject({ state: 'rejected', rejectedSha: bad, deployedSha: good });
      expect(engine.status.reason).toContain(bad.slice(0, 7));
      expect(engine.status.reason).toMatch(/answered 500/);
      expect(await headOf(sb.checkout)).toBe(good);
      await waitFor('v1 served again', async () => JSON.stringify(await everyWorker(server.url)) === '["v1"]', 10_000);
      expect(logs.text()).toMatch(
        new RegExp(
          `${bad.slice(0, 7)} failed verification: [^"]*answered 500[^"]*; rolled back, ${good.slice(0, 7)} serves again`,
        ),
      );
      // not retried while the branch stays there
      expect((await engine.sync('test')).kind).toBe('blocked');
      // a fix on top deploys
      await commitAndPush(sb, { 'app.py': wsgiAppSource('v3') });
      expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { result: 'live' } });
      expect(await everyWorker(server.url)).toEqual(['v3']);
    },
    60_000,
  );

  itServers(
    '--no-rollback leaves a revision that fails verification in place and reports it rejected',
    async () => {
      const { sb, server } = await withUwsgi();
      const { engine } = await makePipeline(sb.checkout, {
        healthUrl: `${server.url}/health`,
        healthTimeout: '4s',
        rollback: false,
      });
      const bad = await commitAndPush(sb, { 'app.py': wsgiAppSource('v2', { crashOnImport: true }) });
      expect(await engine.sync('test')).toMatchObject({ kind: 'rejected', record: { result: 'rejected' } });
      expect(engine.status).toMatchObject({ state: 'rejected', rejectedSha: bad, deployedSha: bad });
      expect(engine.status.reason).toContain('left in place (--no-rollback)');
      expect(await headOf(sb.checkout)).toBe(bad);
      expect((await engine.sync('test')).kind).toBe('blocked');
    },
    30_000,
  );

  itServers('a failing run hook leaves the old code served and the checkout restored', async () => {
    const { sb, server } = await withUwsgi();
    const config = path.join(sb.root, 'hotpull.config.json');
    await fs.writeFile(
      config,
      JSON.stringify({ onChange: [{ paths: 'requirements.txt', run: 'echo installing; exit 7' }] }),
    );
    const { engine } = await makePipeline(sb.checkout, { config, healthUrl: `${server.url}/health` });
    const before = await headOf(sb.checkout);
    const touched = (await fs.stat(path.join(sb.checkout, 'uwsgi.ini'))).mtimeMs;
    await commitAndPush(sb, { 'app.py': wsgiAppSource('v2'), 'requirements.txt': 'flask\n' });
    const outcome = await engine.sync('test');
    expect(outcome).toMatchObject({ kind: 'rejected', record: { result: 'failed' } });
    expect(engine.status.reason).toContain('exited with code 7: installing');
    expect(await headOf(sb.checkout)).toBe(before);
    expect((await fs.stat(path.join(sb.checkout, 'uwsgi.ini'))).mtimeMs).toBe(touched);
    expect(await everyWorker(server.url)).toEqual(['v1']);
  });

  itServers('a hold rule holds, and a later commit that does not touch those paths stays held', async () => {
    const { sb, server } = await withUwsgi();
    const config = path.join(sb.root, 'hotpull.config.json');
    await fs.writeFile(config, JSON.stringify({ onChange: [{ paths: ['Dockerfile', 'apt.txt'], hold: true }] }));
    const { engine } = await makePipeline(sb.checkout, { config, healthUrl: `${server.url}/health` });
    const before = await headOf(sb.checkout);
    const held = await commitAndPush(sb, { 'app.py': wsgiAppSource('v2'), Dockerfile: 'FROM debian\n' });
    expect(await engine.sync('test')).toMatchObject({ kind: 'blocked', state: 'held' });
    expect(engine.status).toMatchObject({ state: 'held', heldSha: held });
    expect(engine.status.reason).toContain('container needs a rebuild');
    await commitAndPush(sb, { 'app.py': wsgiAppSource('v3') });
    expect(await engine.sync('test')).toMatchObject({ kind: 'blocked', state: 'held' });
    expect(await headOf(sb.checkout)).toBe(before);
    expect(await everyWorker(server.url)).toEqual(['v1']);

    // the image is rebuilt from the held commit: what it carries is no longer a reason to hold
    const rebuilt = await makePipeline(sb.checkout, { config, healthUrl: `${server.url}/health`, imageRevision: held });
    expect(await rebuilt.engine.sync('test')).toMatchObject({ kind: 'deployed', record: { result: 'live' } });
    expect(await everyWorker(server.url)).toEqual(['v3']);
  });
});
