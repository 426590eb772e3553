/** Commands hotpull runs (onChange hooks, command: reloads) get the operator's environment without hotpull's secrets. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { commitAndPush, makeSandbox, type Sandbox } from './helpers/git.js';
import { makePipeline } from './helpers/hotpull.js';
import { childEnv } from '../src/child-env.js';

let sb: Sandbox | undefined;
afterEach(async () => {
  await sb?.cleanup();
});

describe("hotpull's secrets stay out of the commands it runs", () => {
  it('childEnv drops the secret variables and keeps the rest', () => {
    const env = childEnv({
      PATH: '/usr/bin',
      FOO: 'bar',
      HOTPULL_INTERVAL: '2s',
      HOTPULL_WEBHOOK_SECRET: 's1',
      HOTPULL_PASSWORD: 's2',
      HOTPULL_NOTIFY_SECRET: 's3',
      HOTPULL_API_TOKEN: 's4',
      HOTPULL_REMOTE: 'https://u:s5@git.example.com/app.git',
    });
    expect(env).toEqual({ PATH: '/usr/bin', FOO: 'bar', HOTPULL_INTERVAL: '2s' });
    expect(childEnv({ HOTPULL_REMOTE: 'https://git.example.com/app.git' })).toEqual({
      HOTPULL_REMOTE: 'https://git.example.com/app.git',
    });
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
});
