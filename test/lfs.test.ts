/**
 * Issue 30 item 5, LFS: a revision whose .gitattributes uses filter=lfs is served with the real contents, fetched by
 * `git lfs pull` in the tree that is staged (src/git/repo.ts fillTree), from a real LFS store: a local bare repository
 * over file://, which git-lfs (>= 2.12) serves with its standalone file transfer. Without git-lfs on PATH the revision
 * is refused in one line (src/sync/pass/lfs.ts), rejected until the branch moves, and no pointer file is deployed.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { git, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { makePipeline } from './helpers/hotpull.js';
import { execFileSync } from 'node:child_process';
import { itRequires } from './helpers/requires.js';

const lfsMissing = (() => {
  try {
    execFileSync('git', ['lfs', 'version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'git-lfs is not installed (Debian package git-lfs)';
  }
})();
const it = itRequires(lfsMissing);
const NO_SYSTEM = { GIT_CONFIG_NOSYSTEM: '1' };
const which = (name: string) => execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();

let sb: Sandbox;
let tmp: string;

/** A commit of `file` (tracked by LFS) with `content`, pushed with its LFS object; returns the sha. */
async function pushLfs(file: string, content: string): Promise<string> {
  await fs.writeFile(path.join(sb.seed, file), content);
  await git(sb.seed, 'add', '-A');
  await git(sb.seed, 'commit', '-qm', `${file}: ${content.trim()}`);
  await git(sb.seed, 'push', '-q', 'origin', 'main');
  return headOf(sb.seed);
}

const read = (file: string) => fs.readFile(file, 'utf8').catch(() => 'absent');

beforeAll(async () => {
  sb = await makeSandbox();
  tmp = await tmpDir('hotpull-lfs-');
  if (lfsMissing) return;
  await git(sb.seed, 'remote', 'set-url', 'origin', `file://${sb.bare}`);
  await git(sb.checkout, 'remote', 'set-url', 'origin', `file://${sb.bare}`);
  await git(sb.seed, 'lfs', 'install', '--local');
  await git(sb.seed, 'lfs', 'track', '*.bin');
});
afterAll(async () => {
  await sb?.cleanup();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('Git LFS', () => {
  it('in-place and atomic: the LFS file is served with its real content, not the pointer', async () => {
    const first = await pushLfs('model.bin', 'REAL WEIGHTS 1\n');
    expect(await git(sb.bare, 'cat-file', '-p', `${first}:model.bin`)).toMatch(/^version https:\/\/git-lfs/);
    // no system config (Debian's git-lfs writes the filter there): hotpull, not the machine, must fetch the contents
    const p = await makePipeline(sb.checkout, { reload: ['none'] }, NO_SYSTEM);
    expect((await p.engine.sync('poll')).kind).toBe('deployed');
    expect(await read(path.join(sb.checkout, 'model.bin'))).toBe('REAL WEIGHTS 1\n');
    expect(await git(sb.checkout, 'status', '--porcelain')).toBe('');
    await pushLfs('model.bin', 'REAL WEIGHTS 2\n');
    expect((await p.engine.sync('poll')).kind).toBe('deployed');
    expect(await read(path.join(sb.checkout, 'model.bin'))).toBe('REAL WEIGHTS 2\n');
    p.engine.close();

    const root = path.join(tmp, 'volume', 'app');
    await fs.mkdir(root, { recursive: true });
    const a = await makePipeline(root, {
      layout: 'atomic',
      remote: `file://${sb.bare}`,
      branch: 'main',
      reload: ['none'],
    });
    expect((await a.engine.sync('poll')).kind).toBe('deployed');
    expect(await read(path.join(root, 'current', 'model.bin'))).toBe('REAL WEIGHTS 2\n');
    a.engine.close();
  }, 60_000);

  it('without git-lfs on PATH the revision is refused in one line, rejected until the branch moves', async () => {
    const bin = path.join(tmp, 'bin-without-lfs');
    await fs.mkdir(bin, { recursive: true });
    // git and the shell its ls-remote helper runs in; no git-lfs
    for (const name of ['git', 'sh']) await fs.symlink(which(name), path.join(bin, name));
    // a clone of its own: the checkout above has the lfs filter in its config now, which git cannot run without git-lfs
    const fresh = path.join(tmp, 'fresh');
    await git(tmp, 'clone', '-q', '--branch', 'main', `file://${sb.bare}`, fresh);
    const deployed = await headOf(fresh);
    const before = await read(path.join(fresh, 'model.bin'));
    // a machine without git-lfs: no binary, and no system config naming its filter (Debian's package writes one)
    const p = await makePipeline(fresh, { reload: ['none'] }, { PATH: bin, GIT_CONFIG_NOSYSTEM: '1' });
    const sha = await pushLfs('model.bin', 'REAL WEIGHTS 3\n');
    expect((await p.engine.sync('poll')).kind).toBe('rejected');
    const line = `${sha.slice(0, 7)} stores files in Git LFS (.gitattributes: filter=lfs) and git-lfs is not on PATH: not deploying pointer files (install git-lfs)`;
    expect(p.engine.status).toMatchObject({ state: 'rejected', rejectedSha: sha });
    expect(p.engine.status.deploys[0]).toMatchObject({ result: 'rejected', to: sha, error: line });
    expect(await headOf(fresh)).toBe(deployed);
    expect(await read(path.join(fresh, 'model.bin'))).toBe(before);
    expect(await p.engine.sync('poll')).toMatchObject({ kind: 'blocked', state: 'rejected' });
    p.engine.close();
  }, 60_000);
});
