/**
 * Issue 24 item 7: clients that all connect at once, each sending its request as soon as it is connected (status,
 * metrics, healthz, signed and badly signed webhooks). Beyond the connection cap a client is turned away with
 * `503` and `Retry-After`, never a bare close: every one gets an HTTP answer. Real daemon (dist/cli.js), real
 * sockets, its cap lowered through the fd limit.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SECRET, daemonOnSandbox, githubSignature, metricSum, request, teardownAll } from './helpers/listener.js';

afterEach(teardownAll);

/** Raw request text per kind: written whole the moment the connection is up. */
function requestText(kind: number, host: string): string {
  const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
  const body = JSON.stringify({ ref: 'refs/heads/main', after: '0'.repeat(40) });
  const webhook = (signature: string) =>
    `POST /webhook HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
    `X-GitHub-Event: push\r\nX-Hub-Signature-256: ${signature}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  switch (kind % 5) {
    case 0:
      return get('/status');
    case 1:
      return get('/metrics');
    case 2:
      return get('/healthz');
    case 3:
      return webhook(githubSignature(body, SECRET));
    default:
      return webhook(githubSignature(body, 'wrong'));
  }
}

/** The whole answer a client got (head and body), '' when the connection closed without one. */
function burstClient(port: number, kind: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write(requestText(kind, `127.0.0.1:${port}`)));
    socket.setTimeout(20_000, () => socket.destroy());
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
  });
}

describe('a burst of clients beyond the connection cap', { timeout: 120_000 }, () => {
  it('600 at once against a cap of 64: each gets an HTTP answer, the ones turned away 503 with Retry-After', async () => {
    // ulimit -n 256: the cap is a quarter of it
    const { daemon } = await daemonOnSandbox(['--interval', '10m'], { nofile: 256 });
    const answers = await Promise.all(Array.from({ length: 600 }, (_, i) => burstClient(daemon.port, i)));
    const statuses = answers.map((a) => /^HTTP\/1\.1 (\d{3}) /.exec(a)?.[1] ?? 'none');
    const counts = statuses.reduce<Record<string, number>>((c, s) => ({ ...c, [s]: (c[s] ?? 0) + 1 }), {});
    expect(counts.none ?? 0, JSON.stringify(counts)).toBe(0);
    expect(
      Object.keys(counts).every((s) => ['200', '202', '401', '503'].includes(s)),
      JSON.stringify(counts),
    ).toBe(true);
    const busy = answers.filter((a) => /^HTTP\/1\.1 503 .*\r\nRetry-After: 1\r\n/s.test(a) && a.includes('busy'));
    expect(busy.length, JSON.stringify(counts)).toBeGreaterThan(0);
    const metrics = (await request(daemon.url, { path: '/metrics' })).body;
    expect(metrics).toContain('hotpull_http_max_connections 64\n');
    expect(metricSum(metrics, 'hotpull_http_refused_total', 'connection_limit')).toBe(busy.length);
    expect(daemon.output()).not.toMatch(/Unhandled|at .*\.js:\d+/);
  });
});
