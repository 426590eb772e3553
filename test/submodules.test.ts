/**
 * Issue 30 item 5, submodules: a revision's submodules are checked out at the commits it records, in the tree that is
 * staged (the in-place checkout after apply, the stage tree a preflight looks at, an atomic release), shallow when the
 * parent is; a changed submodule commit is a change under its path (--path). Real local bare repositories as
 * submodules: the test's own submodule commands allow the file transport with -c on that one command; hotpull allows
 * it because the remote itself is on this machine. Credentials scoped to the remote's host: a table.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { makePipeline } from './helpers/hotpull.js';
import { credentialEnv, scopedCredentials } from '../src/git/credentials.js';
import { startGitHttpServer } from './helpers/http-git-server.js';

let sb: Sandbox;
let tmp: string;
let subBare: string;
let subSeed: string;
const FILE = ['-c', 'protocol.file.allow=always'];

/** A commit in the submodule's own repository, then the parent's pointer moved to it and pushed. */
async function bumpSubmodule(content: string): Promise<string> {
  await fs.writeFile(path.join(subSeed, 'lib.txt'), content);
  await git(subSeed, 'commit', '-qam', `lib ${content.trim()}`);
  await git(subSeed, 'push', '-q', 'origin', 'main');
  const inParent = path.join(sb.seed, 'libs/sub');
  await git(inParent, 'pull', '-q', 'origin', 'main');
  await git(sb.seed, 'add', 'libs/sub');
  await git(sb.seed, 'commit', '-qm', `bump sub to ${content.trim()}`);
  await git(sb.seed, 'push', '-q', 'origin', 'main');
  return headOf(sb.seed);
}

const read = (file: string) => fs.readFile(file, 'utf8').catch(() => 'absent');
const lines = async (file: string) => (await read(file)).split('\n').filter((l) => l && l !== 'absent').length;

