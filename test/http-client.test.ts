/**
 * Issue 24.3: every request hotpull makes goes through one bounded client (src/net/request.ts). A real misbehaving
 * HTTP server (an endless body, headers that never end, headers too large) costs each use (the client itself,
 * notifications, the health check, the canary's probes, the daemon client) a bounded time and a closed socket.
 */
import { parseChannel, type Channel } from '../src/notify/channel.js';
import type { NotificationBody } from '../src/notify/event.js';
import net from 'node:net';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { request, requestFailure, DEFAULT_MAX_BODY } from '../src/net/request.js';
import { Notifier, type DeliveryResult } from '../src/notify/deliver.js';
import { probeOnce, verifyHealth } from '../src/deploy/verify.js';
import { runCanary } from '../src/deploy/canary.js';
import { fetchStatus } from '../src/net/daemon-client.js';
import { createLogger } from '../src/log.js';
import { logSink, waitFor } from './helpers/hotpull.js';

type Mode = 'endless-body' | 'slow-headers' | 'huge-headers';

/** Writes raw HTTP the way a broken or hostile peer does; counts what it wrote and when each connection closed. */
function misbehave(mode: Mode, socket: net.Socket, stats: Stats): void {
  const conn = { written: 0, closed: false };
  stats.connections.push(conn);
  socket.on('error', () => undefined);
  socket.on('close', () => (conn.closed = true));
  // the request is not read: the answer starts at once
  if (mode === 'huge-headers') {
    socket.write('HTTP/1.1 200 OK\r\n');
    for (let i = 0; i < 2000; i++) socket.write(`X-Filler-${i}: ${'y'.repeat(100)}\r\n`);
    return;
  }
  if (mode === 'slow-headers') {
    socket.write('HTTP/1.1 200 OK\r\n');
    const drip = setInterval(() => (socket.destroyed ? clearInterval(drip) : socket.write('X')), 50);
    socket.on('close', () => clearInterval(drip));
    return;
  }
  socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nok ');
  const chunk = Buffer.alloc(16 * 1024, 'x');
  const pump = () => {
    while (!socket.destroyed) {
      conn.written += chunk.length;
      if (!socket.write(chunk)) return void socket.once('drain', pump);
    }
  };
  pump();
}

interface Stats {
  connections: Array<{ written: number; closed: boolean }>;
}

const servers: net.Server[] = [];
const openSockets: Array<Set<net.Socket>> = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const set of openSockets.splice(0)) for (const socket of set) socket.destroy();
  for (const s of servers.splice(0)) s.close();
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

async function peer(mode: Mode): Promise<{ url: string; stats: Stats; sockets: Set<net.Socket> }> {
  const stats: Stats = { connections: [] };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    misbehave(mode, socket, stats);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  openSockets.push(sockets);
  return { url: `http://127.0.0.1:${port}/health`, stats, sockets };
}

const allClosed = (stats: Stats) => stats.connections.length > 0 && stats.connections.every((c) => c.closed);

