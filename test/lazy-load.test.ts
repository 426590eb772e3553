// What an idle sidecar leaves unloaded (issue 17): cosmiconfig without a config file for it, node:crypto until a
// webhook or a deploy needs it, and what node:http's getters would load (src/builtins.ts). Each case runs the built
// modules in a fresh Node process and lists what it loaded; bench/idle.mjs says what each one costs.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, headOf } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import { daemonWithImport, githubSignature, request, teardownAll, tmpDirForTest } from './helpers/listener.js';
import { packagesLoaded } from './helpers/loaded.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dist = (file: string) => JSON.stringify(path.join(ROOT, 'dist', file));

afterEach(teardownAll);

describe('loaded only when used', () => {
  it.each([
    ['no package.json', undefined, false],
    ['a package.json without a hotpull key', '{"name":"app","dependencies":{}}', false],
    ['a package.json with a hotpull key', '{"name":"app","hotpull":{"interval":"7s"}}', true],
    ['a package.json that does not parse', '{"name":', true],
  ])('cosmiconfig with %s in the working directory', async (_what, packageJson, loads) => {
    const dir = await tmpDirForTest();
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

describe('node:crypto in a running daemon', () => {
  it('is not loaded while the sidecar polls and listens; a signed webhook loads it and still verifies', async () => {
    // the daemon writes the builtins it has loaded to a file every 100 ms (an --import script, not hotpull code)
    const { sb, daemon, dir } = await daemonWithImport(
      `setInterval(() => report('builtins', process.moduleLoadList.join('\\n')), 100).unref();`,
      ['--interval', '200ms'],
    );
    const list = path.join(dir, 'builtins');
    const builtins = async () => (await fs.readFile(list, 'utf8').catch(() => '')).split('\n');
    await waitFor('the list of builtins', async () => (await builtins()).length > 1);
    await new Promise((r) => setTimeout(r, 1000)); // five polls at 200 ms, each a git ls-remote
    const idle = await builtins();
    expect(idle).toContain('NativeModule net');
    expect(idle).not.toContain('NativeModule crypto');
    // what an ES-module import of node:http would have loaded through its getters on Node 22 and later
    expect(idle).not.toContain('NativeModule internal/deps/undici/undici');
    expect(idle).not.toContain('NativeModule http2');

    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const body = JSON.stringify({ ref: 'refs/heads/main', after: sha, repository: { full_name: 'o/r' } });
    const headers = {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-hub-signature-256': githubSignature(body),
    };
    expect((await request(daemon.url, { method: 'POST', path: '/webhook', headers, body })).status).toBe(202);
    const forged = { ...headers, 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` };
    expect((await request(daemon.url, { method: 'POST', path: '/webhook', headers: forged, body })).status).toBe(401);
    await waitFor('the push to be deployed', async () => (await headOf(sb.checkout)) === sha, 60_000);
    await waitFor('crypto in the list', async () => (await builtins()).includes('NativeModule crypto'));
  });
});

describe('builtins with costly getters', () => {
  it('node:http and node:util come through src/builtins.ts, never an ES-module import of their values', async () => {
    const src = path.join(ROOT, 'src');
    const files = (await fs.readdir(src, { recursive: true })).filter((f) => f.endsWith('.ts'));
    const offenders: string[] = [];
    for (const file of files) {
      const text = await fs.readFile(path.join(src, file), 'utf8');
      for (const match of text.matchAll(/^import (?!type )[^;]*? from '(?:node:)?(http|util)';/gm))
        offenders.push(`${file}: ${match[0]}`);
    }
    expect(offenders).toEqual([]);
  });

  it('on this Node line, an ES-module import of node:http loads more than process.getBuiltinModule does', async () => {
    // the reason for the rule above; on Node 22 and later the difference includes undici and node:crypto
    const count = async (how: string) =>
      Number(
        (
          await execa(process.execPath, [
            '--input-type=module',
            '-e',
            `${how}; console.log(process.moduleLoadList.length)`,
          ])
        ).stdout,
      );
    const esm = await count("await import('node:http')");
    const builtin = await count("process.getBuiltinModule('node:http')");
    expect(esm).toBeGreaterThan(builtin);
  });
});

describe('the built modules', () => {
  it('hold no comments and no character above U+00FF (V8 would keep each such source at twice its size)', async () => {
    const files = (await fs.readdir(path.join(ROOT, 'dist'), { recursive: true })).filter((f) => f.endsWith('.js'));
    expect(files.length).toBeGreaterThan(50);
    const wide: string[] = [];
    for (const file of files) {
      const source = await fs.readFile(path.join(ROOT, 'dist', file), 'utf8');
      if (/[^\u0000-\u00ff]/.test(source)) wide.push(file);
    }
    expect(wide).toEqual([]);
    // the escapes mean what the source said: run's help still prints the ellipsis of --on-live
    const { stdout } = await execa(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'run', '--help']);
    expect(stdout).toContain('HOTPULL_PREVIOUS_SHA, HOTPULL_DIR …;');
  });
});
