/**
 * Issue 25 item 5, logs and words: what hotpull says about a deploy is true and said once, in one unit system.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, makeSandbox, type Sandbox } from './helpers/git.js';
import { makePipeline, runCli } from './helpers/hotpull.js';
import { formatStatus } from '../src/http/status-text.js';
import { formatDuration } from '../src/duration.js';

let sb: Sandbox | undefined;
afterEach(async () => {
  await sb?.cleanup();
  sb = undefined;
});

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
