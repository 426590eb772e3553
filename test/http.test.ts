import { promises as fs } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import http from 'node:http';
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { commitAndPush, forcePush, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { makeDaemon, runCli, spawnCli, waitFor } from './helpers/hotpull.js';
import { postMany } from './helpers/listener.js';
import { startServer, type StatusServer } from '../src/http/server.js';
import { Metrics } from '../src/http/metrics.js';
import { formatStatus } from '../src/http/status-text.js';
import { authenticate, precheck, safeEqual } from '../src/http/signature.js';
import { request, requestFailure } from '../src/net/request.js';

const SECRET = 'hook-s3cret';
let sb: Sandbox | undefined;
let server: StatusServer | undefined;
let stopDaemon: (() => Promise<void>) | undefined;
afterEach(async () => {
  await server?.close();
  await stopDaemon?.();
  await sb?.cleanup();
  server = undefined;
  stopDaemon = undefined;
  sb = undefined;
});

async function setup(flags: Record<string, unknown> = {}, options: { secret?: string; start?: boolean } = {}) {
  sb = await makeSandbox();
  const d = await makeDaemon(sb.checkout, { interval: '10m', ...flags });
  const metrics = new Metrics();
  d.daemon.onPass((o, p) => metrics.recordPass(o, p));
  server = await startServer({
    listen: { host: '127.0.0.1', port: 0 },
    daemon: d.daemon,
    status: () => d.engine.status,
    metrics,
    branch: 'main',
    secret: 'secret' in options ? options.secret : SECRET,
    logger: d.logger,
  });
  stopDaemon = () => d.daemon.stop();
  if (options.start !== false) {
    d.daemon.start();
    await waitFor('first pass', () => d.outcomes.length >= 1, 60_000);
  }
  return { ...d, url: server.url, sb };
}

/** The trigger of every pass from now on, in order. */
function passTriggers(daemon: { onPass(listener: (o: unknown, pass: { trigger: string }) => void): unknown }) {
  const triggers: string[] = [];
  daemon.onPass((_o, pass) => void triggers.push(pass.trigger));
  return triggers;
}

const sign = (body: string, secret = SECRET) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
const pushBody = (ref = 'refs/heads/main') => JSON.stringify({ ref, after: 'x', repository: { full_name: 'o/r' } });

function githubPush(url: string, body = pushBody(), headers: Record<string, string> = {}) {
  return fetch(`${url}/webhook`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-hub-signature-256': sign(body),
      ...headers,
    },
    body,
  });
}

