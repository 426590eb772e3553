/**
 * Issue 24 item 4: SIGUSR1 during Node's start-up. The launcher (bin/hotpull, also the image's) gives Node
 * --disable-sigusr1 where the line has it (22.14+, 24): a real process sends SIGUSR1 in a tight loop from the moment
 * the daemon is spawned until it is up, round after round: no inspector ever opens, at most a few rounds die (before:
 * every one, the launcher's shell on the first signal), and the daemon syncs on SIGHUP.
 * On Node 20 (no such flag) docs/operating.md (Signals) says what remains: the launcher starts it without the flag, and once up a
 * SIGUSR1 syncs and opens no inspector.
 */
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { execa } from 'execa';
import { makeSandbox, type Sandbox } from './helpers/git.js';
import { ROOT } from './helpers/hotpull.js';
import { startProcess, stop, stopAll, waitForRecord } from './helpers/procs.js';

let sb: Sandbox | undefined;
afterEach(async () => {
  await stopAll();
  await sb?.cleanup();
  sb = undefined;
});

const LAUNCHER = path.join(ROOT, 'bin/hotpull');
const LINES = [process.execPath, '/opt/hotpull-node/22/bin/node', '/opt/hotpull-node/24/bin/node'].filter((n) =>
  existsSync(n),
);

async function hasFlag(node: string): Promise<boolean> {
  return (await execa(node, ['--disable-sigusr1', '-e', '0'], { reject: false })).exitCode === 0;
}

/** bin/hotpull run with `node` the given binary. */
function daemon(node: string, repo: string) {
  return startProcess(LAUNCHER, ['run', '--repo', repo, '--interval', '10m', '--reload', 'none'], {
    env: { ...process.env, PATH: `${path.dirname(node)}:${process.env.PATH}`, HOTPULL_LOG_FORMAT: 'json' },
  });
}

const up = (r: Record<string, unknown>) => String(r.msg).startsWith('hotpull following');

describe('SIGUSR1 while Node starts', { timeout: 120_000 }, () => {
  it('CI has the Node lines', () => {
    if (process.env.CI === 'true') expect(LINES.length).toBe(3);
  });

  for (const node of LINES) {
    it(`${path.basename(path.dirname(path.dirname(node)))} ${node}: a SIGUSR1 flood while it starts opens no inspector, few rounds die; SIGHUP syncs`, async () => {
      sb = await makeSandbox();
      if (!(await hasFlag(node))) {
        // Node 20: no --disable-sigusr1, the start-up window remains (docs/operating.md, Signals); after start-up SIGUSR1 syncs
        const d = daemon(node, sb.checkout);
        await waitForRecord(d, 'the daemon up', up);
        process.kill(d.pid, 'SIGUSR1');
        await waitForRecord(d, 'a sync on SIGUSR1', (r) => r.msg === 'SIGUSR1: syncing now');
        expect(d.stderr()).not.toContain('Debugger listening');
        expect((await stop(d)).code).toBe(0);
        return;
      }
      // Node's own exec-to-init and the launcher's first line still leave a sliver (2-3 deaths in 30 rounds here;
      // every round died before, the launcher's shell itself on the first signal): bounded, never an inspector
      const rounds = 10;
      let died = 0;
      for (let round = 0; round < rounds; round++) {
        const d = daemon(node, sb.checkout);
        // from the spawn on, as fast as a shell can send, until the daemon is gone (the sender ends with it)
        const sender = spawn('sh', ['-c', 'while kill -USR1 "$1" 2>/dev/null; do :; done', 'x', String(d.pid)]);
        onTestFinished(() => void sender.kill());
        const upNow = await waitForRecord(d, `round ${round}: the daemon up`, up).catch(() => undefined);
        expect(d.stderr()).not.toContain('Debugger listening');
        if (!upNow) {
          expect((await d.exited).signal).toBe('SIGUSR1');
          died += 1;
          continue;
        }
        process.kill(d.pid, 'SIGHUP');
        await waitForRecord(d, 'a sync on SIGHUP', (r) => r.msg === 'SIGHUP: syncing now');
        expect(d.records().some((r) => r.msg === 'SIGUSR1: syncing now')).toBe(false);
        expect((await stop(d)).code).toBe(0);
        expect(d.stderr()).not.toContain('Debugger listening');
      }
      expect(died, `${died} of ${rounds} rounds died of a SIGUSR1 sent while Node started`).toBeLessThanOrEqual(
        rounds / 2,
      );
    });
  }
});
