/**
 * Issue 24, item 1: a checkout deleted and cloned again at the same path (a volume re-provisioned) while the daemon
 * runs. The daemon must not create anything where the checkout was (a `git clone` there must work), must say once
 * that the checkout is gone and wait, and must own and deploy into whatever is cloned there next. A real daemon, a
 * real `rm -rf`, a real `git clone`.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import { faultFixtures, runHotpull, startHotpull, stop, waitFirstPass, waitForRecord } from './helpers/procs.js';

const made = faultFixtures();

const exists = (file: string) =>
  fs.stat(file).then(
    () => true,
    () => false,
  );

async function listening(daemon: ReturnType<typeof startHotpull>): Promise<string> {
  const record = await waitForRecord(daemon, 'the listener', (r) => String(r.msg).startsWith('listening on '));
  return String(record.url);
}

async function status(base: string): Promise<{ state: string; reason?: string; deployedSha?: string }> {
  const response = await fetch(new URL('status', base), { headers: { accept: 'application/json' } });
  return (await response.json()) as { state: string; reason?: string; deployedSha?: string };
}

/** Sync passes the daemon has run (all triggers and outcomes), from /metrics. */
async function passes(base: string): Promise<number> {
  const text = await (await fetch(new URL('metrics', base))).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('hotpull_syncs_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

describe('a checkout deleted and cloned again at the same path', { timeout: 120_000 }, () => {
  it('the daemon creates nothing there, says once that it is gone, then owns the new clone and deploys into it', async () => {
    const sb = await made.sandbox();
    const reloads = path.join(sb.root, 'reloads.log');
    const daemon = startHotpull([
      'run',
      '--repo',
      sb.checkout,
      '--interval',
      '200ms',
      '--listen',
      '127.0.0.1:0',
      '--reload',
      `command:echo "$HOTPULL_SHA" >> '${reloads}'`,
    ]);
    const base = await listening(daemon);
    await waitFirstPass(daemon);

    await fs.rm(sb.checkout, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    await waitFor('the state "missing"', async () => (await status(base)).state === 'missing');
    const gone = await status(base);
    expect(gone.reason).toBe(
      `the checkout ${sb.checkout} is gone (no ${path.join(sb.checkout, '.git')}); nothing is deployed until a clone is there again`,
    );
    // several polls later: still nothing at the path, and one warning said so (and the state change), not one per poll
    const seen = await passes(base);
    await waitFor('three more polls', async () => (await passes(base)) >= seen + 3);
    expect(await exists(sb.checkout)).toBe(false);
    const said = daemon.records().filter((r) => String(r.msg).includes(`the checkout ${sb.checkout} is gone`));
    // (a poll that was under way as the files went may have failed first: state failing → missing)
    expect(said.map((r) => [r.level, String(r.msg).replace(/^state \w+ → /, 'state … → ')])).toEqual([
      [40, gone.reason],
      [30, `state … → missing: ${gone.reason}`],
    ]);
    expect(daemon.alive()).toBe(true);

    // re-provisioned: cloned again at the same path (which git refuses when anything is there)
    await git(sb.root, 'clone', '-q', '--branch', 'main', sb.bare, sb.checkout);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await waitFor('the daemon to deploy into the new clone', async () => (await headOf(sb.checkout)) === sha, 30_000);
    await waitFor('its reload', async () => (await fs.readFile(reloads, 'utf8').catch(() => '')).includes(sha));
    await waitFor('the state idle', async () => (await status(base)).state === 'idle');
    expect(
      daemon.records().some((r) => String(r.msg).startsWith(`a new checkout is at ${sb.checkout}: taking it over`)),
    ).toBe(true);
    // it owns the new clone: a sync beside it waits for the daemon
    const sync = await runHotpull(['sync', '--repo', sb.checkout, '--sync-timeout', '500ms']);
    expect(sync.code).toBe(1);
    expect(sync.stderr).toContain(`pid ${daemon.pid}`);
    expect(await fs.readFile(path.join(sb.checkout, '.git', 'hotpull', 'owner'), 'utf8')).toMatch(
      new RegExp(`^${daemon.pid} run `),
    );
    expect(await stop(daemon)).toEqual({ code: 0, signal: null });
  });

  it('atomic layout (the daemon cloned it): deleted, it is not made again by the running daemon, which says so once; a restart makes it anew', async () => {
    const sb = await made.sandbox();
    const volume = await made.dir('hotpull-volume-');
    const root = path.join(volume, 'app');
    const args = ['run', '--layout', 'atomic', '--repo', root, '--remote', `file://${sb.bare}`, '--interval', '200ms'];
    const daemon = startHotpull([...args, '--listen', '127.0.0.1:0']);
    const base = await listening(daemon);
    const current = async () => path.basename(await fs.readlink(path.join(root, 'current')).catch(() => ''));
    await waitFor('the first release', async () => (await current()) === (await headOf(sb.bare, 'main')), 30_000);

    // retried: a pass still running may write in it while it goes (ENOTEMPTY), as an operator's rm -rf can meet
    await fs.rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    await waitFor('the state "missing"', async () => (await status(base)).state === 'missing');
    const reason = `the atomic layout ${root} is gone (no ${path.join(root, '.hotpull', 'repo')}); nothing is deployed until it is there again (restart hotpull to make it anew)`;
    expect((await status(base)).reason).toBe(reason);
    const seen = await passes(base);
    await waitFor('three more polls', async () => (await passes(base)) >= seen + 3);
    expect(await exists(root)).toBe(false);
    expect(daemon.records().filter((r) => r.level === 40 && String(r.msg).includes('is gone'))).toHaveLength(1);
    expect(daemon.alive()).toBe(true);
    expect(await stop(daemon)).toEqual({ code: 0, signal: null });

    // re-provisioned: an empty directory again; a start makes the layout there and deploys the branch head
    await fs.mkdir(root);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const next = startHotpull(args);
    await waitFor('the release after the restart', async () => (await current()) === sha, 30_000);
    expect(await stop(next)).toEqual({ code: 0, signal: null });
  });
});
