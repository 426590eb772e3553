/**
 * hotpull rollback against the built CLI: through a real daemon serving a real uWSGI (verified by its health URL),
 * and in this process when no daemon is configured. The revision left is rejected and following pauses, so the
 * next poll does not undo the rollback; resume does not redeploy the rejected revision; a new push does.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { itNeeds } from './helpers/requires.js';
import { commitAndPush, git, headOf, makeSandbox } from './helpers/git.js';
import { runCli, waitFor } from './helpers/hotpull.js';
import { SECRET, onTeardown, request, startDaemon, teardownAll } from './helpers/listener.js';
import { wsgiAppSource } from './helpers/wsgi-app.js';
import { startUwsgi, workerVersions } from './helpers/uwsgi.js';

afterEach(teardownAll);

const itUwsgi = itNeeds('uwsgi');

const status = async (url: string) => JSON.parse((await request(url, { path: '/status' })).body) as Record<string, any>;
const cli = (url: string, ...args: string[]) =>
  runCli([...args, '--url', url], { env: { HOTPULL_WEBHOOK_SECRET: SECRET }, timeout: 120_000 });
const app = (version: string) => wsgiAppSource(version, { reportSha: true });

describe('hotpull rollback', () => {
  itUwsgi(
    'through the daemon: the previous revision is served, verified, and the next poll does not undo it',
    async () => {
      const sb = await makeSandbox({ files: { 'app.py': app('v1'), 'uwsgi.ini': '[uwsgi]\n' } });
      onTeardown(() => sb.cleanup());
      const server = await startUwsgi({ dir: sb.checkout, touchReload: path.join(sb.checkout, 'uwsgi.ini') });
      onTeardown(() => server.stop());
      const daemon = await startDaemon(sb.checkout, [
        '--interval',
        '300ms',
        '--health-url',
        `${server.url}/health`,
        '--health-expect',
        '{sha}',
        '--health-settle',
        '500ms',
      ]);
      onTeardown(() => daemon.stop());
      const v1 = await headOf(sb.checkout);
      const v2 = await commitAndPush(sb, { 'app.py': app('v2') });
      await waitFor(
        'v2 live',
        async () => (await status(daemon.url)).deploys[0]?.to === v2 && (await status(daemon.url)).state === 'idle',
        60_000,
      );
      expect([...new Set((await workerVersions(server.url, 2)).values())]).toEqual(['v2']);

      const rolled = await cli(daemon.url, 'rollback');
      expect(rolled.stderr).toBe('');
      expect(rolled.exitCode).toBe(0);
      expect(rolled.stdout).toContain(`${v2.slice(0, 7)} → ${v1.slice(0, 7)}: live`);
      expect(rolled.stdout).toContain('following is paused until `hotpull resume`');
      expect([...new Set((await workerVersions(server.url, 2)).values())]).toEqual(['v1']);
      const after = await status(daemon.url);
      expect(after).toMatchObject({
        state: 'paused',
        deployedSha: v1,
        lastGoodSha: v1,
        rejectedSha: v2,
        paused: { by: 'rollback', left: v2 },
      });
      expect(after.deploys[0]).toMatchObject({ trigger: 'rollback', from: v2, to: v1, result: 'live' });
      expect(await git(sb.checkout, 'rev-parse', 'refs/hotpull/rejected')).toBe(v2);

      // a whole pass later (the daemon still sees v2 on the branch) nothing moved
      const pass = await cli(daemon.url, 'sync', '--now', '--wait');
      expect(pass.exitCode).toBe(1);
      expect(pass.stdout).toContain('paused: paused by rollback');
      expect(await headOf(sb.checkout)).toBe(v1);

      // resume: the rejected revision is still the branch head and is not redeployed
      expect((await cli(daemon.url, 'resume')).exitCode).toBe(0);
      await waitFor(
        'the rejected head reported after resume',
        async () => (await status(daemon.url)).state === 'rejected',
        30_000,
      );
      expect(await headOf(sb.checkout)).toBe(v1);
      // the branch moves: following goes on
      const v3 = await commitAndPush(sb, { 'app.py': app('v3') });
      await waitFor(
        'v3 live',
        async () => (await status(daemon.url)).deploys[0]?.to === v3 && (await status(daemon.url)).state === 'idle',
        60_000,
      );
      expect([...new Set((await workerVersions(server.url, 2)).values())]).toEqual(['v3']);
    },
    180_000,
  );

  it('a rollback asked for during a deploy waits for it, then undoes it (one pass queue)', async () => {
    const sb = await makeSandbox();
    onTeardown(() => sb.cleanup());
    const daemon = await startDaemon(sb.checkout, [
      '--interval',
      '1h',
      '--reload',
      'command:sleep 4',
      '--reload-timeout',
      '1m',
    ]);
    onTeardown(() => daemon.stop());
    const v1 = await headOf(sb.checkout);
    const v2 = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    expect(
      (await request(daemon.url, { method: 'POST', path: '/sync', headers: { authorization: `Bearer ${SECRET}` } }))
        .status,
    ).toBe(202);
    await waitFor('the deploy of v2 reloading', async () => (await status(daemon.url)).state === 'reloading', 30_000);
    const rolled = await cli(daemon.url, 'rollback');
    expect(rolled.exitCode).toBe(0);
    expect(rolled.stdout).toContain(`${v2.slice(0, 7)} → ${v1.slice(0, 7)}: reloaded`);
    const deploys = (await status(daemon.url)).deploys as Array<Record<string, unknown>>;
    expect(deploys.slice(0, 2)).toMatchObject([
      { trigger: 'rollback', from: v2, to: v1, result: 'reloaded' },
      { trigger: 'api', from: v1, to: v2, result: 'reloaded' },
    ]);
    expect(await headOf(sb.checkout)).toBe(v1);
  }, 120_000);

  it('without a daemon: this process rolls back, rejects, pauses; bad SHAs exit 2', async () => {
    const sb = await makeSandbox();
    onTeardown(() => sb.cleanup());
    const env = { HOTPULL_LOG_LEVEL: 'warn' };
    const v1 = await headOf(sb.checkout);
    const v2 = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    expect((await runCli(['sync', '--repo', sb.checkout], { env })).exitCode).toBe(0);
    expect(await headOf(sb.checkout)).toBe(v2);

    const rolled = await runCli(['rollback', '--repo', sb.checkout], { env });
    expect(rolled.exitCode).toBe(0);
    expect(rolled.stdout).toContain(`${v2.slice(0, 7)} → ${v1.slice(0, 7)}: reloaded`);
    expect(await headOf(sb.checkout)).toBe(v1);
    expect(await git(sb.checkout, 'rev-parse', 'refs/hotpull/rejected')).toBe(v2);
    expect(
      JSON.parse(await fs.readFile(path.join(sb.checkout, '.git', 'hotpull', 'pause.json'), 'utf8')),
    ).toMatchObject({ by: 'rollback', left: v2 });
    // a one-shot sync respects the pause
    const sync = await runCli(['sync', '--repo', sb.checkout], { env });
    expect(sync.exitCode).toBe(1);
    expect(await headOf(sb.checkout)).toBe(v1);

    const again = await runCli(['rollback', '--repo', sb.checkout], { env });
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain('hotpull: rollback SHA must differ from the deployed revision');
    const unknown = await runCli(['rollback', 'abcdef0123', '--repo', sb.checkout], { env });
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toBe('hotpull: rollback SHA must be a commit this checkout has (got "abcdef0123")\n'.trim());
    const notHex = await runCli(['rollback', 'HEAD~1', '--repo', sb.checkout], { env });
    expect(notHex.exitCode).toBe(2);
    expect(notHex.stderr).toBe('hotpull: rollback SHA must be a commit id in hex (got "HEAD~1")');
    // forward again by sha works too
    const forward = await runCli(['rollback', v2.slice(0, 10), '--repo', sb.checkout], { env });
    expect(forward.exitCode).toBe(0);
    expect(await headOf(sb.checkout)).toBe(v2);
  }, 120_000);
});
