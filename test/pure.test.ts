import { describe, expect, it } from 'vitest';
import { durationProblem, formatDuration, MAX_DURATION_MS, parseDuration } from '../src/duration.js';
import { redact } from '../src/redact.js';
import { planApply, relationOf } from '../src/sync/pass/policy.js';
import { backupStamp } from '../src/sync/layout/in-place.js';
import { missedWebhook, nextDelay, pollEvery, pollTimeoutMs } from '../src/sync/schedule.js';
import { describePolling } from '../src/http/status-text.js';
import { nextMtimeSeconds } from '../src/reload/touch.js';
import { gist } from '../src/git/repo.js';
import { envName, flagName } from '../src/config/names.js';
import { parseJournal } from '../src/sync/journal.js';
import { useColor } from '../src/log.js';

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['2s', 2000],
    ['1m', 60_000],
    ['1.5s', 1500],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1h5m', 3_900_000],
    ['2s500ms', 2500],
    ['1h1m1s1ms', 3_661_001],
    ['1.5m30s', 120_000],
  ])('%s = %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', '5', 'fast', '2 s', '-1s', '1d', 's', '1m 30s', '30s1m', '1m1m', '1ms1s', '1m30', 'm30s'])(
    'rejects %j',
    (text) => expect(parseDuration(text)).toBeUndefined(),
  );
  it.each([
    ['2s', 100, undefined],
    ['24h', 100, undefined],
    ['24h1ms', 100, 'at most 24h'],
    ['1000h', 0, 'at most 24h'],
    ['-1s', 100, 'a positive duration like 2s'],
    ['-1m30s', 0, 'a positive duration like 2s'],
    ['-', 0, 'RULE'],
    ['50ms', 100, 'RULE'],
    ['soon', 0, 'RULE'],
  ])('durationProblem(%j, min %d) = %j', (text, min, problem) =>
    expect(durationProblem(text, 'RULE', min)).toBe(problem),
  );
  it('the cap fits a Node timer', () => expect(MAX_DURATION_MS * 1.1).toBeLessThan(2 ** 31 - 1));
  it('formats', () =>
    expect([formatDuration(850), formatDuration(2000), formatDuration(90_000)]).toEqual(['850ms', '2s', '1.5m']));
});

describe('redact', () => {
  it('hides passwords and bare tokens in URLs, keeps the rest', () => {
    expect(redact('fatal: unable to access http://deploy:s3cret@127.0.0.1:8080/r.git/: 401')).toBe(
      'fatal: unable to access http://deploy:***@127.0.0.1:8080/r.git/: 401',
    );
    expect(redact('https://ghp_abcdef@github.com/o/r.git')).toBe('https://***@github.com/o/r.git');
    expect(redact('"remote":"https://x-access-token:tok@github.com/o/r"')).toBe(
      '"remote":"https://x-access-token:***@github.com/o/r"',
    );
    expect(redact('git@github.com:o/r.git and /srv/app')).toBe('git@github.com:o/r.git and /srv/app');
  });
});

describe('plan', () => {
  const base = { modified: [] as string[], onDiverged: 'stop' as const, onDirty: 'stop' as const };
  it('relation', () => {
    expect(relationOf('a', 'a', 'a')).toBe('same');
    expect(relationOf('a', 'b', 'a')).toBe('behind');
    expect(relationOf('a', 'b', 'b')).toBe('ahead');
    expect(relationOf('a', 'b', 'c')).toBe('diverged');
    expect(relationOf('a', 'b', undefined)).toBe('diverged');
  });
  it('fast-forwards a clean checkout that is behind', () => {
    expect(planApply({ ...base, relation: 'behind' })).toEqual({
      kind: 'apply',
      mode: 'ff',
      backupHead: false,
      backupWorktree: false,
      moveAside: [],
    });
  });
  it('blocks on divergence and on local commits unless told to reset', () => {
    expect(planApply({ ...base, relation: 'diverged' })).toMatchObject({ kind: 'blocked', state: 'diverged' });
    expect(planApply({ ...base, relation: 'ahead' })).toMatchObject({
      kind: 'blocked',
      state: 'diverged',
      reason: expect.stringContaining('commits the remote branch does not have'),
    });
    expect(planApply({ ...base, relation: 'diverged', onDiverged: 'reset' })).toEqual({
      kind: 'apply',
      mode: 'reset',
      backupHead: true,
      backupWorktree: false,
      moveAside: [],
    });
  });
  it('blocks on modified tracked files, listing a few', () => {
    const plan = planApply({ ...base, relation: 'behind', modified: ['a.py', 'b.py', 'c.py', 'd.py', 'e.py'] });
    expect(plan).toMatchObject({
      kind: 'blocked',
      state: 'dirty',
      reason: expect.stringContaining('a.py, b.py, c.py and 2 more'),
    });
    expect(planApply({ ...base, relation: 'behind', modified: ['a.py'], onDirty: 'reset' })).toEqual({
      kind: 'apply',
      mode: 'reset',
      backupHead: false,
      backupWorktree: true,
      moveAside: [],
    });
  });
  it('backup stamps are ref-safe', () =>
    expect(backupStamp(Date.UTC(2026, 10, 26, 20, 30, 15, 123))).toBe('20261126T203015Z'));
});

