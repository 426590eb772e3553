/**
 * Issue 14: --on-live runs once per deploy that went live (real uWSGI, verified), with the HOTPULL_* environment and
 * without hotpull's own secrets; its failure is reported and rolls nothing back; long commands log a heartbeat.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { itNeeds } from './helpers/requires.js';
import { commitAndPush, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import { startHotpull, stop, stopAll, waitForRecord } from './helpers/procs.js';
import { freePort, startUwsgi, type UwsgiServer } from './helpers/uwsgi.js';
import { wsgiAppSource } from './helpers/wsgi-app.js';

let sb: Sandbox | undefined;
let app: UwsgiServer | undefined;
let dir: string | undefined;
afterEach(async () => {
  await stopAll();
  await app?.stop();
  await sb?.cleanup();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  sb = app = dir = undefined;
});

const itUwsgi = itNeeds('uwsgi');

const readLines = async (file: string) => (await fs.readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
const passes = async (listen: number) => {
  const text = await (await fetch(`http://127.0.0.1:${listen}/metrics`)).text();
  return [...text.matchAll(/^hotpull_syncs_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
};

describe('--on-live', () => {
  itUwsgi(
    'runs once per verified deploy, with HOTPULL_SHA, HOTPULL_PREVIOUS_SHA, HOTPULL_DIR and no hotpull secret',
    async () => {
      sb = await makeSandbox({
        files: { 'app.py': wsgiAppSource('v1', { reportSha: true }), 'uwsgi.ini': '[uwsgi]\n' },
      });
      app = await startUwsgi({ dir: sb.checkout, touchReload: path.join(sb.checkout, 'uwsgi.ini') });
      dir = await tmpDir();
      const out = path.join(dir, 'on-live.log');
      const listen = await freePort();
      const first = await headOf(sb.checkout);
      const command = `echo "$HOTPULL_SHA $HOTPULL_PREVIOUS_SHA $HOTPULL_DIR $HOTPULL_VERIFIED $HOTPULL_RESULT \${HOTPULL_WEBHOOK_SECRET:-no-secret} $(pwd)" >> ${out}`;
      const daemon = startHotpull(
        [
          'run',
          '--repo',
          sb.checkout,
          '--interval',
          '200ms',
          '--listen',
          String(listen),
          '--health-url',
          `${app.url}/health`,
          '--health-expect',
          '{sha}',
          '--on-live',
          command,
        ],
        { env: { HOTPULL_WEBHOOK_SECRET: 'hook-S3CRET' } },
      );
      await waitForRecord(daemon, 'the first pass', (r) => String(r.msg).startsWith('hotpull following'));
      const second = await commitAndPush(sb, { 'app.py': wsgiAppSource('v2', { reportSha: true }) });
      await waitFor('the first --on-live', async () => (await readLines(out)).length === 1, 60_000);
      const third = await commitAndPush(sb, { 'app.py': wsgiAppSource('v3', { reportSha: true }) });
      await waitFor('the second --on-live', async () => (await readLines(out)).length === 2, 60_000);
      // ten more passes that find nothing new run nothing
      const after = await passes(listen);
      await waitFor('ten more passes', async () => (await passes(listen)) >= after + 10, 30_000);
      await stop(daemon);

      expect(await readLines(out)).toEqual([
        `${second} ${first} ${sb.checkout} 1 live no-secret ${sb.checkout}`,
        `${third} ${second} ${sb.checkout} 1 live no-secret ${sb.checkout}`,
      ]);
      expect(daemon.records().filter((r) => String(r.msg).startsWith('--on-live "echo'))).toHaveLength(2);
    },
    150_000,
  );

  it('a failing --on-live is reported with its last output lines and counted; the deploy stays', async () => {
    sb = await makeSandbox();
    const listen = await freePort();
    const daemon = startHotpull([
      'run',
      '--repo',
      sb.checkout,
      '--interval',
      '200ms',
      '--listen',
      String(listen),
      '--on-live',
      'echo warming; echo "cache unreachable" >&2; exit 3',
    ]);
    await waitForRecord(daemon, 'the first pass', (r) => String(r.msg).startsWith('hotpull following'));
    const second = await commitAndPush(sb, { 'README.md': 'two\n' });
    const failed = await waitForRecord(
      daemon,
      'the failure',
      (r) => String(r.msg).startsWith('--on-live failed'),
      30_000,
    );
    expect(failed.msg).toBe(
      `--on-live failed for ${second.slice(0, 7)} (the deploy stays live): command "echo warming; echo "cache unreachable" >&2; exit 3" exited with code 3: cache unreachable`,
    );
    const lines = await waitForRecord(daemon, 'the last lines', (r) =>
      String(r.msg).includes('its last 2 output lines'),
    );
    expect(lines.msg).toBe(
      'command "echo warming; echo "cache unreachable" >&2; exit 3" failed; its last 2 output lines:\nwarming\ncache unreachable',
    );
    const metrics = await (await fetch(`http://127.0.0.1:${listen}/metrics`)).text();
    await stop(daemon);
    expect(await headOf(sb.checkout)).toBe(second);
    expect(metrics).toContain('hotpull_on_live_total{result="failed"} 1');
    expect(daemon.records().some((r) => String(r.msg).includes('rolling back'))).toBe(false);
  }, 90_000);

  it('a long run hook logs a heartbeat every 10 s', async () => {
    sb = await makeSandbox();
    dir = await tmpDir();
    const config = path.join(dir, 'hotpull.config.json');
    await fs.writeFile(
      config,
      JSON.stringify({ onChange: [{ paths: ['requirements.txt'], run: ['sleep 11; echo installed'] }] }),
    );
    const daemon = startHotpull(['run', '--repo', sb.checkout, '--interval', '200ms', '--config', config]);
    await waitForRecord(daemon, 'the first pass', (r) => String(r.msg).startsWith('hotpull following'));
    const second = await commitAndPush(sb, { 'requirements.txt': 'django\n' });
    await waitForRecord(
      daemon,
      'the heartbeat',
      (r) => r.msg === 'still running `sleep 11; echo installed`, 10 s',
      30_000,
    ).catch((e) => {
      console.log(daemon.stdout());
      throw e;
    });
    await waitForRecord(daemon, 'the deploy', (r) => r.new === second && String(r.msg).startsWith('deployed'), 30_000);
    await stop(daemon);
  }, 90_000);
});
