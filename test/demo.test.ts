import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../src/demo/app.js';
import { buildFiles, initialFiles, RELOAD_FILE } from '../src/demo/content.js';
import { fetchServed } from '../src/demo/probe.js';
import { median, notServedMessage, summary, tableHeader, tableRow } from '../src/demo/report.js';
import { SANDBOX_PREFIX } from '../src/demo/sandbox.js';

// The test command builds first (npm test = build + vitest), so the CLI is run exactly as `npm start` runs it.
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const ROW = /^([0-9a-f]{7})\s+(v\d+)\s+(\d+\.\d{3}) s\s+(\d+ ms|-)\s+(.+)$/;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const demoDirs = async () => (await readdir(tmpdir())).filter((name) => name.startsWith(SANDBOX_PREFIX));

function sandboxOf(stdout: string): string {
  const match = /^\s+sandbox\s+(\S+)/m.exec(stdout);
  expect(match, `no sandbox line in:\n${stdout}`).not.toBeNull();
  return match![1]!;
}

function appPidOf(stdout: string): number {
  const match = /^\s+app\s+\S+\s+pid (\d+)/m.exec(stdout);
  expect(match, `no app line in:\n${stdout}`).not.toBeNull();
  return Number(match![1]);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('hotpull demo (real git, real app server, real daemon)', () => {
  it('serves five pushes, prints each push-to-served time, and leaves nothing behind', async () => {
    const before = await demoDirs();
    // a bound on a hang, not a speed target: the demo's own figures are what bench/demo.mjs reads
    const result = await execa(process.execPath, [CLI, 'demo'], { reject: false, timeout: 120_000, stdin: 'ignore' });
    const output = `${result.stdout}\n${result.stderr}`;

    expect(result.exitCode, output).toBe(0);
    const rows = result.stdout.split('\n').flatMap((line) => {
      const match = ROW.exec(line);
      return match ? [{ version: match[2], seconds: Number(match[3]), says: match[5] }] : [];
    });
    expect(
      rows.map((r) => r.version),
      output,
    ).toEqual(['v2', 'v3', 'v4', 'v5', 'v6']);
    for (const row of rows) {
      expect(row.seconds).toBeGreaterThan(0);
      // The greeting comes from greeting.mjs: new code, not only a new version.txt, is what is served.
      expect(row.says).toMatch(new RegExp(` from ${row.version}$`));
    }
    expect(result.stdout).toMatch(/^median push→served \d+\.\d{3} s over 5 pushes/m);

    const sandbox = sandboxOf(result.stdout);
    expect(sandbox.startsWith(join(tmpdir(), SANDBOX_PREFIX))).toBe(true);
    expect(existsSync(sandbox)).toBe(false);
    expect(result.stdout).toContain(`removed ${sandbox}`);
    expect(isAlive(appPidOf(result.stdout))).toBe(false);
    expect((await demoDirs()).filter((d) => !before.includes(d))).toEqual([]);
  }, 130_000);

  it('on SIGINT stops the daemon and the app, removes the sandbox, and exits 130', async () => {
    const child = execa(process.execPath, [CLI, 'demo'], { reject: false, timeout: 120_000, stdin: 'ignore' });
    let seen = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        seen += chunk;
        // Mid-demo: the daemon is running and at least one push was served.
        if (seen.split('\n').some((line) => ROW.test(line))) resolve();
      });
      child.once('exit', () => reject(new Error(`demo ended before its first row:\n${seen}`)));
    });
    child.kill('SIGINT');
    const result = await child;

    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(130);
    expect(result.stdout).toContain('SIGINT: stopping hotpull and the app, removing the sandbox');
    expect(result.stderr).toBe('');
    const sandbox = sandboxOf(result.stdout);
    expect(existsSync(sandbox)).toBe(false);
    expect(isAlive(appPidOf(result.stdout))).toBe(false);
  }, 130_000);

  it('rejects an unknown argument as bad configuration (exit 2)', async () => {
    const result = await execa(process.execPath, [CLI, 'demo', 'kep'], {
      reject: false,
      timeout: 10_000,
      stdin: 'ignore',
    });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe('hotpull: demo takes one optional argument, "keep" (keep the sandbox); got "kep"');
  });
});

