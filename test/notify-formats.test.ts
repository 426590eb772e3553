/**
 * Issue 30 item 1: notifications in the formats chat tools take. Pure tables for the URL schemes (shoutrrr's shapes),
 * the commit link, --notify-dedupe and Retry-After; every format's body checked against its service's documented
 * schema (test/helpers/chat-schemas.ts cites the pages); the real daemon (dist/bin.js) sending all six to a local
 * receiver through `?host=` / the URL's own host; a 429 with Retry-After and the dedupe window with the real
 * notifier and a real receiver.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, makeSandbox, type Sandbox } from './helpers/git.js';
import { logSink, waitFor } from './helpers/hotpull.js';
import { startHotpull, stop, stopAll, waitForRecord } from './helpers/procs.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';
import {
  discordProblems,
  gotifyProblems,
  ntfyProblems,
  slackProblems,
  teamsProblems,
  telegramProblems,
} from './helpers/chat-schemas.js';
import { parseChannel, type Channel } from '../src/notify/channel.js';
import { commitUrl } from '../src/notify/forge.js';
import { dedupe, INITIAL_DEDUPE, type DedupeState } from '../src/notify/dedupe.js';
import { retryAfterMs, retryDelay } from '../src/notify/retry.js';
import { notificationBody, type Notice, type NotificationBody } from '../src/notify/event.js';
import { Notifier } from '../src/notify/deliver.js';
import { startNotifications } from '../src/notify/setup.js';
import { createLogger } from '../src/log.js';
import type { DeployRecord } from '../src/sync/status.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const durations = { detect: 5, fetch: 20, apply: 10, reload: 1000, verify: 2300, total: 3335 };
const record: DeployRecord = {
  trigger: 'webhook',
  from: A,
  to: B,
  result: 'live',
  stages: { detected: '2026-12-07T12:00:00.000Z' },
  durations,
};
const origin = {
  repo: 'git@github.com:acme/app.git',
  branch: 'main',
  dir: '/srv/app',
  hostname: 'web-1',
  version: '1.2.3',
};
const at = new Date('2026-12-07T12:00:03.335Z');

const bodyOf = (notice: Notice, subject = 'Fix login', repo = origin.repo): NotificationBody =>
  notificationBody(notice, { ...origin, repo }, subject, at);

function channelsOf(url: string): Channel[] {
  const parsed = parseChannel(url);
  if ('problem' in parsed) throw new Error(parsed.problem);
  return parsed.channels;
}

const SCHEMAS: Record<string, (body: unknown) => string[]> = {
  slack: slackProblems,
  discord: discordProblems,
  teams: teamsProblems,
  ntfy: ntfyProblems,
  telegram: telegramProblems,
  gotify: gotifyProblems,
};

describe('a --notify URL is read into where it sends (pure)', () => {
  it.each<[string, string, string, Record<string, string>?]>([
    ['slack://hook:T0-B0-XXXX@webhook', 'https://hooks.slack.com/services/T0/B0/XXXX', 'slack://hooks.slack.com'],
    ['slack://T0/B0/XXXX', 'https://hooks.slack.com/services/T0/B0/XXXX', 'slack://hooks.slack.com'],
    ['discord://TOKEN@123456', 'https://discord.com/api/webhooks/123456/TOKEN', 'discord://discord.com'],
    [
      'teams://prod-1.westeurope.logic.azure.com:443/workflows/ab/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SIG',
      'https://prod-1.westeurope.logic.azure.com/workflows/ab/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SIG',
      'teams://prod-1.westeurope.logic.azure.com',
    ],
    ['ntfy://ntfy.sh/deploys', 'https://ntfy.sh/', 'ntfy://ntfy.sh'],
    [
      'ntfy://:tk_abc@ntfy.example:8080/deploys?scheme=http',
      'http://ntfy.example:8080/',
      'ntfy://ntfy.example:8080',
      { authorization: 'Bearer tk_abc' },
    ],
    [
      'telegram://123:ABC@telegram?chats=@ops_room',
      'https://api.telegram.org/bot123:ABC/sendMessage',
      'telegram://api.telegram.org',
    ],
    [
      'gotify://push.example/sub/APPTOKEN',
      'https://push.example/sub/message',
      'gotify://push.example',
      { 'x-gotify-key': 'APPTOKEN' },
    ],
    [
      'gotify://127.0.0.1:8080/APPTOKEN?disabletls=yes',
      'http://127.0.0.1:8080/message',
      'gotify://127.0.0.1:8080',
      { 'x-gotify-key': 'APPTOKEN' },
    ],
    // a fixed-host service sent elsewhere: a self-hosted Telegram Bot API server, a relay, a test receiver
    [
      'discord://TOKEN@123456?host=127.0.0.1:9&scheme=http',
      'http://127.0.0.1:9/api/webhooks/123456/TOKEN',
      'discord://127.0.0.1:9',
    ],
    ['https://u:p@hooks.example/x?token=t', 'https://hooks.example/x?token=t', 'https://hooks.example'],
  ])('%s', (url, endpoint, label, headers = {}) => {
    const [channel] = channelsOf(url);
    const out = channel!.render(bodyOf({ event: 'live', state: 'verifying', record, old: A, new: B }));
    expect(out.url).toBe(endpoint);
    expect(channel!.label).toBe(label);
    expect(out.headers).toMatchObject(headers);
  });

  it('telegram:// with two chats is two targets; ntfy:// user:password is basic auth', () => {
    const chats = channelsOf('telegram://123:ABC@telegram?chats=@ops_room,-100123');
    const body = bodyOf({ event: 'resumed', state: 'idle' });
    expect(chats.map((c) => JSON.parse(c.render(body).body).chat_id)).toEqual(['@ops_room', -100123]);
    expect(channelsOf('ntfy://alice:pw@ntfy.example/t')[0]!.render(body).auth).toBe('alice:pw');
  });

  it.each([
    [
      'ftp://files.example/x',
      'the scheme is ftp (schemes: http(s)://, slack://, discord://, teams://, ntfy://, telegram://, gotify://)',
    ],
    [
      'slack://xoxb:TOKEN@C0123',
      'only incoming webhooks are supported: slack://hook:T…-B…-X…@webhook (the token is not a hook: token)',
    ],
    ['slack://T0/B0', 'a Slack webhook is slack://hook:T…-B…-X…@webhook or slack://T…/B…/X… (three token parts)'],
    [
      'discord://123456',
      'a Discord webhook is discord://TOKEN@WEBHOOK_ID (from https://discord.com/api/webhooks/WEBHOOK_ID/TOKEN)',
    ],
    ['telegram://123:ABC@telegram', 'telegram:// needs chats=CHAT[,CHAT] (chat ids or @channel names)'],
    ['telegram://123:ABC@telegram?chats=ops', 'a Telegram chat is a chat id or @channelname (got "ops")'],
    ['gotify://push.example', 'a Gotify target is gotify://HOST[:PORT][/PATH]/APP_TOKEN'],
    ['ntfy://ntfy.sh', 'an ntfy target is ntfy://[USER:PASSWORD@]HOST[:PORT]/TOPIC (one topic)'],
    ['discord://T@1?color=red', 'discord:// takes no color= (it takes scheme=, host=)'],
    ['discord://T@1?scheme=ftp', 'scheme= takes http or https (got "ftp")'],
    [
      'teams://group@tenant/altid/owner?host=x.webhook.office.com',
      "teams:// is a Workflows webhook URL with https:// written as teams:// (shoutrrr's teams://GROUP@TENANT/… is an Office 365 connector, which Microsoft retired)",
    ],
  ])('%s is refused: %s', (url, problem) => {
    expect(parseChannel(url)).toEqual({ problem });
  });
});

describe('the commit link (pure)', () => {
  it.each([
    ['git@github.com:acme/app.git', `https://github.com/acme/app/commit/${B}`],
    ['https://x-access-token:TOKEN@github.com/acme/app.git', `https://github.com/acme/app/commit/${B}`],
    ['ssh://git@gitlab.com/group/sub/app.git', `https://gitlab.com/group/sub/app/-/commit/${B}`],
    ['https://bitbucket.org/acme/app', `https://bitbucket.org/acme/app/commits/${B}`],
    ['git@codeberg.org:acme/app.git', `https://codeberg.org/acme/app/commit/${B}`],
    ['https://git.example/acme/app.git', undefined],
    ['/srv/git/app.git', undefined],
  ])('%s', (remote, link) => {
    expect(commitUrl(remote, B)).toBe(link);
  });
});

describe('what each format says (pure), checked against its documented schema', () => {
  const link = `https://github.com/acme/app/commit/${B}`;
  const impact = {
    summary: '3 failed of 1,200 requests, listen queue peak 2',
    ms: 2000,
    requests: 1200,
    failed: 3,
    queuePeak: 2,
  };
  const notices: Notice[] = [
    { event: 'live', state: 'verifying', record: { ...record, impact }, old: A, new: B },
    {
      event: 'rolled-back',
      state: 'verifying',
      record: { ...record, result: 'rolled-back', rolledBackTo: A },
      old: A,
      new: B,
      reason: 'answered 500',
    },
    { event: 'failing', state: 'failing', old: A, reason: 'ls-remote: <timeout> & retry', suppressed: 4 },
    { event: 'blocked', state: 'diverged', new: B, reason: 'the remote was force-pushed' },
    { event: 'paused', state: 'paused', reason: 'incident 42' },
  ];
  const urls = {
    slack: 'slack://hook:T0-B0-X@webhook',
    discord: 'discord://T@1',
    teams: 'teams://h.example/w?sig=S',
    ntfy: 'ntfy://ntfy.sh/deploys',
    telegram: 'telegram://1:A@telegram?chats=@ops_room',
    gotify: 'gotify://push.example/T',
  };

  it.each(Object.entries(urls))('%s: every event, a nasty subject and a 10,000-character reason', (format, url) => {
    const [channel] = channelsOf(url);
    const nasty = 'Fix <script> & *bold* _x_ @everyone `tick` "q"';
    for (const notice of [...notices, { ...notices[2]!, reason: 'x'.repeat(10_000) }]) {
      const out = channel!.render(bodyOf(notice, nasty));
      expect(out.headers['content-type']).toBe('application/json');
      expect(SCHEMAS[format]!(JSON.parse(out.body))).toEqual([]);
    }
  });

  it('colour by event, the revision, subject, duration, impact and the commit link', () => {
    const live = bodyOf(notices[0]!);
    expect(live.commitUrl).toBe(link);
    expect(live.impact).toEqual(impact);
    const slack = JSON.parse(channelsOf(urls.slack)[0]!.render(live).body);
    expect(slack.attachments[0].color).toBe('#2eb67d');
    expect(slack.attachments[0].blocks[0].text.text).toBe('live: acme/app main on web-1');
    expect(slack.attachments[0].blocks[2].fields.map((f: { text: string }) => f.text)).toEqual([
      '*Revision*\naaaaaaaa → bbbbbbbb',
      '*Subject*\nFix login',
      '*Duration*\n3.33s',
      '*Impact*\n3 failed of 1,200 requests, listen queue peak 2',
      '*Host*\nweb-1',
    ]);
    expect(slack.attachments[0].blocks[3].elements[0].text).toBe(`<${link}|the commit>`);
    const rolledBack = bodyOf(notices[1]!);
    const discord = JSON.parse(channelsOf(urls.discord)[0]!.render(rolledBack).body);
    expect(discord.embeds[0]).toMatchObject({
      color: 0xd40e0d,
      url: link,
      title: 'rolled back: acme/app main on web-1',
    });
    expect(discord.allowed_mentions).toEqual({ parse: [] });
    const teams = JSON.parse(channelsOf(urls.teams)[0]!.render(live).body);
    expect(teams.attachments[0].content.body[0].color).toBe('Good');
    expect(teams.attachments[0].content.actions).toEqual([{ type: 'Action.OpenUrl', title: 'The commit', url: link }]);
    const ntfy = JSON.parse(channelsOf(urls.ntfy)[0]!.render(rolledBack).body);
    expect(ntfy).toMatchObject({ topic: 'deploys', priority: 4, click: link, tags: ['rotating_light', 'rolled-back'] });
    const telegram = JSON.parse(channelsOf(urls.telegram)[0]!.render(bodyOf(notices[2]!)).body);
    expect(telegram.text).toContain('ls-remote: &lt;timeout&gt; &amp; retry');
    expect(telegram.text).toContain('<b>Suppressed</b>: 4 like it since the last one (--notify-dedupe)');
    const gotify = JSON.parse(channelsOf(urls.gotify)[0]!.render(live).body);
    expect(gotify.extras['client::notification']).toEqual({ click: { url: link } });
  });
});

describe('--notify-dedupe and Retry-After (pure)', () => {
  const failing = (reason: string): Notice => ({ event: 'failing', state: 'failing', reason });
  const recovered: Notice = { event: 'recovered', state: 'idle' };
  const blocked: Notice = { event: 'blocked', state: 'diverged', reason: 'force-pushed' };

  /** [ms, notice] steps through dedupe with a 5 min window: what is sent, with its suppressed count */
  function run(steps: Array<[number, Notice]>): string[] {
    let state: DedupeState = INITIAL_DEDUPE;
    const sent: string[] = [];
    for (const [now, notice] of steps) {
      const out = dedupe(notice, now, 300_000, state);
      state = out.state;
      if (out.send)
        sent.push(`${out.send.event}${out.send.suppressed ? ` +${out.send.suppressed}` : ''}@${now / 1000}`);
    }
    return sent;
  }

  it.each<[string, Array<[number, Notice]>, string[]]>([
    [
      'a flapping remote: failing and recovered once, then the count with the next failing after the window',
      [
        [0, failing('timeout')],
        [10_000, recovered],
        [20_000, failing('timeout')],
        [30_000, recovered],
        [40_000, failing('timeout')],
        [50_000, recovered],
        [301_000, failing('timeout')],
      ],
      ['failing@0', 'recovered@10', 'failing +2@301'],
    ],
    [
      'another reason is news',
      [
        [0, failing('timeout')],
        [10_000, recovered],
        [20_000, failing('auth failed')],
      ],
      ['failing@0', 'recovered@10', 'failing@20'],
    ],
    [
      'blocked again for the same reason',
      [
        [0, blocked],
        [60_000, blocked],
        [400_000, blocked],
      ],
      ['blocked@0', 'blocked +1@400'],
    ],
    [
      'other events are never held',
      [
        [0, { event: 'live', state: 'idle' }],
        [1, { event: 'live', state: 'idle' }],
      ],
      ['live@0', 'live@0.001'],
    ],
  ])('%s', (_name, steps, expected) => {
    expect(run(steps)).toEqual(expected);
  });

  it('a window of 0 sends every one', () => {
    expect(dedupe(failing('x'), 1, 0, dedupe(failing('x'), 0, 0, INITIAL_DEDUPE).state).send).toEqual(failing('x'));
  });

  it('Retry-After: seconds or an HTTP date, waited for when longer than the backoff, never beyond the bound', () => {
    const now = Date.parse('2026-12-07T12:00:00Z');
    expect(retryAfterMs('7', now)).toBe(7000);
    expect(retryAfterMs('Mon, 07 Dec 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    const settings = { retryMs: 1000, maxRetryMs: 60_000, maxRetryAfterMs: 300_000 };
    expect(retryDelay(1, undefined, settings)).toBe(1000);
    expect(retryDelay(1, 7000, settings)).toBe(7000);
    expect(retryDelay(5, 2000, settings)).toBe(16_000);
    expect(retryDelay(1, 86_400_000, settings)).toBe(300_000);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Real requests to a local receiver

let sb: Sandbox | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  await stopAll();
  await receiver?.close();
  await sb?.cleanup();
  sb = receiver = undefined;
});

describe('real deliveries to a local receiver', () => {
  it('the daemon sends a live deploy to all six chat formats, each body valid for its service, no token in its output', async () => {
    receiver = await startReceiver();
    const at = `127.0.0.1:${receiver.port}`;
    const urls = [
      `slack://hook:T0-B0-SLACKS3CRET@webhook?host=${at}&scheme=http`,
      `discord://DISCORDS3CRET@123456?host=${at}&scheme=http`,
      `teams://${at}/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=TEAMSS3CRET&scheme=http`,
      `ntfy://:tk_NTFYS3CRET@${at}/hotpull_TOPICS3CRET?scheme=http`,
      `telegram://123:TELEGRAMS3CRET@telegram?chats=@hotpull_ops,-100123&host=${at}&scheme=http`,
      `gotify://${at}/sub/GOTIFYS3CRET?disabletls=yes`,
    ];
    sb = await makeSandbox();
    const daemon = startHotpull(['run', '--repo', sb.checkout, '--interval', '200ms'], {
      env: { HOTPULL_NOTIFY: JSON.stringify(urls) },
    });
    await waitForRecord(daemon, 'the first pass', (r) => String(r.msg).startsWith('hotpull following'));
    await commitAndPush(sb, { 'README.md': 'v2\n' }, 'Ship v2');
    await waitFor('seven deliveries', () => receiver!.received.length >= 7, 30_000);
    await stop(daemon);

    const byPath = new Map(receiver.received.map((r) => [r.path, r]));
    const expected: Array<[string, string]> = [
      ['/services/T0/B0/SLACKS3CRET', 'slack'],
      ['/api/webhooks/123456/DISCORDS3CRET', 'discord'],
      ['/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=TEAMSS3CRET', 'teams'],
      ['/', 'ntfy'],
      ['/bot123:TELEGRAMS3CRET/sendMessage', 'telegram'],
      ['/sub/message', 'gotify'],
    ];
    expect([...byPath.keys()].sort()).toEqual(expected.map(([p]) => p).sort());
    for (const [path, format] of expected) {
      const delivery = byPath.get(path)!;
      expect(SCHEMAS[format]!(delivery.body), format).toEqual([]);
      expect(delivery.headers['content-type']).toBe('application/json');
      expect(delivery.headers['x-hotpull-signature-256']).toBeUndefined();
    }
    expect(byPath.get('/')!.headers.authorization).toBe('Bearer tk_NTFYS3CRET');
    expect(byPath.get('/')!.body.topic).toBe('hotpull_TOPICS3CRET');
    expect(byPath.get('/sub/message')!.headers['x-gotify-key']).toBe('GOTIFYS3CRET');
    const chats = receiver.received.filter((r) => r.path.startsWith('/bot')).map((r) => r.body.chat_id);
    expect(chats.sort()).toEqual([-100123, '@hotpull_ops'].sort());
    expect(String((byPath.get('/services/T0/B0/SLACKS3CRET')!.body as { text: string }).text)).toMatch(
      / reloaded \(unverified\): \w{8} → \w{8} "Ship v2"/,
    );

    const output = daemon.stdout() + daemon.stderr();
    expect(output).toContain(
      `notifying slack://${at}, discord://${at}, teams://${at}, ntfy://${at}, telegram://${at}, gotify://${at}`,
    );
    for (const secret of [
      'SLACKS3CRET',
      'DISCORDS3CRET',
      'TEAMSS3CRET',
      'NTFYS3CRET',
      'TOPICS3CRET',
      'TELEGRAMS3CRET',
      'GOTIFYS3CRET',
    ])
      expect(output).not.toContain(secret);
  }, 60_000);

  it('a 429 with Retry-After is waited for, and bounded; the backoff alone would have retried at once', async () => {
    // first attempt: 429 Retry-After 1 s; second: 429 asking for an hour, bounded to 1.5 s; third: 200
    receiver = await startReceiver(0, {
      respond: (i) =>
        i === 0
          ? { status: 429, headers: { 'retry-after': '1' } }
          : i === 1
            ? { status: 429, headers: { 'retry-after': '3600' } }
            : { status: 200 },
    });
    const logs = logSink();
    const logger = await createLogger({ level: 'info', format: 'json', destination: logs });
    const notifier = new Notifier({
      channels: channelsOf(`ntfy://127.0.0.1:${receiver.port}/deploys?scheme=http`),
      version: 'test',
      logger,
      retryMs: 50,
      maxRetryAfterMs: 1500,
    });
    notifier.send(bodyOf({ event: 'resumed', state: 'idle' }));
    await waitFor('three attempts', () => receiver!.received.length >= 3, 10_000);
    await notifier.drain(1000);
    const [first, second, third] = receiver.received.map((r) => r.at);
    expect(second! - first!).toBeGreaterThanOrEqual(1000);
    expect(third! - second!).toBeGreaterThanOrEqual(1500);
    expect(third! - second!).toBeLessThan(3000);
    expect(notifier.waiting).toBe(0);
    expect(logs.text()).toContain('resumed not delivered (answered 429 (Retry-After 1 s)); retrying in the background');
  }, 20_000);

  it('--notify-dedupe: a failing repeated within the window is held back, and the count comes with the next one', async () => {
    receiver = await startReceiver();
    const logs = logSink();
    const logger = await createLogger({ level: 'info', format: 'json', destination: logs });
    const [channel] = channelsOf(`${receiver.url}/hook`);
    const { listener, notifier } = startNotifications({
      settings: {
        urls: [receiver.url],
        channels: [channel!],
        dedupeMs: 1500,
        events: new Set(['failing', 'recovered']),
        failingAfter: 1,
      },
      origin: { repo: '/srv/git/app.git', branch: 'main', dir: '/srv/app' },
      subjectOf: async () => undefined,
      logger,
    });
    const status = { consecutiveFailures: 1, deployedSha: A, remoteSha: B } as Parameters<typeof listener>[1];
    const flap = () => {
      listener({ kind: 'state', state: 'failing', previous: 'syncing', reason: 'ls-remote timed out' }, status);
      listener({ kind: 'state', state: 'idle', previous: 'failing' }, status);
    };
    flap(); // sent: failing, recovered
    flap(); // held
    flap(); // held
    await waitFor('the first two', () => receiver!.received.length >= 2, 5000);
    await new Promise((resolve) => setTimeout(resolve, 1600)); // the window itself is what is tested
    flap(); // sent, with the count
    await waitFor('the next two', () => receiver!.received.length >= 4, 5000);
    await notifier.drain(1000);
    expect(receiver.events()).toEqual(['failing', 'recovered', 'failing', 'recovered']);
    expect(receiver.received.map((r) => r.body.suppressed)).toEqual([0, 0, 2, 0]);
    expect(String(receiver.received[2]!.body.text)).toMatch(
      /failing, aaaaaaaa keeps serving: ls-remote timed out \(suppressed 2 times before this one\)$/,
    );
  }, 20_000);
});
