/**
 * The uwsgi-stats traffic source against a real uWSGI (lazy-apps, 2 workers, master FIFO) under real load: what the
 * windows say is checked against what the load loop itself sent and got. One stack for the file; a second, small
 * one for the stats server on TCP and its going away.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it as test } from 'vitest';
import { itNeeds } from './helpers/requires.js';
import { startLoad, TRAFFIC_APP, until } from './helpers/traffic-app.js';
import {
  freePort,
  readUwsgiStats,
  startAppServer,
  startUwsgi,
  uwsgiArgs,
  uwsgiMissing,
  waitForLog,
  waitWorkersReady,
  writeMasterFifo,
  type UwsgiServer,
} from './helpers/uwsgi.js';
import { AccessLogSource } from '../src/traffic/access-log.js';
import { watchTraffic } from '../src/traffic/source.js';
import { readStatsDocument, UwsgiStatsSource } from '../src/traffic/uwsgi-stats.js';

const it = itNeeds('uwsgi');
let root: string;
let server: UwsgiServer | undefined;
let fifo: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hotpull-test-traffic-uwsgi-'));
  if (uwsgiMissing()) return;
  await writeFile(join(root, 'app.py'), TRAFFIC_APP);
  fifo = join(root, 'master.fifo');
  server = await startUwsgi({ dir: root, workers: 2, lazyApps: true, masterFifo: fifo });
}, 30_000);

afterAll(async () => {
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

/** Until two readings 100 ms apart agree: the answers before this test (a start-up probe) are counted by then. */
async function quiet(source: UwsgiStatsSource): Promise<void> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const reading = await source.read();
    const total = 'units' in reading ? reading.units.reduce((sum, u) => sum + u.requests, 0) : -2;
    if (total === last && total >= 0) return;
    last = total;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the stats never settled');
}

describe('uwsgi-stats on a unix socket', () => {
  it('counts the requests and exceptions of real traffic between two readings', async () => {
    const source = new UwsgiStatsSource({ path: server!.statsSocket! });
    const watch = await watchTraffic(source, { everyMs: 100 });
    // every 10th request raises: uWSGI logs a 500 and closes the connection without an answer
    const load = startLoad(server!.url, 4, (i) => (i % 10 === 9 ? '/boom' : '/'));
    await until('load', () => load.sent() >= 400);
    const count = await load.stop();
    const booms = Math.floor(count.total / 10);
    expect(count.unanswered).toBe(booms);
    // the last answers may be counted a moment after the client has them
    await expect.poll(async () => (await watch.window()).requests, { timeout: 3000 }).toBe(count.total);
    const window = await watch.stop();
    expect(window).toMatchObject({ requests: count.total, errors: booms, restarts: 0, gaps: 0 });
    expect(window.lost).toBeUndefined();
    expect(window.latency?.measure).toBe('mean');
    expect(window.latency?.ms).toBeGreaterThan(0);
    expect(window.latency?.maxMs).toBeGreaterThan(0);
    expect(window.queuePeak).toBeGreaterThanOrEqual(0);
    expect(window.queueErrors).toBe(0);
  }, 30_000);

  it('sees the listen queue peak while requests wait for a busy worker', async () => {
    const watch = await watchTraffic(new UwsgiStatsSource({ path: server!.statsSocket! }), { everyMs: 100 });
    // 10 clients on 2 workers each busy 200 ms a request: about 8 wait in the backlog; the master reads it once a second
    const load = startLoad(server!.url, 10, () => '/slow?ms=200');
    await expect
      .poll(async () => (await watch.window()).queuePeak, { timeout: 10_000, interval: 200 })
      .toBeGreaterThanOrEqual(4);
    const count = await load.stop();
    await expect.poll(async () => (await watch.window()).requests, { timeout: 3000 }).toBe(count.total);
    const window = await watch.stop();
    expect(window.queuePeak).toBeLessThanOrEqual(10);
    expect(window.latency!.ms).toBeGreaterThanOrEqual(200);
  }, 30_000);

  it("follows uWSGI's own log as access-log:FILE, request lines recognized among its other messages", async () => {
    const source = new AccessLogSource(server!.logFile);
    expect(await source.open()).toBe(
      `access log ${server!.logFile}: uWSGI request lines ('=> generated … in N msecs (HTTP/1.1 STATUS)'): status and time`,
    );
    const watch = await watchTraffic(source, { everyMs: 100 });
    // tracebacks go to the same log: they are neither requests nor garbage
    const load = startLoad(server!.url, 3, (i) => (i % 10 === 9 ? '/boom' : i % 10 === 4 ? '/slow?ms=60' : '/'));
    await until('load', () => load.sent() >= 200);
    const count = await load.stop();
    await expect.poll(async () => (await watch.window()).requests, { timeout: 3000 }).toBe(count.total);
    const window = await watch.stop();
    expect(window).toMatchObject({ requests: count.total, errors: count.unanswered, garbage: 0 });
    expect(window.latency).toMatchObject({ measure: 'p99' });
    expect(window.latency!.ms).toBeGreaterThanOrEqual(60);
    await source.close();
  }, 30_000);

  /** Load, `command` on the master FIFO, `done` in the log, more load: the window against what the loop sent. */
  async function reloadUnderLoad(command: string, done: RegExp) {
    const before = await readUwsgiStats(server!.statsSocket!);
    const source = new UwsgiStatsSource({ path: server!.statsSocket! });
    const everyMs = 50;
    const watch = await watchTraffic(source, { everyMs });
    const started = Date.now();
    const load = startLoad(server!.url, 4);
    await until('load', () => load.sent() >= 100);
    const logBefore = (await server!.logs()).length;
    await writeMasterFifo(fifo, command);
    await waitForLog(server!, (log) => done.test(log.slice(logBefore)), 20_000);
    const sentAtReload = load.sent();
    await until('load after the reload', () => load.sent() >= sentAtReload + 100);
    const count = await load.stop();
    const perMs = count.total / Math.max(1, Date.now() - started);
    await waitWorkersReady(server!);
    const after = await readUwsgiStats(server!.statsSocket!);
    // within 1 %, and for a full reload what was served after the last reading before the counters started again,
    // which no one sees (docs/traffic.md): the load's rate over two reading intervals (one, and a late reading)
    const lost = command === 'r' ? Math.ceil(perMs * 2 * everyMs) : 0;
    const slack = Math.max(3, Math.ceil(count.total / 100)) + lost;
    await expect
      .poll(async () => (await watch.window()).requests, { timeout: 3000 })
      .toBeGreaterThanOrEqual(count.total - slack);
    const window = await watch.stop();
    expect(Math.abs(window.requests - count.total)).toBeLessThanOrEqual(slack);
    expect(window.errors).toBe(0);
    expect(count.unanswered).toBe(0);
    const newPids = after.workers.filter((w) => !before.workers.some((b) => b.pid === w.pid)).length;
    return { window, count, newPids, counted: after.workers.reduce((sum, w) => sum + w.requests, 0) };
  }

  it("counts a chain reload under load: new workers carry on from their slot's count", async () => {
    const { window, count, newPids, counted } = await reloadUnderLoad('c', /chain reloading complete/);
    expect(newPids).toBe(2);
    // measured: uWSGI 2.0.21 keeps the slot's counters for the new worker (they hold this file's earlier load too)
    expect(counted).toBeGreaterThan(count.total);
    expect(window.restarts).toBe(2);
  }, 60_000);

  it('counts a full reload under load: every counter starts again and is counted from zero', async () => {
    const { window, count, counted } = await reloadUnderLoad(
      'r',
      /WSGI app 0 \(mountpoint=''\) ready in[^]*WSGI app 0 \(mountpoint=''\) ready in/,
    );
    expect(counted).toBeLessThan(count.total);
    expect(window.restarts).toBeGreaterThanOrEqual(2);
  }, 60_000);
});

