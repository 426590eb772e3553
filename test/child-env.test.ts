/**
 * Commands hotpull runs (onChange hooks, command: reloads, --on-live) get the operator's environment without hotpull's
 * secrets and without its options' variables, which a `hotpull` they run would read as its own (issue 24 item 8c).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { commitAndPush, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { makePipeline, waitFor } from './helpers/hotpull.js';
import { BIN, startHotpull, stopAll } from './helpers/procs.js';
import { childEnv } from '../src/proc/child-env.js';

let sb: Sandbox | undefined;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await stopAll();
  for (const c of cleanups.splice(0)) await c();
  await sb?.cleanup();
  sb = undefined;
});

describe("hotpull's secrets stay out of the commands it runs", () => {
  it("childEnv drops the secret variables and hotpull's options, and keeps the rest", () => {
    const env = childEnv({
      PATH: '/usr/bin',
      FOO: 'bar',
      HOTPULL_INTERVAL: '2s',
      HOTPULL_BRANCH: 'main',
      HOTPULL_LOG_FORMAT: 'json',
      HOTPULL_NATIVE_POLL: '0',
      HOTPULL_WEBHOOK_SECRET: 's1',
      HOTPULL_PASSWORD: 's2',
      HOTPULL_NOTIFY_SECRET: 's3',
      HOTPULL_API_TOKEN: 's4',
      HOTPULL_REMOTE: 'https://u:s5@git.example.com/app.git',
    });
    expect(env).toEqual({ PATH: '/usr/bin', FOO: 'bar', HOTPULL_NATIVE_POLL: '0' });
    expect(childEnv({ HOTPULL_REMOTE: 'https://git.example.com/app.git' })).toEqual({});
  });

  it('an onChange hook and a command reload see FOO but neither the webhook secret nor the notify secret', async () => {
    sb = await makeSandbox();
    const hookOut = path.join(sb.root, 'hook-env');
    const reloadOut = path.join(sb.root, 'reload-env');
    await fs.writeFile(
      path.join(sb.checkout, 'hotpull.config.json'),
      JSON.stringify({
        onChange: [{ paths: ['app.py'], run: [`env > '${hookOut}'`] }],
        reload: [`command:env > '${reloadOut}'`],
      }),
    );
    const secrets = {
      HOTPULL_WEBHOOK_SECRET: 'webhook-s3cret-value',
      HOTPULL_NOTIFY_SECRET: 'notify-s3cret-value',
      FOO: 'visible-foo',
    };
    // in this process's own environment too, as in production: commands get it underneath what hotpull passes
    Object.assign(process.env, secrets);
    onTestFinished(() => {
      for (const name of Object.keys(secrets)) delete process.env[name];
    });
    const { engine } = await makePipeline(sb.checkout, {}, secrets);
    await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    expect((await engine.sync('test')).kind).toBe('deployed');
    for (const file of [hookOut, reloadOut]) {
      const text = await fs.readFile(file, 'utf8');
      expect(text).toContain('FOO=visible-foo');
      expect(text).toContain('HOTPULL_SHA=');
      expect(text).not.toContain('s3cret-value');
    }
  });

  it("a hotpull run by an --on-live command follows its own flags, not the daemon's HOTPULL_REMOTE and HOTPULL_BRANCH", async () => {
    // the daemon configured through its environment, as supervisord's `environment=` does
    sb = await makeSandbox();
    const inner = await makeSandbox();
    cleanups.push(() => inner.cleanup());
    const innerHead = await commitAndPush(inner, { 'inner.txt': 'inner\n' });
    const out = path.join(sb.root, 'on-live.out');
    const onLive = [
      `echo "$HOTPULL_DEPLOY_BRANCH $HOTPULL_DEPLOY_REMOTE \${HOTPULL_REMOTE:-none} \${HOTPULL_BRANCH:-none}" > '${out}'`,
      `'${process.execPath}' '${BIN}' sync --repo '${inner.checkout}' >> '${out}' 2>&1`,
      `echo "exit $?" >> '${out}'`,
    ].join('; ');
    startHotpull(['run', '--repo', sb.checkout, '--interval', '200ms', '--reload', 'none', '--on-live', onLive], {
      env: { HOTPULL_REMOTE: sb.bare, HOTPULL_BRANCH: 'main' },
    });
    await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const text = await waitFor('the --on-live command done', async () => {
      const t = await fs.readFile(out, 'utf8').catch(() => '');
      return /^exit \d+$/m.test(t) ? t : undefined;
    });
    expect(text.split('\n')[0]).toBe(`main ${sb.bare} none none`);
    expect(text).toMatch(/^exit 0$/m);
    // the inner hotpull fast-forwarded its own checkout from its own remote (the daemon's is another repository)
    expect(await headOf(inner.checkout)).toBe(innerHead);
  });
});
