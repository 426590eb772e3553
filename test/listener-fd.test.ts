/**
 * Issue 11, "the listener must not be a way down": idle connections under the common 1024 fd limit, a full
 * fd table at accept(), and the idle-connection eviction. Real daemon (dist/cli.js), real git, real sockets.
 */
import { promises as fs, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { commitAndPush, headOf, makeSandbox, tmpDir } from './helpers/git.js';
import { ROOT, makeDaemon, waitFor } from './helpers/hotpull.js';
import { SECRET, daemonOnSandbox, metricSum, onTeardown, openIdle, request, teardownAll } from './helpers/listener.js';
import { startServer } from '../src/http/server.js';
import { Metrics } from '../src/http/metrics.js';

afterEach(teardownAll);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('connections under a lowered fd limit', { timeout: 240_000 }, () => {
  it('1100 idle connections with ulimit -n 1024: the push is deployed, the daemon lives, the listener answers after', async () => {
    const { sb, daemon } = await daemonOnSandbox(['--interval', '500ms'], { nofile: 1024 });
    expect(readFileSync(`/proc/${daemon.pid}/limits`, 'utf8')).toMatch(/^Max open files\s+1024\s+1024/m);
    const clients = await openIdle(daemon.port, 1100);
    onTeardown(() => clients.destroy());
    expect(clients.connected()).toBeGreaterThan(1000);
    // The cap keeps most descriptors for git: never more than 128 connections, whatever was offered.
    const fds = readdirSync(`/proc/${daemon.pid}/fd`).length;
    expect(fds).toBeLessThan(128 + 100);

    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await waitFor('the poll to deploy the push', async () => (await headOf(sb.checkout)) === sha, 60_000);
    expect(alive(daemon.pid)).toBe(true);

    clients.destroy();
    const healthz = await waitFor(
      'the listener to answer',
      async () => {
        const reply = await request(daemon.url, { path: '/healthz' }).catch(() => undefined);
        return reply?.body.startsWith('ok idle') ? reply : undefined;
      },
      60_000,
    );
    expect([healthz.status, healthz.body]).toEqual([200, `ok idle ${sha}\n`]);
    const metrics = (await request(daemon.url, { path: '/metrics' })).body;
    expect(metricSum(metrics, 'hotpull_http_refused_total', 'connection_limit')).toBeGreaterThan(0);
    expect(metrics).toContain('hotpull_http_max_connections 128\n');
    expect(daemon.output()).not.toMatch(/Unhandled|EMFILE|at .*\.js:\d+/);
    expect(await daemon.stop()).toEqual({ exitCode: 0, signal: undefined });
  });

  it('a full fd table at accept() costs the clients their connections, never the process; the listener recovers', async () => {
    // A listener whose cap is above what the fd limit allows, so accept() itself runs out of descriptors.
    const dir = await tmpDir('hotpull-listener-');
    onTeardown(() => fs.rm(dir, { recursive: true, force: true }));
    const script = path.join(dir, 'listener.mjs');
    await fs.writeFile(
      script,
      [
        `import { startServer } from ${JSON.stringify(path.join(ROOT, 'dist/http/server.js'))};`,
        `import { Metrics } from ${JSON.stringify(path.join(ROOT, 'dist/http/metrics.js'))};`,
        `import { createLogger } from ${JSON.stringify(path.join(ROOT, 'dist/log.js'))};`,
        `const logger = await createLogger({ level: 'info', format: 'json' });`,
        `const status = { state: 'idle', remote: 'origin', branch: 'main', consecutiveFailures: 0, lastSuccessAt: new Date().toISOString(), deploys: [] };`,
        `let triggers = 0;`,
        `const server = await startServer({ listen: { host: '127.0.0.1', port: 0 }, daemon: { trigger: () => triggers++ }, status: () => status,`,
        `  metrics: new Metrics(), branch: 'main', secret: ${JSON.stringify(SECRET)}, logger, maxConnections: 10000 });`,
        `logger.info('listening on ' + server.url);`,
        `process.on('SIGTERM', () => server.close().then(() => { logger.info('triggers ' + triggers); process.exit(0); }));`,
      ].join('\n'),
    );
    const child = execa('sh', ['-c', 'ulimit -n 64 && exec "$0" "$@"', process.execPath, script], {
      reject: false,
      buffer: false,
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    onTeardown(async () => {
      child.kill('SIGKILL');
      await child;
    });
    const url = await waitFor('listening', () => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1], 60_000);
    const clients = await openIdle(Number(new URL(url).port), 300);
    onTeardown(() => clients.destroy());
    await waitFor('the connections beyond the fd limit to be dropped', () => clients.closed() >= 300 - 64, 60_000);
    expect(readFileSync(`/proc/${child.pid}/limits`, 'utf8')).toMatch(/^Max open files\s+64\s/m);
    expect(alive(child.pid!)).toBe(true);

    clients.destroy();
    const healthz = await waitFor(
      'the listener to answer again',
      () => request(url, { path: '/healthz' }).catch(() => undefined),
      60_000,
    );
    expect(healthz.status).toBe(200);
    const sync = await request(url, { method: 'POST', path: '/sync', headers: { authorization: `Bearer ${SECRET}` } });
    expect(sync.status).toBe(202);
    child.kill('SIGTERM');
    expect((await child).exitCode).toBe(0);
    expect(out).toContain('triggers 1');
    expect(out).not.toMatch(/Unhandled|at .*\.js:\d+/);
  });

  it('a new connection closes the longest-idle one when the cap is reached', async () => {
    const sb = await makeSandbox();
    onTeardown(() => sb.cleanup());
    const d = await makeDaemon(sb.checkout, { interval: '10m' });
    const server = await startServer({
      listen: { host: '127.0.0.1', port: 0 },
      daemon: d.daemon,
      status: () => d.engine.status,
      metrics: new Metrics(),
      branch: 'main',
      secret: SECRET,
      logger: d.logger,
      maxConnections: 4,
    });
    onTeardown(() => server.close());
    onTeardown(() => d.daemon.stop());
    d.daemon.start();
    const port = Number(new URL(server.url).port);
    const idle = await openIdle(port, 4);
    onTeardown(() => idle.destroy());
    // Brand-new connections are not evicted: a fifth is turned away (503, Retry-After) while the four are fresh.
    const early = await openIdle(port, 1);
    await waitFor('the fifth to be closed', () => early.closed() === 1);
    expect(early.received()[0]).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\nRetry-After: 1\r\n/);
    expect(idle.closed()).toBe(0);
    await new Promise((r) => setTimeout(r, 2_200));
    await waitFor('the first sync', () => d.engine.status.lastSuccessAt);
    const reply = await request(server.url, { path: '/healthz' });
    expect(reply.status).toBe(200);
    expect(idle.closed()).toBe(1);
    const metrics = (await request(server.url, { path: '/metrics' }).catch(() => ({ body: '' }))).body;
    expect(metricSum(metrics, 'hotpull_http_refused_total', 'evicted_idle')).toBeGreaterThanOrEqual(1);
    expect(metricSum(metrics, 'hotpull_http_refused_total', 'connection_limit')).toBe(1);
  });
});