describe('POST /webhook', { timeout: 180_000 }, () => {
  it('a correctly signed GitHub push deploys', async () => {
    const { url, outcomes } = await setup();
    const sha = await commitAndPush(sb!, { 'app.py': 'VERSION = 2\n' });
    const res = await githubPush(url);
    expect(res.status).toBe(202);
    const deployed = await waitFor(
      'deploy',
      () => outcomes.find((o) => !(o instanceof Error) && o.kind === 'deployed'),
      60_000,
    );
    expect(await headOf(sb!.checkout)).toBe(sha);
    expect((deployed as { record: { trigger: string } }).record.trigger).toBe('webhook');
  });

  it.each([
    [
      'tampered body',
      (body: string) => ({ body: body.replace('main', 'mair'), headers: { 'x-hub-signature-256': sign(body) } }),
    ],
    ['wrong secret', (body: string) => ({ body, headers: { 'x-hub-signature-256': sign(body, 'not-the-secret') } })],
    ['missing header', (body: string) => ({ body, headers: { 'x-hub-signature-256': undefined } })],
    [
      'wrong GitLab token',
      (body: string) => ({ body, headers: { 'x-hub-signature-256': undefined, 'x-gitlab-token': 'nope' } }),
    ],
    [
      'wrong bearer',
      (body: string) => ({ body, headers: { 'x-hub-signature-256': undefined, authorization: 'Bearer nope' } }),
    ],
  ])('%s: 401 and the checkout is untouched, no sync runs', async (_name, make) => {
    const { url, daemon } = await setup();
    const triggers = passTriggers(daemon);
    const before = await headOf(sb!.checkout);
    await commitAndPush(sb!, { 'app.py': 'VERSION = 2\n' });
    const { body, headers } = make(pushBody());
    const clean = Object.fromEntries(
      Object.entries({ 'content-type': 'application/json', 'x-github-event': 'push', ...headers }).filter(
        ([, v]) => v !== undefined,
      ),
    ) as Record<string, string>;
    const res = await fetch(`${url}/webhook`, { method: 'POST', headers: clean, body });
    expect(res.status).toBe(401);
    expect(await headOf(sb!.checkout)).toBe(before);
    // a barrier: a pass that starts after it is asked for. Had the 401 queued a sync, it would have run before
    // it or taken it in (its trigger, not ours)
    await daemon.syncAndWait('barrier');
    expect(triggers).toEqual(['barrier']);
  });

  it('GitLab token, Gitea signature and bearer forms are accepted', async () => {
    const { url } = await setup();
    const body = pushBody();
    const gitea = createHmac('sha256', SECRET).update(body).digest('hex');
    for (const headers of [
      { 'x-gitlab-token': SECRET, 'x-gitlab-event': 'Push Hook' },
      { 'x-gitea-signature': gitea, 'x-gitea-event': 'push' },
      { authorization: `Bearer ${SECRET}` },
    ]) {
      expect((await fetch(`${url}/webhook`, { method: 'POST', headers, body })).status).toBe(202);
    }
  });

  it('ignores other branches (202), answers pings (200), refuses bad input', async () => {
    const { url, daemon } = await setup();
    const triggers = passTriggers(daemon);
    const other = await githubPush(url, pushBody('refs/heads/feature'));
    expect([other.status, ((await other.json()) as { message: string }).message]).toEqual([
      202,
      'push to refs/heads/feature ignored: following main',
    ]);
    const pingBody = '{"zen":"hi"}';
    expect(
      (await githubPush(url, pingBody, { 'x-github-event': 'ping', 'x-hub-signature-256': sign(pingBody) })).status,
    ).toBe(200);
    const garbage = 'not json{';
    expect((await githubPush(url, garbage, { 'x-hub-signature-256': sign(garbage) })).status).toBe(400);
    expect((await fetch(`${url}/webhook`)).status).toBe(405);
    const big = 'x'.repeat(1024 * 1024 + 1);
    const tooBig = await fetch(`${url}/webhook`, {
      method: 'POST',
      headers: { 'x-hub-signature-256': sign(big) },
      body: big,
    }).then(
      (r) => r.status,
      () => 413,
    );
    expect(tooBig).toBe(413);
    await daemon.syncAndWait('barrier');
    expect(triggers).toEqual(['barrier']);
  });

  it('refuses webhooks without a configured secret', async () => {
    const { url } = await setup({}, { secret: undefined });
    expect((await githubPush(url)).status).toBe(503);
    expect((await fetch(`${url}/status`)).status).toBe(200);
  });

  it('1000 valid calls during a deploy (32 connections at a time) give at most 2 deploys', async () => {
    const { url, engine, daemon } = await setup({ reload: ['command:sleep 0.5'] });
    const sha = await commitAndPush(sb!, { 'app.py': 'VERSION = 2\n' });
    const body = pushBody();
    const headers = { 'x-github-event': 'push', 'x-hub-signature-256': sign(body) };
    const statuses = await postMany(url, 1000, { headers, body, concurrency: 32 });
    expect(statuses.filter((s) => s === 202)).toHaveLength(1000);
    await waitFor(
      'deployed',
      async () => (await headOf(sb!.checkout)) === sha && engine.status.state === 'idle',
      60_000,
    );
    // every pass the calls asked for has ended once a pass asked for now has (or was that pass)
    await daemon.syncAndWait('barrier');
    expect(engine.status.deploys.length).toBeGreaterThanOrEqual(1);
    expect(engine.status.deploys.length).toBeLessThanOrEqual(2);
  });

  it('accepts form-encoded deliveries: GitHub signs the body as sent, Gitea the JSON inside it', async () => {
    const { url, outcomes } = await setup();
    const sha = await commitAndPush(sb!, { 'app.py': 'VERSION = 2\n' });
    const json = JSON.stringify({ ref: 'refs/heads/main', after: sha, repository: { full_name: 'o/r' } });
    const form = new URLSearchParams({ payload: json }).toString();
    const formType = { 'content-type': 'application/x-www-form-urlencoded' };
    const github = await fetch(`${url}/webhook`, {
      method: 'POST',
      headers: { ...formType, 'x-github-event': 'push', 'x-hub-signature-256': sign(form) },
      body: form,
    });
    expect([github.status, ((await github.json()) as { message: string }).message]).toEqual([202, 'sync queued']);
    await waitFor('deploy', () => outcomes.some((o) => !(o instanceof Error) && o.kind === 'deployed'), 60_000);
    expect(await headOf(sb!.checkout)).toBe(sha);
    const gitea = createHmac('sha256', SECRET).update(json).digest('hex');
    const again = await fetch(`${url}/webhook`, {
      method: 'POST',
      headers: { ...formType, 'x-gitea-event': 'push', 'x-gitea-signature': gitea },
      body: form,
    });
    expect([again.status, ((await again.json()) as { message: string }).message]).toEqual([
      202,
      `nothing to do: ${sha.slice(0, 7)} is already deployed`,
    ]);
    const forged = new URLSearchParams({ payload: json.replace('main', 'mair') }).toString();
    expect(
      (
        await fetch(`${url}/webhook`, {
          method: 'POST',
          headers: { ...formType, 'x-hub-signature-256': sign(form) },
          body: forged,
        })
      ).status,
    ).toBe(401);
    const noField = 'other=1';
    const missing = await fetch(`${url}/webhook`, {
      method: 'POST',
      headers: { ...formType, 'x-hub-signature-256': sign(noField) },
      body: noField,
    });
    expect([missing.status, ((await missing.json()) as { error: string }).error]).toEqual([
      400,
      'form body has no payload field (application/x-www-form-urlencoded wants payload=<JSON>)',
    ]);
    expect(outcomes.filter((o) => !(o instanceof Error) && o.kind === 'deployed')).toHaveLength(1);
  });

  it('refuses a missing or malformed signature before reading the body', async () => {
    const { url } = await setup();
    for (const headers of [
      {},
      { 'x-hub-signature-256': 'sha256=zz' },
      { 'x-gitea-signature': 'abc' },
      { 'x-gitlab-token': 'nope' },
    ]) {
      // A body that is announced but never sent: only an answer given before reading it can arrive.
      const reply = await new Promise<number>((resolve, reject) => {
        const req = http.request(
          `${url}/webhook`,
          { method: 'POST', headers: { 'content-length': '1000000', ...headers } },
          (res) => resolve(res.statusCode!),
        );
        req.on('error', reject);
        req.write('{"ref":');
      });
      expect(reply).toBe(401);
    }
  });
});

