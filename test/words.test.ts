/**
 * Issue 25 item 5, logs and words: what hotpull says about a deploy is true and said once, in one unit system.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, makeSandbox, type Sandbox } from './helpers/git.js';
import { makePipeline, runCli } from './helpers/hotpull.js';
import { formatStatus } from '../src/http/status-text.js';
import { formatDuration } from '../src/duration.js';

let sb: Sandbox | undefined;
let http: Server | undefined;
afterEach(async () => {
  http?.closeAllConnections();
  await new Promise((resolve) => (http ? http.close(resolve) : resolve(undefined)));
  await sb?.cleanup();
  sb = undefined;
  http = undefined;
});

/** An app that is never ready: 503 to every request (no fail-fast verdict, so verification waits its timeout). */
async function neverReady(): Promise<string> {
  http = createServer((_req, res) => res.writeHead(503).end('starting'));
  await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}/health`;
}

describe('deploy times', () => {
  it('preflight time is booked as judge, not apply or reload; log and status give the total in the same units', async () => {
    sb = await makeSandbox();
    const { engine } = await makePipeline(sb.checkout, { preflight: ['sleep 0.6'] });
    await commitAndPush(sb, { 'app.py': 'v2\n' });
    const outcome = await engine.sync('test');
    expect(outcome.kind).toBe('deployed');
    const record = engine.status.deploys[0]!;
    const d = record.durations;
    expect(d.judge).toBeGreaterThanOrEqual(600);
    expect(d.apply).toBeLessThan(600);
    expect(d.reload).toBeLessThan(600);

    const log = await runCli(['log', '--repo', sb.checkout]);
    expect(log.exitCode).toBe(0);
    const total = formatDuration(d.total);
    expect(log.stdout).toContain(` ${total} `);
    expect(log.stdout).toContain(`judge ${formatDuration(d.judge!)}`);
    expect(log.stdout).not.toMatch(/\d{4,}ms/);
    expect(formatStatus(engine.status, Date.now())).toContain(` ${total} `);
  });
});

describe('verification timeout', () => {
  it('a failed verification says how long it waited and the configured timeout, not the half it reloaded at', async () => {
    sb = await makeSandbox();
    const url = await neverReady();
    const { engine } = await makePipeline(sb.checkout, {
      healthUrl: url,
      healthTimeout: '2s',
      healthSettle: '100ms',
      reload: [`touch:${path.join(sb.checkout, 'README.md')}`],
    });
    await commitAndPush(sb, { 'app.py': 'v2\n' });
    await engine.sync('test');
    const error = engine.status.deploys[0]!.error ?? '';
    expect(error).toMatch(/^not healthy after [\d.]+s \(timeout 2s\): GET \S+ answered 503/);
    const waited = Number(/after ([\d.]+)s/.exec(error)![1]);
    expect(waited).toBeGreaterThanOrEqual(2);
    expect(waited).toBeLessThan(4);
    expect(error).not.toContain('within 1s');
  });
});
