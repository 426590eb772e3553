/**
 * The stages of one pass on their own (src/sync/pass/): a stage environment built around a workspace that keeps the
 * served revision in memory and writes down what it is asked, with the real cursor (a journal file in a temp dir),
 * real marks (refs in a real repository) and a real status keeper. Each verdict of admit, the choice of a manual
 * rollback's target, and where a pass starts after each journal step, without a fetch, a reload or a server.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { logSink } from './helpers/hotpull.js';
import { Git } from '../src/git/repo.js';
import { createLogger } from '../src/log.js';
import { processStartTime } from '../src/proc/procfs.js';
import { StatusKeeper } from '../src/sync/status-keeper.js';
import { PauseState } from '../src/sync/pause.js';
import { RefFollower } from '../src/sync/pass/follow.js';
import type { InPlaceTree, Staged, Workspace } from '../src/sync/layout/workspace.js';
import { newDeploy, type Deploy, type StageEnv } from '../src/sync/pass/deploy.js';
import { Cursor } from '../src/sync/pass/cursor.js';
import { Marks, REJECTED_REF } from '../src/sync/pass/marks.js';
import { admit } from '../src/sync/pass/admit.js';
import { begin, open, settle } from '../src/sync/pass/recover.js';
import { manualRollback } from '../src/sync/pass/rollback.js';

/** The served revision in memory; with `inPlace`, settleTree brings it to the revision asked. */
class MemoryWorkspace implements Workspace {
  readonly calls: string[] = [];
  readonly inPlace?: InPlaceTree;
  constructor(
    readonly layout: 'in-place' | 'atomic',
    readonly git: Git,
    readonly dir: string,
    public served: string | undefined,
  ) {
    if (layout === 'in-place')
      this.inPlace = {
        tryFastForward: async () => false,
        stageTree: async (sha) => ({ sha, dir: this.dir }),
        obstructions: async () => [],
        settleTree: async (from, to, sha) => {
          this.calls.push(`settle ${sha.slice(0, 7)}`);
          this.served = sha;
          return [];
        },
      };
  }
  async deployed() {
    return this.served;
  }
  async modifiedFiles() {
    return [];
  }
  async stage(target: string): Promise<Staged> {
    return { sha: target, dir: this.dir };
  }
  async activate() {}
  async discard() {}
  async restore(sha: string) {
    this.served = sha;
  }
  async settled() {}
  async recover() {
    return [];
  }
  async stateDir() {
    return path.join(this.dir, 'state');
  }
}

let sb: Sandbox;
let repo: Git;
let shas: string[];

beforeAll(async () => {
  sb = await makeSandbox();
  repo = new Git(sb.checkout);
  shas = [await headOf(sb.checkout)];
  for (let i = 2; i <= 3; i++) shas.push(await commitAndPush(sb, { 'app.py': `VERSION = ${i}\n` }));
  await repo.fetchBranch('origin', 'main', 'refs/remotes/origin/main', { timeoutMs: 30_000 });
});
afterAll(async () => {
  repo?.close();
  await sb?.cleanup();
});

async function env(layout: 'in-place' | 'atomic' = 'atomic', served = shas[0]) {
  const dir = await tmpDir('hotpull-stages-');
  await fs.mkdir(path.join(dir, 'state'));
  const workspace = new MemoryWorkspace(layout, repo, dir, served);
  const logs = logSink();
  const logger = await createLogger({ level: 'debug', format: 'json', destination: logs });
  const report = new StatusKeeper({ remote: 'origin', branch: 'main' }, logger, Date.now);
  const options = { remote: 'origin', remoteLabel: 'origin', branch: 'main', fetchRef: 'refs/remotes/origin/main' };
  const s: StageEnv = {
    ...options,
    workspace,
    git: repo,
    reloaders: [],
    rollback: true,
    rules: [],
    onDiverged: 'stop',
    onDirty: 'stop',
    syncTimeoutMs: 30_000,
    env: {},
    logger,
    clock: Date.now,
    report,
    cursor: new Cursor(),
    marks: new Marks(() => repo, report),
    follower: new RefFollower({ kind: 'branch', name: 'main' }, { ...options, logger, git: () => repo }),
    pauses: new PauseState(async () => path.join(dir, 'state', 'pause.json')),
    memo: { resetting: false, startLogged: true },
  };
  await repo.deleteRef(REJECTED_REF).catch(() => undefined);
  await open(s);
  return { s, workspace, logs, dir, journal: path.join(dir, 'state', 'journal.json') };
}

