/**
 * Issue 14: the deploy history kept with the checkout. Pure parsing and formatting; the file itself (append, a torn
 * last line after kill -9, the bound); and the real daemon: `hotpull log` and /status list deploys across a restart.
 */
import { promises as fs } from 'node:fs';
import { createHmac } from 'node:crypto';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { runHotpull, startHotpull, stop, stopAll, waitForRecord } from './helpers/procs.js';
import { waitFor } from './helpers/hotpull.js';
import { freePort } from './helpers/uwsgi.js';
import { History, HISTORY_KEEP, formatHistory, parseHistory, type HistoryEntry } from '../src/sync/history.js';
import type { DeployRecord } from '../src/sync/status.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const record = (to: string, at: string, extra: Partial<DeployRecord> = {}): DeployRecord => ({
  at,
  trigger: 'poll',
  from: A,
  to,
  result: 'live',
  stages: { detected: at },
  durations: { detect: 5, fetch: 20, apply: 10, reload: 8, verify: 2100, total: 2143 },
  ...extra,
});

let dir: string | undefined;
let sb: Sandbox | undefined;
afterEach(async () => {
  await stopAll();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  await sb?.cleanup();
  dir = sb = undefined;
});

describe('history file', () => {
  it('parses whole lines and skips a torn one', () => {
    const whole = JSON.stringify(record(B, '2026-11-30T12:00:00.000Z'));
    const text = `${whole}\n${whole.slice(0, 40)}\nnot json\n${JSON.stringify({ at: 'x', trigger: 'poll', result: 'live', to: 'nope' })}\n`;
    expect(parseHistory(text)).toEqual({ entries: [JSON.parse(whole) as HistoryEntry], skipped: 3 });
  });

  it('formats one line a deploy, newest first, word for word', () => {
    const entries = [
      record(C, '2026-11-30T12:05:00.000Z', {
        from: B,
        result: 'rolled-back',
        rolledBackTo: B,
        trigger: 'webhook',
        by: 'delivery 72d3162e',
        error: 'answered 500',
      }),
      record(B, '2026-11-30T12:00:00.000Z', { from: '' }),
    ] as HistoryEntry[];
    expect(formatHistory(entries)).toBe(
      [
        '2026-11-30T12:05:00.000Z  bbbbbbb → ccccccc  rolled-back   2.14s  webhook  detect 5ms, fetch 20ms, apply 10ms, reload 8ms, verify 2.1s (back to bbbbbbb)  by delivery 72d3162e',
        '    answered 500',
        '2026-11-30T12:00:00.000Z  (none)  → bbbbbbb  live          2.14s  poll     detect 5ms, fetch 20ms, apply 10ms, reload 8ms, verify 2.1s',
        '',
      ].join('\n'),
    );
    expect(formatHistory([])).toBe('no deploys recorded yet\n');
  });

  it('appends across instances (restarts), starts a fresh line after a torn one, and keeps the newest HISTORY_KEEP', async () => {
    dir = await tmpDir();
    const file = path.join(dir, 'hotpull', 'history.jsonl');
    new History(file).append(record(B, '2026-11-30T12:00:00.000Z'));
    // kill -9 in the middle of a write: half a line, no line break
    await fs.appendFile(file, JSON.stringify(record(C, '2026-11-30T12:01:00.000Z')).slice(0, 50));
    const restarted = new History(file);
    expect((await restarted.read()).map((e) => e.to)).toEqual([B]);
    restarted.append(record(C, '2026-11-30T12:02:00.000Z'));
    expect((await restarted.read()).map((e) => [e.to, e.at])).toEqual([
      [C, '2026-11-30T12:02:00.000Z'],
      [B, '2026-11-30T12:00:00.000Z'],
    ]);

    const many = new History(file);
    for (let i = 0; i < 2 * HISTORY_KEEP; i++)
      many.append(record(i % 2 ? B : C, new Date(Date.UTC(2026, 10, 30, 13, 0, i)).toISOString()));
    const lines = (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean);
    // compacted when it reached 2 × HISTORY_KEEP lines, and never beyond
    expect(lines.length).toBeGreaterThanOrEqual(HISTORY_KEEP);
    expect(lines.length).toBeLessThan(2 * HISTORY_KEEP);
    const kept = await many.read();
    expect(kept).toHaveLength(HISTORY_KEEP);
    expect(kept[0]!.at).toBe(new Date(Date.UTC(2026, 10, 30, 13, 0, 2 * HISTORY_KEEP - 1)).toISOString());
    expect(await fs.readdir(path.dirname(file))).toEqual(['history.jsonl']);
  });
});

