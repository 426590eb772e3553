/**
 * Issue 11: a signed flood coalesces into a handful of fetches, GitHub's form-encoded deliveries work, and bad
 * signatures cannot fill the log. Real daemon (dist/cli.js), real git; fetches are counted by a wrapper around
 * the bare repository's upload-pack, which every fetch and ls-remote runs once.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf, type Sandbox } from './helpers/git.js';
import { runCli, waitFor } from './helpers/hotpull.js';
import {
  SECRET,
  daemonOnSandbox,
  githubSignature,
  metricSum,
  postMany,
  request,
  teardownAll,
} from './helpers/listener.js';

afterEach(teardownAll);

/** Makes the checkout's origin run upload-pack through a script that counts its runs. */
async function countUploadPacks(sandbox: Sandbox): Promise<() => Promise<number>> {
  const counter = path.join(sandbox.root, 'upload-packs');
  const wrapper = path.join(sandbox.root, 'counting-upload-pack');
  await fs.writeFile(wrapper, `#!/bin/sh\necho run >> '${counter}'\nexec git-upload-pack "$@"\n`, { mode: 0o755 });
  await git(sandbox.checkout, 'config', 'remote.origin.uploadpack', wrapper);
  return async () => (await fs.readFile(counter, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
}

/**
 * `hotpull sync --now --wait`: returns once a pass that started after it was asked for has ended, so every pass the
 * deliveries before it caused has ended too (or was that pass: a wanted pass takes the request in).
 */
async function barrier(url: string): Promise<void> {
  const result = await runCli(['sync', '--now', '--wait', '--url', url], {
    env: { HOTPULL_WEBHOOK_SECRET: SECRET },
    timeout: 120_000,
  });
  expect(result.exitCode, result.stderr).toBe(0);
}

const pushPayload = (after: string) =>
  JSON.stringify({ ref: 'refs/heads/main', before: '0'.repeat(40), after, repository: { full_name: 'o/r' } });
const githubHeaders = (body: string) => ({
  'content-type': 'application/json',
  'x-github-event': 'push',
  'x-hub-signature-256': githubSignature(body),
});

describe('a signed flood', { timeout: 240_000 }, () => {
  it('500 identical deliveries of a push: the first goes straight through, the burst costs a handful of fetches', async () => {
    let uploadPacks = async () => 0;
    const { sb, daemon } = await daemonOnSandbox(['--interval', '10m'], {
      prepare: async (sb) => (uploadPacks = await countUploadPacks(sb)),
    });
    const before = await uploadPacks();
    expect(before).toBeGreaterThanOrEqual(1);

    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const body = pushPayload(sha);
    const first = await request(daemon.url, { method: 'POST', path: '/webhook', headers: githubHeaders(body), body });
    expect([first.status, JSON.parse(first.body).message]).toEqual([202, 'sync queued']);
    const statuses = await postMany(daemon.url, 500, { headers: githubHeaders(body), body, concurrency: 32 });
    expect(statuses.every((s) => s === 202)).toBe(true);
    await waitFor('the push to be deployed', async () => (await headOf(sb.checkout)) === sha, 60_000);
    await barrier(daemon.url);

    const metrics = (await request(daemon.url, { path: '/metrics' })).body;
    // the barrier's own pass ran upload-pack once (unless it folded into a webhook pass still wanted: counted there)
    const fetches = (await uploadPacks()) - before - metricSum(metrics, 'hotpull_syncs_total', 'trigger="api"');
    const webhookPasses = metricSum(metrics, 'hotpull_syncs_total', 'trigger="webhook"');
    expect(fetches).toBeGreaterThanOrEqual(1);
    expect(fetches).toBeLessThanOrEqual(3);
    expect(webhookPasses).toBeLessThanOrEqual(3);
    expect(metricSum(metrics, 'hotpull_webhook_requests_total', 'result="accepted"')).toBe(1);
    expect(metricSum(metrics, 'hotpull_webhook_requests_total', 'result="coalesced"')).toBe(500);
  });

  it('1000 deliveries naming other revisions, with pushes in between: a handful of fetches, the last push deployed', async () => {
    let uploadPacks = async () => 0;
    const { sb, daemon } = await daemonOnSandbox(['--interval', '10m'], {
      prepare: async (sb) => (uploadPacks = await countUploadPacks(sb)),
    });
    const before = await uploadPacks();

    // Replayed old deliveries look like this: signed, each naming a revision that is neither deployed nor new.
    let last = '';
    for (let round = 0; round < 4; round++) {
      last = await commitAndPush(sb, { 'app.py': `VERSION = ${round + 2}\n` });
      const body = (i: number) => pushPayload(i === 249 ? last : randomBytes(20).toString('hex'));
      const statuses = await postMany(daemon.url, 250, { headers: githubHeaders, body, concurrency: 32 });
      expect(statuses.every((s) => s === 202)).toBe(true);
    }
    await waitFor('the last push to be deployed', async () => (await headOf(sb.checkout)) === last, 60_000);
    await barrier(daemon.url);
    expect(await headOf(sb.checkout)).toBe(last);
    const metrics = (await request(daemon.url, { path: '/metrics' })).body;
    const fetches = (await uploadPacks()) - before - metricSum(metrics, 'hotpull_syncs_total', 'trigger="api"');
    expect(fetches).toBeLessThanOrEqual(10);
    expect(metricSum(metrics, 'hotpull_syncs_total', 'trigger="webhook"')).toBeLessThanOrEqual(10);
  });
});

describe('deliveries as GitHub and Gitea send them by default', { timeout: 240_000 }, () => {
  it('form-encoded (payload=<JSON>): GitHub signs the body as sent, Gitea the JSON inside it', async () => {
    const { sb, daemon } = await daemonOnSandbox(['--interval', '10m']);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const form = new URLSearchParams({ payload: pushPayload(sha) }).toString();
    const github = await request(daemon.url, {
      method: 'POST',
      path: '/webhook',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-github-event': 'push',
        'x-hub-signature-256': githubSignature(form),
      },
      body: form,
    });
    expect([github.status, JSON.parse(github.body).message]).toEqual([202, 'sync queued']);
    await waitFor('the push to be deployed', async () => (await headOf(sb.checkout)) === sha, 60_000);

    const next = await commitAndPush(sb, { 'app.py': 'VERSION = 3\n' });
    const json = pushPayload(next);
    const giteaForm = new URLSearchParams({ payload: json }).toString();
    const gitea = await request(daemon.url, {
      method: 'POST',
      path: '/webhook',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-gitea-event': 'push',
        'x-gitea-signature': githubSignature(json).slice('sha256='.length),
      },
      body: giteaForm,
    });
    expect(gitea.status).toBe(202);
    await waitFor('the Gitea push to be deployed', async () => (await headOf(sb.checkout)) === next, 60_000);
  });
});

