/**
 * Signed commits and tags (src/git/signatures.ts) with real keys made here: ssh-keygen ed25519 keys and an
 * allowed-signers file, GnuPG ed25519 keys in homes of their own (batch, no passphrase), commits and tags signed by
 * real git, pushed to a bare repository and verified where they were fetched.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isHotpullError } from '../src/errors.js';
import { checkSignatureTrust, verifySignature, type SignatureTrust } from '../src/git/signatures.js';
import { gitEnv, tmpDir } from './helpers/git.js';
import { CI } from './helpers/requires.js';

/** What these tests run besides git (.ci/run installs them); missing: a failure under CI, a skip with the reason elsewhere. */
const TOOLS = ['/usr/bin/ssh-keygen', '/usr/bin/gpg', '/usr/bin/gpg-agent', '/usr/bin/gpgconf'];
const missing = TOOLS.filter((tool) => !existsSync(tool));
const suite = missing.length > 0 && !CI ? describe.skip : describe;

const run = promisify(execFile);
let root: string;
let work: string;
let checkout: string;
const homes = { alice: '', mallory: '', keyring: '' };
const sshKey = { alice: '', mallory: '' };
let allowedSigners: string;
const made: Record<string, string> = {};

async function git(cwd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run('git', ['-c', 'user.name=Alice', '-c', 'user.email=alice@example.com', ...args], {
    cwd,
    env: gitEnv({ HOME: root, ...env }),
  });
  return stdout.trim();
}

