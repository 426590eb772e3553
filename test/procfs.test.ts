/**
 * groupHasLiving, which tells a killed canary's process group apart from one that still runs something, against real
 * processes: a zombie (a member whose parent, outside the group, has not reaped it) still answers kill(-pgid, 0)
 * but runs nothing, and must not be waited for.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { killGroup } from '../src/proc/exec.js';
import { groupHasLiving, processesWithEnv } from '../src/proc/procfs.js';
import { waitFor } from './helpers/hotpull.js';

describe('groupHasLiving', () => {
  it('a running group has a living member; a group of one unreaped zombie does not, though kill(-pgid, 0) says it exists', async () => {
    // python forks a child into a process group of its own; the child runs until the test kills it, and python
    // never reaps it (no fixed time for the child to live: the test says when)
    const parent = spawn('python3', [
      '-c',
      'import os, sys, time\npid = os.fork()\nif pid == 0:\n    os.setpgid(0, 0)\n    time.sleep(60)\n    os._exit(0)\nprint(pid, flush=True)\ntime.sleep(60)',
    ]);
    try {
      const pgid = await new Promise<number>((resolve) =>
        parent.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))),
      );
      await waitFor('the child in its own group', async () => killGroup(pgid, 0), 30_000);
      expect(await groupHasLiving(pgid)).toBe(true);
      process.kill(pgid, 'SIGKILL');
      await waitFor('the child a zombie', async () => (await groupHasLiving(pgid)) === false, 30_000);
      expect(killGroup(pgid, 0)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('a group that is gone has no living member', async () => {
    const child = spawn('sleep', ['30'], { detached: true });
    const pgid = child.pid!;
    expect(await groupHasLiving(pgid)).toBe(true);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    killGroup(pgid, 'SIGKILL');
    await exited;
    expect(await groupHasLiving(pgid)).toBe(false);
  });
});

describe('processesWithEnv', () => {
  it('finds a marked process and what it started in another session, by exact value, with their process groups', async () => {
    const mark = `/tmp/judge-${process.pid}-${Date.now()}.json`;
    const child = spawn('sh', ['-c', 'setsid sleep 30 & echo $!; exec sleep 30'], {
      detached: true,
      env: { ...process.env, HOTPULL_TEST_MARK: mark },
    });
    try {
      const grandchild = await new Promise<number>((resolve) =>
        child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))),
      );
      // the grandchild is in its own group only once setsid has run (sh forks it, then it calls setsid)
      const found = await waitFor('both marked, the grandchild in its own session', async () => {
        const list = (await processesWithEnv('HOTPULL_TEST_MARK', mark)) ?? [];
        return list.length === 2 && list.some((p) => p.pid === grandchild && p.pgid === grandchild) ? list : undefined;
      });
      expect(found.sort((a, b) => a.pid - b.pid)).toEqual(
        [
          { pid: child.pid!, pgid: child.pid! },
          { pid: grandchild, pgid: grandchild },
        ].sort((a, b) => a.pid - b.pid),
      );
      expect(await processesWithEnv('HOTPULL_TEST_MARK', `${mark}x`)).toEqual([]);
      expect(await processesWithEnv('HOTPULL_TEST_MARK', mark.slice(0, -1))).toEqual([]);
      killGroup(grandchild, 'SIGKILL');
    } finally {
      killGroup(child.pid!, 'SIGKILL');
    }
  });
});
