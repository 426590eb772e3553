// Issue 25 item 6: the first run of a fresh clone. The lockfile agrees with package.json (npm install left a fresh
// clone dirty when it did not), npm start builds only when a source changed, and the build says nothing when
// all is well.
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { tmpDir } from './helpers/git.js';
import { ROOT } from './helpers/hotpull.js';

const json = (file: string) => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8')) as Record<string, unknown>;

describe('package-lock.json', () => {
  it('its root package says what package.json says (name, version, bin, dependency ranges, engines)', () => {
    const pkg = json('package.json');
    const lock = json('package-lock.json') as { name: string; version: string; packages: Record<string, object> };
    const keys = ['name', 'version', 'license', 'bin', 'dependencies', 'devDependencies', 'engines'] as const;
    const pick = (o: Record<string, unknown>) => Object.fromEntries(keys.map((k) => [k, o[k]]));
    expect({ name: lock.name, version: lock.version }).toEqual({ name: pkg.name, version: pkg.version });
    expect(pick(lock.packages['']! as Record<string, unknown>)).toEqual(pick(pkg));
  });
});

describe('npm start builds only when a source changed', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('no build while dist/ is newer than src/; one after a source changes; nothing printed either way', async () => {
    dir = await tmpDir('hotpull-start-');
    // a stand-in project: the real script, a build that only leaves a mark
    await fs.mkdir(path.join(dir, 'scripts'));
    await fs.copyFile(
      path.join(ROOT, 'scripts', 'build-if-changed.mjs'),
      path.join(dir, 'scripts', 'build-if-changed.mjs'),
    );
    const build = `node -e "require('fs').mkdirSync('dist',{recursive:true});require('fs').writeFileSync('dist/bin.js','');require('fs').appendFileSync('builds','x')"`;
    await fs.writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'x', scripts: { build } }));
    await fs.mkdir(path.join(dir, 'src'));
    await fs.writeFile(path.join(dir, 'src', 'a.ts'), 'export {};\n');
    const start = () => execa(process.execPath, ['scripts/build-if-changed.mjs'], { cwd: dir, reject: false });
    const builds = () => fs.readFile(path.join(dir!, 'builds'), 'utf8').catch(() => '');

    const first = await start(); // no dist/ yet
    expect([first.exitCode, first.stdout, first.stderr, await builds()]).toEqual([0, '', '', 'x']);
    const second = await start();
    expect([second.exitCode, second.stdout, await builds()]).toEqual([0, '', 'x']);
    const later = new Date(Date.now() + 5000);
    await fs.utimes(path.join(dir, 'src', 'a.ts'), later, later);
    const third = await start();
    expect([third.exitCode, third.stdout, await builds()]).toEqual([0, '', 'xx']);
  });

  it('the Latin-1 step of the build prints nothing when all is well', async () => {
    const dist = await tmpDir('hotpull-latin1-');
    try {
      await fs.writeFile(path.join(dist, 'a.js'), "export const arrow = 'a → b';\n");
      const result = await execa(process.execPath, [path.join(ROOT, 'scripts', 'latin1-dist.mjs'), dist]);
      expect([result.stdout, result.stderr]).toEqual(['', '']);
      expect(await fs.readFile(path.join(dist, 'a.js'), 'utf8')).toBe("export const arrow = 'a \\u2192 b';\n");
    } finally {
      await fs.rm(dist, { recursive: true, force: true });
    }
  });
});
