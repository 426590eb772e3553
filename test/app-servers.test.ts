/**
 * Proves the real app-server fixtures (test/helpers/uwsgi.ts, gunicorn.ts)
 * against the installed binaries: code reloads through every trigger hotpull
 * will use, and what a broken deploy looks like over HTTP.
 *
 * Missing binaries: skipped locally (reason in the suite name); with
 * CI=true the suites run anyway and fail.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gunicornMissing, startGunicorn } from './helpers/gunicorn.js';
import {
  bumpMtime,
  countMatches,
  fetchText,
  isAlive,
  sampleVersions,
  startUwsgi,
  uwsgiMissing,
  waitForBody,
  readUwsgiStats,
  waitForLog,
  waitWorkersReady,
  workerVersions,
  writeMasterFifo,
  type UwsgiServer,
} from './helpers/uwsgi.js';
import { wsgiAppSource, type WsgiAppOptions } from './helpers/wsgi-app.js';

const CI = process.env.CI === 'true';
const WORKERS = 2;
const RELOAD_TIMEOUT_MS = 15_000;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    if (fn) await fn();
  }
});

interface Layout {
  root: string;
  checkout: string;
  trigger: string;
  fifo: string;
  pidfile: string;
}

async function layout(version = 'v1'): Promise<Layout> {
  const root = await mkdtemp(join(tmpdir(), 'hotpull-test-appsrv-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const checkout = join(root, 'checkout');
  await mkdir(checkout);
  await writeApp(checkout, version);
  return {
    root,
    checkout,
    trigger: join(root, 'reload.trigger'),
    fifo: join(root, 'master.fifo'),
    pidfile: join(root, 'server.pid'),
  };
}

async function writeApp(dir: string, version: string, opts?: WsgiAppOptions): Promise<void> {
  await writeFile(join(dir, 'app.py'), wsgiAppSource(version, opts));
}

function track<T extends UwsgiServer>(server: T): T {
  // Registered after the layout's rm, so it runs first (LIFO).
  cleanups.push(() => server.stop());
  return server;
}

function suiteTitle(name: string, missing: string | undefined): string {
  return missing && !CI ? `${name} (skipped: ${missing})` : name;
}

/**
 * Wait until `version` is served, then until every worker serves it.
 * Returns ms from `since` to the first new body and to all workers confirmed.
 */