describe('schedule', () => {
  const d = (failures: number, random = 0.5) => nextDelay({ intervalMs: 1000, failures, backoffMaxMs: 8000, random });
  it('keeps the interval when healthy, jitter within ±10%', () => {
    expect(d(0)).toBe(1000);
    expect(d(0, 0)).toBe(900);
    expect(d(0, 0.9999)).toBe(1100);
  });
  it('doubles per failure up to the cap', () =>
    expect([1, 2, 3, 4, 10, 100].map((f) => d(f))).toEqual([2000, 4000, 8000, 8000, 8000, 8000]));
});

describe('polite polling', () => {
  it('polls at --safety-poll once webhooks arrive, never faster than --interval', () => {
    const every = (webhooksArrive: boolean, intervalMs = 5000, safetyPollMs?: number) =>
      pollEvery({ intervalMs, safetyPollMs, webhooksArrive });
    expect([
      every(false, 5000, 300_000),
      every(true, 5000, 300_000),
      every(true, 600_000, 300_000),
      every(true),
    ]).toEqual([5000, 300_000, 600_000, 5000]);
  });
  it('a webhook is missed when a timer poll finds a new head and none arrived meanwhile', () => {
    const base = { trigger: 'poll', remoteBefore: 'a', remoteAfter: 'b', webhookDuringPass: false };
    expect(missedWebhook(base)).toBe(true);
    expect(missedWebhook({ ...base, webhookDuringPass: true })).toBe(false);
    expect(missedWebhook({ ...base, trigger: 'webhook' })).toBe(false);
    expect(missedWebhook({ ...base, remoteAfter: 'a' })).toBe(false);
    expect(missedWebhook({ ...base, remoteBefore: undefined })).toBe(false);
  });
  it('says the pace and the next poll in words', () => {
    const now = Date.parse('2026-12-07T20:00:00Z');
    const at = (ms: number) => new Date(now + ms).toISOString();
    expect(describePolling({ mode: 'interval', everyMs: 5000, failures: 0, nextAt: at(4200), waitMs: 4600 }, now)).toBe(
      'every 5s; next in 4.2s',
    );
    expect(describePolling({ mode: 'safety-poll', everyMs: 300_000, failures: 0, nextAt: at(60_000) }, now)).toBe(
      'every 5m (webhooks arrive: --safety-poll); next in 1m',
    );
    expect(describePolling({ mode: 'backoff', everyMs: 5000, failures: 1, nextAt: at(9000) }, now)).toBe(
      'backing off after 1 failure in a row: retry in 9s',
    );
    expect(describePolling({ mode: 'backoff', everyMs: 5000, failures: 3 }, now)).toBe(
      'backing off after 3 failures in a row: a pass is running',
    );
  });
});

describe('touch mtime', () => {
  it('moves at least one whole second past the previous mtime', () => {
    expect(nextMtimeSeconds(10_500, 10_700)).toBe(11);
    expect(nextMtimeSeconds(10_000, 10_100)).toBe(11);
    expect(nextMtimeSeconds(5_000, 20_250)).toBe(20.25);
    expect(nextMtimeSeconds(undefined, 20_250)).toBe(20.25);
  });
});

describe('names', () => {
  it('derives flags and env names from config keys', () => {
    expect([flagName('syncTimeout'), envName('syncTimeout'), envName('interval')]).toEqual([
      'sync-timeout',
      'HOTPULL_SYNC_TIMEOUT',
      'HOTPULL_INTERVAL',
    ]);
  });
  it('keeps the meaningful lines of git stderr', () => {
    expect(
      gist(
        "fatal: Unable to create '/x/.git/index.lock': File exists.\n\nAnother git process seems to be running\nhint: remove it",
      ),
    ).toBe("fatal: Unable to create '/x/.git/index.lock': File exists.");
  });
});

