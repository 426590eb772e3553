/**
 * Issue 13, hooks in the stage: in-place with a judge, the onChange `run` hooks prepare the staging worktree before
 * the preflight (HOTPULL_PHASE=stage), and run again in the served checkout after the apply (HOTPULL_PHASE=checkout).
 * A hook failing in the stage rejects the revision with the served checkout untouched; a stop there is no verdict.
 * Atomic: once, in the release, with HOTPULL_PHASE=stage.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { commitAndPush, git, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { makePipeline, waitFor, waitForJudgeChild } from './helpers/hotpull.js';
import { isAlive } from './helpers/uwsgi.js';
import { startHotpull, waitForRecord } from './helpers/procs.js';
import { killGroup } from '../src/proc/exec.js';

let sb: Sandbox | undefined;
afterEach(async () => {
  await sb?.cleanup();
  sb = undefined;
});

/** onChange: `run` when requirements.txt changes, in a config file beside the checkout (not in the tree) */
async function hookConfig(run: string[], timeout?: string): Promise<string> {
  const file = path.join(sb!.root, 'hotpull.config.json');
  await fs.writeFile(
    file,
    JSON.stringify({ onChange: [{ paths: ['requirements.txt'], run, ...(timeout ? { timeout } : {}) }] }),
  );
  return file;
}

/** `hotpull run` in-place with a judge (a passing preflight), so the hooks of `config` run in the stage */
const judgedRun = (config: string) => [
  'run',
  '--repo',
  sb!.checkout,
  '--config',
  config,
  '--interval',
  '1s',
  '--reload',
  'none',
  '--preflight',
  'true',
];

const lines = async (file: string) => (await fs.readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);

