/**
 * Issue 29: `hotpull run --config FILE` with `apps:` follows every app in one process. One real process (the built
 * CLI) over real bare repositories serves the cases in order: a push deploys only its app, on time; /status and
 * /apps/NAME/status; a signed webhook wakes the app whose repository it names (or every app, naming none); one
 * /metrics; a paused app holds while another deploys; SIGHUP starts, stops and restarts apps and refuses a broken
 * file as a whole. A bad file at start exits 2 at once.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import { runHotpull, stop, type Proc } from './helpers/procs.js';
import { allStarted, githubPush, startApps, writeAppsConfig, type AppsDaemon } from './helpers/apps.js';

/** what a push may take beyond the 1 s poll to go live here (the machine is shared; measured: see the commit) */
const MARGIN_MS = 3000;
const SECRET = 'apps-run-secret';

describe('hotpull run --config with apps: one process, two apps', { timeout: 120_000 }, () => {
  let root: string;
  let file: string;
  const sb: Record<string, Sandbox> = {};
  let d: AppsDaemon;
  const shared = () => ({
    interval: '1s',
    branch: 'main',
    reload: ['none'],
    listen: '127.0.0.1:0',
    webhookSecretFile: path.join(root, 'secret'),
  });
  const entry = (name: string, extra: Record<string, unknown> = {}) => ({ name, repo: sb[name]!.checkout, ...extra });
  const records = (proc: Proc, match: (r: Record<string, unknown>) => boolean) => proc.records().filter(match);
  const msg = (r: Record<string, unknown>) => String(r.msg);

  // one process for every case below (ended in afterAll): the cases run in order, each from where the last left it
  beforeAll(async () => {
    root = await tmpDir('hotpull-apps-run-');
    for (const name of ['a', 'b', 'c']) sb[name] = await makeSandbox();
    await fs.writeFile(path.join(root, 'secret'), `${SECRET}\n`, { mode: 0o600 });
    file = path.join(root, 'hotpull.json');
    await writeAppsConfig(file, shared(), [entry('a'), entry('b')]);
    d = await startApps(file, SECRET);
    await allStarted(d, ['a', 'b']);
  }, 90_000);
  afterAll(async () => {
    if (d) await stop(d.proc);
    for (const s of Object.values(sb)) await s.cleanup();
    if (root) await fs.rm(root, { recursive: true, force: true });
  });

  it('a push to one app deploys it within the interval and a margin; the other app is not touched', async () => {
    const before = await d.app('b');
    const sha = await commitAndPush(sb.a!, { 'app.py': 'VERSION = 2\n' });
    const ms = await d.deployed('a', sha);
    console.log(`push to a -> live in ${ms} ms (interval 1 s)`);
    expect(ms).toBeLessThan(1000 + MARGIN_MS);
    expect(await headOf(sb.a!.checkout)).toBe(sha);
    const b = await d.app('b');
    expect([b?.deployedSha, b?.deploys]).toEqual([before?.deployedSha, before?.deploys]);
    expect(await headOf(sb.b!.checkout)).toBe(before?.deployedSha);
  });

  it('/status lists every app; /apps/NAME/status is that app alone; an unknown app is a 404 naming the apps', async () => {
    const status = await d.status();
    expect(status.apps.map((a) => a.app)).toEqual(['a', 'b']);
    expect(status.apps.map((a) => a.deployedSha)).toEqual([await headOf(sb.a!.checkout), await headOf(sb.b!.checkout)]);
    expect(status.problems).toEqual([]);
    const one = (await (await fetch(`${d.url}/apps/b/status`)).json()) as Record<string, unknown>;
    expect(one).toMatchObject({ state: 'idle', deployedSha: await headOf(sb.b!.checkout), branch: 'main' });
    expect(one.app).toBeUndefined();
    const missing = await fetch(`${d.url}/apps/nope/status`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toBe('no app "nope": a, b');
  });

  it('a signed GitHub push naming repository a wakes only a; one naming no repository wakes every app', async () => {
    const sha = await commitAndPush(sb.a!, { 'app.py': 'VERSION = 3\n' });
    const named = githubPush(SECRET, {
      ref: 'refs/heads/main',
      after: sha,
      repository: { full_name: 'org/a', clone_url: `file://${sb.a!.bare}` },
    });
    const response = await fetch(`${d.url}/webhook`, { method: 'POST', ...named });
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({
      message: 'sync queued for a',
      apps: [{ app: 'a', accepted: true }],
    });
    await d.deployed('a', sha);
    expect(records(d.proc, (r) => r.app === 'b' && msg(r).includes('webhook accepted'))).toEqual([]);

    const other = githubPush(SECRET, { ref: 'refs/heads/other', after: sha });
    expect(await (await fetch(`${d.url}/webhook`, { method: 'POST', ...other })).json()).toMatchObject({
      message: 'no app follows this push',
      apps: [
        { app: 'a', accepted: false },
        { app: 'b', accepted: false },
      ],
    });
    const none = githubPush(SECRET, { ref: 'refs/heads/main' });
    const every = (await (await fetch(`${d.url}/webhook`, { method: 'POST', ...none })).json()) as {
      apps: { app: string; accepted: boolean }[];
    };
    expect(every.apps.map((a) => [a.app, a.accepted])).toEqual([
      ['a', true],
      ['b', true],
    ]);
    // it named no repository, so it says nothing of b's webhooks: b's polls do not slow to --safety-poll (5m)
    const toB = await commitAndPush(sb.b!, { 'app.py': 'VERSION = 2\n' });
    expect(await d.deployed('b', toB)).toBeLessThan(1000 + MARGIN_MS);
    expect(records(d.proc, (r) => r.app === 'b' && msg(r).startsWith('b: webhooks arrive'))).toEqual([]);
    const unsigned = await fetch(`${d.url}/webhook`, {
      method: 'POST',
      headers: { ...none.headers, 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` },
      body: none.body,
    });
    expect(unsigned.status).toBe(401);
  });

  it('/metrics: each family once with its HELP, every sample labelled with its app and in its family', async () => {
    const text = await (await fetch(`${d.url}/metrics`)).text();
    const lines = text.split('\n').filter(Boolean);
    const helps = lines.filter((l) => l.startsWith('# HELP ')).map((l) => l.split(' ')[2]!);
    expect(helps.length).toBeGreaterThan(10);
    expect(helps.filter((h, i) => helps.indexOf(h) !== i)).toEqual([]);
    let family = '';
    const labelled = new Set<string>();
    for (const line of lines) {
      if (line.startsWith('# HELP ')) family = line.split(' ')[2]!;
      if (line.startsWith('#')) continue;
      expect(line.startsWith(family), `${line} after # HELP ${family}`).toBe(true);
      const app = /\{app="(\w+)"/.exec(line)?.[1];
      if (app) labelled.add(app);
      else expect(line, 'only the listener counters have no app').toMatch(/^hotpull_(http|listener|webhook)_/);
    }
    expect([...labelled].sort()).toEqual(['a', 'b']);
    expect(text).toMatch(/^hotpull_deploy_duration_seconds_count\{app="a"\} [1-9]/m);
  });

  it('a paused app holds a push while the other deploys; resumed, it deploys', async () => {
    const paused = await d.post('/apps/a/pause', { reason: 'hold on' });
    expect(paused.status).toBe(200);
    expect((await fetch(`${d.url}/apps/a/pause`, { method: 'POST' })).status).toBe(401);
    const held = await commitAndPush(sb.a!, { 'app.py': 'VERSION = 4\n' });
    const other = await commitAndPush(sb.b!, { 'app.py': 'VERSION = 3\n' });
    // a hears webhooks (its polls slowed to --safety-poll): one tells it of this push
    const hook = githubPush(SECRET, { ref: 'refs/heads/main', repository: { clone_url: sb.a!.bare } });
    expect((await fetch(`${d.url}/webhook`, { method: 'POST', ...hook })).status).toBe(202);
    await d.deployed('b', other);
    // a saw its push (remoteSha) and did not apply it
    await waitFor('a to see its push', async () => (await d.app('a'))?.remoteSha === held);
    const a = await d.app('a');
    expect(a).toMatchObject({ state: 'paused', paused: { reason: 'hold on' } });
    expect(a?.deployedSha).not.toBe(held);
    expect(await headOf(sb.a!.checkout)).not.toBe(held);
    expect((await d.post('/apps/a/resume')).status).toBe(200);
    await d.deployed('a', held);
  });

  it('SIGHUP: an added app starts, a removed one stops (its socket goes), a changed one restarts', async () => {
    const socketOf = (name: string) => path.join(sb[name]!.checkout, '.git', 'hotpull', 'control', 'daemon.sock');
    await expect(fs.stat(socketOf('b'))).resolves.toBeTruthy();
    const startsOfA = records(d.proc, (r) => r.app === 'a' && msg(r).startsWith('a: hotpull following')).length;
    await writeAppsConfig(file, shared(), [entry('a', { backoffMax: '30s' }), entry('c')]);
    const seen = d.proc.records().length;
    process.kill(d.proc.pid, 'SIGHUP');
    const done = await waitFor('the reload', () =>
      d.proc
        .records()
        .slice(seen)
        .find((r) => msg(r).startsWith('config ')),
    );
    expect(msg(done)).toBe('config reloaded: added c; removed b; restarted a; 2 apps running');
    expect((await d.status()).lastReload).toMatchObject({ ok: true });
    await allStarted(d, ['a', 'c']);
    expect((await d.status()).apps.map((a) => a.app).sort()).toEqual(['a', 'c']);
    await expect(fs.stat(socketOf('b'))).rejects.toThrow(/ENOENT/);
    await expect(fs.stat(socketOf('c'))).resolves.toBeTruthy();
    expect(records(d.proc, (r) => r.app === 'a' && msg(r).startsWith('a: hotpull following')).length).toBe(
      startsOfA + 1,
    );
    // each deploys its next push; b is no longer followed
    const [toA, toC] = [
      await commitAndPush(sb.a!, { 'app.py': 'VERSION = 5\n' }),
      await commitAndPush(sb.c!, { 'app.py': 'VERSION = 2\n' }),
    ];
    await commitAndPush(sb.b!, { 'app.py': 'VERSION = 4\n' });
    await d.deployed('a', toA);
    await d.deployed('c', toC);
    expect((await fetch(`${d.url}/apps/b/status`)).status).toBe(404);
  });

  it('a broken file is refused as a whole: said in the log and /status, the apps keep running', async () => {
    await writeAppsConfig(file, shared(), [entry('a'), entry('c'), { name: 'a', repo: sb.b!.checkout }]);
    const seen = d.proc.records().length;
    process.kill(d.proc.pid, 'SIGHUP');
    const refused = await waitFor('the refusal', () =>
      d.proc
        .records()
        .slice(seen)
        .find((r) => msg(r).startsWith('config ')),
    );
    expect(msg(refused)).toMatch(/^config not reloaded, the running apps go on: .*app "a" is named twice/);
    expect((await d.status()).lastReload).toMatchObject({ ok: false, message: expect.stringContaining('named twice') });
    const byApi = await d.post('/reload-config');
    expect([byApi.status, byApi.body.error]).toEqual([400, expect.stringContaining('named twice')]);
    const sha = await commitAndPush(sb.c!, { 'app.py': 'VERSION = 3\n' });
    await d.deployed('c', sha);
    expect((await d.status()).apps.map((a) => a.app).sort()).toEqual(['a', 'c']);
  });
});

describe('hotpull run --config with a bad apps: file', { timeout: 60_000 }, () => {
  it('exits 2 at once with one line naming the app and the rule', async () => {
    const dir = await tmpDir('hotpull-apps-bad-');
    const file = path.join(dir, 'hotpull.json');
    await writeAppsConfig(file, { interval: '1s' }, [
      { name: 'web', repo: path.join(dir, 'one') },
      { name: 'web', repo: path.join(dir, 'other') },
    ]);
    const started = Date.now();
    const result = await runHotpull(['run', '--config', file]).finally(() =>
      fs.rm(dir, { recursive: true, force: true }),
    );
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      `hotpull: app "web" is named twice in ${file} (apps[0] and apps[1]): each app needs its own name`,
    ]);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
