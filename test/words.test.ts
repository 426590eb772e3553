/**
 * Issue 25 item 5, logs and words: what hotpull says about a deploy is true and said once, in one unit system.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { makePipeline, runCli, waitFor } from './helpers/hotpull.js';
import { daemonOnSandbox, teardownAll } from './helpers/listener.js';
import { formatStatus } from '../src/http/status-text.js';
import { formatDuration } from '../src/duration.js';

let sb: Sandbox | undefined;
let http: Server | undefined;
afterEach(async () => {
  await teardownAll();
  http?.closeAllConnections();
  await new Promise((resolve) => (http ? http.close(resolve) : resolve(undefined)));
  await sb?.cleanup();
  sb = undefined;
  http = undefined;
});

/**
 * An app that answers 200 until its checkout's app.py says "starting", then 503 (not ready: no fail-fast verdict,
 * so verification waits its timeout). The health check passes before the deploy, so its failure is a verdict.
 */
async function neverReady(dir: string): Promise<string> {
  http = createServer((_req, res) => {
    if (readFileSync(path.join(dir, 'app.py'), 'utf8').includes('starting')) res.writeHead(503).end('starting');
    else res.writeHead(200).end('ok');
  });
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

/**
 * An app that serves its checkout: 500 while app.py says "broken", else 200; with `poisoned`, 500 for good once it
 * has served "broken" (a bad deploy that broke what the good revision needs too).
 */
async function servesCheckout(dir: string, poisoned = false): Promise<string> {
  let broke = false;
  http = createServer((_req, res) => {
    broke = readFileSync(path.join(dir, 'app.py'), 'utf8').includes('broken') || (poisoned && broke);
    if (broke) res.writeHead(500).end('broken');
    else res.writeHead(200).end('ok');
  });
  await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}/health`;
}

describe('rollback', () => {
  it('logs its reason once, after the good revision is verified again', async () => {
    sb = await makeSandbox({ files: { 'app.py': 'good\n', 'README.md': 'x\n' } });
    const url = await servesCheckout(sb.checkout);
    const good = await headOf(sb.checkout);
    const { engine, logs } = await makePipeline(sb.checkout, {
      healthUrl: url,
      healthTimeout: '3s',
      healthSettle: '100ms',
      reload: [`touch:${path.join(sb.checkout, 'README.md')}`],
    });
    await engine.sync('start');
    // at start it names the checkout, and does not claim that it is served
    expect(logs.records().find((r) => String(r.msg).startsWith('checkout at'))?.msg).toBe(
      `checkout at ${good.slice(0, 7)} at start (not yet verified as served)`,
    );
    expect(logs.text()).not.toMatch(/"msg":"serving /);
    const bad = await commitAndPush(sb, { 'app.py': 'broken\n' });
    const from = logs.lines.length;
    const outcome = await engine.sync('test');
    expect(outcome.kind).toBe('rejected');
    const said = logs
      .records()
      .slice(from)
      .filter((r) => (r.level as number) >= 30);
    const reason = engine.status.deploys[0]!.error!;
    expect(reason).toContain('answered 500');
    const withReason = said.filter((r) => String(r.msg).includes('answered 500'));
    expect(withReason.map((r) => r.msg)).toEqual([
      `${bad.slice(0, 7)} failed verification: ${reason}; rolled back, ${good.slice(0, 7)} serves again`,
    ]);
    // said after the good revision answered again: nothing is logged after it in this pass
    expect(said.at(-1)!.msg).toBe(withReason[0]!.msg);
  });
});

describe('rollback to a revision that fails too', () => {
  it('says both reasons in one line', async () => {
    sb = await makeSandbox({ files: { 'app.py': 'good\n', 'README.md': 'x\n' } });
    const url = await servesCheckout(sb.checkout, true);
    const good = await headOf(sb.checkout);
    const { engine, logs } = await makePipeline(sb.checkout, {
      healthUrl: url,
      healthTimeout: '1s',
      healthSettle: '100ms',
      reload: [`touch:${path.join(sb.checkout, 'README.md')}`],
    });
    await engine.sync('start');
    const bad = await commitAndPush(sb, { 'app.py': 'broken\n' });
    const from = logs.lines.length;
    await engine.sync('test');
    const said = logs
      .records()
      .slice(from)
      .filter((r) => (r.level as number) >= 30);
    const lines = said.map((r) => String(r.msg)).filter((m) => m.includes('answered 500'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^${bad.slice(0, 7)} failed verification: not healthy .*answered 500.*; rolled back to ${good.slice(0, 7)}, but it is not healthy either: not healthy .*answered 500`,
      ),
    );
    expect(engine.status).toMatchObject({ state: 'failing', reason: lines[0] });
  });
});

describe('verification timeout', () => {
  it('a failed verification says how long it waited and the configured timeout, not the half it reloaded at', async () => {
    sb = await makeSandbox();
    const url = await neverReady(sb.checkout);
    const { engine } = await makePipeline(sb.checkout, {
      healthUrl: url,
      healthTimeout: '2s',
      healthSettle: '100ms',
      reload: [`touch:${path.join(sb.checkout, 'README.md')}`],
    });
    await engine.sync('start');
    await commitAndPush(sb, { 'app.py': 'starting\n' });
    await engine.sync('test');
    const error = engine.status.deploys[0]!.error ?? '';
    expect(error).toMatch(/^not healthy after [\d.]+s \(timeout 2s\): GET \S+ answered 503/);
    const waited = Number(/after ([\d.]+)s/.exec(error)![1]);
    expect(waited).toBeGreaterThanOrEqual(2);
    expect(waited).toBeLessThan(4);
    expect(error).not.toContain('within 1s');
  });
});

describe('pretty mode', () => {
  it('a deploy is one line at info; its state changes are debug', async () => {
    const { sb, daemon } = await daemonOnSandbox(['--interval', '10m', '--log-level', 'info'], {
      env: { HOTPULL_LOG_FORMAT: 'pretty' },
    });
    const to = await commitAndPush(sb, { 'app.py': 'v2\n' });
    const before = daemon.output().length;
    process.kill(daemon.pid, 'SIGHUP');
    await waitFor('the deploy line', () =>
      daemon
        .output()
        .slice(before)
        .includes(`→ ${to.slice(0, 7)}, reloaded`),
    );
    // the state lines of the pass (idle last) come before the deploy line, which ends it at info
    const lines = daemon.output().slice(before).trimEnd().split('\n');
    expect(lines.filter((l) => !/SIGHUP/.test(l))).toHaveLength(1);
    expect(lines.join('\n')).not.toMatch(/state \w+ →/);
  });
});
