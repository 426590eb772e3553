/**
 * Issue 24, item 8d: a kill -9 during the onChange hooks. Each hook's completion is in the journal, so the next start
 * runs only what had not finished: the hook that was cut half-way runs again, in full; one that finished does not.
 * A real daemon, real hooks (shell commands counting their runs in files), a real kill -9.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commitAndPush, headOf } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import { faultFixtures, startHotpull, stop } from './helpers/procs.js';
import { hooksOwed, parseJournal } from '../src/sync/journal.js';

const made = faultFixtures();

const lines = async (file: string) => (await fs.readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);

describe('kill -9 during the second of two hooks', { timeout: 120_000 }, () => {
  it('the next start does not run the first again, runs the second again in full, and the deploy completes', async () => {
    const sb = await made.sandbox();
    const first = path.join(sb.root, 'first-runs');
    const second = path.join(sb.root, 'second-starts');
    const secondDone = path.join(sb.root, 'second-done');
    const reloads = path.join(sb.root, 'reloads');
    const config = path.join(sb.root, 'hotpull.config.json');
    await fs.writeFile(
      config,
      JSON.stringify({
        onChange: [
          { paths: 'app.py', run: `echo "$HOTPULL_SHA" >> '${first}'` },
          // says it started, then (the first time only) sleeps long enough to be killed in
          {
            paths: 'app.py',
            run: `echo "$HOTPULL_SHA" >> '${second}'; [ "$(wc -l < '${second}')" -gt 1 ] || sleep 60; echo "$HOTPULL_SHA" >> '${secondDone}'`,
          },
        ],
      }),
    );
    const args = [
      'run',
      '--repo',
      sb.checkout,
      '--config',
      config,
      '--interval',
      '100ms',
      '--reload',
      `command:echo "$HOTPULL_SHA" >> '${reloads}'`,
    ];
    const killed = startHotpull(args);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await waitFor('the second hook to start', async () => (await lines(second)).length === 1, 30_000);
    // a real kill -9: the hook's process group outlives hotpull (the next start ends it)
    process.kill(killed.pid, 'SIGKILL');
    expect(await killed.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await lines(first)).toEqual([sha]);
    const journal = path.join(sb.checkout, '.git', 'hotpull', 'journal.json');
    expect(JSON.parse(await fs.readFile(journal, 'utf8'))).toMatchObject({ stage: 'hooks', to: sha });

    const next = startHotpull(args);
    await waitFor('the reload of the resumed deploy', async () => (await lines(reloads)).includes(sha), 30_000);
    await waitFor('the journal cleared', () =>
      fs.stat(journal).then(
        () => false,
        () => true,
      ),
    );
    expect(await lines(first), 'the finished hook is not run again').toEqual([sha]);
    expect(await lines(second), 'the hook cut half-way runs again').toEqual([sha, sha]);
    expect(await lines(secondDone)).toEqual([sha]);
    expect(await headOf(sb.checkout)).toBe(sha);
    expect(next.records().map((r) => r.msg)).toContain(
      `hook "echo "$HOTPULL_SHA" >> '${first}'" finished before the interruption: not run again`,
    );
    expect(await stop(next)).toEqual({ code: 0, signal: null });
  });
});

describe('hooksOwed: the hooks a resumed deploy still runs', () => {
  const hooks = ['a', 'b', 'a', 'c'].map((command) => ({ command }));
  it.each([
    [undefined, ['a', 'b', 'a', 'c']],
    [[], ['a', 'b', 'a', 'c']],
    [['a'], ['b', 'a', 'c']],
    [
      ['a', 'b'],
      ['a', 'c'],
    ],
    [['a', 'b', 'a'], ['c']],
    // a command no longer configured (the config changed across the restart) skips nothing
    [
      ['x', 'a'],
      ['b', 'a', 'c'],
    ],
  ])('done %j: runs %j', (done, owed) => {
    expect(hooksOwed(hooks, done).map((h) => h.command)).toEqual(owed);
  });

  it('a journal whose hooksDone is not a list of commands counts none done', () => {
    const sha = 'a'.repeat(40);
    const entry = (hooksDone: unknown) =>
      parseJournal(JSON.stringify({ from: '', to: sha, stage: 'hooks', hooksDone }));
    expect(entry(['x'])?.hooksDone).toEqual(['x']);
    expect(entry('x')?.hooksDone).toBeUndefined();
    expect(entry([1])?.hooksDone).toBeUndefined();
    expect(entry([1])?.to).toBe(sha);
  });
});
