/**
 * Issue 15: logs that tell the story. info: the revision served at start, every state change, every deploy, every
 * webhook accepted (with its delivery id); debug: every pass with its timing and every git command with its
 * duration, secrets redacted. Real daemon (dist/cli.js), real git.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, headOf } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import { daemonOnSandbox, githubSignature, request, teardownAll } from './helpers/listener.js';

afterEach(teardownAll);

const INFO = 30;
const DEBUG = 20;

describe('logs that tell the story', { timeout: 120_000 }, () => {
  it('info: start-up revision, state changes, webhook accepted with its delivery id, the deploy; debug: passes and git commands', async () => {
    const { sb, daemon } = await daemonOnSandbox(['--interval', '10m']);
    const start = await headOf(sb.checkout);
    const logs = () => daemon.logs();
    await waitFor(
      'the start-up line',
      () => logs().some((l) => String(l.msg).startsWith(`checkout at ${start.slice(0, 7)} at start`)),
      30_000,
    );
    // no --health-url: it names what is on disk and says nothing verifies that it is served
    expect(logs().find((l) => String(l.msg).startsWith('checkout at'))).toMatchObject({
      level: INFO,
      sha: start,
      msg: `checkout at ${start.slice(0, 7)} at start (served unverified: no --health-url)`,
    });
    expect(logs().some((l) => l.level === INFO && l.msg === 'state starting → idle')).toBe(true);
    // debug: the first pass, with its timing, and each git command it ran, with its duration
    const pass = logs().find((l) => String(l.msg).startsWith('pass (start): up to date'));
    expect(pass).toMatchObject({ level: DEBUG, trigger: 'start', outcome: 'up-to-date' });
    expect(typeof pass!.ms).toBe('number');
    const lsRemote = logs().find((l) => String(l.command ?? '').startsWith('git ls-remote'));
    expect(lsRemote).toMatchObject({ level: DEBUG, failed: false });
    expect(String(lsRemote!.msg)).toMatch(/^git ls-remote .*: \d+ ms$/);

    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      before: start,
      after: sha,
      repository: { full_name: 'o/r' },
    });
    const delivery = '9f6a1c2e-0b1d-11ef-8e0e-deadbeef0001';
    const reply = await request(daemon.url, {
      method: 'POST',
      path: '/webhook',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': delivery,
        'x-hub-signature-256': githubSignature(body),
      },
      body,
    });
    expect(reply.status).toBe(202);
    await waitFor(
      'the deploy line',
      () => logs().some((l) => l.new === sha && String(l.msg).startsWith('deployed')),
      60_000,
    );
    const accepted = logs().find((l) => String(l.msg).startsWith('webhook accepted'));
    expect(accepted).toMatchObject({ level: INFO, delivery, provider: 'github', after: sha });
    expect(String(accepted!.msg)).toContain(`delivery ${delivery}): push to main at ${sha.slice(0, 7)};`);
    const states = logs()
      .filter((l) => l.level === INFO && String(l.msg).startsWith('state '))
      .map((l) => `${String(l.previous)}→${String(l.state)}`);
    expect(states).toEqual(
      expect.arrayContaining(['starting→idle', 'idle→syncing', 'syncing→reloading', 'reloading→idle']),
    );
    expect(logs().some((l) => String(l.command ?? '').startsWith('git fetch'))).toBe(true);
    // a delivery id is an id: a header holding anything else is not logged
    const odd = await request(daemon.url, {
      method: 'POST',
      path: '/webhook',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': 'a b; c="d"',
        'x-hub-signature-256': githubSignature(body),
      },
      body,
    });
    expect(odd.status).toBe(202);
    await waitFor(
      'a second accepted line',
      () => logs().filter((l) => String(l.msg).startsWith('webhook accepted')).length === 2,
      30_000,
    );
    expect(logs().filter((l) => String(l.msg).startsWith('webhook accepted'))[1]!.delivery).toBeUndefined();
  });
});
