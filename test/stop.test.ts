/**
 * Issue 11: a stop is not a verdict. SIGTERM while a good deploy is being verified (real uWSGI) must leave
 * nothing rejected, and the next start re-reloads and re-verifies what is on disk. SIGTERM during a hung reload
 * command ends the command with its whole process group (no orphan), and the next start redoes the reload; after
 * kill -9, the next start ends what the killed daemon left running.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ResultPromise } from 'execa';
import { itNeeds } from './helpers/requires.js';
import { commitAndPush, git, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { spawnCli, waitFor } from './helpers/hotpull.js';
import { wsgiAppSource } from './helpers/wsgi-app.js';
import { startUwsgi, workerVersions, type UwsgiServer } from './helpers/uwsgi.js';

let sb: Sandbox | undefined;
let server: UwsgiServer | undefined;
const children: ResultPromise[] = [];
const groups: number[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    await child.catch(() => undefined);
  }
  for (const pgid of groups.splice(0)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
  await server?.stop();
  server = undefined;
  await sb?.cleanup();
  sb = undefined;
});

const itUwsgi = itNeeds('uwsgi');

function hotpull(args: string[]): ResultPromise & { lines: () => string[] } {
  const child = spawnCli(['run', ...args]);
  children.push(child);
  const out: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => out.push(...chunk.toString().split('\n').filter(Boolean)));
  child.stderr!.on('data', (chunk: Buffer) => out.push(...chunk.toString().split('\n').filter(Boolean)));
  return Object.assign(child, { lines: () => out });
}

async function stopped(child: ResultPromise, signal: NodeJS.Signals): Promise<{ exitCode?: number; ms: number }> {
  const started = Date.now();
  child.kill(signal);
  const result = await child;
  children.splice(children.indexOf(child), 1);
  return { exitCode: result.exitCode, ms: Date.now() - started };
}

const groupAlive = (pgid: number) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};

const journalOf = async (checkout: string) =>
  JSON.parse(await fs.readFile(path.join(checkout, '.git', 'hotpull', 'journal.json'), 'utf8').catch(() => 'null')) as {
    stage: string;
    to: string;
  } | null;

describe('a stop is not a verdict', () => {
  itUwsgi(
    'SIGTERM while a good deploy is verified: nothing rejected; the next start reloads and verifies it, live',
    async () => {
      sb = await makeSandbox({ files: { 'app.py': wsgiAppSource('v1'), 'uwsgi.ini': '[uwsgi]\n' } });
      server = await startUwsgi({ dir: sb.checkout, touchReload: path.join(sb.checkout, 'uwsgi.ini') });
      const health = ['--health-url', `${server.url}/health`, '--health-expect', 'ok v2', '--interval', '200ms'];
      // a settle window longer than the test waits: the first daemon is always still verifying when stopped
      const first = hotpull([
        '--repo',
        sb.checkout,
        ...health,
        '--health-settle',
        '10m',
        '--health-timeout',
        '20m',
        '--log-level',
        'debug',
      ]);
      const sha = await commitAndPush(sb, { 'app.py': wsgiAppSource('v2') });
      await waitFor(
        'the new code served (verification under way)',
        async () =>
          (await fetch(`${server!.url}/health`).then(
            (r) => r.text(),
            () => '',
          )) === 'ok v2',
        60_000,
      );
      expect(await journalOf(sb.checkout)).toMatchObject({ stage: 'reload', to: sha });

      const stop = await stopped(first, 'SIGTERM');
      expect(stop.exitCode).toBe(0);
      // (debug lines naming git commands mention refs/hotpull/rejected by name: only what hotpull says counts)
      expect(
        first
          .lines()
          .filter((l) => !l.includes('"command":"git '))
          .join('\n'),
      ).not.toMatch(/rolling back|rejected|a git step/);
      await expect(headOf(sb.checkout, 'refs/hotpull/rejected')).rejects.toThrow();
      await expect(headOf(sb.checkout, 'refs/hotpull/last-good')).rejects.toThrow();
      expect(await headOf(sb.checkout)).toBe(sha);
      expect(await journalOf(sb.checkout)).toMatchObject({ stage: 'reload', to: sha });

      const touchBefore = (await fs.stat(path.join(sb.checkout, 'uwsgi.ini'))).mtimeMs;
      const second = hotpull(['--repo', sb.checkout, ...health, '--health-settle', '1s']);
      await waitFor(
        'the resumed deploy verified live',
        async () => (await headOf(sb!.checkout, 'refs/hotpull/last-good').catch(() => '')) === sha,
        60_000,
      );
      expect(second.lines().join('\n')).toMatch(/resuming the interrupted deploy of \w{7}: reload and verify/);
      expect((await fs.stat(path.join(sb.checkout, 'uwsgi.ini'))).mtimeMs, 'reloaded again on start').toBeGreaterThan(
        touchBefore,
      );
      expect(await journalOf(sb.checkout)).toBeNull();
      expect([...new Set((await workerVersions(server.url, 2)).values())]).toEqual(['v2']);
      await stopped(second, 'SIGTERM');
    },
    240_000,
  );

  it('SIGTERM during a hung reload command: its process group ends with it, and the next start redoes the reload', async () => {
    sb = await makeSandbox();
    // the command leaves a grandchild (sleep) that would hold on as an orphan if only the shell were ended
    const hung = 'command:"echo $$ > reload.pgid; sleep 300 & wait"';
    const first = hotpull(['--repo', sb.checkout, '--interval', '200ms', '--reload', hung, '--reload-timeout', '1h']);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n', '.gitignore': 'reload.pgid\nreloaded.txt\n' });
    const pgidFile = path.join(sb.checkout, 'reload.pgid');
    const pgid = Number(
      await waitFor(
        'the reload command running',
        () =>
          fs.readFile(pgidFile, 'utf8').then(
            (t) => t.trim(),
            () => '',
          ),
        60_000,
      ),
    );
    groups.push(pgid);
    expect(groupAlive(pgid)).toBe(true);

    const stop = await stopped(first, 'SIGTERM');
    expect(stop.exitCode).toBe(0);
    expect(stop.ms).toBeLessThan(8000);
    expect(first.lines().join('\n')).not.toMatch(/a git step/);
    await waitFor('the reload command and its children gone', () => !groupAlive(pgid), 5000);
    expect(await journalOf(sb.checkout)).toMatchObject({ stage: 'reload', to: sha });

    const second = hotpull([
      '--repo',
      sb.checkout,
      '--interval',
      '200ms',
      '--reload',
      'command:"echo $HOTPULL_SHA > reloaded.txt"',
    ]);
    const reloaded = await waitFor(
      'the reload redone on start',
      () => fs.readFile(path.join(sb!.checkout, 'reloaded.txt'), 'utf8').catch(() => ''),
      60_000,
    );
    expect(reloaded.trim()).toBe(sha);
    await waitFor('the journal cleared', async () => (await journalOf(sb!.checkout)) === null, 10_000);
    await stopped(second, 'SIGTERM');
  }, 120_000);

  it('kill -9 during a hung reload command: the next start ends what was left running, then reloads', async () => {
    sb = await makeSandbox();
    const hung = 'command:"echo $$ > reload.pgid; sleep 300 & wait"';
    const first = hotpull(['--repo', sb.checkout, '--interval', '200ms', '--reload', hung, '--reload-timeout', '1h']);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n', '.gitignore': 'reload.pgid\nreloaded.txt\n' });
    const pgid = Number(
      await waitFor(
        'the reload command running',
        () =>
          fs.readFile(path.join(sb!.checkout, 'reload.pgid'), 'utf8').then(
            (t) => t.trim(),
            () => '',
          ),
        60_000,
      ),
    );
    groups.push(pgid);
    await waitFor(
      'its pid written down',
      async () =>
        (await fs.readFile(path.join(sb!.checkout, '.git', 'hotpull', 'journal.json'), 'utf8')).includes(
          `"pid":${pgid}`,
        ),
      10_000,
    );
    await stopped(first, 'SIGKILL');
    expect(groupAlive(pgid), 'a command in its own process group outlives a kill -9 of hotpull').toBe(true);

    const second = hotpull([
      '--repo',
      sb.checkout,
      '--interval',
      '200ms',
      '--reload',
      'command:"echo $HOTPULL_SHA > reloaded.txt"',
    ]);
    await waitFor('the left-over command ended', () => !groupAlive(pgid), 30_000);
    const reloaded = await waitFor(
      'the reload redone',
      () => fs.readFile(path.join(sb!.checkout, 'reloaded.txt'), 'utf8').catch(() => ''),
      60_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; its log:\n${second.lines().join('\n')}`);
    });
    expect(reloaded.trim()).toBe(sha);
    expect(second.lines().join('\n')).toMatch(/ending the command the interrupted deploy left running/);
    await stopped(second, 'SIGTERM');
  }, 120_000);

  it('a reload command that times out is ended with its whole process group', async () => {
    sb = await makeSandbox();
    const first = hotpull([
      '--repo',
      sb.checkout,
      '--interval',
      '200ms',
      '--reload',
      'command:"echo $$ > reload.pgid; sleep 300 & wait"',
      '--reload-timeout',
      '1s',
    ]);
    await commitAndPush(sb, { 'app.py': 'VERSION = 2\n', '.gitignore': 'reload.pgid\n' });
    const pgid = Number(
      await waitFor(
        'the reload command running',
        () =>
          fs.readFile(path.join(sb!.checkout, 'reload.pgid'), 'utf8').then(
            (t) => t.trim(),
            () => '',
          ),
        60_000,
      ),
    );
    groups.push(pgid);
    await waitFor('the timed-out command and its children gone', () => !groupAlive(pgid), 15_000);
    await waitFor('the timeout reported', () => first.lines().some((l) => /timed out after 1s/.test(l)), 15_000);
    await stopped(first, 'SIGTERM');
    expect(await git(sb.checkout, 'status', '--porcelain')).toBe('');
  }, 120_000);
});