/** A deploy whose detection saw `remote`, from what `s` serves. */
async function detected(s: StageEnv, remote: string, trigger = 'poll'): Promise<Deploy> {
  const d = newDeploy(trigger, s.clock);
  expect(await begin(d, s)).toBe('detect');
  d.to = remote;
  return d;
}

describe('admit: what is said of the remote head before its objects are fetched', () => {
  it('paused: blocked, and says what waits', async () => {
    const { s } = await env();
    await s.pauses.set({ reason: 'freeze', by: 'api', at: new Date().toISOString() });
    const outcome = await admit.run(await detected(s, shas[1]!), s);
    expect(outcome).toMatchObject({ kind: 'blocked', state: 'paused' });
    expect(s.report.status.state).toBe('paused');
  });

  it('the rejected revision: blocked for a poll, retried when someone asks', async () => {
    const { s } = await env();
    await s.marks.reject(shas[1]!, 'it broke');
    expect(await admit.run(await detected(s, shas[1]!), s)).toEqual({
      kind: 'blocked',
      state: 'rejected',
      reason: 'it broke',
    });
    expect(await admit.run(await detected(s, shas[1]!, 'cli'), s)).toBeUndefined();
    expect(s.marks.rejected).toBeUndefined();
    expect(await repo.resolve(REJECTED_REF)).toBeUndefined();
  });

  it('at the deployed revision: up to date, unless the cursor says that deploy is owed its reload', async () => {
    const { s } = await env();
    expect(await admit.run(await detected(s, shas[0]!), s)).toEqual({ kind: 'up-to-date', sha: shas[0] });
    expect(s.report.status.state).toBe('idle');
    await s.cursor.write({ from: '', to: shas[0]!, stage: 'reload', trigger: 'poll' });
    expect(await admit.run(await detected(s, shas[0]!), s)).toBeUndefined();
  });

  it('a standing verdict for the same pair is returned without a second warning; a dirty one is looked at again', async () => {
    const { s, logs } = await env();
    const held = { kind: 'blocked' as const, state: 'held' as const, reason: 'held by a rule' };
    s.memo.blocked = { verdict: { state: 'held', local: shas[0], remote: shas[1]! }, outcome: held };
    expect(await admit.run(await detected(s, shas[1]!), s)).toBe(held);
    expect(logs.text()).not.toContain('deploy blocked');
    // another remote: the verdict does not stand
    expect(await admit.run(await detected(s, shas[2]!), s)).toBeUndefined();
    const dirty = { kind: 'blocked' as const, state: 'dirty' as const, reason: 'edited' };
    s.memo.blocked = { verdict: { state: 'dirty', local: shas[0], remote: shas[1]! }, outcome: dirty };
    const d = await detected(s, shas[1]!);
    expect(await admit.run(d, s)).toBeUndefined();
    expect(d.standing?.state).toBe('dirty');
  });
});

