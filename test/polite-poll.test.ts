/**
 * Issue 30, item 3: polite polling against a real smart-HTTP remote (git http-backend behind a node server on
 * 127.0.0.1 that answers 429 or 503 on demand) and real signed webhooks to the real daemon (dist/cli.js).
 * One daemon for the whole story: interval → a webhook slows polls to --safety-poll → a push no webhook announced
 * brings --interval back → 429 on every request backs off → 503 on the fetch alone backs off the same way.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { runCli, waitFor } from './helpers/hotpull.js';
import { startGitHttpServer, type GitHttpServer } from './helpers/http-git-server.js';
import { githubSignature, request, startDaemon, type RunningDaemon } from './helpers/listener.js';

let sb: Sandbox | undefined;
let remote: GitHttpServer | undefined;
let daemon: RunningDaemon | undefined;

afterAll(async () => {
  await daemon?.stop();
  await remote?.close();
  await sb?.cleanup();
});

const INTERVAL = 100;
const SAFETY = 1500;
const BACKOFF_MAX = 1600;

interface PollView {
  mode: string;
  everyMs: number;
  waitMs?: number;
  nextAt?: string;
  webhookAt?: string;
  failures: number;
}
type StatusView = {
  state: string;
  deployedSha?: string;
  lastError?: string;
  consecutiveFailures: number;
  poll: PollView;
};

const status = async (): Promise<StatusView> => JSON.parse((await request(daemon!.url, { path: '/status' })).body);

/** Times of the ref advertisements (ls-remote, and the first request of a fetch) served since `from`. */
const adverts = (from: number, status = 200) =>
  remote!.hits.filter(
    (h) => h.at >= from && h.method === 'GET' && h.path.endsWith('/info/refs') && h.status === status,
  );

const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);

async function webhook(after: string): Promise<void> {
  const body = JSON.stringify({ ref: 'refs/heads/main', before: '0'.repeat(40), after });
  const reply = await request(daemon!.url, {
    method: 'POST',
    path: '/webhook',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-hub-signature-256': githubSignature(body),
    },
    body,
  });
  expect(reply.status, reply.body).toBe(202);
}

