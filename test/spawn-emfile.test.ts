/**
 * Issue 24 item 8e: out of file descriptors, a spawn fails on the next tick with no stdio at all. Each of hotpull's
 * own spawns (the command adapter, the ls-remote shell, flock) turns that into a failed result, in a real Node
 * process whose fd table is full (`ulimit -n 64`) and that has no uncaughtException handler: an 'error' nobody
 * listened to would end it with code 1.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { tmpDir } from './helpers/git.js';
import { ROOT } from './helpers/hotpull.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});
const dist = (file: string) => JSON.stringify(path.join(ROOT, 'dist', file));

describe('a spawn with the fd table full', () => {
  it('is a failed result from runArgv, runShell (gated or not), the ls-remote shell and flock; the process lives', async () => {
    const dir = await tmpDir('hotpull-emfile-');
    dirs.push(dir);
    const script = path.join(dir, 'full.mjs');
    await fs.writeFile(
      script,
      `import fs from 'node:fs';
       const { runArgv, runShell } = await import(${dist('proc/exec.js')});
       const { LsRemoteCoprocess } = await import(${dist('git/coprocess.js')});
       const { tryAcquire } = await import(${dist('sync/owner.js')});
       const lock = ${JSON.stringify(path.join(dir, 'owner'))};
       const fds = [];
       try { for (;;) fds.push(fs.openSync('/dev/null', 'r')); } catch {}
       const out = {};
       out.argv = (await runArgv('/bin/true', [], { timeoutMs: 5000 })).startError;
       out.shell = await runShell('true', { cwd: '/', timeoutMs: 5000 }).then(() => 'ran', (e) => e.message);
       out.gated = await runShell('true', { cwd: '/', timeoutMs: 5000, onStart: () => {} }).then(() => 'ran', (e) => e.message);
       out.lsRemote = await new LsRemoteCoprocess('/', {}).run({ remote: 'origin', ref: 'refs/heads/main', timeoutMs: 5000 }).then(() => 'ran', (e) => e.message);
       // flock needs a descriptor for the lock file itself: leave one
       fs.closeSync(fds.pop());
       out.flock = await tryAcquire(lock, 'test').then(() => 'ran', (e) => e.code ?? e.message);
       for (const fd of fds) fs.closeSync(fd);
       out.after = (await runArgv('/bin/true', [], { timeoutMs: 5000 })).exitCode;
       console.log(JSON.stringify(out));`,
    );
    const result = await execa('sh', ['-c', 'ulimit -n 64 && exec "$0" "$1"', process.execPath, script], {
      reject: false,
    });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const out = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(out).toEqual({
      argv: 'EMFILE',
      shell: 'command "true" could not start (EMFILE)',
      gated: 'command "true" could not start (EMFILE)',
      lsRemote: expect.stringMatching(/^git ls-remote: cannot start sh: spawn sh EMFILE/),
      flock: 'EMFILE',
      after: 0,
    });
  });
});