async function waitServedEverywhere(
  server: UwsgiServer,
  version: string,
  since: number,
): Promise<{ firstMs: number; allMs: number }> {
  const isVersion = (body: string): boolean => body.startsWith(`version=${version} `);
  try {
    await waitForBody(server.url, isVersion, RELOAD_TIMEOUT_MS);
  } catch (error) {
    throw new Error(`${String(error)}\nserver log:\n${await server.logs()}`);
  }
  const firstMs = performance.now() - since;
  const deadline = Date.now() + RELOAD_TIMEOUT_MS;
  let byPid = new Map<number, string>();
  for (;;) {
    try {
      byPid = await workerVersions(server.url, WORKERS);
      if (byPid.size === WORKERS && [...byPid.values()].every((v) => v === version)) break;
    } catch {
      // a worker answered 5xx or was being replaced: try again
    }
    if (Date.now() > deadline) {
      throw new Error(`not all workers serve ${version}: ${JSON.stringify([...byPid])}\n${await server.logs()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const allMs = performance.now() - since;
  // And plain sequential traffic sees nothing else.
  expect([...(await sampleVersions(server.url, 20)).keys()]).toEqual([version]);
  return { firstMs, allMs };
}

function report(what: string, t: { firstMs: number; allMs: number }): void {
  console.info(
    `[app-servers] ${what}: first new body after ${Math.round(t.firstMs)} ms, all ${WORKERS} workers after ${Math.round(t.allMs)} ms`,
  );
}

/** Wait until the deployed code is observably broken over HTTP. */
async function expectBroken(server: UwsgiServer): Promise<void> {
  await waitForBody(server.url, (body) => body === 'Internal Server Error', RELOAD_TIMEOUT_MS);
  // Every worker is broken, the socket still accepts, nothing is refused.
  const seen = await sampleVersions(server.url, 20);
  expect([...seen.keys()]).toEqual(['<status 500>']);
  expect(await fetchText(`${server.url}/health`)).toEqual({ status: 500, body: 'Internal Server Error' });
  expect(isAlive(server.pid)).toBe(true);
  const logs = await server.logs();
  expect(logs).toContain('RuntimeError: hotpull test app crashes at import');
  expect(logs).toContain('unable to load app 0');
}

const uwsgiReason = uwsgiMissing();

describe.skipIf(uwsgiReason !== undefined && !CI)(suiteTitle('uWSGI fixture', uwsgiReason), () => {
  it('has uwsgi and its python3 plugin installed', () => {
    expect(uwsgiReason).toBeUndefined();
  });

  it('serves v1 from every worker, /health included', async () => {
    const l = await layout('v1');
    const server = track(await startUwsgi({ dir: l.checkout, pidfile: l.pidfile }));
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(await fetchText(`${server.url}/health`)).toEqual({ status: 200, body: 'ok v1' });
    expect([...(await sampleVersions(server.url, 20)).keys()]).toEqual(['v1']);
    const byPid = await workerVersions(server.url, WORKERS);
    expect(byPid.size).toBe(WORKERS);
    expect([...byPid.values()]).toEqual(['v1', 'v1']);
    expect(byPid.has(server.pid)).toBe(false); // workers, not the master, answer
    const stats = await readUwsgiStats(server.statsSocket ?? '');
    expect(stats.pid).toBe(server.pid);
    expect(stats.workers.map((w) => w.pid).sort()).toEqual([...byPid.keys()].sort());
    expect(stats.workers.every((w) => w.accepting === 1)).toBe(true);
    expect((await readFile(l.pidfile, 'utf8')).trim()).toBe(String(server.pid));
    await server.stop();
    expect(isAlive(server.pid)).toBe(false);
    for (const pid of byPid.keys()) expect(isAlive(pid)).toBe(false);
    expect(await fetchText(server.url)).toHaveProperty('error');
    expect(await server.logs()).toContain('spawned uWSGI worker 2');
  });

  it('serves new code on every worker after a touch of --touch-reload', async () => {
    const l = await layout('v1');
    const server = track(await startUwsgi({ dir: l.checkout, touchReload: l.trigger }));
    expect([...(await sampleVersions(server.url, 10)).keys()]).toEqual(['v1']);
    await writeApp(l.checkout, 'v2');
    // Nothing reloads by itself: the version is a module constant.
    await new Promise((r) => setTimeout(r, 1200));
    expect([...(await sampleVersions(server.url, 10)).keys()]).toEqual(['v1']);
    const since = performance.now();
    await bumpMtime(l.trigger);
    report('touch-reload', await waitServedEverywhere(server, 'v2', since));
    // A second touch (mtime + 1 s again) reloads again.
    await waitWorkersReady(server);
    await writeApp(l.checkout, 'v3');
    const again = performance.now();
    await bumpMtime(l.trigger);
    report('touch-reload (second)', await waitServedEverywhere(server, 'v3', again));
    expect(isAlive(server.pid)).toBe(true);
  });

  it("serves new code on every worker after 'r' on the master FIFO", async () => {
    const l = await layout('v1');
    const server = track(await startUwsgi({ dir: l.checkout, masterFifo: l.fifo }));
    await writeApp(l.checkout, 'v2');
    const since = performance.now();
    await writeMasterFifo(l.fifo, 'r');
    report("FIFO 'r'", await waitServedEverywhere(server, 'v2', since));
    // The FIFO is recreated by the re-exec'ed master: a second reload works too.
    await waitWorkersReady(server);
    await writeApp(l.checkout, 'v3');
    const again = performance.now();
    await writeMasterFifo(l.fifo, 'r');
    report("FIFO 'r' (second)", await waitServedEverywhere(server, 'v3', again));
    // Right after a reload uWSGI ignores SIGINT for a moment: stop() repeats it.
    const workerPids = [...(await workerVersions(server.url, WORKERS)).keys()];
    const stopping = performance.now();
    await server.stop();
    expect(performance.now() - stopping).toBeLessThan(4000);
    for (const pid of [server.pid, ...workerPids]) expect(isAlive(pid)).toBe(false);
  });

  it("serves new code on every worker after 'c' (chain reload) with lazyApps", async () => {
    const l = await layout('v1');
    const server = track(await startUwsgi({ dir: l.checkout, masterFifo: l.fifo, lazyApps: true }));
    expect([...(await workerVersions(server.url, WORKERS)).values()]).toEqual(['v1', 'v1']);
    await writeApp(l.checkout, 'v2');
    const since = performance.now();
    await writeMasterFifo(l.fifo, 'c');
    report("FIFO 'c' (lazy-apps)", await waitServedEverywhere(server, 'v2', since));
    await waitForLog(server, (log) => log.includes('chain reloading complete'), RELOAD_TIMEOUT_MS);
  });

  it('makes a crash at import after a touch-reload visible as HTTP 500, and recovers after restore + reload', async () => {
    const l = await layout('v2');
    const server = track(await startUwsgi({ dir: l.checkout, touchReload: l.trigger, masterFifo: l.fifo }));
    const masterPid = server.pid;
    await writeApp(l.checkout, 'v3', { crashOnImport: true });
    await bumpMtime(l.trigger);
    await expectBroken(server);

    // Roll back: old code, reload again (once every worker can take it).
    await waitWorkersReady(server);
    await writeApp(l.checkout, 'v2');
    const since = performance.now();
    await bumpMtime(l.trigger);
    report('recovery by touch-reload', await waitServedEverywhere(server, 'v2', since));
    expect(isAlive(masterPid)).toBe(true);
    expect(await fetchText(`${server.url}/health`)).toEqual({ status: 200, body: 'ok v2' });

    // Same story through the FIFO.
    await waitWorkersReady(server);
    await writeApp(l.checkout, 'v3', { crashOnImport: true });
    await writeMasterFifo(l.fifo, 'r');
    await expectBroken(server);
    await waitWorkersReady(server);
    await writeApp(l.checkout, 'v2');
    const again = performance.now();
    await writeMasterFifo(l.fifo, 'r');
    report("recovery by FIFO 'r'", await waitServedEverywhere(server, 'v2', again));
  });

  it("makes a crash at import during a chain reload visible as HTTP 500, and recovers with lazyApps + 'c'", async () => {
    const l = await layout('v2');
    const server = track(await startUwsgi({ dir: l.checkout, masterFifo: l.fifo, lazyApps: true }));
    await writeApp(l.checkout, 'v3', { crashOnImport: true });
    await writeMasterFifo(l.fifo, 'c');
    // The chain replaces one worker at a time; a 'c' sent before it is over
    // is dropped ("chain reload already running"), so wait for the end.
    await waitForLog(server, (log) => log.includes('chain reloading complete'), RELOAD_TIMEOUT_MS);
    expect(countMatches(await server.logs(), /unable to load app 0/g)).toBe(WORKERS);
    await expectBroken(server);
    await waitWorkersReady(server);

    await writeApp(l.checkout, 'v2');
    const since = performance.now();
    await writeMasterFifo(l.fifo, 'c');
    report("recovery by FIFO 'c' (lazy-apps)", await waitServedEverywhere(server, 'v2', since));
  });

  it('starts with an app that crashes at import (HTTP 500) and recovers after a fix + reload', async () => {
    const l = await layout('v1');
    await writeApp(l.checkout, 'v1', { crashOnImport: true });
    // Resolves although the app is broken: broken workers still accept.
    const server = track(await startUwsgi({ dir: l.checkout, masterFifo: l.fifo }));
    await expectBroken(server);
    await writeApp(l.checkout, 'v1');
    await writeMasterFifo(l.fifo, 'r');
    await waitServedEverywhere(server, 'v1', performance.now());
  });

  it('rejects with the log when uWSGI cannot start', async () => {
    const l = await layout('v1');
    await expect(startUwsgi({ dir: l.checkout, extraArgs: ['--no-such-option'] })).rejects.toThrow(
      /uwsgi did not start \(exited with code 1.*\n[\s\S]*no-such-option/,
    );
  });
});

const gunicornReason = gunicornMissing();

describe.skipIf(gunicornReason !== undefined && !CI)(suiteTitle('gunicorn fixture', gunicornReason), () => {
  it('has gunicorn installed', () => {
    expect(gunicornReason).toBeUndefined();
  });

  it('serves new code on every worker after SIGHUP to the master', async () => {
    const l = await layout('v1');
    const server = track(await startGunicorn({ dir: l.checkout, pidfile: l.pidfile }));
    expect(await fetchText(`${server.url}/health`)).toEqual({ status: 200, body: 'ok v1' });
    expect([...(await workerVersions(server.url, WORKERS)).values()]).toEqual(['v1', 'v1']);
    expect(Number((await readFile(l.pidfile, 'utf8')).trim())).toBe(server.pid);

    // Same length as v1 and within the same second: a .pyc would mask it.
    await writeApp(l.checkout, 'v2');
    const since = performance.now();
    process.kill(server.pid, 'SIGHUP');
    report('gunicorn HUP', await waitServedEverywhere(server, 'v2', since));
    expect(isAlive(server.pid)).toBe(true);

    await server.stop();
    expect(isAlive(server.pid)).toBe(false);
    expect(await fetchText(server.url)).toHaveProperty('error');
  });

  it('exits entirely when the app crashes at import after a SIGHUP (unlike uWSGI)', async () => {
    const l = await layout('v1');
    const server = track(await startGunicorn({ dir: l.checkout, pidfile: l.pidfile }));
    await writeApp(l.checkout, 'v2', { crashOnImport: true });
    process.kill(server.pid, 'SIGHUP');
    const deadline = Date.now() + RELOAD_TIMEOUT_MS;
    while (isAlive(server.pid)) {
      if (Date.now() > deadline) throw new Error(`gunicorn still running\n${await server.logs()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await fetchText(server.url)).toHaveProperty('error');
    expect(await server.logs()).toContain('Worker failed to boot');
  });
});
