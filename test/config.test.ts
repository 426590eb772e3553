import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { tmpDir } from './helpers/git.js';

let dir: string;
afterEach(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const load = (flags: Record<string, unknown> = {}, env: Record<string, string> = {}, cwd = dir) =>
  loadConfig({ flags, env, cwd, isTTY: false });

describe('config precedence: flag > env > file > default', () => {
  it('defaults', async () => {
    dir = await tmpDir();
    const c = await load();
    expect(c).toMatchObject({
      repo: dir,
      remote: 'origin',
      interval: 5000,
      syncTimeout: 60_000,
      onDiverged: 'stop',
      onDirty: 'stop',
      logFormat: 'json',
      logLevel: 'info',
    });
    expect(c.branch).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('each layer overrides the one below', async () => {
    dir = await tmpDir();
    await fs.writeFile(
      path.join(dir, 'hotpull.config.yaml'),
      'interval: 3s\nbranch: from-file\nremote: file-remote\nlogLevel: warn\n',
    );
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
    await expect(load({ config: 'nope.yaml' })).rejects.toThrow(
      `--config must name a readable config file; ${path.join(dir, 'nope.yaml')} does not exist`,
    );
  });

  it('a broken explicit --config names it and the problem, without the code frame', async () => {
    dir = await tmpDir();
    await fs.writeFile(path.join(dir, 'deploy.yaml'), 'interval: [2s\n');
    await expect(load({ config: 'deploy.yaml' })).rejects.toMatchObject({
      code: 'CONFIG',
      message: `--config must name a readable config file; ${path.join(dir, 'deploy.yaml')} cannot be parsed as YAML: unexpected end of the stream within a flow collection at line 2 column 1`,
    });
  });

  it('a broken file found by search is named, not the directory searched', async () => {
    dir = await tmpDir();
    await fs.mkdir(path.join(dir, 'app'));
    await fs.writeFile(path.join(dir, 'app/.hotpullrc.json'), '{\n  "interval": "2s"\n  "branch": "main"\n}\n');
    await expect(load({ repo: path.join(dir, 'app') })).rejects.toMatchObject({
      code: 'CONFIG',
      message: `config file ${path.join(dir, 'app/.hotpullrc.json')} cannot be parsed as JSON: Expected ',' or '}' after property value at line 3 column 3`,
    });
  });

  it('durations: compound values from a file, and the 24h cap', async () => {
    dir = await tmpDir();
    await fs.writeFile(path.join(dir, 'hotpull.config.yaml'), 'interval: 1m30s\nbackoffMax: 24h\n');
    expect(await load()).toMatchObject({ interval: 90_000, backoffMax: 86_400_000 });
    await expect(load({ backoffMax: '48h' })).rejects.toMatchObject({
      code: 'CONFIG',
      message: '--backoff-max must be at most 24h (got "48h")',
    });
  });

  it('a config file that is not an object is rejected', async () => {
    dir = await tmpDir();
    await fs.writeFile(path.join(dir, 'hotpull.config.json'), '[1,2]');
    await expect(load()).rejects.toMatchObject({ code: 'CONFIG', cliExitCode: 2 });
  });
});
