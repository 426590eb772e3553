/**
 * Issue 29, done when: faults across apps in one process. Five apps in one real `hotpull run --config`: one app's
 * remote hangs (its upload-pack sleeps), another's checkout is on a full tmpfs, a third's hook loops until its
 * timeout, a fourth's checkout is deleted; the fifth's pushes still go live within the interval and a margin, and
 * each faulty app's state says what is wrong. Then kill -9 of the process while three apps are each in a deploy (a
 * hook that sleeps): started again, every app finishes from its own journal.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { commitAndPush, git, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import { stop, stopAll } from './helpers/procs.js';
import { isAlive } from './helpers/uwsgi.js';
import { itAsRoot } from './helpers/requires.js';
import { allStarted, startApps, writeAppsConfig, type AppStatus } from './helpers/apps.js';

/** what a push may take beyond the 1 s poll to go live here (a shared 2-core machine; measured: see the commit) */
const MARGIN_MS = 5000;
const SECRET = 'apps-faults-secret';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await stopAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function sandboxes(names: readonly string[]): Promise<Record<string, Sandbox>> {
  const made: Record<string, Sandbox> = {};
  for (const name of names) {
    made[name] = await makeSandbox();
    cleanups.push(made[name].cleanup);
  }
  return made;
}

async function workDir(): Promise<string> {
  const root = await tmpDir('hotpull-apps-faults-');
  cleanups.push(() => fs.rm(root, { recursive: true, force: true }));
  await fs.writeFile(path.join(root, 'secret'), `${SECRET}\n`, { mode: 0o600 });
  return root;
}

const shared = (root: string) => ({
  interval: '1s',
  branch: 'main',
  reload: ['none'],
  listen: '127.0.0.1:0',
  webhookSecretFile: path.join(root, 'secret'),
});

