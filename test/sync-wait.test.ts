/**
 * hotpull sync --now --wait against the built CLI and a real daemon: it waits for the pass it started and exits
 * with its outcome (0 deployed or up to date, 1 blocked, rejected or failed), however long the pass takes.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, headOf } from './helpers/git.js';
import { runCli } from './helpers/hotpull.js';
import { SECRET, daemonOnSandbox, request, teardownAll } from './helpers/listener.js';
import { describeOutcome } from '../src/http/server.js';

afterEach(teardownAll);

const syncWait = (url: string, env: Record<string, string> = { HOTPULL_WEBHOOK_SECRET: SECRET }) =>
  runCli(['sync', '--now', '--wait', '--url', url], { env, timeout: 120_000 });

describe('describeOutcome', () => {
  it.each([
    [{ kind: 'up-to-date', sha: 'a'.repeat(40) }, true, 'up-to-date', 'up to date at aaaaaaa'],
    [
      { kind: 'blocked', state: 'dirty', reason: 'tracked files were modified' },
      false,
      'dirty',
      'dirty: tracked files were modified',
    ],
    [new Error('remote hung up'), false, 'failed', 'sync failed: remote hung up'],
  ] as const)('%j', (outcome, ok, result, message) => {
    expect(describeOutcome(outcome as Parameters<typeof describeOutcome>[0])).toMatchObject({ ok, result, message });
  });
});

describe('sync --now --wait (real daemon)', () => {
  it('exit 0 when the pass deploys or finds nothing new, 1 when it is blocked', async () => {
    // a long interval: only the CLI's requests start passes
    const { sb, daemon } = await daemonOnSandbox(['--interval', '1h']);
    const up = await syncWait(daemon.url);
    expect(up.exitCode).toBe(0);
    expect(up.stdout.trim()).toBe(`up to date at ${(await headOf(sb.checkout)).slice(0, 7)}`);

    const v1 = await headOf(sb.checkout);
    const v2 = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const deployed = await syncWait(daemon.url);
    expect(deployed.exitCode).toBe(0);
    expect(deployed.stdout.trim()).toBe(`${v1.slice(0, 7)} → ${v2.slice(0, 7)}: reloaded`);
    expect(await headOf(sb.checkout)).toBe(v2);

    await fs.writeFile(path.join(sb.checkout, 'app.py'), 'VERSION = "edited in place"\n');
    await commitAndPush(sb, { 'app.py': 'VERSION = 3\n' });
    const blocked = await syncWait(daemon.url);
    expect(blocked.exitCode).toBe(1);
    expect(blocked.stdout).toMatch(/^dirty: tracked files were modified in the checkout \(app\.py\)/);
    expect(await headOf(sb.checkout)).toBe(v2);

    const unauthorized = await syncWait(daemon.url, { HOTPULL_WEBHOOK_SECRET: 'wrong' });
    expect(unauthorized.exitCode).toBe(1);
    expect(unauthorized.stderr).toContain('answered 401');
    const alone = await runCli(['sync', '--wait', '--url', daemon.url]);
    expect(alone.exitCode).toBe(2);
    expect(alone.stderr).toContain('--wait must come with sync --now');
  }, 120_000);

  it('holds the answer for a pass longer than the idle and request timeouts (22 s reload)', async () => {
    const { sb, daemon } = await daemonOnSandbox([
      '--interval',
      '1h',
      '--reload',
      'command:sleep 22',
      '--reload-timeout',
      '1m',
    ]);
    const v2 = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const started = Date.now();
    const result = await syncWait(daemon.url);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`→ ${v2.slice(0, 7)}: reloaded`);
    expect(Date.now() - started).toBeGreaterThan(20_000);
    // the held connection did not stop the listener from answering others meanwhile
    expect((await request(daemon.url, { path: '/healthz' })).status).toBe(200);
  }, 120_000);
});
