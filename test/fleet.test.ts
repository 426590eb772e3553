// Issue 28 items 1 and 2: `hotpull fleet` over real daemons (`hotpull run --listen 127.0.0.1:0` on two checkouts of
// one bare repo, verified by a health URL), the fields /status gives it and the revision gauge on /metrics; the
// faults each named within the peer time limit (a daemon killed, a server that accepts and never answers, one that
// answers garbage, one that answers 10 MB, a DNS name with no records from a local responder).
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, git, makeSandbox, type Sandbox } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import { runHotpull, startHotpull, stop, waitFirstPass, waitForRecord, type Proc } from './helpers/procs.js';
import { dnsResponder } from './helpers/dns.js';
import { fleetRound } from '../src/fleet/round.js';
import { parsePeerSource } from '../src/fleet/peers.js';

let sb: Sandbox;
let health: http.Server;
const daemons: Proc[] = [];
const urls: string[] = [];
const checkouts: string[] = [];
const servers: Array<http.Server | net.Server> = [];

const NO_SECRET = { HOTPULL_WEBHOOK_SECRET: undefined } as unknown as NodeJS.ProcessEnv;

async function listen(server: http.Server | net.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

async function startReplica(checkout: string, healthUrl: string): Promise<{ proc: Proc; url: string }> {
  const proc = startHotpull(
    [
      'run',
      '--repo',
      checkout,
      '--interval',
      '1s',
      '--listen',
      '127.0.0.1:0',
      '--health-url',
      healthUrl,
      '--health-settle',
      '100ms',
    ],
    { env: NO_SECRET },
  );
  const listening = await waitForRecord(proc, 'the listener', (r) => String(r.msg).startsWith('listening on '));
  await waitFirstPass(proc);
  return { proc, url: String(listening.url) };
}

const statusOf = async (url: string) => (await (await fetch(`${url}/status`)).json()) as Record<string, unknown>;

/** Until every replica given serves `sha`, verified. */
const allOn = (sha: string, which = urls) =>
  waitFor(
    `${which.join(', ')} live on ${sha}`,
    async () => (await Promise.all(which.map(statusOf))).every((s) => s.deployedSha === sha && s.verified === true),
    30_000,
  );

const fleet = (args: string[]) => runHotpull(['fleet', ...args], { env: NO_SECRET, timeoutMs: 30_000 });
const peerArgs = () => urls.flatMap((u) => ['--peer', u]);
const nameOf = (url: string) => new URL(url).host;

beforeAll(async () => {
  sb = await makeSandbox();
  const second = path.join(sb.root, 'checkout-b');
  await git(sb.root, 'clone', '-q', '--branch', 'main', sb.bare, second);
  checkouts.push(sb.checkout, second);
  health = http.createServer((_req, res) => res.end('ok\n'));
  const healthUrl = `http://127.0.0.1:${await listen(health)}/`;
  for (const replica of await Promise.all(checkouts.map((c) => startReplica(c, healthUrl)))) {
    daemons.push(replica.proc);
    urls.push(replica.url);
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(daemons.map((d) => stop(d)));
  for (const server of servers) {
    (server as http.Server).closeAllConnections?.();
    server.close();
  }
  await sb?.cleanup();
});

describe('hotpull fleet over real daemons', { timeout: 120_000 }, () => {
  it('/status carries the subject, since when, verified, the ref and the poll period; /metrics the revision gauge', async () => {
    const pushedAt = Date.now();
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' }, 'second: the fleet view');
    await allOn(sha);
    for (const url of urls) {
      const status = await statusOf(url);
      expect(status).toMatchObject({
        deployedSha: sha,
        subject: 'second: the fleet view',
        verified: true,
        ref: 'refs/heads/main',
        intervalMs: 1000,
        lastGoodSha: sha,
      });
      expect(status.rejectedSha).toBeUndefined();
      expect(status.paused).toBeUndefined();
      // since: the deploy's record, between the push and now
      expect(status.since).toBe((status.deploys as Array<{ at: string }>)[0]!.at);
      expect(Date.parse(String(status.since))).toBeGreaterThanOrEqual(pushedAt - 1000);
      expect(Date.parse(String(status.since))).toBeLessThanOrEqual(Date.now());
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toContain(
        `# TYPE hotpull_revision_info gauge\nhotpull_revision_info{sha="${sha}",branch="main",ref="refs/heads/main"} 1\n`,
      );
    }
  });

  it('one table of every replica; --json agrees with each /status; exit 0 when all serve one revision', async () => {
    const sha = String((await statusOf(urls[0]!)).deployedSha);
    const table = await fleet(peerArgs());
    expect(table.stderr).toBe('');
    expect(table.code).toBe(0);
    for (const url of urls)
      expect(table.stdout).toMatch(
        new RegExp(
          `^ {2}${nameOf(url)}\\s+${sha.slice(0, 7)} second: the fleet view\\s+idle\\s+[\\d.]+m?s ago\\s+yes\\s+-$`,
          'm',
        ),
      );
    expect(table.stdout).toMatch(/^ {2}NAME\s+REVISION\s+STATE\s+SINCE\s+VERIFIED\s+ERROR$/m);
    expect(table.stdout.trimEnd().split('\n').at(-1)).toBe(
      `all 2 replicas on ${sha.slice(0, 7)} second: the fleet view`,
    );

    const json = await fleet([...peerArgs(), '--json']);
    expect(json.code).toBe(0);
    const view = JSON.parse(json.stdout) as {
      exitCode: number;
      revision: { sha: string };
      replicas: Array<{ name: string; url: string; reachable: boolean; status: Record<string, unknown> }>;
    };
    expect(view.exitCode).toBe(0);
    expect(view.revision.sha).toBe(sha);
    for (const url of urls) {
      const row = view.replicas.find((r) => r.url === `${url}/status`)!;
      expect(row).toMatchObject({ name: nameOf(url), reachable: true });
      const status = await statusOf(url);
      for (const key of ['deployedSha', 'subject', 'since', 'verified', 'lastGoodSha', 'ref', 'intervalMs', 'branch'])
        expect(row.status[key], key).toEqual(status[key]);
    }
  });

  it('a replica left behind (paused) is drift once --drift-after has passed: exit 1, marked; within it exit 0', async () => {
    const [a, b] = urls as [string, string];
    const paused = await runHotpull(['pause', '--repo', checkouts[1]!, '--reason', 'hold b'], { env: NO_SECRET });
    expect(paused.code).toBe(0);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 3\n' }, 'third: only a');
    await allOn(sha, [a]);
    const old = String((await statusOf(b)).deployedSha);

    const within = await fleet([...peerArgs(), '--drift-after', '1h']);
    expect(within.code).toBe(0);
    expect(within.stdout).toMatch(
      new RegExp(
        `^2 revisions for [\\d.]+m?s \\(within 1h, not drift yet\\): ${sha.slice(0, 7)} on ${nameOf(a)}; ${old.slice(0, 7)} on ${nameOf(b)}$`,
        'm',
      ),
    );
    expect(within.stdout).toMatch(
      new RegExp(`^≠ ${nameOf(b)}\\s+${old.slice(0, 7)} second: the fleet view\\s+paused \\(hold b\\)`, 'm'),
    );

    const drift = await fleet([...peerArgs(), '--drift-after', '100ms']);
    expect(drift.code).toBe(1);
    expect(drift.stdout).toMatch(/^2 revisions for [\d.]+m?s \(drift: longer than 100ms\): /m);

    const resumed = await runHotpull(['resume', '--repo', checkouts[1]!], { env: NO_SECRET });
    expect(resumed.code).toBe(0);
    await allOn(sha);
    const again = await fleet([...peerArgs(), '--drift-after', '100ms']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`all 2 replicas on ${sha.slice(0, 7)} third: only a`);
  });

  it('faults: a killed daemon, a hung server, garbage, 10 MB: each named with its reason within --peer-timeout, exit 3', async () => {
    // a third replica, killed with -9: its port refuses
    const third = path.join(sb.root, 'checkout-c');
    await git(sb.root, 'clone', '-q', '--branch', 'main', sb.bare, third);
    const killed = await startReplica(third, `http://127.0.0.1:${(health.address() as net.AddressInfo).port}/`);
    await stop(killed.proc, 'SIGKILL');
    const hung = `http://127.0.0.1:${await listen(net.createServer(() => {}))}`;
    const garbage = `http://127.0.0.1:${await listen(http.createServer((_q, res) => res.end('<html>not a status')))}`;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const big = `http://127.0.0.1:${await listen(
      http.createServer((_q, res) => {
        res.on('error', () => {});
        res.writeHead(200, { 'content-type': 'application/json' });
        let sent = 0;
        const more = () => {
          while (sent < 10 * 1024 * 1024) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end();
        };
        more();
      }),
    )}`;
    const started = Date.now();
    const result = await fleet([
      '--peer',
      urls[0]!,
      ...[killed.url, hung, garbage, big].flatMap((u) => ['--peer', u]),
      '--peer-timeout',
      '1s',
      '--json',
    ]);
    const elapsed = Date.now() - started;
    expect(result.code).toBe(3);
    const view = JSON.parse(result.stdout) as {
      unreachable: string[];
      replicas: Array<{ name: string; reachable: boolean; error?: string; ms: number }>;
    };
    const row = (url: string) => view.replicas.find((r) => r.name === nameOf(url))!;
    expect(row(urls[0]!)).toMatchObject({ reachable: true });
    expect(row(killed.url)).toMatchObject({ reachable: false, error: 'ECONNREFUSED' });
    expect(row(hung)).toMatchObject({ reachable: false, error: 'no answer within 1s' });
    expect(row(garbage)).toMatchObject({ reachable: false, error: 'answered 200 with a body that is not JSON' });
    expect(row(big)).toMatchObject({ reachable: false, error: 'answered more than 1024 KiB (cut off there)' });
    expect(view.unreachable.sort()).toEqual([killed.url, hung, garbage, big].map(nameOf).sort());
    for (const r of view.replicas) expect(r.ms, r.name).toBeLessThan(1500);
    // asked at once: the whole run (a node start included) is about one time limit, not four
    expect(elapsed).toBeLessThan(4000);
  });

  it('--peers-file: one URL a line, # comments, read again on every call', async () => {
    const file = path.join(sb.root, 'peers');
    await fs.writeFile(file, `# the canary\n${urls[0]}  # a\n\n`);
    const one = await fleet(['--peers-file', file, '--json']);
    expect((JSON.parse(one.stdout) as { replicas: unknown[] }).replicas).toHaveLength(1);
    await fs.writeFile(file, `${urls.join('\n')}\n`);
    const two = await fleet(['--peers-file', file, '--json']);
    expect(two.code).toBe(0);
    expect((JSON.parse(two.stdout) as { replicas: Array<{ name: string }> }).replicas.map((r) => r.name)).toEqual(
      urls.map(nameOf).sort(),
    );
    // a config file's `watch: true` (run's dev mode) does not make fleet run forever
    await fs.writeFile(path.join(sb.root, 'hotpull.config.yaml'), 'watch: true\n');
    const once = await runHotpull(['fleet', '--peers-file', file], { cwd: sb.root, env: NO_SECRET, timeoutMs: 30_000 });
    expect(once.code).toBe(0);
    await fs.rm(path.join(sb.root, 'hotpull.config.yaml'));
    await fs.writeFile(file, 'http://127.0.0.1:1\nnot a url\n');
    const bad = await fleet(['--peers-file', file]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      `hotpull: --peers-file ${file} line 2 must be an http:// or https:// URL like http://10.0.0.5:9300 (got "not a url")\n`,
    );
  });

  it('--peers dns:NAME:PORT asks every A and AAAA record; a name with no records is a row of its own, in time', async () => {
    const port = new URL(urls[0]!).port;
    const dns = await dnsResponder({ 'replicas.fleet.test': ['127.0.0.1', '::1'] });
    try {
      const started = Date.now();
      const view = await fleetRound(
        {
          urls: [],
          sources: [`dns:replicas.fleet.test:${port}`, 'dns:gone.fleet.test:9300'].map(parsePeerSource),
          timeoutMs: 1000,
        },
        { dnsServers: [dns.server] },
      );
      expect(Date.now() - started).toBeLessThan(1500);
      expect(view.rows.map((r) => [r.name, r.reachable, r.error])).toEqual([
        [`[::1]:${port}`, false, 'ECONNREFUSED'],
        [`127.0.0.1:${port}`, true, undefined],
        ['dns:gone.fleet.test:9300', false, 'no A or AAAA records (ENOTFOUND)'],
      ]);
      expect(view.exitCode).toBe(3);
      expect(new Set(dns.asked)).toEqual(new Set(['replicas.fleet.test', 'gone.fleet.test']));
    } finally {
      await dns.close();
    }
  });

  it('--watch, not on a terminal: a line for each row that changed, until SIGINT', async () => {
    const watching = startHotpull(['fleet', ...peerArgs(), '--watch', '--interval', '200ms'], { env: NO_SECRET });
    await waitFor('the first round', () => watching.stdout().includes('all 2 replicas on'), 10_000);
    const first = watching.stdout().split('\n').filter(Boolean);
    expect(first).toHaveLength(3);
    await runHotpull(['pause', '--repo', checkouts[0]!, '--reason', 'watch me'], { env: NO_SECRET });
    await waitFor('the paused row', () => /paused \(watch me\)/.test(watching.stdout()), 10_000);
    const lines = watching.stdout().split('\n').filter(Boolean);
    // the row that changed, once; the other row and the summary, unchanged, are not printed again
    expect(lines.filter((l) => l.includes(nameOf(urls[1]!)))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('paused (watch me)'))).toHaveLength(1);
    expect(lines.at(-1)).toMatch(
      new RegExp(
        `^\\S+Z  ${nameOf(urls[0]!)}  [0-9a-f]{7} third: only a  paused \\(watch me\\)  [\\d.]+m?s ago  yes  -$`,
      ),
    );
    expect((await stop(watching, 'SIGINT')).code).toBe(0);
    await runHotpull(['resume', '--repo', checkouts[0]!], { env: NO_SECRET });
  });
});
