// What an idle sidecar leaves unloaded (issue 17): cosmiconfig without a config file for it. Each case runs the built modules in a fresh Node process and lists
// the packages it loaded; bench/idle.mjs says what each one costs.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tmpDir } from './helpers/git.js';
import { packagesLoaded } from './helpers/loaded.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dist = (file: string) => JSON.stringify(path.join(ROOT, 'dist', file));

let dir: string | undefined;
afterEach(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('loaded only when used', () => {
  it.each([
    ['no package.json', undefined, false],
    ['a package.json without a hotpull key', '{"name":"app","dependencies":{}}', false],
    ['a package.json with a hotpull key', '{"name":"app","hotpull":{"interval":"7s"}}', true],
    ['a package.json that does not parse', '{"name":', true],
  ])('cosmiconfig with %s in the working directory', async (_what, packageJson, loads) => {
    dir = await tmpDir();
    if (packageJson !== undefined) await fs.writeFile(path.join(dir, 'package.json'), packageJson);
    const { packages, stdout } = await packagesLoaded(
      `const { loadConfig } = await import(${dist('config/load.js')});
       try {
         const c = await loadConfig({ flags: {}, env: {}, cwd: process.cwd(), isTTY: false });
         console.log(JSON.stringify({ interval: c.interval, file: c.configFile ?? null }));
       } catch (error) { console.log(JSON.stringify({ error: error.message })); }`,
      dir,
    );
    expect(packages.includes('cosmiconfig')).toBe(loads);
    const result = JSON.parse(stdout);
    if (packageJson?.includes('"hotpull"'))
      expect(result).toEqual({ interval: 7000, file: path.join(dir, 'package.json') });
    else if (packageJson === '{"name":') expect(result.error).toMatch(/package\.json/);
    else expect(result).toEqual({ interval: 5000, file: null });
  });
});
