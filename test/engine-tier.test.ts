/**
 * The orchestrator on its own: the engine driven with a workspace and a reloader that only record what they are
 * asked (no tree on disk, no app server process), a small in-process HTTP app for verification, and real git
 * for the remote, refs and diffs. Fast, and it pins down the order of steps and the verdicts the real-git
 * scenarios (engine.test.ts, verified-reload.test.ts, crash.test.ts) exercise end to end.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { logSink } from './helpers/hotpull.js';
import { Git } from '../src/git/repo.js';
import { createLogger } from '../src/log.js';
import { SyncEngine, LAST_GOOD_REF, REJECTED_REF } from '../src/sync/engine.js';
import type { ApplyPlan, Staged, Workspace } from '../src/sync/layout/workspace.js';
import type { ReloadContext, Reloader } from '../src/reload/types.js';
import type { ChangeRule } from '../src/deploy/rules.js';

/** The served revision lives in memory; every call is written down in order. */
class RecordingWorkspace implements Workspace {
  readonly layout = 'atomic' as const;
  readonly calls: string[] = [];
  modified: string[] = [];
  constructor(
    readonly git: Git,
    readonly dir: string,
    public served: string | undefined,
  ) {}
  async deployed() {
    return this.served;
  }
  async modifiedFiles() {
    return this.modified;
  }
  async stage(target: string, plan: ApplyPlan): Promise<Staged> {
    this.calls.push(`stage ${target.slice(0, 7)} ${plan.mode}`);
    return { sha: target, dir: this.dir };
  }
  async activate(staged: Staged) {
    this.calls.push(`activate ${staged.sha.slice(0, 7)}`);
    this.served = staged.sha;
  }
  async discard(staged: Staged, local: string | undefined) {
    this.calls.push(`discard ${staged.sha.slice(0, 7)}`);
    this.served = local;
  }
  async restore(sha: string) {
    this.calls.push(`restore ${sha.slice(0, 7)}`);
    this.served = sha;
  }
  async settled(sha: string) {
    this.calls.push(`settled ${sha.slice(0, 7)}`);
  }
  async recover() {
    return [];
  }
  async stateDir() {
    return path.join(this.dir, 'state');
  }
}