describe('bad signatures', { timeout: 240_000 }, () => {
  it('500 bad deliveries: one log line, a summary at stop, all counted in /metrics', async () => {
    const { sb, daemon } = await daemonOnSandbox(['--interval', '10m']);
    const body = pushPayload('a'.repeat(40));
    const statuses = await postMany(daemon.url, 500, {
      headers: { ...githubHeaders(body), 'x-hub-signature-256': githubSignature(body, 'wrong') },
      body,
      concurrency: 16,
    });
    expect(statuses.every((s) => s === 401)).toBe(true);
    const metrics = (await request(daemon.url, { path: '/metrics' })).body;
    expect(metricSum(metrics, 'hotpull_http_refused_total', 'reason="unauthorized"')).toBe(500);
    expect(metricSum(metrics, 'hotpull_webhook_requests_total', 'result="unauthorized"')).toBe(500);
    expect(await daemon.stop()).toEqual({ exitCode: 0, signal: undefined });
    const lines = daemon.logs().filter((l) => /401|unauthorized/.test(String(l.msg)));
    expect(lines.map((l) => l.msg)).toEqual([
      'POST /webhook: 401 bad X-Hub-Signature-256 (from 127.0.0.1; more within a minute are counted, not logged)',
      expect.stringMatching(/^499 more unauthorized requests in the last \d+s, from 127\.0\.0\.1 ×499$/),
    ]);
  });
});
