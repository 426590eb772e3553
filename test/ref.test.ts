/**
 * --ref: the pure resolution (tables) and the engine following a tag pattern and a pinned sha against real git.
 */
import { rename } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { makePipeline, runCli } from './helpers/hotpull.js';
import {
  compareVersions,
  parseLsRemote,
  parseRef,
  refMoves,
  resolveRef,
  tagVersion,
  type RefSpec,
} from '../src/sync/ref.js';

const SHA_A = 'a'.repeat(40);
const SHA_B = 'b'.repeat(40);
const SHA_C = 'c'.repeat(40);

describe('parseRef', () => {
  it.each([
    ['main', { kind: 'name', name: 'main' }],
    ['feature/x', { kind: 'name', name: 'feature/x' }],
    ['refs/heads/main', { kind: 'branch', name: 'main' }],
    ['refs/tags/v1.2.3', { kind: 'tag', name: 'v1.2.3' }],
    ['v*', { kind: 'pattern', glob: 'v*' }],
    ['refs/tags/release-?.*', { kind: 'pattern', glob: 'release-?.*' }],
    [SHA_A, { kind: 'sha', sha: SHA_A }],
    ['deadbeef', { kind: 'name', name: 'deadbeef' }],
  ])('%s', (text, spec) => {
    expect(parseRef(text)).toEqual(spec);
  });

  it.each([
    ['', 'valid branch or tag name'],
    ['refs/heads/ma*', 'a pattern follows tags'],
    ['refs/remotes/origin/main', 'must be a branch, refs/heads/NAME'],
    ['-x', 'valid branch or tag name'],
    ['a..b', 'valid branch or tag name'],
    ['v[12]', 'patterns take * and ? only'],
    ['has space', 'valid branch or tag name'],
  ])('refuses %j', (text, why) => {
    const parsed = parseRef(text);
    expect('error' in parsed && parsed.error).toContain(why);
  });
});

describe('semver order', () => {
  const order = (a: string, b: string) => Math.sign(compareVersions(tagVersion(a)!, tagVersion(b)!));
  it.each([
    ['v1.10.0', 'v1.9.9', 1],
    ['v1.9.9', 'v1.10.0', -1],
    ['v2.0.0', 'v1.99.99', 1],
    ['v1.0.0', 'v1.0.0-rc.1', 1],
    ['v1.0.0-rc.2', 'v1.0.0-rc.10', -1],
    ['v1.0.0-alpha', 'v1.0.0-alpha.1', -1],
    ['v1.0.0-alpha.1', 'v1.0.0-alpha.beta', -1],
    ['v1.0.0-beta', 'v1.0.0-alpha', 1],
    ['1.2.3', 'v1.2.3', 0],
    ['v1.2.3+build.5', 'v1.2.3', 0],
  ])('%s vs %s', (a, b, expected) => {
    expect(order(a, b)).toBe(expected);
  });

  it.each(['latest', 'v1', 'v1.2', 'v01.2.3', 'v1.2.3.4', 'v1.2.3-', 'nightly-2026'])('%s is not semver', (tag) => {
    expect(tagVersion(tag)).toBeUndefined();
  });

  it('strips the literal prefix of the pattern', () => {
    expect(tagVersion('release-2.0.1', 'release-*')?.core).toEqual([2, 0, 1]);
    expect(tagVersion('release-v2.0.1', 'release-*')?.core).toEqual([2, 0, 1]);
  });
});