/** An app whose workers load whatever the workspace serves when reloaded; some revisions answer 500. */
class App {
  loaded = '';
  readonly broken = new Set<string>();
  private server?: http.Server;
  url = '';
  async start() {
    this.server = http.createServer((_req, res) => {
      res.statusCode = this.broken.has(this.loaded) ? 500 : 200;
      res.end(`version ${this.loaded}`);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }
  stop() {
    this.server?.close();
  }
}

class RecordingReloader implements Reloader {
  readonly name = 'recording';
  readonly repeatable = true;
  readonly reloads: string[] = [];
  failNext = 0;
  constructor(
    private readonly workspace: RecordingWorkspace,
    private readonly app: App,
  ) {}
  async reload(context: ReloadContext) {
    this.reloads.push(context.sha.slice(0, 7));
    this.workspace.calls.push(`reload ${context.sha.slice(0, 7)}`);
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('reload refused');
    }
    this.app.loaded = this.workspace.served ?? '';
  }
}

let sb: Sandbox | undefined;
let app: App | undefined;
afterEach(async () => {
  app?.stop();
  await sb?.cleanup();
});

async function setup(
  options: { health?: boolean; rules?: ChangeRule[]; rollback?: boolean; healthTimeoutMs?: number } = {},
) {
  sb = await makeSandbox();
  app = new App();
  await app.start();
  const repo = new Git(sb.checkout);
  const start = await headOf(sb.checkout);
  const dir = await tmpDir('hotpull-tier-');
  await fs.mkdir(path.join(dir, 'state'), { recursive: true });
  const workspace = new RecordingWorkspace(repo, dir, start);
  app.loaded = start;
  const reloader = new RecordingReloader(workspace, app);
  const logs = logSink();
  const logger = await createLogger({ level: 'debug', format: 'json', destination: logs });
  const engine = new SyncEngine({
    workspace,
    git: repo,
    remote: 'origin',
    remoteLabel: 'origin',
    branch: 'main',
    fetchRef: 'refs/remotes/origin/main',
    reloaders: [reloader],
    health:
      options.health === false
        ? undefined
        : { url: app.url, expect: 'version {sha}', timeoutMs: options.healthTimeoutMs ?? 8000, settleMs: 100 },
    rollback: options.rollback ?? true,
    rules: options.rules ?? [],
    onDiverged: 'stop',
    onDirty: 'stop',
    syncTimeoutMs: 30_000,
    env: {},
    logger,
  });
  return { engine, workspace, reloader, app, repo, start, logs };
}

describe('the orchestrator with a recording workspace and reloader', () => {
  it('runs the steps in order: stage, activate, reload, verify, settle; last-good moves', async () => {
    const { engine, workspace, repo } = await setup();
    const sha = await commitAndPush(sb!, { 'app.py': 'VERSION = 2\n' });
    const outcome = await engine.sync('poll');
    expect(outcome.kind).toBe('deployed');
    const s = sha.slice(0, 7);
    expect(workspace.calls).toEqual([`stage ${s} ff`, `activate ${s}`, `reload ${s}`, `settled ${s}`]);
    expect(await repo.resolve(LAST_GOOD_REF)).toBe(sha);
    expect(engine.status).toMatchObject({ state: 'idle', deployedSha: sha, lastGoodSha: sha });
    expect(engine.status.deploys[0]).toMatchObject({ result: 'live', trigger: 'poll', to: sha });
  });

  it('a revision that fails verification is rolled back to the last good one and rejected until the branch moves', async () => {
    const { engine, workspace, app, repo } = await setup({ healthTimeoutMs: 3000 });
    const good = await commitAndPush(sb!, { 'app.py': 'VERSION = 2\n' });
    await engine.sync('poll');
    const bad = await commitAndPush(sb!, { 'app.py': 'VERSION = 3\n' });
    app.broken.add(bad);
    workspace.calls.length = 0;
    const outcome = await engine.sync('poll');
    expect(outcome.kind).toBe('rejected');
    const [g, b] = [good.slice(0, 7), bad.slice(0, 7)];
    // steady 500s from the revision the health check names fail fast (deploy/verify.ts), before the repeat of the
    // reload half-way through the timeout that a wrong answer would get (a reload can be dropped)
    expect(workspace.calls).toEqual([`stage ${b} ff`, `activate ${b}`, `reload ${b}`, `restore ${g}`, `reload ${g}`]);
    expect(await repo.resolve(REJECTED_REF)).toBe(bad);
    expect(engine.status).toMatchObject({ state: 'rejected', deployedSha: good, rejectedSha: bad });
    workspace.calls.length = 0;
    expect((await engine.sync('poll')).kind).toBe('blocked');
    expect(workspace.calls, 'a rejected revision is not deployed again by a poll').toEqual([]);
    // an explicit trigger retries it
    app.broken.delete(bad);
    expect((await engine.sync('cli')).kind).toBe('deployed');
    expect(engine.status.rejectedSha).toBeUndefined();
  });

  it('a failed reload records a failed deploy and is retried on the next pass without staging again', async () => {
    const { engine, workspace, reloader } = await setup();
    const sha = await commitAndPush(sb!, { 'app.py': 'VERSION = 2\n' });
    reloader.failNext = 1;
    await expect(engine.sync('poll')).rejects.toThrow(/reload refused/);
    expect(engine.status.deploys[0]).toMatchObject({ result: 'failed', to: sha });
    workspace.calls.length = 0;
    const outcome = await engine.sync('poll');
    expect(outcome.kind).toBe('deployed');
    expect(workspace.calls).toEqual([`reload ${sha.slice(0, 7)}`, `settled ${sha.slice(0, 7)}`]);
  });

  it('a failing run hook discards the staged revision before anything reloads, and rejects it', async () => {
    const { engine, workspace, start } = await setup({
      rules: [{ paths: ['requirements.txt'], run: ['exit 3'], timeoutMs: 10_000 }] as ChangeRule[],
    });
    const sha = await commitAndPush(sb!, { 'requirements.txt': 'flask\n' });
    const outcome = await engine.sync('poll');
    expect(outcome.kind).toBe('rejected');
    const s = sha.slice(0, 7);
    expect(workspace.calls[0]).toMatch(new RegExp(`^stage ${s}`));
    expect(workspace.calls).toContain(`discard ${s}`);
    expect(workspace.calls.some((c) => c.startsWith('reload') || c.startsWith('activate'))).toBe(false);
    expect(workspace.served).toBe(start);
    expect(engine.status.rejectedSha).toBe(sha);
  });

  it('without a health check a deploy is reloaded, unverified, and last-good does not move', async () => {
    const { engine, repo } = await setup({ health: false });
    const sha = await commitAndPush(sb!, { 'app.py': 'VERSION = 2\n' });
    const outcome = await engine.sync('poll');
    expect(outcome).toMatchObject({ kind: 'deployed', record: { result: 'reloaded', to: sha } });
    expect(await repo.resolve(LAST_GOOD_REF)).toBeUndefined();
  });

  it('local edits block the deploy once (logged once), with nothing staged', async () => {
    const { engine, workspace, logs } = await setup();
    workspace.modified = ['app.py'];
    await commitAndPush(sb!, { 'app.py': 'VERSION = 2\n' });
    expect((await engine.sync('poll')).kind).toBe('blocked');
    expect((await engine.sync('poll')).kind).toBe('blocked');
    expect(engine.status.state).toBe('dirty');
    expect(workspace.calls).toEqual([]);
    expect(logs.records().filter((r) => String(r.msg).startsWith('deploy blocked')).length).toBe(1);
    workspace.modified = [];
    expect((await engine.sync('poll')).kind).toBe('deployed');
  });
});