beforeAll(async () => {
  sb = await makeSandbox();
  tmp = await tmpDir('hotpull-submodules-');
  subBare = path.join(sb.root, 'sub.git');
  subSeed = path.join(sb.root, 'sub-seed');
  await git(sb.root, 'init', '-q', '--bare', '-b', 'main', subBare);
  await git(sb.root, 'init', '-q', '-b', 'main', subSeed);
  await git(subSeed, 'remote', 'add', 'origin', subBare);
  await fs.writeFile(path.join(subSeed, 'lib.txt'), 'v1\n');
  await git(subSeed, 'add', '-A');
  await git(subSeed, 'commit', '-qm', 'lib v1');
  await git(subSeed, 'push', '-q', 'origin', 'main');
});
afterAll(async () => {
  await sb?.cleanup();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('submodules', () => {
  it('in-place: checked out with the revision; a moved submodule is a change under its --path, one reload each', async () => {
    const counter = path.join(tmp, 'reloads');
    const p = await makePipeline(sb.checkout, { path: ['libs/sub'], reload: [`command:echo r >> ${counter}`] });
    // file://, not a path: git ignores --depth for a clone from a plain local path
    await git(sb.seed, ...FILE, 'submodule', 'add', '-q', `file://${subBare}`, 'libs/sub');
    await git(sb.seed, 'commit', '-qm', 'add libs/sub');
    await git(sb.seed, 'push', '-q', 'origin', 'main');
    expect((await p.engine.sync('poll')).kind).toBe('deployed');
    expect(await read(path.join(sb.checkout, 'libs/sub/lib.txt'))).toBe('v1\n');

    const bumped = await bumpSubmodule('v2\n');
    expect((await p.engine.sync('poll')).kind).toBe('deployed');
    expect(await headOf(sb.checkout)).toBe(bumped);
    expect(await read(path.join(sb.checkout, 'libs/sub/lib.txt'))).toBe('v2\n');
    expect(await lines(counter)).toBe(2);

    const outside = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    expect(await p.engine.sync('poll')).toEqual({ kind: 'up-to-date', sha: outside, skipped: true });
    expect(await lines(counter)).toBe(2);
    expect(await git(sb.checkout, 'status', '--porcelain')).toBe('');
    p.engine.close();
  }, 60_000);

  it('the stage tree a preflight looks at holds the submodule at the staged commit', async () => {
    const seen = path.join(tmp, 'stage-lib');
    const p = await makePipeline(sb.checkout, { reload: ['none'], preflight: [`cat libs/sub/lib.txt > ${seen}`] });
    await bumpSubmodule('v3\n');
    expect((await p.engine.sync('poll')).kind).toBe('deployed');
    expect(await read(seen)).toBe('v3\n');
    expect(await read(path.join(sb.checkout, 'libs/sub/lib.txt'))).toBe('v3\n');
    p.engine.close();
  }, 60_000);

  it('atomic, shallow first fetch: the release holds the submodule, itself shallow', async () => {
    const root = path.join(tmp, 'volume', 'app');
    await fs.mkdir(root, { recursive: true });
    const p = await makePipeline(root, {
      layout: 'atomic',
      remote: `file://${sb.bare}`,
      branch: 'main',
      depth: 1,
      reload: ['none'],
    });
    expect((await p.engine.sync('poll')).kind).toBe('deployed');
    const sub = path.join(root, 'current', 'libs/sub');
    expect(await read(path.join(sub, 'lib.txt'))).toBe('v3\n');
    expect(await git(sub, 'rev-list', '--count', 'HEAD')).toBe('1');

    await bumpSubmodule('v4\n');
    expect((await p.engine.sync('poll')).kind).toBe('deployed');
    expect(await read(path.join(root, 'current', 'libs/sub/lib.txt'))).toBe('v4\n');
    p.engine.close();
  }, 60_000);
});

describe('submodule credentials over http', () => {
  it("a submodule on the remote's host gets its password; one on another host does not, and the deploy fails", async () => {
    const box = await makeSandbox();
    const elsewhere = await tmpDir('hotpull-elsewhere-');
    const here = await startGitHttpServer({ projectRoot: box.root, user: 'deploy', password: 's3cret-pw' });
    const there = await startGitHttpServer({ projectRoot: elsewhere, user: 'deploy', password: 's3cret-pw' });
    try {
      const lib = await headOf(subSeed);
      const content = await read(path.join(subSeed, 'lib.txt'));
      for (const dir of [path.join(box.root, 'sub.git'), path.join(elsewhere, 'other.git')])
        await git(box.root, 'clone', '-q', '--bare', subBare, dir);
      /** a commit whose .gitmodules names `url` for libs/sub, at the submodule's commit `lib` */
      const pointAt = async (url: string) => {
        await fs.writeFile(
          path.join(box.seed, '.gitmodules'),
          `[submodule "libs/sub"]\n\tpath = libs/sub\n\turl = ${url}\n`,
        );
        await git(box.seed, 'update-index', '--add', '--cacheinfo', `160000,${lib},libs/sub`);
        await git(box.seed, 'add', '.gitmodules');
        await git(box.seed, 'commit', '-qm', `libs/sub from ${url}`);
        await git(box.seed, 'push', '-q', 'origin', 'main');
        return headOf(box.seed);
      };
      const p = await makePipeline(
        box.checkout,
        { branch: 'main', username: 'deploy', reload: ['none'] },
        { HOTPULL_REMOTE: `${here.url}remote.git`, HOTPULL_PASSWORD: 's3cret-pw' },
      );
      const elsewhereCommit = await pointAt(`${there.url}other.git`);
      await expect(p.engine.sync('poll')).rejects.toThrow(/submodule/);
      expect(there.hits.length).toBeGreaterThan(0);
      expect(there.hits.every((hit) => hit.status === 401)).toBe(true);
      expect(await headOf(box.checkout)).not.toBe(elsewhereCommit);

      const sameHost = await pointAt(`${here.url}sub.git`);
      expect((await p.engine.sync('poll')).kind).toBe('deployed');
      expect(await headOf(box.checkout)).toBe(sameHost);
      expect(await read(path.join(box.checkout, 'libs/sub/lib.txt'))).toBe(content);
      expect(p.logs.text()).not.toContain('s3cret-pw');
      p.engine.close();
    } finally {
      await here.close();
      await there.close();
      await box.cleanup();
      await fs.rm(elsewhere, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('submodule credentials (pure)', () => {
  it("scopes the credential helper and user to the remote's scheme, host and port; the reset stays", () => {
    const env = { PATH: '/bin', ...credentialEnv({ kind: 'file', file: '/run/secrets/token', username: 'deploy' }) };
    const withUser = credentialEnv({ kind: 'helper', command: '/bin/token', username: 'x' });
    expect(scopedCredentials(env, 'https://tok@Git.Example.com:8443/org/app.git')).toMatchObject({
      PATH: '/bin',
      GIT_CONFIG_KEY_0: 'credential.helper',
      GIT_CONFIG_VALUE_0: '',
      GIT_CONFIG_KEY_1: 'credential.https://git.example.com:8443.helper',
      GIT_CONFIG_VALUE_1: env.GIT_CONFIG_VALUE_1,
      HOTPULL_GIT_PASSWORD_FILE: '/run/secrets/token',
    });
    expect(scopedCredentials(withUser, 'http://h/x.git')).toMatchObject({
      GIT_CONFIG_KEY_1: 'credential.http://h.helper',
      GIT_CONFIG_KEY_2: 'credential.http://h.username',
    });
    // nothing configured: nothing changes
    expect(scopedCredentials({ PATH: '/bin' }, 'https://h/x.git')).toEqual({ PATH: '/bin' });
  });
});