describe('journal', () => {
  const sha = 'a'.repeat(40);
  it.each([
    ['a whole entry', JSON.stringify({ from: sha, to: sha, stage: 'reload', at: 'x' }), 'reload'],
    ['a first deploy (no from)', JSON.stringify({ from: '', to: sha, stage: 'apply', at: 'x' }), 'apply'],
    ['a torn write', '{"from":"', undefined],
    ['an unknown stage', JSON.stringify({ from: sha, to: sha, stage: 'verify' }), undefined],
    ['a bad sha', JSON.stringify({ from: sha, to: 'HEAD', stage: 'reload' }), undefined],
    ['not an object', '42', undefined],
  ])('%s', (_name, text, stage) => expect(parseJournal(text)?.stage).toBe(stage));
});

describe('colour in pretty logs', () => {
  it('FORCE_COLOR wins (0 and false turn it off), then NO_COLOR (non-empty), then whether stdout is a terminal', () => {
    const cases: Array<[Record<string, string>, boolean, boolean]> = [
      [{}, true, true],
      [{}, false, false],
      [{ NO_COLOR: '1' }, true, false],
      [{ NO_COLOR: '' }, true, true],
      [{ FORCE_COLOR: '1' }, false, true],
      [{ FORCE_COLOR: '' }, false, true],
      [{ FORCE_COLOR: '3' }, false, true],
      [{ FORCE_COLOR: '0' }, true, false],
      [{ FORCE_COLOR: 'false' }, true, false],
      [{ FORCE_COLOR: '1', NO_COLOR: '1' }, false, true],
    ];
    for (const [env, tty, want] of cases) expect([env, tty, useColor(env, tty)]).toEqual([env, tty, want]);
  });
});

describe('the V8 flags of the installed entry', () => {
  it("the image's hotpull is bin/hotpull, the launcher that gives node the flags", async () => {
    const { readFile } = await import('node:fs/promises');
    const dockerfile = await readFile(new URL('../Dockerfile', import.meta.url), 'utf8');
    // a wrapper, not a link: examples/python-slim copies /usr/local/bin/hotpull into its own image
    expect(dockerfile).toContain(`printf '#!/bin/sh\\nexec /opt/hotpull/bin/hotpull "$@"\\n' >/usr/local/bin/hotpull`);
    expect(dockerfile).toContain('COPY bin/hotpull /opt/hotpull/bin/hotpull');
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
      bin: Record<string, string>;
    };
    expect(pkg.bin.hotpull).toBe('bin/hotpull');
  });

  it('the launcher starts on every Node line here (its flags by line) and says nothing on stderr', async () => {
    const { existsSync } = await import('node:fs');
    const { execa } = await import('execa');
    const path = await import('node:path');
    const nodes = [process.execPath, '/opt/hotpull-node/22/bin/node', '/opt/hotpull-node/24/bin/node'].filter((n) =>
      existsSync(n),
    );
    if (process.env.CI === 'true')
      expect(nodes.length, 'CI installs the Node 22 and 24 binaries (docker/node-binary.sh)').toBe(3);
    const launcher = new URL('../bin/hotpull', import.meta.url).pathname;
    for (const node of nodes) {
      const env = { PATH: `${path.dirname(node)}:${process.env.PATH}` };
      const result = await execa(launcher, ['--version'], { env, reject: false });
      expect([node, result.exitCode, result.stderr]).toEqual([node, 0, '']);
      expect(result.stdout).toMatch(/^\d+\.\d+\.\d+$/);
      // a command that loads node:http (an ES-module import of it would load undici, which needs WebAssembly on 22)
      const status = await execa(launcher, ['status', '--url', 'http://127.0.0.1:9'], { env, reject: false });
      expect([node, status.exitCode]).toEqual([node, 3]);
      expect(status.stderr).toMatch(
        /^hotpull: cannot reach the hotpull daemon at http:\/\/127\.0\.0\.1:9\/status: .*\n?$/,
      );
    }
  });
});

describe("a timer poll's own timeout", () => {
  it('five intervals, at least 10 s, never above --sync-timeout', () => {
    const cases: Array<[number, number, number]> = [
      [1000, 60_000, 10_000],
      [5000, 60_000, 25_000],
      [60_000, 60_000, 60_000],
      [1000, 5000, 5000],
      [30_000, 120_000, 120_000],
    ];
    for (const [interval, sync, want] of cases)
      expect([interval, sync, pollTimeoutMs(interval, sync)]).toEqual([interval, sync, want]);
  });
});
