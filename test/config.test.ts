import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { tmpDir } from './helpers/git.js';

let dir: string;
afterEach(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const load = (flags: Record<string, unknown> = {}, env: Record<string, string> = {}, cwd = dir) => loadConfig({ flags, env, cwd, isTTY: false });

describe('config precedence: flag > env > file > default', () => {
  it('defaults', async () => {
    dir = await tmpDir();
    const c = await load();
    expect(c).toMatchObject({ repo: dir, remote: 'origin', interval: 5000, syncTimeout: 60_000, onDiverged: 'stop', onDirty: 'stop', logFormat: 'json', logLevel: 'info' });
    expect(c.branch).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('each layer overrides the one below', async () => {
    dir = await tmpDir();
    await fs.writeFile(path.join(dir, 'hotpull.config.yaml'), 'interval: 3s\nbranch: from-file\nremote: file-remote\nlogLevel: warn\n');
    const c = await load({ interval: '1s' }, { HOTPULL_INTERVAL: '2s', HOTPULL_BRANCH: 'from-env' });
    expect([c.interval, c.branch, c.remote, c.logLevel]).toEqual([1000, 'from-env', 'file-remote', 'warn']);
    expect(c.configFile).toBe(path.join(dir, 'hotpull.config.yaml'));
  });

  it.each([
    ['hotpull.config.json', '{"interval":"7s"}'],
    ['hotpull.config.yml', 'interval: 7s\n'],
    ['hotpull.config.mjs', 'export default { interval: "7s" };\n'],
    ['hotpull.config.cjs', 'module.exports = { interval: "7s" };\n'],
    ['.hotpullrc', '{"interval":"7s"}'],
    ['.hotpullrc.yaml', 'interval: 7s\n'],
    ['package.json', '{"name":"x","hotpull":{"interval":"7s"}}'],
  ])('reads %s', async (name, text) => {
    dir = await tmpDir();
    await fs.writeFile(path.join(dir, name), text);
    expect((await load()).interval).toBe(7000);
  });

  it('reads an explicit --config and resolves its relative paths against the file', async () => {
    dir = await tmpDir();
    await fs.mkdir(path.join(dir, 'etc'));
    await fs.writeFile(path.join(dir, 'etc/deploy.yaml'), 'repo: ../srv/app\n');
    const c = await load({ config: 'etc/deploy.yaml' });
    expect(c.repo).toBe(path.join(dir, 'srv/app'));
  });

  it('finds the config file in --repo when the working directory has none', async () => {
    dir = await tmpDir();
    await fs.mkdir(path.join(dir, 'app'));
    await fs.writeFile(path.join(dir, 'app/.hotpullrc.json'), '{"interval":"9s"}');
    expect((await load({ repo: path.join(dir, 'app') })).interval).toBe(9000);
  });

  it('a missing --config file is a config error naming it', async () => {
    dir = await tmpDir();
    await expect(load({ config: 'nope.yaml' })).rejects.toThrow(`--config must name a readable config file; ${path.join(dir, 'nope.yaml')} does not exist`);
  });

  it('a config file that is not an object is rejected', async () => {
    dir = await tmpDir();
    await fs.writeFile(path.join(dir, 'hotpull.config.json'), '[1,2]');
    await expect(load()).rejects.toMatchObject({ code: 'CONFIG', exitCode: 2 });
  });
});