describe('status, healthz, metrics', { timeout: 180_000 }, () => {
  it('reflect a deploy, a failure and a divergence', async () => {
    const { url, engine, daemon } = await setup({ interval: '100ms', backoffMax: '200ms' });
    const sha = await commitAndPush(sb!, { 'app.py': 'VERSION = 2\n' });
    daemon.trigger('test');
    await waitFor('deploy', () => engine.status.deploys.length === 1);
    const status = (await (await fetch(`${url}/status`)).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ state: 'idle', deployedSha: sha, remoteSha: sha, branch: 'main', live: true });
    const deploy = (status.deploys as Array<Record<string, unknown>>)[0]!;
    expect(deploy).toMatchObject({ to: sha, result: 'reloaded' });
    expect(Object.keys(deploy.stages as object)).toEqual(['detected', 'fetched', 'applied', 'reloaded']);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    let metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('hotpull_deploys_total{result="reloaded"} 1');
    expect(metrics).toContain(`hotpull_info{sha="${sha}",branch="main"`);
    expect(metrics).toMatch(/hotpull_sync_duration_seconds_count \d+/);

    await forcePush(sb!, { 'app.py': 'VERSION = 2b\n' });
    await waitFor('diverged', () => engine.status.state === 'diverged');
    expect((await (await fetch(`${url}/status`)).json()) as { state: string; live: boolean }).toMatchObject({
      state: 'diverged',
      live: false,
    });
    expect(await (await fetch(`${url}/metrics`)).text()).toContain('hotpull_state{state="diverged"} 1');

    await fs.rename(sb!.bare, `${sb!.bare}.gone`);
    await waitFor('failing', () => engine.status.state === 'failing');
    const healthz = await fetch(`${url}/healthz`);
    expect(healthz.status).toBe(503);
    expect(await healthz.text()).toMatch(/^failing: git ls-remote/);
    metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/hotpull_syncs_total\{trigger="poll",result="error"\} \d+/);
    await fs.rename(`${sb!.bare}.gone`, sb!.bare);
  });

  it('healthz is 503 before the first successful sync', async () => {
    const { url } = await setup({}, { start: false });
    const res = await fetch(`${url}/healthz`);
    expect([res.status, await res.text()]).toEqual([503, 'starting: no successful sync yet\n']);
  });

  it('formats a readable summary', () => {
    const text = formatStatus(
      {
        state: 'idle',
        remote: 'origin',
        branch: 'main',
        deployedSha: 'a'.repeat(40),
        consecutiveFailures: 0,
        lastSuccessAt: new Date(10_000).toISOString(),
        deploys: [
          {
            trigger: 'poll',
            from: 'b'.repeat(40),
            to: 'a'.repeat(40),
            result: 'live',
            stages: { detected: new Date(0).toISOString() },
            durations: { detect: 1, fetch: 2, apply: 3, reload: 4, verify: 5, total: 1500 },
          },
        ],
      },
      12_000,
    );
    expect(text).toBe(
      [
        'state     idle',
        'branch    main on origin',
        'deployed  aaaaaaa',
        'last sync 2s ago',
        '',
        'recent deploys:',
        '  1970-01-01T00:00:00.000Z  bbbbbbb → aaaaaaa  live           1.5s  (poll)',
        '',
      ].join('\n'),
    );
  });

  it('safeEqual: true for equal strings only, length mismatches and prefixes included', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('', 'a')).toBe(false);
    expect(authenticate({}, Buffer.from(''), 's')).toMatchObject({
      ok: false,
      reason: expect.stringContaining('no signature'),
    });
  });

  // How long a check takes is measured by bench/signature.mjs; what pins it here is that every check is one
  // crypto.timingSafeEqual per candidate over two fixed-length digests, never a `===` on what the client sent.
  it('every secret check is one timingSafeEqual of two 32-byte digests per candidate, right or wrong, any length', () => {
    const body = Buffer.from('{"ref":"refs/heads/main"}');
    const form = Buffer.from(`payload=${encodeURIComponent(body.toString())}`);
    const hex = (signed: Buffer, secret = SECRET) => createHmac('sha256', secret).update(signed).digest('hex');
    const wrongHex = hex(body, 'not-the-secret');
    // [what, the check, the header value a client sent, is it accepted, how many candidates it compares]
    const cases: Array<[string, () => { ok: boolean }, string, boolean, number]> = [
      [
        'github',
        () => authenticate({ 'x-hub-signature-256': `sha256=${hex(body)}` }, body, SECRET),
        hex(body),
        true,
        1,
      ],
      [
        'github, wrong',
        () => authenticate({ 'x-hub-signature-256': `sha256=${wrongHex}` }, body, SECRET),
        wrongHex,
        false,
        1,
      ],
      [
        'gitea, form: body and payload',
        () => authenticate({ 'x-gitea-signature': hex(body) }, form, SECRET, [form, body]),
        hex(body),
        true,
        2,
      ],
      ['gitea, wrong', () => authenticate({ 'x-gitea-signature': wrongHex }, body, SECRET), wrongHex, false, 1],
      ['gitlab', () => authenticate({ 'x-gitlab-token': SECRET }, body, SECRET), SECRET, true, 1],
      [
        'gitlab, same length',
        () => authenticate({ 'x-gitlab-token': 'hook-s3creT' }, body, SECRET),
        'hook-s3creT',
        false,
        1,
      ],
      ['gitlab, a prefix', () => authenticate({ 'x-gitlab-token': 'hook' }, body, SECRET), 'hook', false, 1],
      ['gitlab, longer', () => authenticate({ 'x-gitlab-token': `${SECRET}x` }, body, SECRET), `${SECRET}x`, false, 1],
      ['bearer', () => authenticate({ authorization: `Bearer ${SECRET}` }, body, SECRET), SECRET, true, 1],
      ['bearer, wrong', () => authenticate({ authorization: 'Bearer nope' }, body, SECRET), 'nope', false, 1],
      ['precheck gitlab', () => precheck({ 'x-gitlab-token': SECRET }, SECRET), SECRET, true, 1],
      ['precheck gitlab, wrong', () => precheck({ 'x-gitlab-token': 'hook-s3creT' }, SECRET), 'hook-s3creT', false, 1],
      [
        'precheck bearer, longer',
        () => precheck({ authorization: `Bearer ${SECRET}!` }, SECRET),
        `${SECRET}!`,
        false,
        1,
      ],
    ];
    // the very object src/lazy-crypto.ts hands out; the spy calls through to the real function
    const spy = vi.spyOn(process.getBuiltinModule('node:crypto'), 'timingSafeEqual');
    try {
      for (const [what, check, sent, ok, candidates] of cases) {
        spy.mockClear();
        expect(check().ok, what).toBe(ok);
        expect(spy.mock.calls.length, `${what}: timingSafeEqual calls`).toBe(candidates);
        for (const [a, b] of spy.mock.calls as Array<[Uint8Array, Uint8Array]>) {
          expect([a.byteLength, b.byteLength], `${what}: digests, not the values`).toEqual([32, 32]);
          for (const raw of [sent, SECRET, `sha256=${sent}`])
            expect(Buffer.from(a).equals(Buffer.from(raw)) || Buffer.from(b).equals(Buffer.from(raw)), what).toBe(
              false,
            );
        }
      }
    } finally {
      spy.mockRestore();
    }
  });
});

