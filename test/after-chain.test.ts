// Issue 28: a three-hop chain, canary → first wave → rest, each a real `hotpull run --listen 127.0.0.1:0` on its own
// checkout of one bare repo, the wave with --after on the canary and the rest with --after on the wave (bakes of
// 300 ms). The canary's health URL fails on a revision marked BROKEN; the others' always answer 200, so a bad
// revision fails only the canary's verification. (test/after.test.ts has the two-hop cases and the faults.)
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, git, makeSandbox, type Sandbox } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import { startHotpull, stop, waitForRecord, type Proc } from './helpers/procs.js';

const BAKE_MS = 300;
const NO_SECRET = { HOTPULL_WEBHOOK_SECRET: undefined } as unknown as NodeJS.ProcessEnv;

let sb: Sandbox;
let health: http.Server;
const hops: Array<{ name: string; proc: Proc; url: string }> = [];

async function startHop(name: string, checkout: string, healthUrl: string, after?: string) {
  const proc = startHotpull(
    [
      'run',
      '--repo',
      checkout,
      '--interval',
      '300ms',
      '--listen',
      '127.0.0.1:0',
      '--health-url',
      healthUrl,
      '--health-settle',
      '100ms',
      '--health-timeout',
      '2s',
      ...(after ? ['--after', after, '--after-bake', `${BAKE_MS}ms`] : []),
    ],
    { env: NO_SECRET },
  );
  hops.push({ name, proc, url: '' });
  const listening = await waitForRecord(proc, `${name}'s listener`, (r) => String(r.msg).startsWith('listening on '));
  const url = String(listening.url).replace(/\/$/, '');
  hops[hops.length - 1]!.url = url;
  return url;
}

const statusOf = async (url: string) => (await (await fetch(`${url}/status`)).json()) as Record<string, any>;
const until = (what: string, url: string, check: (s: Record<string, any>) => boolean) =>
  waitFor(
    what,
    async () => {
      const status = await statusOf(url).catch(() => undefined);
      return status && check(status) ? status : undefined;
    },
    20_000,
  );

beforeAll(async () => {
  sb = await makeSandbox();
  const wave = path.join(sb.root, 'wave');
  const rest = path.join(sb.root, 'rest');
  for (const dir of [wave, rest]) await git(sb.root, 'clone', '-q', '--branch', 'main', sb.bare, dir);
  // /canary: 500 while the canary's checkout has a revision marked BROKEN; anything else: 200
  health = http.createServer((req, res) => {
    if (req.url !== '/canary') return void res.end('ok\n');
    void fs.readFile(path.join(sb.checkout, 'app.py'), 'utf8').then((text) => {
      res.statusCode = text.includes('BROKEN') ? 500 : 200;
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(health.address() as net.AddressInfo).port}`;
  const canary = await startHop('canary', sb.checkout, `${base}/canary`);
  const first = await startHop('wave', wave, `${base}/ok`, canary);
  await startHop('rest', rest, `${base}/ok`, first);
  for (const hop of hops) await until(`${hop.name} idle`, hop.url, (s) => s.state === 'idle');
}, 60_000);

afterAll(async () => {
  await Promise.all(hops.map((h) => stop(h.proc)));
  health?.closeAllConnections();
  health?.close();
  await sb?.cleanup();
});

describe('a three-hop chain: canary → first wave → rest, each --after the one before', { timeout: 30_000 }, () => {
  it('a good push reaches the three in order, each one --after-bake after the one before went live', async () => {
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' }, 'good');
    const [canary, wave, rest] = hops.map((h) => h.url) as [string, string, string];
    // while the wave bakes or waits, the rest waits for the wave (it serves the old revision there)
    const waiting = await until('the rest waiting on the wave', rest, (s) =>
      String(s.reason).startsWith(`waiting for ${sha.slice(0, 7)} to be live on --after`),
    );
    expect(waiting.state).toBe('held');
    expect(waiting.reason).toContain(`--after ${new URL(wave).host} (it serves `);
    const done = await Promise.all(
      [canary, wave, rest].map((url) => until('live on it', url, (s) => s.deployedSha === sha && s.verified)),
    );
    const since = done.map((s) => Date.parse(s.since));
    const applied = done.map((s) => Date.parse(s.deploys[0].at));
    expect(done.map((s) => s.deploys[0].to)).toEqual([sha, sha, sha]);
    // each follower applied it only once it had been live one bake on the hop before
    expect(applied[1]! - since[0]!).toBeGreaterThanOrEqual(BAKE_MS);
    expect(applied[2]! - since[1]!).toBeGreaterThanOrEqual(BAKE_MS);
    expect(since[0]).toBeLessThan(since[1]!);
    expect(since[1]).toBeLessThan(since[2]!);
  });

  it('a push that fails only the canary verification reaches neither the wave nor the rest: both held, saying why', async () => {
    const [canary, wave, rest] = hops.map((h) => h.url) as [string, string, string];
    const before = (await statusOf(canary)).deployedSha as string;
    const bad = await commitAndPush(sb, { 'app.py': 'VERSION = 3 # BROKEN\n' }, 'bad');
    const short = bad.slice(0, 7);
    await until('the canary rolled it back', canary, (s) => s.rejectedSha === bad && s.deployedSha === before);
    const held = await until('the wave held on the canary verdict', wave, (s) =>
      String(s.reason).includes(`rolled-back ${short}`),
    );
    expect(held.state).toBe('held');
    expect(held.reason).toMatch(
      new RegExp(`^--after ${new URL(canary).host} rolled-back ${short} \\(.*\\): ${short} is not applied here$`),
    );
    const rested = await until('the rest held on the wave', rest, (s) => s.state === 'held' && s.remoteSha === bad);
    expect(rested.reason).toBe(
      `waiting for ${short} to be live on --after ${new URL(wave).host} (it serves ${before.slice(0, 7)}, held)`,
    );
    // another poll of each follower later, neither has moved (and the wave's hold still names the verdict)
    for (const url of [wave, rest]) {
      const polled = (await statusOf(url)).lastSuccessAt;
      await until('another poll', url, (s) => s.lastSuccessAt !== polled);
    }
    const after = await Promise.all([wave, rest].map(statusOf));
    expect(after.map((s) => s.deployedSha)).toEqual([before, before]);
    expect(after.map((s) => s.deploys[0].to)).toEqual([before, before]);
    expect(after[0]!.reason).toContain(`rolled-back ${short}`);
  });
});
