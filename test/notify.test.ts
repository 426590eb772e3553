/**
 * Issue 14 part A: notifications. Pure tables for which engine change is worth which notification and what it
 * says; the real daemon (dist/bin.js) against a local receiver: signed `live` and `rolled-back` from real uWSGI, and
 * a receiver that is down does not hold a deploy up and gets the event once it is back.
 */
import path from 'node:path';
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { itNeeds } from './helpers/requires.js';
import { commitAndPush, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { ROOT, waitFor } from './helpers/hotpull.js';
import { startHotpull, stop, stopAll, waitForRecord } from './helpers/procs.js';
import { startReceiver, expectedSignature, type Receiver } from './helpers/receiver.js';
import { freePort, startUwsgi, type UwsgiServer } from './helpers/uwsgi.js';
import { wsgiAppSource } from './helpers/wsgi-app.js';
import {
  deriveNotices,
  INITIAL_MEMORY,
  noticeText,
  notificationBody,
  parseEventFilter,
  type Memory,
  type Notice,
} from '../src/notify/event.js';
import { targetLabel } from '../src/notify/target.js';
import { parseChannel } from '../src/notify/channel.js';
import type { EngineChange } from '../src/sync/engine.js';
import type { DeployRecord, State, Status } from '../src/sync/status.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const durations = { detect: 5, fetch: 20, apply: 10, reload: 1000, verify: 2300, total: 3335 };
const record = (result: DeployRecord['result'], extra: Partial<DeployRecord> = {}): DeployRecord => ({
  trigger: 'poll',
  from: A,
  to: B,
  result,
  stages: { detected: '2026-11-30T12:00:00.000Z' },
  durations,
  ...extra,
});

type Step = State | 'paused' | DeployRecord | { state: State; failures: number };

/** Feeds a sequence of engine changes through deriveNotices; returns the events sent. */
function eventsOf(steps: readonly Step[], failingAfter = 3): string[] {
  let memory: Memory = INITIAL_MEMORY;
  let previous = 'starting';
  const events: string[] = [];
  for (const step of steps) {
    const failures = typeof step === 'object' && 'failures' in step ? step.failures : 0;
    const status: Pick<Status, 'consecutiveFailures' | 'deployedSha' | 'remoteSha' | 'heldSha' | 'rejectedSha'> = {
      consecutiveFailures: failures,
      deployedSha: A,
      remoteSha: B,
    };
    let change: EngineChange;
    if (typeof step === 'string') change = { kind: 'state', state: step as State, previous: previous as State };
    else if ('failures' in step) change = { kind: 'state', state: step.state, previous: previous as State };
    else change = { kind: 'deploy', record: step };
    if (change.kind === 'state') previous = change.state;
    const derived = deriveNotices(change, status, memory, failingAfter);
    memory = derived.memory;
    events.push(...derived.notices.map((n) => n.event));
  }
  return events;
}

const failing = (failures: number) => ({ state: 'failing' as const, failures });

describe('which engine changes are notified (pure)', () => {
  it.each<[string, Step[], string[]]>([
    ['a verified deploy', ['idle', 'syncing', 'reloading', 'verifying', record('live'), 'idle'], ['live']],
    [
      'a deploy without health check (reloaded)',
      ['idle', 'syncing', 'reloading', record('reloaded'), 'idle'],
      ['live'],
    ],
    // the engine rejects the bad revision before it writes the rolled-back record: one notice, not two
    [
      'a rollback',
      [
        'idle',
        'syncing',
        'reloading',
        'verifying',
        'rejected',
        'verifying',
        record('rolled-back'),
        'verifying',
        'rejected',
      ],
      ['rolled-back'],
    ],
    // since issue 25 the state stays verifying until the good revision is verified again
    [
      'a rollback, rejected only once verified',
      ['idle', 'syncing', 'reloading', 'verifying', 'verifying', record('rolled-back'), 'verifying', 'rejected'],
      ['rolled-back'],
    ],
    ['--no-rollback', ['idle', 'syncing', 'reloading', 'verifying', record('rejected'), 'rejected'], ['rejected']],
    ['a run hook that fails', ['idle', 'syncing', record('failed'), 'rejected'], ['rejected']],
    [
      'a rejected revision blocked again on later polls',
      ['idle', 'syncing', record('failed'), 'rejected', 'rejected', 'rejected'],
      ['rejected'],
    ],
    ['a revision rejected before a restart', ['rejected', 'rejected'], []],
    ['a hold', ['idle', 'syncing', 'held', 'held'], ['held']],
    [
      'a diverged remote, then a dirty tree',
      ['idle', 'syncing', 'diverged', 'diverged', 'idle', 'dirty', 'dirty'],
      ['blocked', 'blocked'],
    ],
    [
      'failing: once after N in a row, then recovered',
      [failing(1), failing(2), failing(3), failing(4), 'idle', failing(1)],
      ['failing', 'recovered'],
    ],
    ['a reload that fails, N times', ['reloading', record('failed'), failing(1), failing(2), failing(3)], ['failing']],
    [
      'a pass that starts after failing is not a recovery yet',
      [failing(3), 'syncing', failing(4), 'syncing', 'reloading', record('live'), 'idle'],
      ['failing', 'live', 'recovered'],
    ],
    [
      'a blocked verdict after failing is a recovery of the pass',
      [failing(3), 'diverged'],
      ['failing', 'recovered', 'blocked'],
    ],
    ['fewer failures than N', [failing(1), failing(2), 'idle'], []],
    ['pause and resume', ['idle', 'paused', 'paused', 'idle'], ['paused', 'resumed']],
  ])('%s', (_name, steps, expected) => {
    expect(eventsOf(steps)).toEqual(expected);
  });

  it('N = 1 sends failing on the first failure', () => {
    expect(eventsOf([failing(1), failing(2), 'idle'], 1)).toEqual(['failing', 'recovered']);
  });

  it('the rejected notice of a failed hook carries its record', () => {
    const failed = record('failed', { error: 'run hook failed for bbbbbbbbbbbb' });
    let derived = deriveNotices({ kind: 'deploy', record: failed }, { consecutiveFailures: 0 }, INITIAL_MEMORY, 3);
    expect(derived.notices).toEqual([]);
    derived = deriveNotices(
      { kind: 'state', state: 'rejected', previous: 'syncing', reason: 'run hook failed' },
      { consecutiveFailures: 0, deployedSha: A },
      derived.memory,
      3,
    );
    expect(derived.notices).toEqual([
      { event: 'rejected', state: 'rejected', reason: 'run hook failed', old: A, new: B, record: failed },
    ]);
  });
});

describe('what a notification says (pure)', () => {
  const origin = {
    repo: 'https://git.example/acme/app.git',
    branch: 'main',
    dir: '/srv/app',
    hostname: 'web-1',
    version: '1.2.3',
  };
  const live: Notice = { event: 'live', state: 'verifying', record: record('live'), old: A, new: B };

  it('a live deploy: fields and the text line, word for word', () => {
    const body = notificationBody(live, origin, 'Fix login', new Date('2026-11-30T12:00:03.335Z'));
    expect(body).toEqual({
      event: 'live',
      repo: origin.repo,
      branch: 'main',
      dir: '/srv/app',
      old: A,
      new: B,
      subject: 'Fix login',
      state: 'verifying',
      reason: null,
      result: 'live',
      trigger: 'poll',
      by: null,
      durations,
      rolledBackTo: null,
      commitUrl: null,
      impact: null,
      suppressed: 0,
      hostname: 'web-1',
      version: '1.2.3',
      at: '2026-11-30T12:00:03.335Z',
      text: 'hotpull on web-1: https://git.example/acme/app.git main live: aaaaaaaa → bbbbbbbb "Fix login" (3.3 s)',
    });
  });

  it.each<[Notice, string]>([
    [
      {
        event: 'rolled-back',
        state: 'verifying',
        record: record('rolled-back', { rolledBackTo: A }),
        new: B,
        reason: 'answered 500',
      },
      'rolled back: bbbbbbbb "S" failed verification, aaaaaaaa serves again: answered 500',
    ],
    [
      { event: 'rejected', state: 'rejected', new: B, reason: 'run hook failed' },
      'rejected bbbbbbbb "S", not retried until the branch moves: run hook failed',
    ],
    [{ event: 'held', state: 'held', new: C, reason: 'Dockerfile changed' }, 'held cccccccc "S": Dockerfile changed'],
    [
      { event: 'blocked', state: 'diverged', new: C, reason: 'the remote was force-pushed' },
      'blocked (diverged) at cccccccc "S": the remote was force-pushed',
    ],
    [
      { event: 'failing', state: 'failing', old: A, reason: 'ls-remote timed out' },
      'failing, aaaaaaaa keeps serving: ls-remote timed out',
    ],
    [{ event: 'recovered', state: 'idle', new: A }, 'recovered, serving aaaaaaaa'],
    [{ event: 'paused', state: 'paused', reason: 'incident 42' }, 'paused: incident 42'],
    [{ event: 'resumed', state: 'idle' }, 'resumed'],
  ])('$event', (notice, text) => {
    expect(noticeText(notice, origin, notice.new ? 'S' : undefined)).toBe(
      `hotpull on web-1: https://git.example/acme/app.git main ${text}`,
    );
  });

  it('--notify-events: comma-separated or repeated; an unknown name is named', () => {
    expect(parseEventFilter([])).toEqual({
      events: new Set([
        'live',
        'rolled-back',
        'rejected',
        'held',
        'blocked',
        'failing',
        'recovered',
        'paused',
        'resumed',
      ]),
    });
    expect(parseEventFilter(['live, rolled-back', 'failing'])).toEqual({
      events: new Set(['live', 'rolled-back', 'failing']),
    });
    expect(parseEventFilter(['live,deployed'])).toEqual({ bad: 'deployed' });
  });

  it('a target is shown as scheme, host and port: no userinfo, path token or query', () => {
    expect(targetLabel('https://hooks.slack.com/services/T000/B000/XXXXSECRET')).toBe('https://hooks.slack.com');
    expect(targetLabel('https://user:p%40ss%2Fw0rd@chat.example:8443/hooks/abc?token=t0k')).toBe(
      'https://chat.example:8443',
    );
    expect(parseChannel('https://user:p@ss/w0rd@chat.example/x')).toEqual({
      problem: 'an @ after the host is ambiguous (in a password write @ as %40 and / as %2F)',
    });
    expect(targetLabel('http://127.0.0.1:9999?token=t0k')).toBe('http://127.0.0.1:9999');
    expect(parseChannel('ftp://example.com/x')).toMatchObject({
      problem: expect.stringMatching(/^the scheme is ftp /),
    });
    expect(parseChannel('https://hooks.slack.com/services/T/B/X')).toMatchObject({ channels: [{ format: 'json' }] });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The real daemon

const SECRET = 'n0tify-s3cret';
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
let sb: Sandbox | undefined;
let app: UwsgiServer | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  await stopAll();
  await app?.stop();
  await receiver?.close();
  await sb?.cleanup();
  sb = app = receiver = undefined;
});

const itUwsgi = itNeeds('uwsgi');

describe('the daemon notifies', () => {
  itUwsgi(
    'a local receiver gets a signed live and a signed rolled-back; the tokens in its URL reach no log',
    async () => {
      sb = await makeSandbox({
        files: { 'app.py': wsgiAppSource('v1', { reportSha: true }), 'uwsgi.ini': '[uwsgi]\n' },
      });
      app = await startUwsgi({ dir: sb.checkout, touchReload: path.join(sb.checkout, 'uwsgi.ini') });
      receiver = await startReceiver();
      const target = `http://hook-user:pw-S3CRET@127.0.0.1:${receiver.port}/hooks/T000/B000/PATH-S3CRET?token=QUERY-S3CRET`;
      const first = await headOf(sb.checkout);
      const daemon = startHotpull(
        [
          'run',
          '--repo',
          sb.checkout,
          '--interval',
          '300ms',
          '--health-url',
          `${app.url}/health`,
          '--health-expect',
          '{sha}',
          '--health-timeout',
          '8s',
        ],
        { env: { HOTPULL_NOTIFY: JSON.stringify([target]), HOTPULL_NOTIFY_SECRET: SECRET } },
      );
      await waitForRecord(daemon, 'the first pass', (r) => String(r.msg).startsWith('hotpull following'));

      const good = await commitAndPush(sb, { 'app.py': wsgiAppSource('v2', { reportSha: true }) }, 'Ship v2');
      await waitFor('the live notification', () => receiver!.events().includes('live'), 60_000);
      const bad = await commitAndPush(
        sb,
        { 'app.py': wsgiAppSource('v3', { crashOnImport: true, reportSha: true }) },
        'Break at import',
      );
      await waitFor('the rolled-back notification', () => receiver!.events().includes('rolled-back'), 90_000).catch(
        (e) => {
          console.log(daemon.stdout().slice(-6000), receiver!.events());
          throw e;
        },
      );
      await waitForRecord(daemon, 'the rollback done', (r) => / serves again$/.test(String(r.msg)), 30_000);
      await stop(daemon);

      // exactly these two: the rejection that comes with the rollback is not told twice
      expect(receiver.events()).toEqual(['live', 'rolled-back']);
      const [live, rolledBack] = receiver.received;
      for (const delivery of [live!, rolledBack!]) {
        expect(delivery.headers['x-hotpull-signature-256']).toBe(expectedSignature(SECRET, delivery.raw));
        expect(delivery.headers['x-hotpull-delivery']).toMatch(/^[0-9a-f-]{36}$/);
        expect(Number(delivery.headers['x-hotpull-timestamp'])).toBeGreaterThan(1_700_000_000);
        expect(delivery.headers['x-hotpull-event']).toBe(delivery.body.event);
        expect(delivery.headers['content-type']).toBe('application/json');
        expect(delivery.headers.authorization).toBe(`Basic ${Buffer.from('hook-user:pw-S3CRET').toString('base64')}`);
        expect(delivery.path).toBe('/hooks/T000/B000/PATH-S3CRET?token=QUERY-S3CRET');
        expect(delivery.body).toMatchObject({
          branch: 'main',
          hostname: hostname(),
          version: VERSION,
          dir: sb.checkout,
        });
      }
      expect(live!.body).toMatchObject({
        event: 'live',
        old: first,
        new: good,
        subject: 'Ship v2',
        result: 'live',
        state: 'verifying',
      });
      expect(live!.body.text).toBe(
        `hotpull on ${hostname()}: ${sb.bare} main live: ${first.slice(0, 8)} → ${good.slice(0, 8)} "Ship v2" (${((live!.body.durations as { total: number }).total / 1000).toFixed(1)} s)`,
      );
      expect(Object.keys(live!.body.durations as object)).toEqual([
        'detect',
        'fetch',
        'apply',
        'reload',
        'verify',
        'total',
      ]);
      expect(rolledBack!.body).toMatchObject({
        event: 'rolled-back',
        old: good,
        new: bad,
        subject: 'Break at import',
        result: 'rolled-back',
        rolledBackTo: good,
      });
      expect(String(rolledBack!.body.reason)).toMatch(/answered 500/);
      // a tampered body does not verify
      expect(expectedSignature(SECRET, Buffer.from(live!.raw.toString().replace('Ship v2', 'Ship v9')))).not.toBe(
        live!.headers['x-hotpull-signature-256'],
      );

      const output = daemon.stdout() + daemon.stderr();
      expect(output).toContain(`notifying http://127.0.0.1:${receiver.port} (signed)`);
      for (const secret of ['pw-S3CRET', 'PATH-S3CRET', 'QUERY-S3CRET', SECRET]) expect(output).not.toContain(secret);
    },
    180_000,
  );

  it('a receiver that is down does not hold the deploy up, gets the event once it is back, and its outage is logged once', async () => {
    sb = await makeSandbox();
    const port = await freePort();
    const listen = await freePort();
    const daemon = startHotpull([
      'run',
      '--repo',
      sb.checkout,
      '--interval',
      '200ms',
      '--listen',
      String(listen),
      '--notify',
      `http://127.0.0.1:${port}/hook`,
    ]);
    await waitForRecord(daemon, 'the first pass', (r) => String(r.msg).startsWith('hotpull following'));
    const sha = await commitAndPush(sb, { 'README.md': 'v2\n' }, 'Second');
    // deployed while nothing listens on the receiver's port
    await waitForRecord(daemon, 'the deploy', (r) => r.new === sha && String(r.msg).startsWith('deployed'), 30_000);
    await waitForRecord(daemon, 'the failed delivery', (r) => String(r.msg).includes('live not delivered'), 30_000);
    // a second push while the receiver is still down: queued behind the first, in order
    const third = await commitAndPush(sb, { 'README.md': 'v3\n' }, 'Third');
    await waitForRecord(
      daemon,
      'the second deploy',
      (r) => r.new === third && String(r.msg).startsWith('deployed'),
      30_000,
    );
    expect(await headOf(sb.checkout)).toBe(third);

    receiver = await startReceiver(port);
    await waitFor('both notifications delivered', () => receiver!.events().length >= 2, 90_000);
    expect(receiver.events()).toEqual(['live', 'live']);
    expect(receiver.received.map((r) => [r.body.new, r.body.subject])).toEqual([
      [sha, 'Second'],
      [third, 'Third'],
    ]);
    expect(receiver.received[0]!.headers['x-hotpull-signature-256']).toBeUndefined();
    await waitForRecord(daemon, 'the recovery line', (r) => String(r.msg).includes('delivering again after'), 10_000);
    const metrics = await (await fetch(`http://127.0.0.1:${listen}/metrics`)).text();
    await stop(daemon);

    const warnings = daemon.records().filter((r) => String(r.msg).includes('not delivered'));
    expect(warnings).toHaveLength(1);
    expect(metrics).toContain('hotpull_notifications_total{result="delivered"} 2');
    expect(Number(/hotpull_notifications_total\{result="failed"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(metrics).toContain('hotpull_notifications_waiting 0');
  }, 150_000);

  it('bad --notify and --notify-events values are refused with one line, exit 2', async () => {
    const { runHotpull } = await import('./helpers/procs.js');
    sb = await makeSandbox();
    const bad = await runHotpull(['run', '--repo', sb.checkout, '--notify', 'ftp://files.example/T0/SECRETPATH']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      'hotpull: --notify must be a notification URL (got "ftp://files.example": the scheme is ftp (schemes: http(s)://, slack://, discord://, teams://, ntfy://, telegram://, gotify://))\n',
    );
    const events = await runHotpull([
      'run',
      '--repo',
      sb.checkout,
      '--notify',
      'http://127.0.0.1:9/x',
      '--notify-events',
      'live,deployed',
    ]);
    expect(events.code).toBe(2);
    expect(events.stderr).toBe(
      'hotpull: --notify-events must list events among live, rolled-back, rejected, held, blocked, failing, recovered, paused, resumed (got "deployed")\n',
    );
    // a password on the command line is refused, as for the remote
    const argv = await runHotpull(['run', '--repo', sb.checkout, '--notify', 'http://hook:pw-S3CRET@127.0.0.1:9/x']);
    expect(argv.code).toBe(2);
    expect(argv.stderr).toBe(
      'hotpull: --notify must not carry a password or token on the command line, where ps shows it to every user (got "http://***@127.0.0.1:9/x"): give the URL in HOTPULL_NOTIFY instead\n',
    );
    // a chat URL always holds a token (a webhook, bot or app token, an ntfy topic): never on the command line
    const chat = await runHotpull(['run', '--repo', sb.checkout, '--notify', 'slack://T0/B0/PATH-S3CRET']);
    expect(chat.code).toBe(2);
    expect(chat.stderr).toBe(
      'hotpull: --notify must not carry a password or token on the command line, where ps shows it to every user (got "slack://…"): give the URL in HOTPULL_NOTIFY instead\n',
    );
    // supervisor-config names HOTPULL_NOTIFY and never prints it: a Slack URL's token is in its path
    const block = await runHotpull(['supervisor-config', '--repo', sb.checkout], {
      env: { HOTPULL_NOTIFY: 'https://hooks.slack.com/services/T0/B0/PATH-S3CRET' },
    });
    expect(block.code).toBe(0);
    expect(block.stdout).toContain('left out on purpose: HOTPULL_NOTIFY.');
    expect(block.stdout).not.toContain('PATH-S3CRET');
  }, 60_000);
});