describe('hotpull status / sync --now against the real daemon', { timeout: 180_000 }, () => {
  it('prints the summary, exits 0 live, 1 on a problem, 3 unreachable; sync --now triggers a sync', async () => {
    sb = await makeSandbox();
    const env = { HOTPULL_WEBHOOK_SECRET: SECRET };
    const child = spawnCli(['run', '--repo', sb.checkout, '--interval', '10m', '--listen', '127.0.0.1:0'], { env });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const url = (await waitFor(
        'listening',
        () => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1],
        60_000,
      ))!;
      // "hotpull following" is logged at start, before the first pass has ended (state `starting` until then)
      await waitFor('first sync', () => out.includes('hotpull following'), 60_000);
      await waitFor(
        'idle',
        async () => /^state {5}idle\n/.test((await runCli(['status', '--url', url])).stdout),
        60_000,
      );
      const live = await runCli(['status', '--url', url]);
      expect(live.exitCode).toBe(0);
      expect(live.stdout).toMatch(/^state {5}idle\nbranch {4}main on origin\ndeployed  [0-9a-f]{7}\n/);
      const json = await runCli(['status', '--url', url, '--json']);
      expect(JSON.parse(json.stdout)).toMatchObject({ state: 'idle', branch: 'main' });
      expect(json.stdout).not.toContain(SECRET);

      const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
      const now = await runCli(['sync', '--now', '--url', url], { env });
      expect([now.exitCode, now.stdout.trim()]).toEqual([0, 'sync queued']);
      await waitFor('deploy', async () => (await headOf(sb!.checkout)) === sha, 60_000);

      await fs.writeFile(path.join(sb.checkout, 'app.py'), 'local edit\n');
      await commitAndPush(sb, { 'app.py': 'VERSION = 3\n' });
      await runCli(['sync', '--now', '--url', url], { env });
      await waitFor('dirty', async () => (await runCli(['status', '--url', url])).exitCode === 1, 60_000);
      const dirty = await runCli(['status', '--url', url]);
      expect(dirty.stdout).toMatch(/^state {5}dirty: tracked files were modified/);

      const wrongSecret = await runCli(['sync', '--now', '--url', url], { env: { HOTPULL_WEBHOOK_SECRET: 'nope' } });
      expect(wrongSecret.exitCode).toBe(1);
    } finally {
      child.kill('SIGTERM');
      expect((await child).exitCode).toBe(0);
    }
    const closed = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const gone = await runCli(['status', '--url', `http://127.0.0.1:${closed}`]);
    expect(gone.exitCode).toBe(3);
    expect(gone.stderr).toBe(
      `hotpull: cannot reach the hotpull daemon at http://127.0.0.1:${closed}/status: ECONNREFUSED`,
    );
  });
});