describe('five apps in one process, four of them faulty', { timeout: 120_000 }, () => {
  // the full disk is a tmpfs the test mounts (CI runs as root)
  itAsRoot('mounts a tmpfs')(
    "a hung remote, a full disk, a looping hook and a deleted checkout: the fifth app's pushes go live on time",
    async () => {
      const sb = await sandboxes(['ok', 'hang', 'full', 'hook', 'gone']);
      const root = await workDir();
      // hang: its remote's upload-pack never answers (every ls-remote and fetch hangs until --sync-timeout)
      const hang = path.join(root, 'hang-upload-pack');
      await fs.writeFile(hang, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
      await git(sb.hang!.checkout, 'config', 'remote.origin.uploadpack', hang);
      // full: its checkout on a 2 MB tmpfs
      const volume = path.join(root, 'volume');
      await fs.mkdir(volume);
      await execa('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', volume]);
      cleanups.push(() => execa('umount', ['-l', volume], { reject: false }));
      const fullCheckout = path.join(volume, 'checkout');
      await git(root, 'clone', '-q', '--branch', 'main', sb.full!.bare, fullCheckout);

      const file = path.join(root, 'hotpull.json');
      await writeAppsConfig(file, shared(root), [
        { name: 'ok', repo: sb.ok!.checkout },
        { name: 'hang', repo: sb.hang!.checkout, syncTimeout: '2s' },
        { name: 'full', repo: fullCheckout },
        {
          name: 'hook',
          repo: sb.hook!.checkout,
          onChange: [
            { paths: 'app.py', run: `echo run >> '${root}/hook.runs'; while :; do sleep 1; done`, timeout: '2s' },
          ],
        },
        { name: 'gone', repo: sb.gone!.checkout },
      ]);
      const d = await startApps(file, SECRET);
      await allStarted(d, ['ok', 'full', 'hook', 'gone']);

      // the faults: a push each, that the full disk cannot hold, that starts the looping hook, to a deleted checkout
      const big = 'the same line again and again to fill the disk\n'.repeat(170_000);
      await commitAndPush(sb.full!, { 'app.py': 'VERSION = 2\n', 'big.txt': big });
      await commitAndPush(sb.hook!, { 'app.py': 'VERSION = 2\n' });
      await fs.rm(sb.gone!.checkout, { recursive: true, force: true });
      await commitAndPush(sb.gone!, { 'app.py': 'VERSION = 2\n' });
      await commitAndPush(sb.hang!, { 'app.py': 'VERSION = 2\n' });

      // meanwhile the fifth app's pushes go live, each within the interval and the margin
      const times: number[] = [];
      for (let i = 2; i <= 4; i++) {
        const sha = await commitAndPush(sb.ok!, { 'app.py': `VERSION = ${i}\n` });
        times.push(await d.deployed('ok', sha));
      }
      console.log(`ok: push -> live in ${times.join(', ')} ms (interval 1 s) beside four faulty apps`);
      expect(Math.max(...times)).toBeLessThan(1000 + MARGIN_MS);

      // and each faulty app's state says what is wrong
      const reasons = await waitFor(
        'every faulty app to say what is wrong',
        async () => {
          const { apps, problems } = await d.status();
          const of = (name: string) => apps.find((a) => a.app === name) ?? problems?.find((p) => p.app === name);
          const found = Object.fromEntries(['hang', 'full', 'hook', 'gone'].map((n) => [n, of(n)] as const)) as Record<
            string,
            (AppStatus & { problem?: string }) | undefined
          >;
          const said = (n: string, re: RegExp) => re.test(`${found[n]?.reason ?? ''} ${found[n]?.problem ?? ''}`);
          return said('hang', /timed out/i) &&
            said('full', /no space left/i) &&
            said('hook', /timed out|timeout/i) &&
            said('gone', /checkout|no such|missing|not a git/i)
            ? found
            : undefined;
        },
        60_000,
      );
      console.log(
        Object.entries(reasons)
          .map(([n, s]) => `${n}: ${s?.state ?? '-'}: ${s?.reason ?? s?.problem}`)
          .join('\n'),
      );
      expect(reasons.hang).toMatchObject({
        state: 'failing',
        reason: 'git ls-remote --heads -- origin refs/heads/main timed out after 2s',
      });
      expect(reasons.full).toMatchObject({
        state: 'failing',
        reason: expect.stringMatching(/^no space left on device while writing \w{7}; the checkout stays at \w{7}/),
      });
      expect(reasons.hook).toMatchObject({
        state: 'rejected',
        reason: expect.stringMatching(
          /^run hook failed for \w{7}, checkout restored to \w{7}: command .* timed out after 2s; not retried until the branch moves \(or SIGHUP\)$/,
        ),
      });
      expect(reasons.gone).toMatchObject({
        state: 'missing',
        reason: `the checkout ${sb.gone!.checkout} is gone (no ${sb.gone!.checkout}/.git); nothing is deployed until a clone is there again`,
      });
      expect(await headOf(fullCheckout)).toBe(await headOf(sb.full!.bare, 'main~1'));
      expect(await headOf(sb.hook!.checkout)).toBe(await headOf(sb.hook!.bare, 'main~1'));
      // the rejected revision is tried again on SIGHUP, as its state says (the file is read again, and every app syncs)
      const runs = () => fs.readFile(path.join(root, 'hook.runs'), 'utf8').then((t) => t.trim().split('\n').length);
      expect(await runs()).toBe(1);
      process.kill(d.proc.pid, 'SIGHUP');
      await waitFor('the hook to run again after SIGHUP', async () => (await runs()) === 2, 20_000);
      // and the healthy app still deploys after the faulty ones have settled into their states
      const last = await commitAndPush(sb.ok!, { 'app.py': 'VERSION = 5\n' });
      expect(await d.deployed('ok', last)).toBeLessThan(1000 + MARGIN_MS);

      // started again with the checkout still gone (a volume not mounted yet): the others run, that app is a problem
      // of the process, tried again, not a configuration error that stops them all (exit 2)
      expect(await stop(d.proc)).toEqual({ code: 0, signal: null });
      const again = await startApps(file, SECRET);
      await allStarted(again, ['ok']);
      const status = await again.status();
      expect(status.apps.map((a) => a.app)).toEqual(['ok', 'hang', 'full', 'hook']);
      expect(status.problems).toEqual([
        { app: 'gone', problem: `--repo must be an existing directory (got ${JSON.stringify(sb.gone!.checkout)})` },
      ]);
      const after = await commitAndPush(sb.ok!, { 'app.py': 'VERSION = 6\n' });
      expect(await again.deployed('ok', after)).toBeLessThan(1000 + MARGIN_MS);
      await stop(again.proc);
    },
  );
});