describe('resolveRef', () => {
  const refs = parseLsRemote(
    [
      `${SHA_A}\trefs/heads/main`,
      `${SHA_B}\trefs/tags/v1.9.9`,
      `${'1'.repeat(40)}\trefs/tags/v1.10.0`,
      `${SHA_C}\trefs/tags/v1.10.0^{}`,
      `${'2'.repeat(40)}\trefs/tags/v2.0.0-rc.1`,
      `${'3'.repeat(40)}\trefs/tags/latest`,
      `${'4'.repeat(40)}\trefs/tags/other/v9.0.0`,
      `${'5'.repeat(40)}\trefs/tags/main`,
      '',
    ].join('\n'),
  );
  const cases: Array<[string, RefSpec, { sha: string; ref?: string } | undefined]> = [
    ['a branch', { kind: 'branch', name: 'main' }, { sha: SHA_A, ref: 'refs/heads/main' }],
    ['a bare name: the branch before the tag', { kind: 'name', name: 'main' }, { sha: SHA_A, ref: 'refs/heads/main' }],
    ['a bare name that is only a tag', { kind: 'name', name: 'v1.9.9' }, { sha: SHA_B, ref: 'refs/tags/v1.9.9' }],
    [
      'an annotated tag: its commit, not the tag object',
      { kind: 'tag', name: 'v1.10.0' },
      { sha: SHA_C, ref: 'refs/tags/v1.10.0' },
    ],
    ['a missing tag', { kind: 'tag', name: 'v3' }, undefined],
    [
      'a pattern: highest semver, pre-release below release, not by string order',
      { kind: 'pattern', glob: 'v*' },
      { sha: '2'.repeat(40), ref: 'refs/tags/v2.0.0-rc.1' },
    ],
    ['a pattern matching no semver tag', { kind: 'pattern', glob: 'lat*' }, undefined],
    ['a pinned sha', { kind: 'sha', sha: SHA_B }, { sha: SHA_B }],
  ];
  it.each(cases)('%s', (_what, spec, expected) => {
    const resolved = resolveRef(spec, refs);
    expect(
      resolved === undefined ? undefined : { sha: resolved.sha, ...(resolved.ref ? { ref: resolved.ref } : {}) },
    ).toEqual(expected);
  });

  it('a pattern over thousands of tags: one scan, non-semver ones listed for the debug line', () => {
    const many = new Map<string, string>();
    for (let i = 0; i < 5000; i += 1) many.set(`refs/tags/v1.${i}.0`, SHA_A);
    many.set('refs/tags/v1.4999.1', SHA_B);
    many.set('refs/tags/vnext', SHA_C);
    const resolved = resolveRef({ kind: 'pattern', glob: 'v*' }, many);
    expect(resolved).toMatchObject({ sha: SHA_B, ref: 'refs/tags/v1.4999.1', ignored: ['vnext'] });
  });

  it.each([
    [{ kind: 'branch', name: 'main' }, 'refs/heads/main', true],
    [{ kind: 'branch', name: 'main' }, 'refs/tags/main', false],
    [{ kind: 'name', name: 'main' }, 'refs/tags/main', true],
    [{ kind: 'pattern', glob: 'v*' }, 'refs/tags/v1.2.3', true],
    [{ kind: 'pattern', glob: 'v*' }, 'refs/tags/x/v1.2.3', false],
    [{ kind: 'pattern', glob: 'v*' }, 'refs/heads/v1', false],
    [{ kind: 'sha', sha: SHA_A }, 'refs/heads/main', false],
  ] as Array<[RefSpec, string, boolean]>)('a push to %j moves it: %s → %s', (spec, ref, expected) => {
    expect(refMoves(spec, ref)).toBe(expected);
  });
});