describe('a manual rollback: which revision it goes back to', () => {
  it('refuses a SHA that is not hex, one the checkout lacks, the deployed one, and no SHA before any deploy', async () => {
    const { s } = await env('atomic', shas[1]);
    const d = () => newDeploy('rollback', s.clock);
    const pause = async () => undefined;
    await expect(manualRollback(d(), s, 'HEAD~1', pause)).rejects.toThrow(
      /must be a commit id in hex \(got "HEAD~1"\)/,
    );
    await expect(manualRollback(d(), s, 'abcdef1234', pause)).rejects.toThrow(/must be a commit this checkout has/);
    await expect(manualRollback(d(), s, shas[1]!, pause)).rejects.toThrow(/must differ from the deployed revision/);
    await expect(manualRollback(d(), s, undefined, pause)).rejects.toThrow(/no previous live revision is recorded/);
  });

  it('goes back to the SHA given: the revision it leaves is rejected and following is paused before the tree changes', async () => {
    const { s, workspace } = await env('atomic', shas[2]);
    const paused: string[] = [];
    const d = newDeploy('rollback', s.clock);
    await manualRollback(d, s, shas[0]!.slice(0, 8), async (reason) => void paused.push(reason));
    expect(d).toMatchObject({ from: shas[2], to: shas[0], restore: true, leftBy: shas[2] });
    expect(s.marks.rejected).toBe(shas[2]);
    expect(paused).toEqual([`rolled back to ${shas[0]!.slice(0, 7)}`]);
    expect(workspace.served, 'nothing applied yet').toBe(shas[2]);
  });
});

describe('recover: where the next pass starts, from each journal step', () => {
  async function after(entry: Record<string, unknown> | string, layout: 'in-place' | 'atomic', served: string) {
    const { s, workspace, journal } = await env(layout, served);
    await fs.writeFile(
      journal,
      typeof entry === 'string' ? entry : JSON.stringify({ ...entry, at: new Date().toISOString() }),
    );
    await open(s);
    await settle(s, true);
    const d = newDeploy('poll', s.clock);
    return { start: await begin(d, s), d, s, workspace, journal };
  }

  it('apply (in-place): the tree is settled to the new revision, then its hooks, reload and verification are owed', async () => {
    const { start, d, s, workspace } = await after(
      { from: shas[0], to: shas[1], stage: 'apply', mode: 'ff' },
      'in-place',
      shas[0]!,
    );
    expect(workspace.calls).toEqual([`settle ${shas[1]!.slice(0, 7)}`]);
    expect(start).toBe('hooks');
    expect(d).toMatchObject({ resumed: true, from: shas[0], to: shas[1] });
    expect(s.cursor.entry).toMatchObject({ stage: 'hooks', to: shas[1] });
  });

  it('hooks: the hooks that finished are not run again', async () => {
    const entry = { from: shas[0], to: shas[1], stage: 'hooks', hooksDone: ['pip install'] };
    const { start, d } = await after(entry, 'in-place', shas[1]!);
    expect(start).toBe('hooks');
    expect(d.hooksDone).toEqual(['pip install']);
  });

  it('reload: the deploy on disk is reloaded and verified, nothing staged again', async () => {
    const { start, d } = await after(
      { from: shas[0], to: shas[1], stage: 'reload', rollback: true },
      'atomic',
      shas[1]!,
    );
    expect(start).toBe('activate');
    expect(d).toMatchObject({ resumed: true, rollback: true, staged: { sha: shas[1] } });
  });

  it('an entry for a revision that is not served (atomic stopped before the switch), or a torn file: a fresh pass', async () => {
    const stale = await after({ from: shas[0], to: shas[1], stage: 'reload' }, 'atomic', shas[0]!);
    expect(stale.start).toBe('detect');
    await expect(fs.stat(stale.journal)).rejects.toThrow(/ENOENT/);
    expect((await after('{"from": "', 'atomic', shas[0]!)).start).toBe('detect');
  });

  it('a command the interrupted deploy left running is ended, with its process group', async () => {
    const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    const start = await processStartTime(child.pid!);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const entry = { from: shas[0], to: shas[1], stage: 'reload', child: { pid: child.pid, start } };
    const { start: at } = await after(entry, 'atomic', shas[1]!);
    expect(await exited).toBeDefined();
    expect(at).toBe('activate');
  });
});
