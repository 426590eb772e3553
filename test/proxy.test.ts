/**
 * Issue 30 item 2: hotpull's own requests (notifications, health checks, the operator commands' calls to a daemon)
 * honour HTTPS_PROXY / HTTP_PROXY / NO_PROXY. Pure tables for which URL goes through which proxy; then a real
 * tinyproxy on 127.0.0.1: http in absolute form and https through CONNECT (its log shows each request), a daemon
 * whose notifications and health checks go through it, and a proxy that refuses, said in one line naming it.
 *
 * The receivers are reached as `localhost`, which the rule lets a NO_PROXY list leave out (127.0.0.1 written as an
 * address never goes through a proxy): a test never sends traffic off the machine.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { itRequires } from './helpers/requires.js';
import { commitAndPush, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import { runHotpull, startHotpull, stop, stopAll, waitForRecord } from './helpers/procs.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';
import { freePort } from './helpers/uwsgi.js';
import { startTinyproxy, tinyproxyMissing, type Tinyproxy } from './helpers/tinyproxy.js';
import { proxyFor, readProxyEnv, type ProxyEnv } from '../src/net/proxy.js';
import { request } from '../src/net/request.js';

const PROXY_SECRET = 'PR0XY-S3CRET';

function env(vars: Record<string, string>): ProxyEnv {
  const read = readProxyEnv(vars);
  if ('problem' in read) throw new Error(read.problem);
  return read;
}

describe('which requests go through which proxy (pure)', () => {
  const both = { HTTPS_PROXY: 'http://u:pw@proxy.corp:3128', http_proxy: 'proxy.corp:8080' };
  it.each<[string, Record<string, string>, string | undefined]>([
    ['https://hooks.slack.com/x', both, 'http://proxy.corp:3128'],
    ['http://app.internal/health', both, 'http://proxy.corp:8080'],
    ['https://hooks.slack.com/x', { HTTP_PROXY: 'http://p:1' }, undefined],
    // loopback written as an address: never
    ['http://127.0.0.1:8000/health', both, undefined],
    ['http://127.9.9.9:8000/health', { ...both, NO_PROXY: 'other.example' }, undefined],
    ['http://[::1]:8000/health', { ...both, NO_PROXY: '' }, undefined],
    // the name localhost: not without NO_PROXY; with it, as the list says
    ['http://localhost:8000/health', both, undefined],
    ['http://localhost:8000/health', { ...both, NO_PROXY: 'other.example' }, 'http://proxy.corp:8080'],
    ['http://localhost:8000/health', { ...both, NO_PROXY: 'localhost' }, undefined],
    // NO_PROXY: a name and everything under it, with or without the dot; addresses, CIDR, *
    ['https://api.corp.example/x', { ...both, NO_PROXY: 'corp.example' }, undefined],
    ['https://api.corp.example/x', { ...both, no_proxy: '.corp.example' }, undefined],
    ['https://corp.example.evil/x', { ...both, NO_PROXY: 'corp.example' }, 'http://proxy.corp:3128'],
    ['https://notcorp.example/x', { ...both, NO_PROXY: 'corp.example' }, 'http://proxy.corp:3128'],
    ['http://10.1.2.3/x', { ...both, NO_PROXY: '10.0.0.0/8' }, undefined],
    ['http://11.1.2.3/x', { ...both, NO_PROXY: '10.0.0.0/8' }, 'http://proxy.corp:8080'],
    ['http://192.168.1.5/x', { ...both, NO_PROXY: 'a.example, 192.168.1.5' }, undefined],
    ['https://anything.example/x', { ...both, NO_PROXY: '*' }, undefined],
    // the lowercase variable wins, as in curl
    ['https://x.example/', { HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:2' }, 'http://lower:2'],
  ])('%s with %j: %s', (url, vars, expected) => {
    expect(proxyFor(new URL(url), env(vars))?.label).toBe(expected);
  });

  it('proxy credentials are decoded for Proxy-Authorization and never in the label', () => {
    const proxy = proxyFor(new URL('https://x.example/'), env({ HTTPS_PROXY: 'http://me:p%40ss@proxy.corp:3128' }));
    expect(proxy).toEqual({ host: 'proxy.corp', port: 3128, auth: 'me:p@ss', label: 'http://proxy.corp:3128' });
  });

  it.each([
    [
      { HTTPS_PROXY: 'socks5://u:PR0XY-S3CRET@p:1080' },
      'HTTPS_PROXY must be an http:// proxy (hotpull\'s own requests go through no socks5 proxy; got "socks5://p:1080")',
    ],
    [
      { http_proxy: 'https://p:3129' },
      'http_proxy must be an http:// proxy (hotpull\'s own requests go through no https proxy; got "https://p:3129")',
    ],
    [
      { HTTP_PROXY: 'http://p:3128/path' },
      'HTTP_PROXY must be a proxy URL http://HOST[:PORT] (got "http://p:3128/path")',
    ],
  ])('%j is refused: %s', (vars, problem) => {
    expect(readProxyEnv(vars)).toEqual({ problem });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// A real tinyproxy

const itTinyproxy = itRequires(tinyproxyMissing());
let certDir: string | undefined;
let tls: { key: string; cert: string; file: string } | undefined;
let sb: Sandbox | undefined;
const receivers: Receiver[] = [];
const proxies: Tinyproxy[] = [];

beforeAll(async () => {
  if (tinyproxyMissing()) return;
  // a certificate for localhost, trusted by the daemon through NODE_EXTRA_CA_CERTS
  certDir = await tmpDir('hotpull-proxy-cert-');
  const key = path.join(certDir, 'key.pem');
  const cert = path.join(certDir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  tls = { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8'), file: cert };
});
afterAll(async () => {
  if (certDir) await fs.rm(certDir, { recursive: true, force: true });
});
afterEach(async () => {
  await stopAll();
  for (const r of receivers.splice(0)) await r.close();
  for (const p of proxies.splice(0)) await p.stop();
  await sb?.cleanup();
  sb = undefined;
});

async function receiver(secure = false): Promise<Receiver> {
  const r = await startReceiver(0, secure ? { tls } : {});
  receivers.push(r);
  return r;
}
async function tinyproxy(options: Parameters<typeof startTinyproxy>[0] = {}): Promise<Tinyproxy> {
  const p = await startTinyproxy(options);
  proxies.push(p);
  return p;
}

describe('through a real tinyproxy', () => {
  itTinyproxy(
    'request(): http in absolute form with proxy credentials; a NO_PROXY name and 127.0.0.1 go direct',
    async () => {
      const proxy = await tinyproxy({ auth: ['proxyuser', PROXY_SECRET] });
      const plain = await receiver();
      const via = env({
        HTTP_PROXY: `http://proxyuser:${PROXY_SECRET}@127.0.0.1:${proxy.port}`,
        HTTPS_PROXY: `http://proxyuser:${PROXY_SECRET}@127.0.0.1:${proxy.port}`,
        NO_PROXY: 'nothing.invalid',
      });
      const answer = await request(`http://localhost:${plain.port}/health?x=1`, { timeoutMs: 5000, proxy: via });
      expect(answer).toMatchObject({ status: 200, body: 'ok', proxy: proxy.url });
      expect(proxy.log()).toContain(`Request (file descriptor`);
      expect(proxy.log()).toContain(`GET http://localhost:${plain.port}/health?x=1 HTTP/1.1`);
      const before = proxy.log();
      const listed = env({ HTTP_PROXY: `http://127.0.0.1:${proxy.port}`, NO_PROXY: 'localhost' });
      expect(
        (await request(`http://localhost:${plain.port}/direct`, { timeoutMs: 5000, proxy: listed })).proxy,
      ).toBeUndefined();
      expect(
        (await request(`http://127.0.0.1:${plain.port}/direct`, { timeoutMs: 5000, proxy: via })).proxy,
      ).toBeUndefined();
      expect(proxy.log().slice(before.length)).not.toContain('/direct');
      expect(plain.received.map((r) => r.path)).toEqual(['/health?x=1', '/direct', '/direct']);
    },
  );
});

describe('the daemon through a real tinyproxy', () => {
  itTinyproxy(
    'notifications (https through CONNECT, http in absolute form) and the health check go through it; so does hotpull status',
    async () => {
      const proxy = await tinyproxy({ auth: ['proxyuser', PROXY_SECRET] });
      const secure = await receiver(true);
      const plain = await receiver();
      sb = await makeSandbox();
      const proxyUrl = `http://proxyuser:${PROXY_SECRET}@127.0.0.1:${proxy.port}`;
      const proxyEnv = { HTTPS_PROXY: proxyUrl, HTTP_PROXY: proxyUrl, NO_PROXY: 'nothing.invalid' };
      const listen = await freePort();
      const daemon = startHotpull(
        [
          'run',
          '--repo',
          sb.checkout,
          '--interval',
          '200ms',
          '--health-url',
          `http://localhost:${plain.port}/health`,
          '--health-timeout',
          '10s',
          '--health-settle',
          '200ms',
          '--listen',
          String(listen),
        ],
        {
          env: {
            ...proxyEnv,
            NODE_EXTRA_CA_CERTS: tls!.file,
            HOTPULL_NOTIFY: JSON.stringify([
              `https://localhost:${secure.port}/hook`,
              `ntfy://localhost:${plain.port}/deploys?scheme=http`,
            ]),
          },
        },
      );
      await waitForRecord(daemon, 'the first pass', (r) => String(r.msg).startsWith('hotpull following'));
      const sha = await commitAndPush(sb, { 'README.md': 'v2\n' }, 'Ship v2');
      await waitFor(
        'both notifications',
        () => secure.received.length >= 1 && plain.received.some((r) => r.method === 'POST'),
        30_000,
      );
      expect(secure.received[0]!.body).toMatchObject({ event: 'live', new: sha });
      expect(plain.received.find((r) => r.method === 'POST')!.body).toMatchObject({ topic: 'deploys' });
      const log = proxy.log();
      expect(log).toContain(`CONNECT localhost:${secure.port} HTTP/1.1`);
      expect(log).toContain(`POST http://localhost:${plain.port}/ HTTP/1.1`);
      expect(log).toContain(`GET http://localhost:${plain.port}/health HTTP/1.1`);

      // the operator commands' calls to a daemon (the fleet view's transport) honour it too
      const status = await runHotpull(['status', '--url', `http://localhost:${listen}`], { env: proxyEnv });
      expect(status.code).toBe(0);
      expect(status.stdout).toContain(`deployed  ${sha.slice(0, 7)}`);
      expect(proxy.log()).toContain(`GET http://localhost:${listen}/status HTTP/1.1`);
      await stop(daemon);
      // a localhost health URL through a proxy is said once at start: the usual setup lists localhost in NO_PROXY
      expect(
        daemon
          .records()
          .filter((r) => String(r.msg).startsWith('the health check goes through'))
          .map((r) => r.msg),
      ).toEqual([
        `the health check goes through proxy ${proxy.url}: NO_PROXY is set and does not list localhost; list it if the app is on this machine`,
      ]);
      const output = daemon.stdout() + daemon.stderr();
      expect(output).not.toContain(PROXY_SECRET);
    },
    60_000,
  );

  itTinyproxy(
    'a proxy that refuses: one line naming the proxy, no secret; the deploy goes on',
    async () => {
      const proxy = await tinyproxy({ deny: true });
      const secure = await receiver(true);
      sb = await makeSandbox();
      const daemon = startHotpull(['run', '--repo', sb.checkout, '--interval', '200ms'], {
        env: {
          HTTPS_PROXY: `http://proxyuser:${PROXY_SECRET}@127.0.0.1:${proxy.port}`,
          NO_PROXY: 'nothing.invalid',
          NODE_EXTRA_CA_CERTS: tls!.file,
          HOTPULL_NOTIFY: `https://localhost:${secure.port}/hook`,
        },
      });
      await waitForRecord(daemon, 'the first pass', (r) => String(r.msg).startsWith('hotpull following'));
      const sha = await commitAndPush(sb, { 'README.md': 'v2\n' }, 'Ship v2');
      await waitForRecord(daemon, 'the deploy', (r) => r.new === sha && String(r.msg).startsWith('deployed'), 30_000);
      const failed = await waitForRecord(
        daemon,
        'the failed delivery',
        (r) => String(r.msg).includes('not delivered'),
        30_000,
      );
      await stop(daemon);
      expect(failed.msg).toBe(
        `notify https://localhost:${secure.port}: live not delivered (proxy http://127.0.0.1:${proxy.port} refused CONNECT to localhost:${secure.port}: 403 Filtered); retrying in the background, further failures are counted in /metrics until it works again`,
      );
      expect(proxy.log()).toContain('Proxying refused on filtered domain "localhost"');
      expect(secure.received).toEqual([]);
      expect(daemon.stdout() + daemon.stderr()).not.toContain(PROXY_SECRET);
    },
    60_000,
  );

  it('a proxy variable hotpull cannot use is a configuration error: one line, exit 2, no secret', async () => {
    sb = await makeSandbox();
    const result = await runHotpull(['run', '--repo', sb.checkout], {
      env: { HTTPS_PROXY: `socks5://me:${PROXY_SECRET}@proxy.corp:1080` },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'hotpull: HTTPS_PROXY must be an http:// proxy (hotpull\'s own requests go through no socks5 proxy; got "socks5://proxy.corp:1080")\n',
    );
  });
});