const sshSign = (key: string) => ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key}.pub`];
const gpgSign = (uid: string) => ['-c', 'gpg.format=openpgp', '-c', `user.signingkey=${uid}`];

/** A commit on main (signed with `how`, or not), pushed; returns its sha. */
async function commit(name: string, how: string[] = [], env: Record<string, string> = {}): Promise<string> {
  await writeFile(join(work, 'file.txt'), `${name}\n`);
  await git(work, ['add', 'file.txt']);
  await git(work, [...how, 'commit', '-q', ...(how.length > 0 ? ['-S'] : []), '-m', name], env);
  return (made[name] = await git(work, ['rev-parse', 'HEAD']));
}

beforeAll(async () => {
  root = await tmpDir('hotpull-test-signatures-');
  if (missing.length > 0 && !CI) return;
  for (const who of ['alice', 'mallory'] as const) {
    sshKey[who] = join(root, `${who}-ssh`);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', who, '-f', sshKey[who]]);
  }
  allowedSigners = join(root, 'allowed_signers');
  const alicePub = (await run('cat', [`${sshKey.alice}.pub`])).stdout.trim();
  await writeFile(allowedSigners, `alice@example.com ${alicePub}\n`);
  for (const who of ['alice', 'mallory', 'keyring'] as const) {
    homes[who] = join(root, `gnupg-${who}`);
    await mkdir(homes[who], { mode: 0o700 });
  }
  const gpg = (home: string, ...args: string[]) =>
    run('gpg', ['--batch', '--quiet', '--homedir', home, ...args], { env: { ...process.env, GNUPGHOME: home } });
  await gpg(
    homes.alice,
    '--passphrase',
    '',
    '--quick-gen-key',
    'Alice <alice@example.com>',
    'ed25519',
    'sign',
    'never',
  );
  await gpg(
    homes.mallory,
    '--passphrase',
    '',
    '--quick-gen-key',
    'Mallory <mallory@example.com>',
    'ed25519',
    'sign',
    'never',
  );
  // the verifier's keyring: Alice's public key only, imported as an operator would
  const exported = join(root, 'alice.asc');
  await gpg(homes.alice, '--armor', '--output', exported, '--export', 'alice@example.com');
  await gpg(homes.keyring, '--import', exported);

  const bare = join(root, 'origin.git');
  work = join(root, 'work');
  checkout = join(root, 'checkout');
  await git(root, ['init', '-q', '--bare', '-b', 'main', bare]);
  await git(root, ['init', '-q', '-b', 'main', work]);
  await git(work, ['remote', 'add', 'origin', bare]);
  await commit('unsigned');
  await commit('ssh-alice', sshSign(sshKey.alice));
  await commit('ssh-mallory', sshSign(sshKey.mallory));
  await commit('gpg-alice', gpgSign('alice@example.com'), { GNUPGHOME: homes.alice });
  await commit('gpg-mallory', gpgSign('mallory@example.com'), { GNUPGHOME: homes.mallory });
  // annotated tags on the unsigned commit: a tag is verified as a tag, not by its commit
  await git(work, [...sshSign(sshKey.alice), 'tag', '-s', '-m', 'release', 'ssh-v1', made.unsigned!]);
  await git(work, [...sshSign(sshKey.mallory), 'tag', '-s', '-m', 'release', 'ssh-evil', made['ssh-alice']!]);
  await git(work, [...gpgSign('alice@example.com'), 'tag', '-s', '-m', 'release', 'gpg-v1', made.unsigned!], {
    GNUPGHOME: homes.alice,
  });
  await git(work, ['tag', '-a', '-m', 'release', 'plain-v1', made['ssh-alice']!]);
  await git(work, ['push', '-q', 'origin', 'main', '--tags']);
  await git(root, ['clone', '-q', '--no-checkout', bare, checkout]);
  await git(checkout, ['fetch', '-q', 'origin', '--tags']);
}, 60_000);

afterAll(async () => {
  // the agents gpg started for these homes (signing, importing)
  for (const home of Object.values(homes))
    if (home) await run('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
});

const ssh = (): SignatureTrust => ({ allowedSigners });
const pgp = (): SignatureTrust => ({ gpgKeyring: homes.keyring });
const short = (name: string) => made[name]!.slice(0, 7);

suite(
  `verifySignature with --allowed-signers (SSH)${missing.length > 0 ? ` (skipped: ${missing.join(', ')} not found)` : ''}`,
  () => {
    it.each([
      ['unsigned', 'unsigned', () => `commit ${short('unsigned')} is not signed`],
      ['ssh-alice', 'good', () => `commit ${short('ssh-alice')} is signed by alice@example.com (ED25519 key SHA256:`],
      ['ssh-mallory', 'unknown', () => `commit ${short('ssh-mallory')} is signed by ED25519 key SHA256:`],
      ['gpg-alice', 'unknown', () => `commit ${short('gpg-alice')} is signed by `],
    ])('a commit %s is %s', async (name, status, line) => {
      const check = await verifySignature(checkout, { commit: made[name]! }, ssh(), { env: gitEnv({ HOME: root }) });
      expect(check.status).toBe(status);
      expect(check.line.startsWith(line())).toBe(true);
      expect(check.line).not.toContain('\n');
      if (status === 'unknown')
        expect(check.line).toMatch(new RegExp(`, not allowed by --allowed-signers ${allowedSigners}$`));
    });

    it('names the unknown key that signed, so an operator can tell who', async () => {
      const fingerprint = (await run('ssh-keygen', ['-l', '-f', `${sshKey.mallory}.pub`])).stdout.split(' ')[1];
      const check = await verifySignature(checkout, { commit: made['ssh-mallory']! }, ssh());
      expect(check).toMatchObject({ status: 'unknown', signer: `ED25519 key ${fingerprint}` });
    });

    it.each([
      ['ssh-v1', 'good', () => `tag ssh-v1 (commit ${short('unsigned')}) is signed by alice@example.com (ED25519 key`],
      ['ssh-evil', 'unknown', () => `tag ssh-evil (commit ${short('ssh-alice')}) is signed by ED25519 key SHA256:`],
      // its commit is signed by Alice: what counts is the tag's own signature
      ['plain-v1', 'unsigned', () => `tag plain-v1 (commit ${short('ssh-alice')}) is not signed`],
    ])('an annotated tag %s is %s, verified as a tag', async (tag, status, line) => {
      const check = await verifySignature(checkout, { tag }, ssh());
      expect(check.status).toBe(status);
      expect(check.line.startsWith(line())).toBe(true);
    });

    it('verifies the commit that was fetched, by its sha, whatever the checkout has checked out', async () => {
      const fetched = await git(checkout, ['rev-parse', 'origin/main']);
      expect(fetched).toBe(made['gpg-mallory']);
      const check = await verifySignature(checkout, { commit: fetched }, pgp());
      expect(check.line).toBe(
        `commit ${short('gpg-mallory')} is signed by OpenPGP key ${check.status === 'unknown' ? check.signer.split(' ').at(-1) : '?'}, not allowed by --gpg-keyring ${homes.keyring}`,
      );
    });
  },
);

suite('verifySignature with --gpg-keyring (OpenPGP)', () => {
  it.each([
    ['unsigned', 'unsigned', () => `commit ${short('unsigned')} is not signed`],
    ['gpg-alice', 'good', () => `commit ${short('gpg-alice')} is signed by Alice <alice@example.com> (OpenPGP key `],
    ['gpg-mallory', 'unknown', () => `commit ${short('gpg-mallory')} is signed by OpenPGP key `],
    [
      'ssh-alice',
      'unknown',
      () => `commit ${short('ssh-alice')} is signed by an SSH key, not allowed by --gpg-keyring`,
    ],
  ])('a commit %s is %s', async (name, status, line) => {
    const check = await verifySignature(checkout, { commit: made[name]! }, pgp());
    expect(check.status).toBe(status);
    expect(check.line.startsWith(line())).toBe(true);
  });

  it('verifies a signed annotated tag as a tag, and leaves the keyring as it was', async () => {
    const before = await snapshot(homes.keyring);
    const check = await verifySignature(checkout, { tag: 'refs/tags/gpg-v1' }, pgp());
    expect(check).toMatchObject({
      status: 'good',
      signer: expect.stringMatching(/^Alice <alice@example\.com> \(OpenPGP key [0-9A-F]{40}\)$/),
    });
    expect(check.line.startsWith(`tag gpg-v1 (commit ${short('unsigned')}) is signed by Alice`)).toBe(true);
    expect(await snapshot(homes.keyring)).toEqual(before);
  });

  it("is not fooled by a user's git config that swaps the verifier for one that always says yes", async () => {
    const home = join(root, 'home-with-fake-gpg');
    await mkdir(home, { recursive: true });
    const fake = join(home, 'fake-gpg');
    // answers every verification with Alice's good signature, in gpg's status lines (git reads them on --status-fd=1)
    await writeFile(
      fake,
      '#!/bin/sh\necho "[GNUPG:] GOODSIG 34A9AAD4DAE4DBF2 Alice <alice@example.com>"\necho "[GNUPG:] VALIDSIG 9FBBE74D6B8B7B751D065D9A34A9AAD4DAE4DBF2 x"\nexit 0\n',
      { mode: 0o755 },
    );
    await writeFile(join(home, '.gitconfig'), `[gpg]\n\tprogram = ${fake}\n[gpg "openpgp"]\n\tprogram = ${fake}\n`);
    const check = await verifySignature(checkout, { commit: made['gpg-mallory']! }, pgp(), {
      env: gitEnv({ HOME: home }),
    });
    expect(check.status).toBe('unknown');
  });

  it('takes both kinds when both are given', async () => {
    const both = { ...ssh(), ...pgp() };
    expect((await verifySignature(checkout, { commit: made['ssh-alice']! }, both)).status).toBe('good');
    expect((await verifySignature(checkout, { commit: made['gpg-alice']! }, both)).status).toBe('good');
    expect((await verifySignature(checkout, { commit: made['gpg-mallory']! }, both)).status).toBe('unknown');
  });
});

/** Files of a directory (sockets aside) with their size and mtime. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath ?? entry.path, entry.name);
    const info = await stat(path);
    out.push(`${path} ${info.size} ${info.mtimeMs}`);
  }
  return out.sort();
}

suite('checkSignatureTrust', () => {
  it.each([
    [{}, '--verify-signatures needs --allowed-signers FILE or --gpg-keyring DIR (got neither)'],
    [
      { allowedSigners: '/nonexistent/allowed' },
      '--allowed-signers must be a readable allowed-signers file (got "/nonexistent/allowed": ENOENT)',
    ],
    [
      { gpgKeyring: '/nonexistent/gnupg' },
      '--gpg-keyring must be a GnuPG home directory with a public keyring (got "/nonexistent/gnupg": ENOENT)',
    ],
  ])('refuses %j in one line', (trust, message) => {
    let error: unknown;
    try {
      checkSignatureTrust(trust);
    } catch (e) {
      error = e;
    }
    expect(isHotpullError(error, 'CONFIG')).toBe(true);
    expect((error as Error).message).toBe(message);
  });

  it('refuses a keyring directory without a public keyring, and takes the real ones', async () => {
    const empty = join(root, 'empty-gnupg');
    await mkdir(empty, { recursive: true });
    expect(() => checkSignatureTrust({ gpgKeyring: empty })).toThrow(
      `--gpg-keyring must be a GnuPG home directory with a public keyring (got ${JSON.stringify(empty)}: no pubring.kbx or pubring.gpg in it)`,
    );
    expect(() => checkSignatureTrust({ allowedSigners, gpgKeyring: homes.keyring })).not.toThrow();
  });
});
