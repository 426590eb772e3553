/**
 * hotpull pause / resume against the built CLI: a real daemon, real git. A pause holds a push across a restart,
 * resume deploys it; an unauthenticated POST /pause changes nothing; a damaged pause file still pauses.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, headOf } from './helpers/git.js';
import { runCli, waitFor } from './helpers/hotpull.js';
import { SECRET, daemonOnSandbox, onTeardown, request, startDaemon, teardownAll } from './helpers/listener.js';
import { describePause, parsePause, cleanReason, PauseFile } from '../src/sync/pause.js';

afterEach(teardownAll);

const pauseFile = (checkout: string) => path.join(checkout, '.git', 'hotpull', 'pause.json');
const status = async (url: string) =>
  JSON.parse((await request(url, { path: '/status' })).body) as Record<string, unknown>;
const cli = (url: string, ...args: string[]) =>
  runCli([...args, '--url', url], { env: { HOTPULL_WEBHOOK_SECRET: SECRET } });

describe('pause file', () => {
  it('reads what it wrote; a damaged file still pauses; reasons are one short line', async () => {
    const dir = await fs.mkdtemp('/tmp/hotpull-pause-');
    onTeardown(() => fs.rm(dir, { recursive: true, force: true }));
    const file = new PauseFile(path.join(dir, 'sub', 'pause.json'));
    expect(await file.read()).toBeUndefined();
    await file.write({ reason: 'db migration', by: 'cli', at: '2026-11-30T12:00:00.000Z' });
    expect(await file.read()).toEqual({ reason: 'db migration', by: 'cli', at: '2026-11-30T12:00:00.000Z' });
    // what a torn write would look like if one could happen (rename makes it impossible; a disk can still do it)
    await fs.writeFile(file.file, '{"reason":"db mig');
    expect(await file.read()).toMatchObject({ by: 'unknown', reason: expect.stringContaining('could not be read') });
    // a temp file a kill -9 left behind is not the pause and is replaced by the next write
    await fs.writeFile(`${file.file}.tmp`, 'junk');
    await file.clear();
    expect(await file.read()).toBeUndefined();
    await file.write({ reason: '', by: 'api', at: 'x' });
    expect(await file.read()).toEqual({ reason: '', by: 'api', at: 'x' });
    expect(cleanReason(`line one\nline two\u0007${'x'.repeat(300)}`)).toMatch(/^line one line two x+$/);
    expect(cleanReason(`a${'x'.repeat(300)}`)).toHaveLength(200);
    expect(parsePause('null')).toMatchObject({ by: 'unknown' });
  });

  it('says who, why and what waits', () => {
    const pause = { reason: 'incident 42', by: 'api', at: '2026-11-30T12:00:00.000Z' };
    expect(describePause(pause, { remote: 'b'.repeat(40), deployed: 'a'.repeat(40) })).toBe(
      'paused by api at 2026-11-30T12:00:00.000Z: incident 42; nothing is applied until hotpull resume; waiting: bbbbbbb (deployed aaaaaaa)',
    );
    expect(describePause({ ...pause, by: 'rollback', left: 'c'.repeat(40) })).toContain('(rolled back from ccccccc)');
  });
});

describe('hotpull pause / resume (real daemon)', () => {
  it('a pause holds a push across a restart; resume deploys it', async () => {
    const { sb, daemon } = await daemonOnSandbox(['--interval', '200ms']);
    const v1 = await headOf(sb.checkout);

    const paused = await cli(daemon.url, 'pause', '--reason', 'release freeze');
    expect(paused.exitCode).toBe(0);
    expect(paused.stdout).toContain('paused by api');
    expect(paused.stdout).toContain('release freeze');
    const v2 = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    // polls go on: the status shows what waits, nothing is applied
    await waitFor('the paused daemon to see the push', async () => (await status(daemon.url)).remoteSha === v2, 30_000);
    const seen = await status(daemon.url);
    expect(seen).toMatchObject({ state: 'paused', deployedSha: v1, paused: { by: 'api', reason: 'release freeze' } });
    expect(seen.reason).toContain(`waiting: ${v2.slice(0, 7)} (deployed ${v1.slice(0, 7)})`);
    expect(await headOf(sb.checkout)).toBe(v1);
    // sync --now is an explicit trigger but does not lift a pause
    const waited = await cli(daemon.url, 'sync', '--now', '--wait');
    expect(waited.exitCode).toBe(1);
    expect(waited.stdout).toContain('paused: paused by api');

    await daemon.stop();
    expect(JSON.parse(await fs.readFile(pauseFile(sb.checkout), 'utf8'))).toMatchObject({
      by: 'api',
      reason: 'release freeze',
    });
    const again = await startDaemon(sb.checkout, ['--interval', '200ms']);
    onTeardown(() => again.stop());
    await waitFor(
      'the restarted daemon to see the push, paused',
      async () => {
        const s = await status(again.url);
        return s.state === 'paused' && s.remoteSha === v2;
      },
      30_000,
    );
    expect(await headOf(sb.checkout)).toBe(v1);

    const resumed = await cli(again.url, 'resume');
    expect(resumed.exitCode).toBe(0);
    expect(resumed.stdout).toContain('resumed (the pause by api: release freeze is lifted)');
    await waitFor('the held push deployed', async () => (await headOf(sb.checkout)) === v2, 30_000);
    await expect(fs.stat(pauseFile(sb.checkout))).rejects.toThrow();
    expect(await status(again.url)).not.toHaveProperty('paused');
    expect((await cli(again.url, 'resume')).stdout).toContain('was not paused');
  }, 120_000);

  it('a pause during a deploy lets that deploy finish and holds the next one', async () => {
    const { sb, daemon } = await daemonOnSandbox([
      '--interval',
      '1h',
      '--reload',
      'command:sleep 4',
      '--reload-timeout',
      '1m',
    ]);
    const v2 = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    expect(
      (await request(daemon.url, { method: 'POST', path: '/sync', headers: { authorization: `Bearer ${SECRET}` } }))
        .status,
    ).toBe(202);
    await waitFor('the deploy of v2 reloading', async () => (await status(daemon.url)).state === 'reloading', 30_000);
    const paused = await cli(daemon.url, 'pause');
    expect(paused.exitCode).toBe(0);
    expect(paused.stdout).toContain('the deploy in progress (reloading) finishes first');
    await waitFor(
      'the deploy in progress finished',
      async () => ((await status(daemon.url)).deploys as unknown[]).length === 1,
      30_000,
    );
    expect((await status(daemon.url)).deploys).toMatchObject([{ to: v2, result: 'reloaded' }]);
    await commitAndPush(sb, { 'app.py': 'VERSION = 3\n' });
    const next = await cli(daemon.url, 'sync', '--now', '--wait');
    expect(next.exitCode).toBe(1);
    expect(next.stdout).toContain('paused: paused by api');
    expect(await headOf(sb.checkout)).toBe(v2);
  }, 90_000);

  it('POST /pause without the bearer secret: 401 and no pause', async () => {
    const { sb, daemon } = await daemonOnSandbox(['--interval', '200ms']);
    for (const headers of [{}, { authorization: 'Bearer wrong' }]) {
      const reply = await request(daemon.url, { method: 'POST', path: '/pause', headers, body: '{"reason":"x"}' });
      expect(reply.status).toBe(401);
    }
    expect((await request(daemon.url, { method: 'GET', path: '/pause' })).status).toBe(405);
    const bad = await request(daemon.url, {
      method: 'POST',
      path: '/pause',
      headers: { authorization: `Bearer ${SECRET}` },
      body: '[1]',
    });
    expect(bad.status).toBe(400);
    await expect(fs.stat(pauseFile(sb.checkout))).rejects.toThrow();
    const v2 = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await waitFor('the push deployed', async () => (await headOf(sb.checkout)) === v2, 30_000);
    await waitFor('the daemon idle, never paused', async () => (await status(daemon.url)).state === 'idle', 30_000);
    expect(await status(daemon.url)).not.toHaveProperty('paused');
  }, 90_000);

  it('a damaged pause file keeps a starting daemon paused', async () => {
    const { sb, daemon } = await daemonOnSandbox(['--interval', '200ms'], {
      prepare: async (sb) => {
        await fs.mkdir(path.dirname(pauseFile(sb.checkout)), { recursive: true });
        await fs.writeFile(pauseFile(sb.checkout), '{"reason":"half a wri');
      },
    });
    const v1 = await headOf(sb.checkout);
    const v2 = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await waitFor('the paused daemon to see the push', async () => (await status(daemon.url)).remoteSha === v2, 30_000);
    expect(await status(daemon.url)).toMatchObject({ state: 'paused', paused: { by: 'unknown' } });
    expect(await headOf(sb.checkout)).toBe(v1);
  }, 90_000);
});