describe('hotpull log and /status across restarts (real daemon)', () => {
  it('lists deploys of earlier runs, newest first; a torn last line after kill -9 is skipped', async () => {
    sb = await makeSandbox();
    const first = await headOf(sb.checkout);
    const listen = await freePort();
    const args = ['run', '--repo', sb.checkout, '--listen', String(listen)];
    let daemon = startHotpull([...args, '--interval', '200ms']);
    await waitForRecord(daemon, 'the first pass', (r) => String(r.msg).startsWith('hotpull following'));
    const second = await commitAndPush(sb, { 'README.md': 'two\n' });
    await waitForRecord(
      daemon,
      'the first deploy',
      (r) => r.new === second && String(r.msg).startsWith('deployed'),
      30_000,
    );
    await stop(daemon, 'SIGKILL');
    // what a kill -9 in the middle of the next append would leave
    await fs.appendFile(
      path.join(sb.checkout, '.git', 'hotpull', 'history.jsonl'),
      '{"at":"2026-11-30T12:00:00.000Z","trig',
    );

    // the second run deploys on a webhook only: its delivery id is recorded
    daemon = startHotpull([...args, '--interval', '1h'], { env: { HOTPULL_WEBHOOK_SECRET: 'hook-secret' } });
    await waitForRecord(daemon, 'the restart', (r) => String(r.msg).startsWith('hotpull following'));
    // the pass at start is over before the push, so the deploy is the webhook's
    await waitFor('the pass at start', async () =>
      /hotpull_syncs_total\{trigger="start",result="up-to-date"\} 1/.test(
        await (await fetch(`http://127.0.0.1:${listen}/metrics`)).text(),
      ),
    );
    const third = await commitAndPush(sb, { 'README.md': 'three\n' });
    const body = JSON.stringify({ ref: 'refs/heads/main', after: third });
    const signature = `sha256=${createHmac('sha256', 'hook-secret').update(body).digest('hex')}`;
    const hook = await fetch(`http://127.0.0.1:${listen}/webhook`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
        'x-hub-signature-256': signature,
      },
      body,
    });
    expect(hook.status).toBe(202);
    await waitForRecord(
      daemon,
      'the second deploy',
      (r) => r.new === third && String(r.msg).startsWith('deployed'),
      30_000,
    );
    const status = (await (await fetch(`http://127.0.0.1:${listen}/status`)).json()) as {
      deploys: Array<{ from: string; to: string; at: string }>;
    };
    expect(status.deploys.map((d) => [d.from, d.to])).toEqual([
      [second, third],
      [first, second],
    ]);
    await stop(daemon);

    // no daemon needed to read it
    const log = await runHotpull(['log', '--repo', sb.checkout]);
    expect(log.code).toBe(0);
    const lines = log.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z  ${second.slice(0, 7)} → ${third.slice(0, 7)}  reloaded +\\d+ms  webhook  detect \\d+ms, fetch`,
      ),
    );
    expect(lines[0]).toMatch(/ms {2}by delivery 72d3162e-cc78-11e3-81ab-4c9367dc0958$/);
    expect(lines[1]).toContain(`${first.slice(0, 7)} → ${second.slice(0, 7)}  reloaded`);
    const json = await runHotpull(['log', '--repo', sb.checkout, '--json']);
    const entries = JSON.parse(json.stdout) as HistoryEntry[];
    expect(entries.map((e) => e.to)).toEqual([third, second]);
    expect(entries[0]).toMatchObject({
      from: second,
      trigger: 'webhook',
      by: 'delivery 72d3162e-cc78-11e3-81ab-4c9367dc0958',
      result: 'reloaded',
    });
    // a poll's, or the start pass's when the push landed before the daemon's first pass
    expect(entries[1]).toMatchObject({ from: first, result: 'reloaded' });
    expect(['poll', 'start']).toContain(entries[1]!.trigger);
    expect(entries[1]!.by).toBeUndefined();
    expect(Date.parse(entries[0]!.at)).toBeGreaterThan(Date.parse(entries[1]!.at));
  }, 120_000);

  it('hotpull log on a directory that is not a checkout: one line, exit 2', async () => {
    dir = await tmpDir();
    const log = await runHotpull(['log', '--repo', dir]);
    expect(log.code).toBe(2);
    expect(log.stderr).toBe(`hotpull: --repo must be a git checkout (got ${JSON.stringify(dir)})\n`);
  }, 30_000);
});
