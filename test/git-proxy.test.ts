/**
 * git itself through a proxy: a real tinyproxy in front of a real smart-HTTP git server that refuses every request
 * the proxy did not forward (tinyproxy adds a header; a request without it is answered 403 "direct route blocked").
 * A deploy goes through the proxy when http_proxy says so, and cannot go without it; `hotpull fleet` asks a peer
 * through the same proxy (net/request.ts reads the same variables).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { commitAndPush, git, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from './helpers/http-git-server.js';
import { runHotpull } from './helpers/procs.js';
import { itRequires } from './helpers/requires.js';
import { startTinyproxy, tinyproxyMissing, type Tinyproxy } from './helpers/tinyproxy.js';

const itTinyproxy = itRequires(tinyproxyMissing());
const MARK = 'X-Through-Proxy';
let sb: Sandbox;
let server: GitHttpServer;
let proxy: Tinyproxy | undefined;

beforeAll(async () => {
  sb = await makeSandbox();
  server = await startGitHttpServer({ projectRoot: sb.root, onlyWithHeader: MARK });
  // `localhost`, not 127.0.0.1: curl (git's http) never proxies what NO_PROXY or its own rules exempt, and hotpull's
  // requests leave loopback addresses alone; the name goes through the proxy when asked to
  await git(sb.checkout, 'remote', 'set-url', 'origin', `http://localhost:${server.port}/remote.git`);
  if (!tinyproxyMissing()) proxy = await startTinyproxy({ addHeader: [MARK, 'yes'] });
});
afterAll(async () => {
  await proxy?.stop();
  await server?.close();
  await sb?.cleanup();
});

describe('git over http through a proxy', () => {
  itTinyproxy('a push deploys through the proxy with the direct route blocked, and not without it', async () => {
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const direct = await runHotpull(['sync', '--repo', sb.checkout], { env: { http_proxy: '', HTTP_PROXY: '' } });
    expect(direct.code).not.toBe(0);
    expect(direct.stderr + direct.stdout).toMatch(/403/);
    expect(await headOf(sb.checkout)).not.toBe(sha);

    const before = server.hits.length;
    const via = await runHotpull(['sync', '--repo', sb.checkout], { env: { http_proxy: proxy!.url } });
    expect(via.code, via.stderr).toBe(0);
    expect(await headOf(sb.checkout)).toBe(sha);
    const hits = server.hits.slice(before);
    expect(hits.length).toBeGreaterThan(0);
    expect(hits.every((h) => h.status === 200)).toBe(true);
    expect(proxy!.log()).toMatch(new RegExp(`GET http://localhost:${server.port}/remote\\.git/info/refs`));
  });

  itTinyproxy('hotpull fleet asks a peer through the same proxy', async () => {
    let seen: string | undefined;
    const peer = http.createServer((req, res) => {
      seen = String(req.headers[MARK.toLowerCase()] ?? 'direct');
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ state: 'idle', deployedSha: '1'.repeat(40), branch: 'main', deploys: [] }));
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    try {
      const port = (peer.address() as AddressInfo).port;
      const fleet = await runHotpull(['fleet', '--peer', `http://localhost:${port}`, '--json'], {
        // the name localhost goes direct unless NO_PROXY is set (then the list alone decides: docs/notifications.md)
        env: { http_proxy: proxy!.url, NO_PROXY: 'nothing.invalid' },
      });
      expect(seen, fleet.stdout + fleet.stderr).toBe('yes');
      expect(proxy!.log()).toMatch(new RegExp(`GET http://localhost:${port}/status`));
    } finally {
      peer.close();
    }
  });
});
