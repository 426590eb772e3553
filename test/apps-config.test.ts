/**
 * Issue 29, bad input of a many-apps file (`apps:`): each mistake is one line naming the app and the rule, and
 * `hotpull run --config FILE` exits 2 at once, before anything starts (nothing written in the checkouts). And what a
 * good file gives each app: shared keys inherited, an entry's own keys winning, repo paths relative to the file.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, tmpDir } from './helpers/git.js';
import { runCli } from './helpers/hotpull.js';
import { loadConfig } from '../src/config/load.js';

let dir: string;
const CHECKOUTS = ['a', 'b', 'a/nested'];

beforeAll(async () => {
  dir = await tmpDir('hotpull-apps-config-');
  for (const checkout of CHECKOUTS) await git(dir, 'init', '-q', checkout);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const entry = (name: string, repo: string, more = '') => `  - name: ${name}\n    repo: ${repo}\n${more}`;

describe('a many-apps file with a mistake: one line naming the app and the rule, exit 2 before anything starts', () => {
  it.each([
    [
      'an app named twice',
      `apps:\n${entry('web', 'a')}${entry('web', 'b')}`,
      'app "web" is named twice in {file} (apps[0] and apps[1]): each app needs its own name',
    ],
    [
      'two apps on one checkout',
      `apps:\n${entry('web', 'a')}${entry('api', './a/')}`,
      'apps "web" and "api" in {file} share a checkout ({dir}/a and {dir}/a): each app needs its own',
    ],
    [
      'one checkout inside another',
      `apps:\n${entry('web', 'a')}${entry('api', 'b')}${entry('blog', 'a/nested')}`,
      'apps "web" and "blog" in {file} share a checkout ({dir}/a and {dir}/a/nested): each app needs its own',
    ],
    [
      'a typo in an entry',
      `interval: 2s\napps:\n${entry('web', 'a')}${entry('api', 'b', '    helth-url: http://127.0.0.1:8000/\n')}`,
      'app "api": unknown key "helth-url" in {file} (did you mean "healthUrl"?)',
    ],
    [
      'a password written in an entry',
      `apps:\n${entry('web', 'a', '    username: deploy\n    password: hunter2\n')}`,
      'app "web": password must not be written in {file}, where anyone who can read the file reads it; give passwordFile FILE instead',
    ],
    [
      'the webhook secret written in an entry',
      `apps:\n${entry('web', 'a', '    webhookSecret: hunter2\n')}`,
      'app "web": webhookSecret must not be written in {file}, where anyone who can read the file reads it; give webhookSecretFile FILE above apps: instead',
    ],
    [
      'listen: in an entry',
      `apps:\n${entry('web', 'a')}${entry('api', 'b', '    listen: 9300\n')}`,
      'app "api": listen belongs to the whole process (one listener and one log serve every app); set it above apps: in {file}',
    ],
    [
      'an entry without repo',
      `apps:\n${entry('web', 'a')}  - name: api\n    interval: 2s\n`,
      'app "api": repo is required in {file} (each app follows its own checkout)',
    ],
    [
      'an entry without name',
      `apps:\n${entry('web', 'a')}  - repo: b\n`,
      'apps[1] in {file} has no name: each app needs one (1-63 letters, digits, - or _ starting with a letter or digit)',
    ],
    [
      'a name that is not a path segment',
      `apps:\n${entry('web', 'a')}${entry('"my api"', 'b')}`,
      'apps[1].name in {file} must be 1-63 letters, digits, - or _ starting with a letter or digit (got "my api")',
    ],
    [
      'a value an option refuses, in an entry',
      `apps:\n${entry('web', 'a', '    interval: 1\n')}`,
      'interval (in {file}, app "web") must be a duration like 500ms, 2s or 1m of at least 100ms (got 1)',
    ],
    [
      'apps: that is not a list',
      'apps:\n  name: web\n  repo: a\n',
      'apps in {file} must be a non-empty list of app entries, each with a name (got {"name":"web","repo":"a"})',
    ],
    [
      'an empty apps: list',
      'apps: []\n',
      'apps in {file} must be a non-empty list of app entries, each with a name (got [])',
    ],
  ])('%s', async (_what, yaml, line) => {
    const file = path.join(dir, 'apps.yaml');
    await fs.writeFile(file, yaml);
    const result = await runCli(['run', '--config', file, '--interval', '100ms'], { cwd: dir, timeout: 20_000 });
    expect(result.stderr).toBe(`hotpull: ${line.replaceAll('{file}', file).replaceAll('{dir}', dir)}`);
    expect(result.exitCode).toBe(2);
    // nothing started: no log line, no state directory in any checkout
    expect(result.stdout).toBe('');
    for (const checkout of CHECKOUTS)
      expect(await fs.readdir(path.join(dir, checkout, '.git'))).not.toContain('hotpull');
  });
});

describe('a mistake only the start finds (a checkout missing, an option needing another): said before any app starts', () => {
  it.each([
    [
      'a local remote that is not there',
      `reload: [none]\napps:\n${entry('web', 'a')}${entry('api', 'b', '    remote: ./nowhere.git\n')}`,
      'app "api": --remote must name an existing repository (got "./nowhere.git": {dir}/b/nowhere.git does not exist)',
    ],
    [
      'bake without traffic',
      `reload: [none]\napps:\n${entry('web', 'a')}${entry('api', 'b', '    bake: 1m\n    healthUrl: http://127.0.0.1:1/\n')}`,
      'app "api": --bake needs --traffic (got --bake 1m without it)',
    ],
  ])('%s', async (_what, yaml, line) => {
    const file = path.join(dir, 'apps.yaml');
    await fs.writeFile(file, yaml);
    const result = await runCli(['run', '--config', file], { cwd: dir, timeout: 20_000 });
    expect(result.stderr).toBe(`hotpull: ${line.replaceAll('{dir}', dir)}`);
    expect(result.exitCode).toBe(2);
    // the app before it in the file was not started either: no lock, no journal in its checkout
    for (const checkout of CHECKOUTS)
      expect(await fs.readdir(path.join(dir, checkout, '.git'))).not.toContain('hotpull');
  });

  it('an app option on the command line is refused: it would be one value for every app', async () => {
    const file = path.join(dir, 'apps.yaml');
    await fs.writeFile(file, `reload: [none]\napps:\n${entry('web', 'a')}`);
    const result = await runCli(['run', '--config', file, '--interval', '2s'], { cwd: dir, timeout: 20_000 });
    expect(result.stderr).toBe(
      `hotpull: --interval is an app's option: with apps: in ${file} each app takes it from its entry or the keys above apps: (got --interval on the command line)`,
    );
    expect(result.exitCode).toBe(2);
  });
});

describe('what a many-apps file gives each app', () => {
  it('shared keys are inherited, an entry overrides them, repo paths resolve against the file, not the working directory', async () => {
    const file = path.join(dir, 'etc', 'hotpull.yaml');
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(
      file,
      [
        'interval: 2s',
        'touch: uwsgi.ini',
        'listen: 127.0.0.1:9300',
        'apps:',
        '  - name: web',
        '    repo: ../a',
        '  - name: api',
        '    repo: ../b',
        '    interval: 500ms',
        '    layout: atomic',
        '',
      ].join('\n'),
    );
    const elsewhere = path.join(dir, 'b');
    const config = await loadConfig({ flags: { config: file }, env: {}, cwd: elsewhere, isTTY: false });
    expect(config.apps?.map((a) => a.name)).toEqual(['web', 'api']);
    const [web, api] = config.apps!.map((a) => a.config);
    expect(web).toMatchObject({ repo: path.join(dir, 'a'), interval: 2000, touch: 'uwsgi.ini', layout: 'in-place' });
    expect(api).toMatchObject({ repo: path.join(dir, 'b'), interval: 500, touch: 'uwsgi.ini', layout: 'atomic' });
    // what no layer sets is the option's default; the process's own options are the process's
    expect([web!.keep, api!.keep]).toEqual([3, 3]);
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 9300 });
    expect(config.interval).toBe(2000);
  });
});
