// Issue 25 items 3 and 7: a command out of `diverged` and `dirty` (hotpull reset, through the daemon, backups
// named in its answer), and flags a command does not use refused instead of ignored.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commitAndPush, forcePush, git, headOf } from './helpers/git.js';
import { describeReset } from '../src/http/server.js';
import type { SyncOutcome } from '../src/sync/engine.js';
import type { DeployRecord } from '../src/sync/status.js';
import { faultFixtures, runHotpull, startHotpull, waitForRecord } from './helpers/procs.js';

const fx = faultFixtures();
const NO_SECRET = { HOTPULL_WEBHOOK_SECRET: undefined } as unknown as NodeJS.ProcessEnv;

async function socketDaemon(checkout: string): Promise<void> {
  const daemon = startHotpull(['run', '--repo', checkout, '--interval', '1h', '--log-level', 'debug'], {
    env: NO_SECRET,
  });
  await waitForRecord(daemon, 'the operator socket', (r) => String(r.msg).startsWith('operator socket '));
  await waitForRecord(daemon, 'the first pass', (r) => /^pass \(start\)/.test(String(r.msg)));
}

const hotpull = (args: string[]) => runHotpull(args, { env: NO_SECRET });
const backupRefs = async (checkout: string) =>
  (await git(checkout, 'for-each-ref', '--format=%(refname) %(objectname)', 'refs/hotpull/backup/'))
    .split('\n')
    .filter(Boolean);

describe('hotpull reset', () => {
  it('diverged: the status points at it; it saves the deployed head under a backup ref it names and deploys the remote head', async () => {
    const sb = await fx.sandbox();
    await socketDaemon(sb.checkout);
    const old = await headOf(sb.checkout);
    const rewritten = await forcePush(sb, { 'app.py': 'VERSION = "rewritten"\n' });
    const blocked = await hotpull(['sync', '--repo', sb.checkout]);
    expect(blocked.code).toBe(1);
    const status = await hotpull(['status', '--repo', sb.checkout, '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'diverged' });
    expect(JSON.parse(status.stdout).reason).toContain('hotpull reset saves a backup ref and resets');

    const reset = await hotpull(['reset', '--repo', sb.checkout]);
    expect(reset.stderr).toBe('');
    expect(reset.code).toBe(0);
    const [backup] = await backupRefs(sb.checkout);
    const [ref, sha] = backup!.split(' ');
    expect(sha).toBe(old);
    expect(reset.stdout).toBe(
      `reset to the remote head: ${old.slice(0, 7)} → ${rewritten.slice(0, 7)}: reloaded; saved first: ${ref}\n`,
    );
    expect(await headOf(sb.checkout)).toBe(rewritten);
    const after = await hotpull(['status', '--repo', sb.checkout, '--json']);
    expect(JSON.parse(after.stdout)).toMatchObject({ state: 'idle', deployedSha: rewritten });
    // nothing left to reset: said so, exit 0
    const again = await hotpull(['reset', '--repo', sb.checkout]);
    expect([again.code, again.stdout]).toEqual([0, `nothing to reset: up to date at ${rewritten.slice(0, 7)}\n`]);
  });

  it('dirty: the local edit is saved under a backup ref it names, then the checkout is reset and deployed', async () => {
    const sb = await fx.sandbox();
    await socketDaemon(sb.checkout);
    await fs.writeFile(path.join(sb.checkout, 'app.py'), 'VERSION = "edited on the server"\n');
    const next = await commitAndPush(sb, { 'lib.py': 'X = 1\n' });
    const blocked = await hotpull(['sync', '--repo', sb.checkout]);
    expect(blocked.code).toBe(1);
    expect(blocked.stdout).toContain('dirty: tracked files were modified in the checkout (app.py)');
    expect(blocked.stdout).toContain('hotpull reset saves them under refs/hotpull/backup/');

    const reset = await hotpull(['reset', '--repo', sb.checkout]);
    expect(reset.code).toBe(0);
    const [backup] = await backupRefs(sb.checkout);
    const [ref] = backup!.split(' ');
    expect(ref).toMatch(/^refs\/hotpull\/backup\/\d{8}T\d{6}Z-worktree$/);
    expect(reset.stdout).toMatch(new RegExp(`: reloaded; saved first: ${ref}\\n$`));
    expect(await git(sb.checkout, 'show', `${ref}:app.py`)).toBe('VERSION = "edited on the server"');
    expect(await headOf(sb.checkout)).toBe(next);
    expect(await git(sb.checkout, 'status', '--porcelain')).toBe('');
  });
});

describe('what reset answers', () => {
  const record = { from: 'a'.repeat(40), to: 'b'.repeat(40), result: 'live' } as DeployRecord;
  it.each([
    [{ kind: 'up-to-date', sha: 'c'.repeat(40) }, [], true, 'nothing to reset: up to date at ccccccc'],
    [
      { kind: 'deployed', record },
      ['refs/hotpull/backup/X'],
      true,
      'reset to the remote head: aaaaaaa → bbbbbbb: live; saved first: refs/hotpull/backup/X',
    ],
    [{ kind: 'blocked', state: 'paused', reason: 'paused by api' }, [], false, 'not reset: paused: paused by api'],
  ] as Array<[SyncOutcome, string[], boolean, string]>)('%j', (outcome, backups, ok, message) => {
    expect(describeReset(outcome, backups)).toMatchObject({ ok, message });
  });
});

describe('flags a command does not use are refused, not ignored', () => {
  it.each([
    [
      ['sync', '--now', '--wait', '--on-diverged', 'reset'],
      'hotpull: --on-diverged is not used by sync --now: the daemon runs the pass with its own options (hotpull reset backs up and resets a diverged or dirty checkout through it)',
    ],
    [
      ['sync', '--now', '--touch', 'uwsgi.ini'],
      'hotpull: --touch is not used by sync --now: the daemon runs the pass with its own options (see hotpull sync --help)',
    ],
    [
      ['status', '--interval', '5s'],
      'hotpull: --interval is not used by status (it is an option of run, supervisor-config, fleet); see hotpull status --help',
    ],
    [
      ['log', '--touch', 'uwsgi.ini'],
      'hotpull: --touch is not used by log (it is an option of run, sync, rollback, host deploy, supervisor-config, watch); see hotpull log --help',
    ],
    [
      ['reset', '--on-dirty', 'stop'],
      'hotpull: --on-dirty is not used by reset (it is an option of run, sync, rollback, host deploy, supervisor-config); see hotpull reset --help',
    ],
  ])('%j', async (args, line) => {
    const result = await hotpull(args);
    expect([result.code, result.stderr, result.stdout]).toEqual([2, `${line}\n`, '']);
  });
});