describe('kill -9 of a many-apps process mid-deploy', { timeout: 120_000 }, () => {
  it('every app finishes its deploy from its own journal when started again; the next push deploys', async () => {
    const names = ['k1', 'k2', 'k3'];
    const sb = await sandboxes(names);
    const root = await workDir();
    const marks = path.join(root, 'marks');
    await fs.mkdir(marks);
    // the first run of each app's hook sleeps (the kill lands in it); a run after the restart ends at once
    const hook = (name: string) =>
      `echo run >> '${marks}/${name}.runs'; if [ ! -e '${marks}/${name}.slept' ]; then touch '${marks}/${name}.slept'; sleep 30; fi`;
    const file = path.join(root, 'hotpull.json');
    await writeAppsConfig(
      file,
      shared(root),
      names.map((name) => ({
        name,
        repo: sb[name]!.checkout,
        onChange: [{ paths: 'app.py', run: hook(name), timeout: '1m' }],
      })),
    );
    const first = await startApps(file, SECRET);
    await allStarted(first, names);
    const pushed: Record<string, string> = {};
    for (const name of names) {
      pushed[name] = await commitAndPush(sb[name]!, { 'app.py': 'VERSION = 2\n', [`lib/${name}.py`]: 'X = 1\n' });
    }
    await waitFor(
      'every app in its hook',
      async () =>
        (await Promise.all(names.map((n) => fs.stat(`${marks}/${n}.slept`).catch(() => false)))).every(Boolean),
      30_000,
    );
    const journals = names.map((n) => path.join(sb[n]!.checkout, '.git', 'hotpull', 'journal.json'));
    expect(await Promise.all(journals.map((j) => fs.readFile(j, 'utf8').then(() => true)))).toEqual([true, true, true]);
    expect(await stop(first.proc, 'SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });

    const second = await startApps(file, SECRET);
    for (const name of names) await second.deployed(name, pushed[name]!);
    for (const name of names) {
      const checkout = sb[name]!.checkout;
      // one whole revision on disk: the pushed one, nothing half-written or left over, nothing owed
      expect(await headOf(checkout)).toBe(pushed[name]);
      expect(await git(checkout, 'status', '--porcelain', '--untracked-files=all')).toBe('');
      expect(await fs.readFile(path.join(checkout, `lib/${name}.py`), 'utf8')).toBe('X = 1\n');
      await expect(fs.stat(path.join(checkout, '.git', 'hotpull', 'journal.json'))).rejects.toThrow(/ENOENT/);
      // the hook the kill cut ran again, in full
      expect((await fs.readFile(`${marks}/${name}.runs`, 'utf8')).trim().split('\n')).toEqual(['run', 'run']);
    }
    expect((await second.status()).apps.map((a) => [a.app, a.state])).toEqual(names.map((n) => [n, 'idle']));
    // and the next push deploys, for each
    const next = await Promise.all(names.map((n) => commitAndPush(sb[n]!, { 'app.py': 'VERSION = 3\n' })));
    for (const [i, name] of names.entries()) await second.deployed(name, next[i]!);
    await stop(second.proc);
  });
});

describe('a reload while a removed app is in a long pass', { timeout: 60_000 }, () => {
  it('the changed app restarts and deploys at once, not after the removed app ends its pass; a stop ends that pass too', async () => {
    const sb = await sandboxes(['slow', 'quick']);
    const root = await workDir();
    const started = path.join(root, 'slow.started');
    const file = path.join(root, 'hotpull.json');
    const slow = {
      name: 'slow',
      repo: sb.slow!.checkout,
      onChange: [{ paths: 'app.py', run: `echo $$ > '${root}/slow.pid'; touch '${started}'; sleep 20`, timeout: '1m' }],
    };
    await writeAppsConfig(file, shared(root), [slow, { name: 'quick', repo: sb.quick!.checkout }]);
    const d = await startApps(file, SECRET);
    await allStarted(d, ['slow', 'quick']);
    await commitAndPush(sb.slow!, { 'app.py': 'VERSION = 2\n' });
    await waitFor('slow in its hook', () => fs.stat(started).then(Boolean, () => false));

    await writeAppsConfig(file, shared(root), [{ name: 'quick', repo: sb.quick!.checkout, backoffMax: '30s' }]);
    const starts = () => d.proc.records().filter((r) => String(r.msg).startsWith('quick: hotpull following')).length;
    const before = starts();
    const asked = Date.now();
    process.kill(d.proc.pid, 'SIGHUP');
    await waitFor('quick to restart', () => starts() === before + 1, 15_000);
    const ms = Date.now() - asked;
    console.log(`quick restarted ${ms} ms after SIGHUP while slow's 20 s hook runs`);
    const sha = await commitAndPush(sb.quick!, { 'app.py': 'VERSION = 2\n' });
    expect(await d.deployed('quick', sha)).toBeLessThan(1000 + MARGIN_MS);
    // slow is still in its pass (it stops after it), and no longer listed
    expect((await d.status()).apps.map((a) => a.app)).toEqual(['quick']);
    // a stop now ends that pass too: its hook does not outlive the process
    const hook = Number(await fs.readFile(path.join(root, 'slow.pid'), 'utf8'));
    expect(isAlive(hook)).toBe(true);
    process.kill(d.proc.pid, 'SIGTERM');
    expect(await d.proc.exited).toEqual({ code: 0, signal: null });
    const orphan = isAlive(hook);
    if (orphan) process.kill(-hook, 'SIGKILL');
    expect(orphan, "the removed app's hook outlived the process").toBe(false);
  });
});