describe('onChange run hooks in the in-place stage', () => {
  it('run in the stage before the preflight, which sees what they made, then in the checkout; no secrets', async () => {
    sb = await makeSandbox({ files: { 'requirements.txt': 'a\n', '.gitignore': '.venv-marker\n' } });
    const log = path.join(sb.root, 'hooks.log');
    const config = await hookConfig([
      `echo "$HOTPULL_PHASE $HOTPULL_DIR $(pwd) $HOTPULL_SHA $HOTPULL_PREVIOUS_SHA \${HOTPULL_WEBHOOK_SECRET:-none}" >> '${log}'`,
      'echo "$HOTPULL_PHASE" > .venv-marker',
    ]);
    const secrets = { HOTPULL_WEBHOOK_SECRET: 'webhook-s3cret-value' };
    // in this process's own environment too, as in production: commands get it underneath what hotpull passes
    Object.assign(process.env, secrets);
    onTestFinished(() => void delete process.env.HOTPULL_WEBHOOK_SECRET);
    const seen = path.join(sb.root, 'preflight.log');
    const { engine } = await makePipeline(
      sb.checkout,
      { config, reload: ['none'], preflight: [`cat .venv-marker >> '${seen}'`, 'test -f .venv-marker'] },
      secrets,
    );
    const old = await headOf(sb.checkout);
    const sha = await commitAndPush(sb, { 'requirements.txt': 'b\n' });

    expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { result: 'reloaded', to: sha } });
    const stage = path.join(sb.checkout, '.git', 'hotpull', 'stage');
    expect(await lines(log)).toEqual([
      `stage ${stage} ${stage} ${sha} ${old} none`,
      `checkout ${sb.checkout} ${sb.checkout} ${sha} ${old} none`,
    ]);
    // the preflight ran in the stage after the staged hook, before the checkout's hook
    expect(await lines(seen)).toEqual(['stage']);
    expect(await fs.readFile(path.join(sb.checkout, '.venv-marker'), 'utf8')).toBe('checkout\n');
    expect(await headOf(sb.checkout)).toBe(sha);

    // a deploy that changes nothing the rule names runs no hook in either place
    const other = await commitAndPush(sb, { 'app.py': 'VERSION = 3\n' });
    const outcome = await engine.sync('test');
    // the preflight wants the marker, which only the hook makes: no hook ran, so the revision is rejected
    expect(outcome).toMatchObject({ kind: 'rejected', record: { to: other } });
    expect(await lines(log)).toHaveLength(2);
  }, 30_000);

  it('a hook failing in the stage rejects the revision: the checkout untouched, nothing reloaded', async () => {
    sb = await makeSandbox({ files: { 'requirements.txt': 'a\n', 'app.py': 'VERSION = 1\n' } });
    const log = path.join(sb.root, 'hooks.log');
    const config = await hookConfig([
      `echo "$HOTPULL_PHASE" >> '${log}'; echo collecting; echo "pip: no matching distribution" >&2; exit 3`,
    ]);
    const reloaded = path.join(sb.root, 'reloaded');
    const preflightRan = path.join(sb.root, 'preflight-ran');
    const { engine, logs } = await makePipeline(sb.checkout, {
      config,
      reload: [`command:"touch '${reloaded}'"`],
      preflight: [`touch '${preflightRan}'`],
    });
    const good = await headOf(sb.checkout);
    const bad = await commitAndPush(sb, { 'requirements.txt': 'b\n', 'app.py': 'VERSION = 2\n' });

    const outcome = await engine.sync('test');
    expect(outcome).toMatchObject({ kind: 'rejected', record: { result: 'rejected', to: bad } });
    expect(engine.status).toMatchObject({ state: 'rejected', rejectedSha: bad, deployedSha: good });
    expect(engine.status.reason).toContain('rejected before it was served: run hook in the stage: command');
    expect(engine.status.reason).toContain('exited with code 3: pip: no matching distribution');
    expect(await git(sb.checkout, 'rev-parse', 'refs/hotpull/rejected')).toBe(bad);
    expect(await headOf(sb.checkout)).toBe(good);
    expect(await fs.readFile(path.join(sb.checkout, 'app.py'), 'utf8')).toBe('VERSION = 1\n');
    expect((await git(sb.checkout, 'status', '--porcelain')).trim()).toBe('');
    expect(await lines(log)).toEqual(['stage']);
    await expect(fs.stat(reloaded)).rejects.toThrow();
    await expect(fs.stat(preflightRan)).rejects.toThrow();
    const errors = logs.records().filter((r) => r.level === 'error' || r.level === 50);
    expect(JSON.stringify(errors)).toContain('pip: no matching distribution');
    // not retried while the branch stays there
    expect((await engine.sync('test')).kind).toBe('blocked');
    expect(await lines(log)).toEqual(['stage']);
  }, 30_000);

  it('a hook that outlives its timeout in the stage is a verdict, with its last output', async () => {
    sb = await makeSandbox({ files: { 'requirements.txt': 'a\n' } });
    const config = await hookConfig(['echo still installing; sleep 30'], '1s');
    const { engine } = await makePipeline(sb.checkout, { config, reload: ['none'], preflight: ['true'] });
    const good = await headOf(sb.checkout);
    const bad = await commitAndPush(sb, { 'requirements.txt': 'b\n' });
    expect(await engine.sync('test')).toMatchObject({ kind: 'rejected', record: { to: bad } });
    expect(engine.status.reason).toMatch(/run hook in the stage: command .* timed out after 1s: still installing/);
    expect(await headOf(sb.checkout)).toBe(good);
  }, 30_000);

  it('a stop during a staged hook is no verdict: nothing rejected, the next pass stages and runs it again', async () => {
    sb = await makeSandbox({ files: { 'requirements.txt': 'a\n' } });
    const dir = await tmpDir('hotpull-stage-hooks-');
    onTestFinished(() => fs.rm(dir, { recursive: true, force: true }));
    const pidFile = path.join(dir, 'pid');
    const log = path.join(dir, 'hooks.log');
    // the first run hangs; every later one finishes
    const config = await hookConfig([
      `echo "$HOTPULL_PHASE" >> '${log}'; if [ ! -f '${pidFile}' ]; then echo $$ > '${pidFile}'; sleep 60; fi`,
    ]);
    const { engine } = await makePipeline(sb.checkout, { config, reload: ['none'], preflight: ['true'] });
    const good = await headOf(sb.checkout);
    const sha = await commitAndPush(sb, { 'requirements.txt': 'b\n' });

    const stop = new AbortController();
    const pass = engine.sync('test', stop.signal);
    pass.catch(() => undefined);
    const pid = Number(
      await waitFor('the staged hook running', () => fs.readFile(pidFile, 'utf8').catch(() => ''), 20_000),
    );
    stop.abort();
    await expect(pass).rejects.toMatchObject({ code: 'ABORTED' });
    await waitFor('the staged hook ended', () => !isAlive(pid), 10_000);
    expect(engine.status.rejectedSha).toBeUndefined();
    await expect(git(sb.checkout, 'rev-parse', '--verify', '-q', 'refs/hotpull/rejected')).rejects.toThrow();
    expect(await headOf(sb.checkout)).toBe(good);

    expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { to: sha } });
    expect(await headOf(sb.checkout)).toBe(sha);
    expect(await lines(log)).toEqual(['stage', 'stage', 'checkout']);
  }, 40_000);

  it('kill -9 of hotpull during a staged hook: the next start ends the hook before it stages again, then deploys', async () => {
    sb = await makeSandbox({ files: { 'requirements.txt': 'a\n' } });
    const dir = await tmpDir('hotpull-stage-hooks-kill-');
    onTestFinished(() => fs.rm(dir, { recursive: true, force: true }));
    const pidFile = path.join(dir, 'pid');
    // the first run hangs (and would write into the stage late); every later one finishes
    const config = await hookConfig([
      `if [ ! -f '${pidFile}' ]; then echo $$ > '${pidFile}'; sleep 300; touch late-write; fi`,
    ]);
    const sha = await commitAndPush(sb, { 'requirements.txt': 'b\n' });
    const args = judgedRun(config);
    const first = startHotpull(args);
    onTestFinished(() => (first.alive() ? first.child.kill('SIGKILL') : undefined));
    const left = Number(
      await waitFor('the staged hook running', () => fs.readFile(pidFile, 'utf8').catch(() => ''), 30_000),
    );
    onTestFinished(() => void killGroup(left, 'SIGKILL'));
    await waitForJudgeChild(path.join(sb!.checkout, '.git'));
    first.child.kill('SIGKILL');
    await first.exited;
    expect(isAlive(left)).toBe(true);

    const second = startHotpull(args);
    onTestFinished(() => (second.alive() ? second.child.kill('SIGKILL') : undefined));
    const ended = await waitForRecord(
      second,
      'the leftover ended',
      (r) => String(r.msg).startsWith('ended the staged hook, preflight or canary'),
      60_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; its log:\n${second.stdout().slice(-3000)}`);
    });
    expect(ended.pid).toBe(left);
    await waitFor('the leftover hook gone', () => !isAlive(left), 10_000);
    await waitFor('the revision deployed', async () => (await headOf(sb!.checkout)) === sha, 60_000);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  }, 120_000);

  it("kill -9 before the hook's pid was written down, and a grandchild in a session of its own: both ended", async () => {
    sb = await makeSandbox({ files: { 'requirements.txt': 'a\n' } });
    const dir = await tmpDir('hotpull-stage-hooks-mark-');
    onTestFinished(() => fs.rm(dir, { recursive: true, force: true }));
    const pidFile = path.join(dir, 'pid');
    const grandFile = path.join(dir, 'grandchild');
    // the first run leaves a grandchild in a new session (another process group) and hangs; later ones finish
    const config = await hookConfig([
      `if [ ! -f '${pidFile}' ]; then setsid sleep 300 & echo $! > '${grandFile}'; echo $$ > '${pidFile}'; sleep 300; fi`,
    ]);
    const sha = await commitAndPush(sb, { 'requirements.txt': 'b\n' });
    const args = judgedRun(config);
    const stranger = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' }); // not hotpull's: must survive
    onTestFinished(() => void killGroup(stranger.pid!, 'SIGKILL'));
    const first = startHotpull(args);
    onTestFinished(() => (first.alive() ? first.child.kill('SIGKILL') : undefined));
    const hook = Number(
      await waitFor('the staged hook running', () => fs.readFile(pidFile, 'utf8').catch(() => ''), 30_000),
    );
    const grandchild = Number(
      await waitFor('its grandchild', () => fs.readFile(grandFile, 'utf8').catch(() => ''), 30_000),
    );
    onTestFinished(() => void killGroup(hook, 'SIGKILL'));
    onTestFinished(() => void killGroup(grandchild, 'SIGKILL'));
    await waitForJudgeChild(path.join(sb.checkout, '.git'));
    first.child.kill('SIGKILL');
    await first.exited;
    // what a kill between the hook's start and its pid's write leaves: the record written before it started
    const record = path.join(sb.checkout, '.git', 'hotpull', 'judge-child.json');
    await fs.writeFile(record, '{}');
    await fs.writeFile(`${record}.12345.tmp`, '{"pid":'); // and a temporary record a kill tore
    expect([isAlive(hook), isAlive(grandchild)]).toEqual([true, true]);

    const second = startHotpull(args);
    onTestFinished(() => (second.alive() ? second.child.kill('SIGKILL') : undefined));
    await waitFor('the hook and its grandchild gone', () => !isAlive(hook) && !isAlive(grandchild), 60_000).catch(
      (error: Error) => {
        throw new Error(`${error.message}; its log:\n${second.stdout().slice(-3000)}`);
      },
    );
    // told once both are gone
    const ended = await waitFor('both told', () => {
      const told = second
        .records()
        .filter((r) => String(r.msg).startsWith('ended the staged hook, preflight or canary'));
      return told.length >= 2 ? told : undefined;
    });
    expect(ended.map((r) => r.pid).sort()).toEqual([hook, grandchild].sort());
    expect(isAlive(stranger.pid!)).toBe(true);
    await waitFor('the revision deployed', async () => (await headOf(sb!.checkout)) === sha, 60_000);
    expect((await fs.readdir(path.dirname(record))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  }, 120_000);

  it('without a judge, hooks run once, in the checkout', async () => {
    sb = await makeSandbox({ files: { 'requirements.txt': 'a\n' } });
    const log = path.join(sb.root, 'hooks.log');
    const config = await hookConfig([`echo "$HOTPULL_PHASE $HOTPULL_DIR $(pwd)" >> '${log}'`]);
    const { engine } = await makePipeline(sb.checkout, { config, reload: ['none'] });
    await commitAndPush(sb, { 'requirements.txt': 'b\n' });
    expect((await engine.sync('test')).kind).toBe('deployed');
    expect(await lines(log)).toEqual([`checkout ${sb.checkout} ${sb.checkout}`]);
  }, 30_000);
});

describe('onChange run hooks with --layout atomic', () => {
  it('run once, in releases/<sha>, with HOTPULL_PHASE=stage, before the preflight', async () => {
    sb = await makeSandbox({ files: { 'requirements.txt': 'a\n' } });
    const root = await tmpDir('hotpull-atomic-stage-hooks-');
    onTestFinished(() => fs.rm(root, { recursive: true, force: true }));
    const log = path.join(sb.root, 'hooks.log');
    const config = await hookConfig([`echo "$HOTPULL_PHASE $HOTPULL_DIR $(pwd)" >> '${log}'; touch prepared`]);
    const flags = { layout: 'atomic', remote: sb.bare, branch: 'main', reload: ['none'], config };
    const { engine } = await makePipeline(root, { ...flags, preflight: ['test -f prepared'] });
    const first = await headOf(sb.seed);
    expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { to: first } });
    const second = await commitAndPush(sb, { 'requirements.txt': 'b\n' });
    expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { to: second } });
    const release = (sha: string) => path.join(root, 'releases', sha);
    expect(await lines(log)).toEqual([
      `stage ${release(first)} ${release(first)}`,
      `stage ${release(second)} ${release(second)}`,
    ]);
  }, 30_000);
});
