/**
 * git's housekeeping (`maintenance run --auto`) is taken off the way from push to reload: fetch and merge run with
 * maintenance.auto=false, and hotpull runs it itself once the pass is over. Real git on a sandbox, with limits low
 * enough that every fetch makes a pack that auto maintenance would fold into one (fetch.unpackLimit=1 keeps what
 * comes in as a pack, gc.autoPackLimit=1 asks for a repack as soon as there are two, gc.autoDetach=false keeps the
 * repack in the foreground).
 */
import { readdirSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { makeDaemon, makePipeline, waitFor } from './helpers/hotpull.js';
import { isAlive } from './helpers/uwsgi.js';

let sb: Sandbox | undefined;
afterEach(async () => {
  await sb?.cleanup();
  sb = undefined;
});

const packs = async (checkout: string) =>
  (await fs.readdir(path.join(checkout, '.git', 'objects', 'pack'))).filter((n) => n.endsWith('.pack')).length;

async function packedSandbox(): Promise<Sandbox> {
  const s = await makeSandbox();
  for (const [key, value] of [
    ['fetch.unpackLimit', '1'],
    ['gc.autoPackLimit', '1'],
    ['gc.autoDetach', 'false'],
  ])
    await git(s.checkout, 'config', key, value);
  await git(s.checkout, 'repack', '-a', '-d', '-q');
  return s;
}

describe('git housekeeping after the pass', () => {
  it('the reload sees the fetched pack still apart; the pass ends with them repacked', async () => {
    sb = await packedSandbox();
    expect(await packs(sb.checkout)).toBe(1);

    const seen = path.join(sb.root, 'packs-at-reload');
    const reload = `command:ls .git/objects/pack | grep -c '[.]pack$' > '${seen}'`;
    const { engine } = await makePipeline(sb.checkout, { reload: [reload] });
    for (const round of [2, 3]) {
      const sha = await commitAndPush(sb, { 'app.py': `VERSION = ${round}\n` });
      expect((await engine.sync('test')).kind).toBe('deployed');
      expect(await headOf(sb.checkout)).toBe(sha);
      // with git's own auto maintenance inside fetch and merge, the repack came before the reload: 1 here
      expect((await fs.readFile(seen, 'utf8')).trim()).toBe('2');
      expect(await packs(sb.checkout)).toBe(1);
    }
    // a pass that fetched nothing runs no housekeeping (nothing to pack): still one pack, nothing changed
    expect((await engine.sync('test')).kind).toBe('up-to-date');
    expect(await packs(sb.checkout)).toBe(1);
  }, 60_000);

  it('the daemon reports a pass (metrics, notifications, waiting webhooks) before the housekeeping runs', async () => {
    sb = await packedSandbox();
    const { daemon } = await makeDaemon(sb.checkout, { interval: '1h' });
    const packsAtReport: number[] = [];
    // listeners are called synchronously: what they see is the pack directory as the pass ended
    const pack = path.join(sb.checkout, '.git', 'objects', 'pack');
    daemon.onPass(() => packsAtReport.push(readdirSync(pack).filter((n) => n.endsWith('.pack')).length));
    daemon.start();
    try {
      await waitFor('first pass', () => packsAtReport.length === 1);
      await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
      daemon.trigger('test');
      await waitFor('deploy pass', () => packsAtReport.length === 2);
      // told before the repack (inside the pass, the listeners would have seen 1)
      expect(packsAtReport[1]).toBe(2);
      await waitFor('repack after the pass', async () => (await packs(sb!.checkout)) === 1);
    } finally {
      await daemon.stop();
    }
  }, 60_000);

  it('a deploy wanted during the housekeeping ends it and starts at once; the housekeeping runs again after that pass', async () => {
    sb = await packedSandbox();
    // git's own hook before `gc --auto` (run by `maintenance run --auto`): says it started, and the first time holds
    // the housekeeping up as a long repack would
    const starts = path.join(sb.root, 'housekeeping-starts');
    const hook = path.join(sb.checkout, '.git', 'hooks', 'pre-auto-gc');
    await fs.writeFile(
      hook,
      `#!/bin/sh\necho $$ >> '${starts}'\n[ "$(wc -l < '${starts}')" -gt 1 ] || exec sleep 60\n`,
      {
        mode: 0o755,
      },
    );
    const started = async () => (await fs.readFile(starts, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    const { daemon, outcomes } = await makeDaemon(sb.checkout, { interval: '1h' });
    daemon.start();
    try {
      await waitFor('first pass', () => outcomes.length === 1);
      await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
      daemon.trigger('test');
      await waitFor('the deploy pass', () => outcomes.length === 2);
      const [holder] = await waitFor('the housekeeping after it to start', async () => {
        const pids = await started();
        return pids.length === 1 ? pids : undefined;
      });

      // a webhook now: its pass does not wait the 60 s the housekeeping would have taken
      const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 3\n' });
      const asked = Date.now();
      daemon.trigger('webhook');
      await waitFor("the webhook's pass", () => outcomes.length === 3, 20_000);
      const ms = Date.now() - asked;
      const outcome = outcomes[2];
      expect(outcome && !(outcome instanceof Error) && outcome.kind).toBe('deployed');
      expect(await headOf(sb.checkout)).toBe(sha);
      // the housekeeping was ended, with what it had started (the hook's sleep)
      expect(isAlive(Number(holder))).toBe(false);
      console.log(`housekeeping yielded: the webhook's deploy was out ${ms} ms after the trigger`);

      // owed, it runs again after that pass, and this time repacks
      // (git runs the hook again from the gc it starts: two lines or more)
      await waitFor('the housekeeping again', async () => (await started()).length >= 2);
      await waitFor('the repack', async () => (await packs(sb!.checkout)) === 1, 20_000);
    } finally {
      await daemon.stop();
    }
  }, 60_000);
});