describe('the client', () => {
  it('an endless body: a bounded part is read, then the socket is closed', async () => {
    const { url, stats } = await peer('endless-body');
    const started = Date.now();
    const answer = await request(url, { timeoutMs: 60_000 });
    expect(answer.status).toBe(200);
    expect(answer.body.startsWith('ok x')).toBe(true);
    expect(answer.body.length).toBe(DEFAULT_MAX_BODY);
    expect(Date.now() - started).toBeLessThan(5000);
    await waitFor('the peer sees its connection closed', () => allClosed(stats), 5000);
  });

  it('headers that never end: one deadline for the whole exchange', async () => {
    const { url, stats } = await peer('slow-headers');
    const started = Date.now();
    const error = await request(url, { timeoutMs: 600 }).catch((e: unknown) => e);
    expect(requestFailure(error)).toBe('no answer within 600ms');
    expect(Date.now() - started).toBeLessThan(3000);
    await waitFor('the peer sees its connection closed', () => allClosed(stats), 5000);
  });

  it('headers over 16 KiB: refused at once', async () => {
    const { url, stats } = await peer('huge-headers');
    const started = Date.now();
    const error = await request(url, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    expect(requestFailure(error)).toBe('headers longer than 16 KiB');
    expect(Date.now() - started).toBeLessThan(5000);
    await waitFor('the peer sees its connection closed', () => allClosed(stats), 5000);
  });
});

describe('each use', () => {
  it('notifications: a target streaming an endless answer is delivered and let go; one that never finishes its headers fails at the timeout', async () => {
    const endless = await peer('endless-body');
    const slow = await peer('slow-headers');
    const huge = await peer('huge-headers');
    const results = new Map<string, DeliveryResult[]>();
    const logs = logSink();
    const logger = await createLogger({ level: 'debug', format: 'json', destination: logs });
    const notifiers = [endless, slow, huge].map(
      (p) =>
        new Notifier({
          channels: (parseChannel(p.url) as { channels: Channel[] }).channels,
          version: 'test',
          logger,
          timeoutMs: 1000,
          retryMs: 60_000,
          onResult: (r) => results.set(p.url, [...(results.get(p.url) ?? []), r]),
        }),
    );
    const started = Date.now();
    for (const n of notifiers) n.send({ event: 'live', new: 'abc' } as NotificationBody);
    await waitFor('every target answered or failed', () => results.size === 3, 10_000);
    // before: the endless answer was read for as long as it lasted, on the main loop
    expect(results.get(endless.url)).toEqual(['delivered']);
    expect(results.get(slow.url)).toEqual(['failed']);
    expect(results.get(huge.url)).toEqual(['failed']);
    expect(Date.now() - started).toBeLessThan(5000);
    await waitFor('every connection closed', () => [endless, slow, huge].every((p) => allClosed(p.stats)), 5000);
    expect(logs.text()).toContain('no answer within 1s');
    for (const n of notifiers) await n.drain(0);
  });

  it('the health check: an endless healthy page passes, slow and huge headers fail each probe within its limit', async () => {
    const endless = await peer('endless-body');
    expect(await probeOnce(endless.url, 'ok', 5000)).toMatchObject({ good: true, status: 200 });
    const verdict = await verifyHealth(
      { url: endless.url, timeoutMs: 10_000, settleMs: 200, expect: 'ok' },
      'a'.repeat(40),
    );
    expect(verdict).toMatchObject({ ok: true });
    const slow = await peer('slow-headers');
    expect(await probeOnce(slow.url, undefined, 500)).toMatchObject({
      good: false,
      problem: expect.stringContaining('no answer within 500ms'),
    });
    const huge = await peer('huge-headers');
    expect(await probeOnce(huge.url, undefined, 5000)).toMatchObject({
      good: false,
      problem: expect.stringContaining('headers longer than 16 KiB'),
    });
    await waitFor('every connection closed', () => [endless, slow, huge].every((p) => allClosed(p.stats)), 5000);
  });

  it('the canary: a server streaming an endless healthy page is judged healthy; one with huge headers is judged broken', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hotpull-http-client-'));
    dirs.push(dir);
    // a real server process on the canary's port, misbehaving as the peers above do
    const script = path.join(dir, 'serve.mjs');
    await fs.writeFile(
      script,
      [
        "import net from 'node:net';",
        'const [port, mode] = process.argv.slice(2);',
        'net.createServer((s) => {',
        "  s.on('error', () => {});",
        "  if (mode === 'huge') { s.write('HTTP/1.1 200 OK\\r\\n'); for (let i = 0; i < 2000; i++) s.write(`X-F${i}: ${'y'.repeat(100)}\\r\\n`); return; }",
        "  s.write('HTTP/1.1 200 OK\\r\\nConnection: close\\r\\n\\r\\nok ');",
        "  const c = Buffer.alloc(16384, 'x');",
        "  const pump = () => { while (!s.destroyed) if (!s.write(c)) return void s.once('drain', pump); };",
        '  pump();',
        "}).listen(Number(port), '127.0.0.1');",
        '',
      ].join('\n'),
    );
    const ctx = { dir, sha: 'b'.repeat(40), previousSha: 'a'.repeat(40), env: process.env };
    const check = (mode: string) => ({
      command: `exec ${process.execPath} ${script} {port} ${mode}`,
      timeoutMs: 20_000,
      path: '/health',
      expect: 'ok',
      settleMs: 300,
    });
    expect(await runCanary(check('endless'), ctx)).toMatchObject({ ok: true });
    const huge = await runCanary(check('huge'), ctx);
    expect(huge).toMatchObject({ ok: false });
    if (!huge.ok) expect(huge.reason).toContain('headers longer than 16 KiB');
    expect(huge.ms).toBeLessThan(10_000);
  });

  it('the daemon client: an endless /status is cut at 1 MiB and refused as not JSON', async () => {
    const endless = await peer('endless-body');
    const base = endless.url.replace('/health', '');
    const started = Date.now();
    await expect(fetchStatus(base)).rejects.toThrow(/answered 200 with a body that is not JSON/);
    expect(Date.now() - started).toBeLessThan(5000);
    await waitFor('the connection closed', () => allClosed(endless.stats), 5000);
  });
});
