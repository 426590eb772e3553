// Issue 25 item 7: checks that were uneven. An onChange key typo gets a grammatical line and a suggestion; two
// config files found is refused naming both (which one won was an accident of the search order); a --remote path
// that does not exist is exit 2 at start, not a retry loop.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { runCli } from './helpers/hotpull.js';

let dir: string | undefined;
let sb: Sandbox | undefined;
afterEach(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  await sb?.cleanup();
  dir = sb = undefined;
});

const load = (cwd: string, flags: Record<string, unknown> = {}) => loadConfig({ flags, env: {}, cwd, isTTY: false });

describe('config checks', () => {
  it('an onChange key typo: one line that names the key and suggests the right one', async () => {
    dir = await tmpDir();
    const file = path.join(dir, 'hotpull.config.json');
    await fs.writeFile(file, JSON.stringify({ onChange: [{ pahts: ['requirements.txt'], run: 'pip install' }] }));
    await expect(load(dir)).rejects.toThrow(
      `onChange[0] (in ${file}) must use only the keys paths, run, hold, timeout (got "pahts"; did you mean paths?)`,
    );
  });

  it('two config files: refused with one line naming both; --config picks one', async () => {
    dir = await tmpDir();
    await fs.writeFile(path.join(dir, 'hotpull.config.json'), '{"interval": "7s"}');
    await fs.writeFile(path.join(dir, '.hotpullrc.yaml'), 'interval: 9s\n');
    const result = await runCli(['sync'], { cwd: dir });
    expect([result.exitCode, result.stderr]).toEqual([
      2,
      `hotpull: only one config file may be found, name one with --config FILE (got 2: ${path.join(dir, 'hotpull.config.json')} and ${path.join(dir, '.hotpullrc.yaml')})`,
    ]);
    expect((await load(dir, { config: '.hotpullrc.yaml' })).interval).toBe(9000);
    // an app's package.json without a hotpull key is not a config file
    await fs.rm(path.join(dir, '.hotpullrc.yaml'));
    await fs.writeFile(path.join(dir, 'package.json'), '{"name": "app"}');
    expect((await load(dir)).interval).toBe(7000);
  });

  it.each([
    ['sync', []],
    ['run', ['--interval', '1s']],
  ])('%s with a --remote path that does not exist: exit 2 at start, one line', async (command, extra) => {
    sb = await makeSandbox();
    const missing = path.join(sb.root, 'no-such-remote.git');
    const result = await runCli([command, '--repo', sb.checkout, '--remote', missing, ...extra], { timeout: 20_000 });
    expect([result.exitCode, result.stderr]).toEqual([
      2,
      `hotpull: --remote must name an existing repository (got ${JSON.stringify(missing)}: ${missing} does not exist)`,
    ]);
  });
});
