/**
 * runShell's gate: a command whose start is written down (hooks, command reloads, the judge's commands) runs only
 * once the record is written, so a kill -9 of hotpull between the spawn and the record leaves nothing running.
 * Real sh, real processes; the "hotpull" that dies is a real node process running dist/proc/exec.js.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { runShell, UNRECORDED } from '../src/proc/exec.js';
import { judgeStaged } from '../src/deploy/judge.js';
import { createLogger } from '../src/log.js';
import { tmpDir } from './helpers/git.js';
import { logSink, ROOT, waitFor } from './helpers/hotpull.js';
import { isAlive as alive } from './helpers/uwsgi.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('runShell with onStart', () => {
  it('starts the command only after onStart has settled, with the same pid and stdin from /dev/null', async () => {
    dir = await tmpDir();
    const record = path.join(dir, 'record');
    let noted = 0;
    const result = await runShell(`test -f '${record}' && echo "pid $$" && cat && echo end`, {
      cwd: dir,
      timeoutMs: 20_000,
      onStart: async (pid) => {
        noted = pid;
        await new Promise((r) => setTimeout(r, 300));
        await fs.writeFile(record, String(pid));
      },
    });
    expect(result.stdout).toBe(`pid ${noted}\nend`);
  });

  it('a failing onStart (the record could not be written) keeps the command from starting, and says so', async () => {
    dir = await tmpDir();
    const marker = path.join(dir, 'ran');
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    await expect(
      runShell(`touch '${marker}'`, { cwd: dir, timeoutMs: 20_000, onStart: () => Promise.reject(full) }),
    ).rejects.toThrow(/^command "touch .*" could not start \(its pid could not be written down: ENOSPC\)$/);
    expect(existsSync(marker), 'the command ran although its pid was never written down').toBe(false);
  });

  it('hotpull killed with -9 after the spawn, before the pid is written down: the command never runs', async () => {
    dir = await tmpDir();
    const marker = path.join(dir, 'ran');
    const pidFile = path.join(dir, 'pid');
    const script = `
      import { writeFileSync } from 'node:fs';
      const { runShell } = await import(${JSON.stringify(path.join(ROOT, 'dist', 'proc', 'exec.js'))});
      await runShell(${JSON.stringify(`touch '${marker}'; sleep 30`)}, {
        cwd: ${JSON.stringify(dir)},
        timeoutMs: 60_000,
        onStart: (pid) => {
          writeFileSync(${JSON.stringify(pidFile)}, String(pid));
          process.kill(process.pid, 'SIGKILL'); // dies before it could write the record
          return new Promise(() => {});
        },
      });`;
    const hotpull = await execa(process.execPath, ['--input-type=module', '-e', script], { reject: false });
    expect(hotpull.signal).toBe('SIGKILL');
    const pid = Number(await fs.readFile(pidFile, 'utf8'));
    try {
      // the command's shell sees its stdin close without the go line and exits
      await waitFor('the unrecorded command gone', () => !alive(pid));
      expect(existsSync(marker), 'the command ran although its pid was never written down').toBe(false);
    } finally {
      if (alive(pid)) process.kill(-pid, 'SIGKILL');
    }
  });
});

describe("the judge's record of its running command", () => {
  it('when it cannot be written, a preflight does not start, and the verdict says why', async () => {
    dir = await tmpDir();
    const marker = path.join(dir, 'ran');
    // the record's directory is a file: every write of it fails (ENOTDIR), as on a full or read-only disk
    await fs.writeFile(path.join(dir, 'state'), '');
    const logger = await createLogger({ level: 'error', format: 'json', destination: logSink() });
    const verdict = await judgeStaged(
      { preflight: [`touch '${marker}'`], timeoutMs: 20_000, path: '/', settleMs: 0 },
      { dir, sha: 'a'.repeat(40), previousSha: '', env: {} },
      logger,
      path.join(dir, 'state', 'judge-child.json'),
    );
    expect(verdict.ok).toBe(false);
    expect(verdict.ok ? '' : verdict.reason).toContain(`${UNRECORDED}: ENOTDIR`);
    expect(existsSync(marker), 'the preflight ran although its pid was never written down').toBe(false);
  });
});