describe('uwsgi-stats on TCP', () => {
  it('reads a stats server on 127.0.0.1:PORT, and a window whose server went away says source lost', async () => {
    const statsPort = await freePort();
    const tcp = await startAppServer({
      name: 'uwsgi',
      bin: '/usr/bin/uwsgi',
      args: (port, logFile) => [
        ...uwsgiArgs({ dir: root, workers: 1 }, port, logFile),
        '--stats',
        `127.0.0.1:${statsPort}`,
      ],
      dropEnv: (key) => key.startsWith('UWSGI_'),
      stopSignal: 'SIGINT',
    });
    try {
      const source = new UwsgiStatsSource({ host: '127.0.0.1', port: statsPort });
      await quiet(source);
      const watch = await watchTraffic(source, { everyMs: 100 });
      const load = startLoad(tcp.url, 2);
      await until('load', () => load.sent() >= 50);
      const count = await load.stop();
      await expect.poll(async () => (await watch.window()).requests, { timeout: 3000 }).toBe(count.total);
      await tcp.stop();
      const window = await watch.stop();
      expect(window.lost).toMatch(/^source lost: uwsgi-stats:127\.0\.0\.1:\d+: .*ECONNREFUSED/);
      expect(window.requests).toBe(count.total); // what was read before it went stays
    } finally {
      await tcp.stop();
    }
  }, 60_000);
});

describe('a hostile stats server (real sockets on loopback)', () => {
  async function serve(handler: (socket: net.Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
    const sockets = new Set<net.Socket>();
    const srv = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      handler(socket);
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as net.AddressInfo).port;
    return {
      port,
      close: () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          srv.close(() => resolve());
        }),
    };
  }

  test.each([
    [
      'an endless answer is cut off at the byte cap',
      (s: net.Socket) => s.write(Buffer.alloc(5 << 20, 0x20)),
      /larger than 4194304 bytes/,
    ],
    ['a silent server is given up on at the time limit', () => undefined, /no complete answer within 300 ms/],
  ] as const)('%s', async (_title, handler, expected) => {
    const srv = await serve(handler);
    try {
      await expect(readStatsDocument({ host: '127.0.0.1', port: srv.port }, { timeoutMs: 300 })).rejects.toThrow(
        expected,
      );
    } finally {
      await srv.close();
    }
  });

  test('a reading of something that is not uWSGI stats is lost, with what it was', async () => {
    const srv = await serve((s) => s.end('{"hello": 1}'));
    try {
      const source = new UwsgiStatsSource({ host: '127.0.0.1', port: srv.port });
      expect(await source.read()).toMatchObject({ lost: expect.stringMatching(/JSON without a workers list/) });
    } finally {
      await srv.close();
    }
  });
});
