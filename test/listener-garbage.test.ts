/**
 * Issue 11: nothing a client sends can throw out of the listener or stop the deploy loop, and --listen on an
 * address that cannot be bound is one line and exit 2. Real daemon (dist/cli.js), real git, raw sockets.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, headOf, makeSandbox } from './helpers/git.js';
import { runCli, waitFor } from './helpers/hotpull.js';
import { daemonOnSandbox, githubSignature, metricSum, onTeardown, request, teardownAll } from './helpers/listener.js';

afterEach(teardownAll);

/** Sends `chunks` (a delay in ms between them when given), then waits for the server's answer or close. */
function raw(
  port: number,
  chunks: Array<string | Buffer | number>,
  options: { abort?: boolean; waitMs?: number } = {},
): Promise<string> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => socket.destroy(), options.waitMs ?? 30_000);
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        if (typeof chunk === 'number') await new Promise((r) => setTimeout(r, chunk));
        else if (!socket.destroyed) socket.write(chunk);
      }
      if (options.abort) socket.destroy();
    });
  });
}

const statusLine = (answer: string) => answer.split('\r\n')[0];
const SIG = `X-Hub-Signature-256: sha256=${'cd'.repeat(32)}\r\n`;

describe('garbage on the wire', { timeout: 240_000 }, () => {
  it('malformed, oversized, slow, aborted and pipelined requests get short answers; the daemon deploys after', async () => {
    const { sb, daemon } = await daemonOnSandbox(['--interval', '10m']);
    const port = daemon.port;
    const cases: Array<[string, Promise<string>, RegExp | undefined]> = [];
    for (let round = 0; round < 3; round++) {
      cases.push(
        ['garbage request line', raw(port, ['GARBAGE\r\n\r\n']), /^HTTP\/1\.1 400/],
        ['HTTP/0.9', raw(port, ['GET /\r\n']), undefined],
        ['HTTP/2 preface', raw(port, ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n']), /^HTTP\/1\.1 (400|404|505)/],
        ['TLS client hello', raw(port, [Buffer.from('160301020001', 'hex'), randomBytes(512)]), /^(HTTP\/1\.1 400|$)/],
        ['random bytes', raw(port, [randomBytes(64 * 1024)]), undefined],
        [
          'huge header',
          raw(port, [`GET /status HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`]),
          /^HTTP\/1\.1 431/,
        ],
        ['huge URL', raw(port, [`GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`]), /^HTTP\/1\.1 431/],
        ['NUL in a header', raw(port, ['GET /status HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n']), /^HTTP\/1\.1 400/],
        [
          'two Content-Lengths',
          raw(port, [`POST /webhook HTTP/1.1\r\nHost: x\r\n${SIG}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello`]),
          /^HTTP\/1\.1 400/,
        ],
        [
          'Content-Length and chunked',
          raw(port, [
            `POST /webhook HTTP/1.1\r\nHost: x\r\n${SIG}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
          ]),
          /^HTTP\/1\.1 400/,
        ],
        [
          'bad chunk size',
          raw(port, [`POST /webhook HTTP/1.1\r\nHost: x\r\n${SIG}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n`]),
          /^HTTP\/1\.1 400/,
        ],
        [
          'chunked body over the limit',
          raw(port, [
            `POST /webhook HTTP/1.1\r\nHost: x\r\n${SIG}Transfer-Encoding: chunked\r\n\r\n`,
            `200000\r\n`,
            Buffer.alloc(2 * 1024 * 1024, 'x'),
          ]),
          /^HTTP\/1\.1 413/,
        ],
        ['unknown method', raw(port, ['FOO /status HTTP/1.1\r\nHost: x\r\n\r\n']), /^HTTP\/1\.1 (400|405)/],
        [
          'GET with a body',
          raw(port, ['GET /status HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc']),
          /^HTTP\/1\.1 413/,
        ],
        [
          'slowloris headers',
          raw(port, ['POST /webhook HTTP/1.1\r\n', 300, 'Host: x\r\n', 300, 'X-A: 1\r\n', 300, 'X-B: 2\r\n']),
          /^HTTP\/1\.1 408/,
        ],
        [
          'abort mid-body',
          raw(port, [`POST /webhook HTTP/1.1\r\nHost: x\r\n${SIG}Content-Length: 100000\r\n\r\n{"ref":`, 100], {
            abort: true,
          }),
          /^$/,
        ],
        ['abort mid-headers', raw(port, ['POST /webhook HTTP/1.1\r\nHost: x\r\nX-'], { abort: true }), /^$/],
        [
          'Expect: 100-continue without a signature',
          raw(port, ['POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n']),
          /^HTTP\/1\.1 401/,
        ],
        [
          'Expect: 100-continue, then nothing',
          raw(port, [`POST /webhook HTTP/1.1\r\nHost: x\r\n${SIG}Content-Length: 10\r\nExpect: 100-continue\r\n\r\n`], {
            waitMs: 30_000,
          }),
          /^HTTP\/1\.1 100/,
        ],
        [
          'pipelined requests',
          raw(port, [
            `${'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(50)}POST /sync HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`,
          ]),
          /^HTTP\/1\.1 200/,
        ],
        // Node drops the connection at the parse error, with whatever answers were still queued.
        [
          'pipelined requests, then garbage',
          raw(port, [`${'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(50)}GARBAGE\r\n\r\n`]),
          /^(HTTP\/1\.1 200|$)/,
        ],
        [
          'half-closed after the request',
          new Promise<string>((resolve) => {
            const socket = net.connect(port, '127.0.0.1', () => socket.end('GET /status HTTP/1.1\r\nHost: x\r\n\r\n'));
            let answer = '';
            socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
            socket.on('error', () => undefined);
            socket.on('close', () => resolve(answer));
          }),
          /^HTTP\/1\.1 200/,
        ],
      );
    }
    const answers = await Promise.all(cases.map(([, answer]) => answer));
    const unexpected = cases
      .map(([name, , expected], i) =>
        expected && !expected.test(statusLine(answers[i]!)!) ? `${name}: ${statusLine(answers[i]!)}` : '',
      )
      .filter(Boolean);
    expect(unexpected).toEqual([]);
    const pipelined = answers[cases.findIndex(([name]) => name === 'pipelined requests')]!;
    expect(pipelined.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(50);
    expect(pipelined).toContain('HTTP/1.1 401 Unauthorized');

    // Still alive, still deploying.
    expect(daemon.child.exitCode).toBeNull();
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const body = JSON.stringify({ ref: 'refs/heads/main', after: sha });
    const reply = await request(daemon.url, {
      method: 'POST',
      path: '/webhook',
      headers: { 'x-github-event': 'push', 'x-hub-signature-256': githubSignature(body) },
      body,
    });
    expect(reply.status).toBe(202);
    await waitFor('the push to be deployed', async () => (await headOf(sb.checkout)) === sha, 60_000);
    const metrics = (await request(daemon.url, { path: '/metrics' })).body;
    expect(metricSum(metrics, 'hotpull_http_refused_total', 'bad_request')).toBeGreaterThan(0);
    expect(await daemon.stop()).toEqual({ exitCode: 0, signal: undefined });
    expect(daemon.output()).not.toMatch(/Unhandled|internal error|\n\s+at /);
  });
});

describe('--listen that cannot be bound', { timeout: 240_000 }, () => {
  it('a port in use: one line, exit 2', async () => {
    const sb = await makeSandbox();
    onTeardown(() => sb.cleanup());
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    try {
      const result = await runCli(['run', '--repo', sb.checkout, '--listen', `127.0.0.1:${port}`]);
      expect([result.exitCode, result.stderr]).toEqual([
        2,
        `hotpull: --listen must name a free port (got "127.0.0.1:${port}": another process is listening there, EADDRINUSE)`,
      ]);
    } finally {
      holder.close();
    }
  });

  it('an address of no interface here: one line, exit 2', async () => {
    const sb = await makeSandbox();
    onTeardown(() => sb.cleanup());
    // 192.0.2.0/24 is TEST-NET-1: documentation only, never configured on a real interface.
    const result = await runCli(['run', '--repo', sb.checkout, '--listen', '192.0.2.1:9300']);
    expect([result.exitCode, result.stderr]).toEqual([
      2,
      'hotpull: --listen must be an address of this machine (got "192.0.2.1:9300": no interface has it, EADDRNOTAVAIL); 0.0.0.0 listens on all of them',
    ]);
  });
});
