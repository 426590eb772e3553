// Issue 28 item 3: staged rollout, pull-only (--after URL, --after-bake). Real daemons (`hotpull run --listen
// 127.0.0.1:0`) on two checkouts of one bare repo: a canary verified by a health URL that fails on a revision
// marked BROKEN, and a follower with --after pointing at the canary's listener. A peer that hangs, answers garbage
// or too much is asked through the same client (src/fleet/upstream.ts) against real servers.
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, git, makeSandbox, type Sandbox } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import { runHotpull, startHotpull, stop, waitForRecord, type Proc } from './helpers/procs.js';
import { upstream } from '../src/fleet/upstream.js';

const BAKE_MS = 2000;
const NO_SECRET = { HOTPULL_WEBHOOK_SECRET: undefined } as unknown as NodeJS.ProcessEnv;

let sb: Sandbox;
let follower: string;
let healthUrl: string;
let canary: { proc: Proc; url: string };
let next: { proc: Proc; url: string };
const servers: Array<http.Server | net.Server> = [];

async function listen(server: http.Server | net.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

async function startDaemon(args: string[]): Promise<{ proc: Proc; url: string }> {
  const proc = startHotpull(['run', '--interval', '300ms', ...args], { env: NO_SECRET });
  const listening = await waitForRecord(proc, 'the listener', (r) => String(r.msg).startsWith('listening on '));
  return { proc, url: String(listening.url).replace(/\/$/, '') };
}

const startCanary = (listen = '127.0.0.1:0') =>
  startDaemon([
    '--repo',
    sb.checkout,
    '--listen',
    listen,
    '--health-url',
    healthUrl,
    '--health-settle',
    '100ms',
    '--health-timeout',
    '2s',
  ]);

const statusOf = async (url: string) => (await (await fetch(`${url}/status`)).json()) as Record<string, any>;
const until = (what: string, url: string, check: (s: Record<string, any>) => boolean, timeoutMs = 30_000) =>
  waitFor(
    what,
    async () => {
      const status = await statusOf(url).catch(() => undefined);
      return status && check(status) ? status : undefined;
    },
    timeoutMs,
  );

beforeAll(async () => {
  sb = await makeSandbox();
  follower = path.join(sb.root, 'follower');
  await git(sb.root, 'clone', '-q', '--branch', 'main', sb.bare, follower);
  // the canary's health: 500 while its checkout serves a revision marked BROKEN
  const health = http.createServer((_req, res) => {
    void fs.readFile(path.join(sb.checkout, 'app.py'), 'utf8').then((text) => {
      res.statusCode = text.includes('BROKEN') ? 500 : 200;
      res.end(text);
    });
  });
  healthUrl = `http://127.0.0.1:${await listen(health)}/`;
  canary = await startCanary();
  next = await startDaemon([
    '--repo',
    follower,
    '--listen',
    '127.0.0.1:0',
    '--after',
    canary.url,
    '--after-bake',
    '2s',
  ]);
  await until('the follower idle', next.url, (s) => s.state === 'idle');
}, 60_000);

afterAll(async () => {
  await Promise.all([canary, next].filter(Boolean).map((d) => stop(d.proc)));
  for (const server of servers) {
    (server as http.Server).closeAllConnections?.();
    server.close();
  }
  await sb?.cleanup();
});

describe(
  '--after: a revision reaches the follower only once it has been live on the canary',
  { timeout: 90_000 },
  () => {
    it('a good push reaches the canary, then the follower after --after-bake (held meanwhile, the status says why)', async () => {
      const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' }, 'good');
      const live = await until('the canary live on it', canary.url, (s) => s.deployedSha === sha && s.verified);
      const held = await until('the follower held, baking', next.url, (s) => String(s.reason).includes(' is live on '));
      expect(held.state).toBe('held');
      expect(held.deployedSha).not.toBe(sha);
      expect(held.reason).toMatch(
        new RegExp(`^${sha.slice(0, 7)} is live on --after 127\\.0\\.0\\.1:\\d+, applied here in`),
      );
      const done = await until('the follower on it', next.url, (s) => s.deploys[0]?.to === sha);
      const deployedAt = Date.parse(done.deploys[0].at);
      expect(deployedAt - Date.parse(live.since)).toBeGreaterThanOrEqual(BAKE_MS);
      expect(done.state).toBe('idle');
    });

    it('a push that fails only the canary verification never reaches the follower: held, naming the verdict', async () => {
      const before = (await statusOf(next.url)).deployedSha;
      const bad = await commitAndPush(sb, { 'app.py': 'VERSION = 3 # BROKEN\n' }, 'bad');
      await until('the canary rolled it back', canary.url, (s) => s.rejectedSha === bad && s.deployedSha === before);
      const held = await until('the follower held on the verdict', next.url, (s) =>
        String(s.reason).includes(`rolled-back ${bad.slice(0, 7)}`),
      );
      expect(held.state).toBe('held');
      expect(held.reason).toMatch(
        new RegExp(
          `^--after 127\\.0\\.0\\.1:\\d+ rolled-back ${bad.slice(0, 7)} \\((?:not healthy after|answered 5xx on every probe for) .* answered 500: .*\\): ${bad.slice(0, 7)} is not applied here$`,
        ),
      );
      // polls go on while held, and it stays held: asked again each poll, not fetched again (no `syncing` between),
      // the hold logged once
      const flips = () => next.proc.records().filter((r) => String(r.msg).startsWith('state held → syncing')).length;
      const flipped = flips();
      for (let i = 0; i < 3; i++) {
        const polled = (await statusOf(next.url)).lastSuccessAt;
        await until('another poll', next.url, (s) => s.lastSuccessAt !== polled);
      }
      expect((await statusOf(next.url)).deployedSha).toBe(before);
      expect(flips()).toBe(flipped);
      const said = next.proc.records().filter((r) => String(r.msg).startsWith(`deploy held: --after`));
      expect(said.filter((r) => String(r.msg).includes(`rolled-back ${bad.slice(0, 7)}`))).toHaveLength(1);
    });

    it('the canary killed: the follower holds (failing after 3 asks), and recovers once it is back', async () => {
      const port = new URL(canary.url).port;
      await stop(canary.proc);
      const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 4\n' }, 'fixed');
      const held = await until('the follower held', next.url, (s) => s.state === 'held' && s.remoteSha === sha);
      expect(held.reason).toMatch(
        /^--after 127\.0\.0\.1:\d+ could not be asked \(ECONNREFUSED\); \w{7} waits until it answers$/,
      );
      const failing = await until('the follower failing', next.url, (s) => s.state === 'failing');
      expect(failing.reason).toMatch(/could not be asked \(ECONNREFUSED\), 3 times in a row/);
      expect(failing.deployedSha).not.toBe(sha);
      canary = await startCanary(`127.0.0.1:${port}`);
      await until('the canary live on it', canary.url, (s) => s.deployedSha === sha && s.verified);
      await until('the follower on it', next.url, (s) => s.deployedSha === sha && s.state === 'idle', 60_000);
    });
  },
);

describe('--after: a peer that hangs, answers garbage or too much holds, within the time limit', () => {
  const sha = 'a'.repeat(40);
  const ask = (url: string) => upstream(url, { bakeMs: 0, timeoutMs: 500, failingAfter: 3 }).look(sha);

  it('hung, garbage, 2 MiB: unreachable, each said, each within 500 ms (+ slack)', async () => {
    const hung = net.createServer(() => undefined);
    const garbage = http.createServer((_req, res) => res.end('<html>not a status'));
    const flood = http.createServer((_req, res) => res.end(`{"state":"idle","x":"${'x'.repeat(2 * 1024 * 1024)}"}`));
    const ports = [await listen(hung), await listen(garbage), await listen(flood)];
    const started = Date.now();
    const views = await Promise.all(ports.map((p) => ask(`http://127.0.0.1:${p}`)));
    expect(Date.now() - started).toBeLessThan(1500);
    expect(views).toEqual([
      { kind: 'unreachable', error: 'no answer within 500ms' },
      { kind: 'unreachable', error: 'answered 200 with a body that is not JSON' },
      { kind: 'unreachable', error: 'answered more than 1024 KiB (cut off there)' },
    ]);
  });
});

describe('--after options are checked at start', () => {
  it('a bad URL, and --after-bake without --after: one line, exit 2', async () => {
    const bad = await runHotpull(['run', '--repo', sb.checkout, '--after', 'ftp://canary:9300'], { env: NO_SECRET });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/--after must be an http:\/\/ or https:\/\/ URL.*ftp:\/\/canary:9300/);
    const spare = path.join(sb.root, 'spare');
    await git(sb.root, 'clone', '-q', '--branch', 'main', sb.bare, spare);
    const alone = await runHotpull(['run', '--repo', spare, '--after-bake', '2s'], { env: NO_SECRET });
    expect(alone.code).toBe(2);
    expect(alone.stderr.trim()).toBe('hotpull: --after-bake needs --after URL (got --after-bake without it)');
  });
});