describe('polite polling (real http remote, real webhooks)', () => {
  it('webhooks slow polls to --safety-poll, a missed one restores --interval; 429 and 5xx back off on ls-remote and fetch alike', async () => {
    sb = await makeSandbox();
    remote = await startGitHttpServer({ projectRoot: sb.root });
    await git(sb.checkout, 'remote', 'set-url', 'origin', `${remote.url}remote.git`);
    daemon = await startDaemon(sb.checkout, [
      '--reload',
      'none',
      '--interval',
      `${INTERVAL}ms`,
      '--safety-poll',
      `${SAFETY}ms`,
      '--backoff-max',
      `${BACKOFF_MAX}ms`,
    ]);
    const step = async (what: string, check: () => unknown, ms = 20_000) => {
      try {
        await waitFor(what, check, ms);
      } catch (error) {
        throw new Error(
          `${(error as Error).message}\n${JSON.stringify(await status())}\n${daemon!.output().slice(-4000)}`,
        );
      }
    };

    // 1. no webhook yet: polls every --interval
    let from = Date.now();
    await step('five polls at --interval', () => adverts(from).length >= 5);
    expect((await status()).poll).toMatchObject({ mode: 'interval', everyMs: INTERVAL, failures: 0 });
    expect(Math.max(...gaps(adverts(from).map((h) => h.at)))).toBeLessThan(SAFETY / 2);

    // 2. a webhook: deployed at once, then polls slow to --safety-poll
    const v2 = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await webhook(v2);
    await step('v2 deployed by the webhook', async () => (await status()).deployedSha === v2);
    expect(daemon.output()).toContain(
      `webhooks arrive: polling slows to every 1.5s (--safety-poll) until one is missed`,
    );
    const slow = await status();
    expect(slow.poll).toMatchObject({ mode: 'safety-poll', everyMs: SAFETY });
    expect(slow.poll.webhookAt).toBeDefined();
    const text = await runCli(['status', '--url', daemon.url]);
    expect(text.stdout).toMatch(/^polling {3}every 1\.5s \(webhooks arrive: --safety-poll\); next in \d/m);
    from = Date.now();
    await step('two polls at the safety pace', () => adverts(from).length >= 2, 10_000);
    for (const gap of gaps(adverts(from).map((h) => h.at))) expect(gap).toBeGreaterThanOrEqual(SAFETY * 0.9 - 50);

    // 3. a push no webhook announces: found by a safety poll (at most one --safety-poll late), back to --interval
    const v3 = await commitAndPush(sb, { 'app.py': 'VERSION = 3\n' });
    const pushed = Date.now();
    const missed = `a poll found ${v3.slice(0, 7)}, which no webhook announced: polling every 100ms (--interval) again until a webhook arrives`;
    await step('v3 found by a poll', () => daemon!.output().includes(missed), 10_000);
    expect(Date.now() - pushed).toBeLessThan(SAFETY * 1.1 + 2000);
    expect(await headOf(sb.checkout)).toBe(v3);
    expect((await status()).poll).toMatchObject({ mode: 'interval', everyMs: INTERVAL });

    // 4. the remote answers 429 to everything: ls-remote fails, each wait doubles (±10% jitter) up to --backoff-max
    remote.failWith(429);
    from = Date.now();
    await step('four refused polls', async () => (await status()).consecutiveFailures >= 4);
    const limited = await status();
    expect(limited.state).toBe('failing');
    expect(limited.lastError).toContain('The requested URL returned error: 429');
    expect(limited.poll.mode).toBe('backoff');
    expect(limited.poll.failures).toBeGreaterThanOrEqual(4);
    expect(limited.poll.waitMs).toBeGreaterThanOrEqual(BACKOFF_MAX * 0.9);
    expect(Date.parse(limited.poll.nextAt!)).toBeGreaterThan(Date.now() - 100);
    // the remote sees it: in the 1.4 s after the first refusal (14 polls at --interval) at most 5 requests come
    // (200 + 400 + 800 ms of waits, ±10%, plus git's own time)
    const refused = adverts(from, 429).map((h) => h.at);
    expect(refused.filter((at) => at - refused[0]! < 1400).length).toBeLessThanOrEqual(5);
    const waits = daemon
      .logs()
      .filter((r) => String(r.msg).startsWith('sync failed') && String(r.msg).includes('429'))
      .map((r) => r.retryInMs as number);
    // the daemon's own waits: doubled per failure (2 × 0.9 / 1.1 at least, with the jitter) until --backoff-max
    expect(waits.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < 4; i++)
      expect(waits[i]!).toBeGreaterThanOrEqual(Math.min(waits[i - 1]! * 1.6, BACKOFF_MAX * 0.9));
    expect(Math.max(...waits)).toBeLessThanOrEqual(BACKOFF_MAX * 1.1);
    remote.failWith(undefined);
    await step('the backoff over', async () => (await status()).consecutiveFailures === 0);

    // 5. 503 on the pack fetch alone: ls-remote sees the push, the fetch fails, and backs off the same way
    remote.failWith(503, 'fetch');
    const v4 = await commitAndPush(sb, { 'app.py': 'VERSION = 4\n' });
    await step('three failed fetches', async () => (await status()).consecutiveFailures >= 3);
    const fetching = await status();
    expect(fetching.lastError).toMatch(/fetch.*The requested URL returned error: 503/);
    expect(fetching.poll.mode).toBe('backoff');
    const fetchWaits = daemon
      .logs()
      .filter((r) => String(r.msg).startsWith('sync failed') && String(r.msg).includes('503'))
      .map((r) => r.retryInMs as number);
    expect(fetchWaits.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < 3; i++) expect(fetchWaits[i]!).toBeGreaterThanOrEqual(fetchWaits[i - 1]! * 1.6);
    remote.failWith(undefined);
    await step('v4 deployed once the fetch works', async () => {
      const now = await status();
      return now.deployedSha === v4 && now.consecutiveFailures === 0;
    });
    expect(await headOf(sb.checkout)).toBe(v4);
    expect((await status()).poll).toMatchObject({ mode: 'interval', failures: 0 });
  }, 90_000);
});