describe('the demo app', () => {
  async function app(): Promise<{ dir: string; checkout: string; server: RunningApp }> {
    const dir = await mkdtemp(join(tmpdir(), 'hotpull-test-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const checkout = join(dir, 'app');
    await mkdir(checkout);
    for (const [name, content] of Object.entries(initialFiles())) await writeFile(join(checkout, name), content);
    const server = await startApp({ dir, checkout, reloadFile: RELOAD_FILE, env: process.env });
    cleanups.push(() => server.stop());
    return { dir, checkout, server };
  }

  it('serves new code only after the reload file gets a new mtime', async () => {
    const { checkout, server } = await app();
    expect(await fetchServed(server.url)).toEqual({ version: 'v1', says: 'hello from v1', generation: 1 });

    for (const [name, content] of Object.entries(buildFiles(2))) await writeFile(join(checkout, name), content);
    await sleep(350); // three reload checks
    expect((await fetchServed(server.url)).version).toBe('v1');

    await writeFile(join(checkout, RELOAD_FILE), '');
    const seconds = Math.floor(Date.now() / 1000) + 1;
    await utimes(join(checkout, RELOAD_FILE), seconds, seconds);
    let served = await fetchServed(server.url);
    for (let i = 0; i < 50 && served.version !== 'v2'; i += 1) {
      await sleep(20);
      served = await fetchServed(server.url);
    }
    expect(served).toEqual({ version: 'v2', says: 'hallo from v2', generation: 2 });
  });

  it('is killed by stop()', async () => {
    const { server } = await app();
    await server.stop();
    expect(isAlive(server.pid)).toBe(false);
    await expect(fetchServed(server.url)).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('demo report', () => {
  it('takes the median of odd and even counts', () => {
    expect(median([])).toBeUndefined();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('lays rows out under the header', () => {
    expect(tableHeader()).toBe('commit   version  push→served  hotpull pass  app says');
    expect(
      tableRow({ sha: '0123456789abcdef', version: 'v2', servedAfterMs: 412.4, passMs: 37.6, says: 'hallo from v2' }),
    ).toBe('0123456  v2       0.412 s      38 ms         hallo from v2');
    expect(tableRow({ sha: '0123456789abcdef', version: 'v3' })).toBe('0123456  v3       not served   -             -');
  });

  it('summarizes served pushes and counts the rest', () => {
    const rows = [
      { sha: 'a', version: 'v2', servedAfterMs: 300 },
      { sha: 'b', version: 'v3', servedAfterMs: 500 },
      { sha: 'c', version: 'v4' },
    ];
    expect(summary(rows, 500)).toBe(
      'median push→served 0.400 s over 2 pushes (min 0.300 s, max 0.500 s; polling every 500 ms); 1 of 3 not served',
    );
    expect(summary([{ sha: 'c', version: 'v4' }], 500)).toBe('no push was served (1 tried)');
  });

  it('says why a push was not served', () => {
    expect(
      notServedMessage({
        version: 'v3',
        sha: 'abcdef0123',
        timeoutMs: 15_000,
        servedVersion: 'v2',
        state: 'failing',
        reason: 'git fetch timed out',
        deployedSha: '99887766',
      }),
    ).toBe(
      'v3 (abcdef0) was not served within 15 s: the app still serves v2; hotpull is failing (git fetch timed out), checkout at 9988776',
    );
    expect(
      notServedMessage({
        version: 'v3',
        sha: 'abcdef0123',
        timeoutMs: 15_000,
        probeError: 'connect ECONNREFUSED',
        state: 'idle',
      }),
    ).toBe('v3 (abcdef0) was not served within 15 s: the app does not answer (connect ECONNREFUSED); hotpull is idle');
  });
});