describe('the HTTP client (node:http, no fetch)', () => {
  it('answers with status and body, no redirect followed, a body cut at the cap, a timeout and a refused port named', async () => {
    const app = http.createServer((req, res) => {
      if (req.url === '/moved') res.writeHead(302, { location: '/elsewhere' }).end('see elsewhere');
      else if (req.url === '/big') res.end('x'.repeat(100_000));
      else if (req.url === '/never') res.writeHead(200).write('partial');
      else res.end(`${req.method} ${req.headers['user-agent']} ${req.headers.authorization ?? '-'}`);
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(app.address() as net.AddressInfo).port}`;
    try {
      expect(
        await request(`${base}/x`, {
          method: 'POST',
          headers: { 'user-agent': 'ua', authorization: 'Bearer t' },
          timeoutMs: 5000,
        }),
      ).toMatchObject({
        status: 200,
        body: 'POST ua Bearer t',
      });
      const moved = await request(`${base}/moved`, { timeoutMs: 5000 });
      expect(moved).toMatchObject({ status: 302, body: 'see elsewhere' });
      // the answer's headers come with it (Retry-After is read from them), a redirect's target among them
      expect(moved.headers.location).toBe('/elsewhere');
      expect((await request(`${base}/big`, { timeoutMs: 5000, maxBodyBytes: 1000 })).body).toBe('x'.repeat(1000));
      const slow = await request(`${base}/never`, { timeoutMs: 300 }).catch((error: unknown) => error);
      expect(requestFailure(slow)).toBe('no answer within 300ms');
    } finally {
      app.closeAllConnections();
      await new Promise((resolve) => app.close(resolve));
    }
    const refused = await request(base, { timeoutMs: 5000 }).catch((error: unknown) => error);
    expect(requestFailure(refused)).toBe('ECONNREFUSED');
  });
});
