/**
 * Issue 11: 1000 unauthenticated clients each sending an unfinished ~1 MB body must not buy memory. Real
 * daemon (dist/cli.js), real sockets; the daemon's RSS is read from /proc. Two waves: the second must not add to
 * what the first bought.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, headOf } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import {
  daemonOnSandbox,
  githubSignature,
  metricSum,
  onTeardown,
  request,
  rssMiB,
  teardownAll,
} from './helpers/listener.js';

afterEach(teardownAll);

const MiB = 1024 * 1024;

describe('unauthenticated bodies', { timeout: 240_000 }, () => {
  it('1000 clients with well-formed signatures and unfinished 1 MiB bodies, twice: RSS stays under 200 MB and does not grow', async () => {
    const { sb, daemon } = await daemonOnSandbox(['--interval', '10m']);
    const idle = rssMiB(daemon.pid);

    // Headers that pass the early check (a well-formed, wrong, signature), then half of the announced body.
    const head = [
      'POST /webhook HTTP/1.1',
      'Host: hotpull',
      'Content-Type: application/json',
      'X-GitHub-Event: push',
      `X-Hub-Signature-256: sha256=${'ab'.repeat(32)}`,
      `Content-Length: ${MiB}`,
      '',
      '',
    ].join('\r\n');
    const half = Buffer.alloc(MiB / 2, 'x');

    /** One wave: 1000 clients held open a while, then gone; the daemon's peak RSS and its metrics once all is given back. */
    const wave = async () => {
      const sockets: net.Socket[] = [];
      onTeardown(() => sockets.forEach((s) => s.destroy()));
      let peak = rssMiB(daemon.pid);
      const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(daemon.pid))), 50);
      try {
        await Promise.all(
          Array.from(
            { length: 1000 },
            () =>
              new Promise<void>((resolve) => {
                const socket = net.connect(daemon.port, '127.0.0.1', () => {
                  socket.write(head);
                  socket.write(half, () => resolve());
                });
                socket.on('error', () => resolve());
                socket.on('close', () => resolve());
                sockets.push(socket);
              }),
          ),
        );
        // Hold them open a while: nothing more arrives, and what did must not accumulate.
        await new Promise((r) => setTimeout(r, 3000));
        peak = Math.max(peak, rssMiB(daemon.pid));
      } finally {
        clearInterval(sampler);
      }
      sockets.forEach((s) => s.destroy());
      // Every byte taken from the body budget is given back once the connections are gone.
      const metrics = await waitFor(
        'the body budget to be free',
        async () => {
          const text = (await request(daemon.url, { path: '/metrics' })).body;
          return text.includes('hotpull_http_buffered_body_bytes 0\n') ? text : undefined;
        },
        60_000,
      );
      return { peak, metrics };
    };

    const first = await wave();
    expect(first.peak).toBeLessThan(200);
    expect(
      metricSum(first.metrics, 'hotpull_http_refused_total', 'connection_limit') +
        metricSum(first.metrics, 'hotpull_http_refused_total', 'body_budget'),
    ).toBeGreaterThan(0);
    // What the first wave bought is not kept: the same wave again reuses it instead of adding to it. (Whether RSS
    // falls back between the waves is up to the next garbage collection, which an idle daemon may not run for long.)
    const second = await wave();
    expect(second.peak, `idle ${idle.toFixed(0)} MiB, first wave ${first.peak.toFixed(0)} MiB`).toBeLessThan(
      Math.min(200, first.peak + 30),
    );

    // A real delivery still goes through.
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const body = JSON.stringify({ ref: 'refs/heads/main', after: sha });
    const reply = await request(daemon.url, {
      method: 'POST',
      path: '/webhook',
      headers: { 'x-github-event': 'push', 'x-hub-signature-256': githubSignature(body) },
      body,
    });
    expect([reply.status, JSON.parse(reply.body).message]).toEqual([202, 'sync queued']);
    await waitFor('the push to be deployed', async () => (await headOf(sb.checkout)) === sha, 60_000);
  });
});
