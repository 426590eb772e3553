// Issue 28 item 3: --require-approval. A real daemon (`hotpull run --listen 127.0.0.1:0`) on a checkout of a bare
// repo: a new revision waits (state held, the reason says what to run), an approval of another sha does nothing,
// `hotpull approve SHA` (the operator route, with the bearer secret) applies it, and an approval survives a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import { runHotpull, startHotpull, stop, waitForRecord, type Proc } from './helpers/procs.js';

const SECRET = { HOTPULL_WEBHOOK_SECRET: 'approve-s3cret' } as NodeJS.ProcessEnv;
let sb: Sandbox;
let daemon: { proc: Proc; url: string };

async function start(): Promise<{ proc: Proc; url: string }> {
  const proc = startHotpull(
    ['run', '--repo', sb.checkout, '--interval', '300ms', '--listen', '127.0.0.1:0', '--require-approval'],
    { env: SECRET },
  );
  const listening = await waitForRecord(proc, 'the listener', (r) => String(r.msg).startsWith('listening on '));
  return { proc, url: String(listening.url).replace(/\/$/, '') };
}

const statusOf = async () => (await (await fetch(`${daemon.url}/status`)).json()) as Record<string, any>;
const until = (what: string, check: (s: Record<string, any>) => boolean) =>
  waitFor(
    what,
    async () => {
      const status = await statusOf().catch(() => undefined);
      return status && check(status) ? status : undefined;
    },
    30_000,
  );
const approve = (sha: string) => runHotpull(['approve', sha, '--url', daemon.url], { env: SECRET, timeoutMs: 30_000 });

beforeAll(async () => {
  sb = await makeSandbox();
  daemon = await start();
  await until('idle', (s) => s.state === 'idle');
}, 60_000);

afterAll(async () => {
  if (daemon) await stop(daemon.proc);
  await sb?.cleanup();
});

describe('--require-approval', { timeout: 60_000 }, () => {
  it('a new revision waits; an approval of another sha does nothing; hotpull approve SHA applies it', async () => {
    const before = await headOf(sb.checkout);
    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' }, 'needs approval');
    const held = await until('held', (s) => s.state === 'held' && s.remoteSha === sha);
    expect(held.reason).toBe(
      `${sha.slice(0, 7)} waits for approval (--require-approval): hotpull approve ${sha.slice(0, 7)}`,
    );
    expect(held.deployedSha).toBe(before);

    const other = await approve(before);
    expect(other.code).toBe(0);
    expect(other.stdout).toContain(`approved ${before.slice(0, 7)} (the revision that waits is ${sha.slice(0, 7)})`);
    const polled = (await statusOf()).lastSuccessAt;
    await until('another poll', (s) => s.lastSuccessAt !== polled);
    expect(await statusOf()).toMatchObject({ state: 'held', deployedSha: before });

    const ok = await approve(sha.slice(0, 7));
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim()).toBe(`approved ${sha.slice(0, 7)}; syncing now`);
    await until('deployed', (s) => s.deployedSha === sha && s.state === 'idle');
    expect(await headOf(sb.checkout)).toBe(sha);
  });

  it('an approval is kept with the checkout: given before the push, it applies after a restart', async () => {
    await git(sb.seed, 'commit', '-q', '--allow-empty', '-m', 'approved ahead');
    const sha = await headOf(sb.seed);
    // a short sha is only taken for the revision that waits
    const short = await approve(sha.slice(0, 7));
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/approve needs the full sha, or at least 7 characters of the revision that waits/);
    expect((await approve(sha)).code).toBe(0);
    await stop(daemon.proc);
    daemon = await start();
    await git(sb.seed, 'push', '-q', 'origin', 'main');
    await until('deployed after the restart', (s) => s.deployedSha === sha && s.state === 'idle');
  });

  it('approve takes one hex SHA (exit 2, one line)', async () => {
    const bad = await runHotpull(['approve', 'main', '--url', daemon.url], { env: SECRET });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('hotpull: approve takes one SHA, a commit id in hex (got "main")');
  });
});