describe('following tags and pins with real git', () => {
  let sb: Sandbox | undefined;
  afterEach(async () => {
    await sb?.cleanup();
    sb = undefined;
  });

  const tag = async (name: string, annotated = false) => {
    await git(sb!.seed, 'tag', ...(annotated ? ['-a', '-m', name] : []), name);
    await git(sb!.seed, 'push', '-q', 'origin', `refs/tags/${name}`);
  };

  it("--ref 'v*' follows v1.9.0 → v1.10.0 (not string order) and ignores other tags", async () => {
    sb = await makeSandbox();
    const v190 = await commitAndPush(sb, { 'app.py': 'VERSION = "1.9.0"\n' });
    await tag('v1.9.0');
    const { engine, logs } = await makePipeline(sb.checkout, { ref: 'v*', logLevel: 'debug' });
    expect(await engine.sync('test')).toMatchObject({ kind: 'deployed' });
    expect(await headOf(sb.checkout)).toBe(v190);

    await commitAndPush(sb, { 'app.py': 'VERSION = "1.9.9"\n' });
    await tag('v1.9.9');
    const v1100 = await commitAndPush(sb, { 'app.py': 'VERSION = "1.10.0"\n' });
    await tag('v1.10.0', true);
    // later commits under tags the pattern must not pick: not semver, another prefix, a pre-release of 1.10.0
    await commitAndPush(sb, { 'app.py': 'VERSION = "nightly"\n' });
    await tag('vnext');
    await tag('release-9.0.0');
    await tag('v1.10.0-rc.9');
    expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { to: v1100 } });
    expect(await headOf(sb.checkout)).toBe(v1100);
    expect(engine.status.branch).toBe('tags v*');
    expect(logs.text()).toContain('ignoring tags that are not semver (1: vnext)');
    // the branch moving does not matter: nothing newer matches
    await commitAndPush(sb, { 'app.py': 'VERSION = "main"\n' });
    expect(await engine.sync('test')).toEqual({ kind: 'up-to-date', sha: v1100 });
    engine.close();
  });

  it('a pinned sha stays put while the branch moves, and is fetched once', async () => {
    sb = await makeSandbox();
    const pinned = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const { engine, logs } = await makePipeline(sb.checkout, { ref: pinned, logLevel: 'debug' });
    expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { to: pinned } });
    const before = logs.lines.length;
    await commitAndPush(sb, { 'app.py': 'VERSION = 3\n' });
    await commitAndPush(sb, { 'app.py': 'VERSION = 4\n' });
    for (let i = 0; i < 3; i += 1) expect(await engine.sync('poll')).toEqual({ kind: 'up-to-date', sha: pinned });
    expect(await headOf(sb.checkout)).toBe(pinned);
    // no ls-remote and no fetch for a pin that is in place: polls go on with the remote gone
    await rename(sb.bare, `${sb.bare}.gone`);
    expect(await engine.sync('poll')).toEqual({ kind: 'up-to-date', sha: pinned });
    expect(logs.lines.slice(before).join('')).not.toMatch(/fetching/);
    await rename(`${sb.bare}.gone`, sb.bare);
    engine.close();
  });

  it('a pinned tag that is force-moved to unrelated history follows --on-diverged (stop)', async () => {
    sb = await makeSandbox();
    const first = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    await tag('stable');
    const { engine } = await makePipeline(sb.checkout, { ref: 'refs/tags/stable' });
    expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { to: first } });
    await git(sb.seed, 'checkout', '-q', '--orphan', 'other');
    await git(sb.seed, 'commit', '-q', '--allow-empty', '-m', 'rewritten');
    await git(sb.seed, 'tag', '-f', 'stable');
    await git(sb.seed, 'push', '-q', '-f', 'origin', 'refs/tags/stable');
    expect(await engine.sync('test')).toMatchObject({ kind: 'blocked', state: 'diverged' });
    expect(await headOf(sb.checkout)).toBe(first);
    engine.close();
  });

  it('bad --ref values: one line, exit 2', async () => {
    sb = await makeSandbox();
    const bad = await runCli(['sync', '--repo', sb.checkout, '--ref', 'refs/heads/ma*']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toBe(
      `hotpull: --ref a pattern follows tags, not branches (use refs/tags/PATTERN or PATTERN) (got "refs/heads/ma*")`,
    );
    const both = await runCli(['sync', '--repo', sb.checkout, '--ref', 'v*', '--branch', 'main']);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toContain('--branch and --ref must not name different things');
    const missing = await runCli(['sync', '--repo', sb.checkout, '--ref', 'refs/tags/nope']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('--ref must name a branch or tag on the remote (got "nope"');
  }, 60_000);
});
