/**
 * --verify-signatures in the pipeline (src/sync/pass/trust.ts): real ssh-keygen ed25519 keys, commits signed by real
 * git in the sandbox's seed clone, and the engine a daemon runs. A head signed by an allowed key deploys; unsigned or
 * signed by another key is rejected before anything is staged, with the line naming the commit and the key, and a
 * poll does not try it again; the trust options are checked at start.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { makePipeline } from './helpers/hotpull.js';

const run = promisify(execFile);
let sb: Sandbox;
const key = { alice: '', mallory: '' };
let allowed: string;

/** A commit in the seed clone, signed with `who`'s ssh key (or not), pushed; returns its sha. */
async function push(file: string, who?: keyof typeof key): Promise<string> {
  await fs.writeFile(path.join(sb.seed, file), `${file}\n`);
  await git(sb.seed, 'add', '-A');
  const sign = who ? ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key[who]}.pub`] : [];
  await git(sb.seed, ...sign, 'commit', '-q', ...(who ? ['-S'] : []), '-m', `${file} by ${who ?? 'nobody'}`);
  await git(sb.seed, 'push', '-q', 'origin', 'main');
  return headOf(sb.seed);
}

beforeAll(async () => {
  sb = await makeSandbox();
  for (const who of ['alice', 'mallory'] as const) {
    key[who] = path.join(sb.root, `${who}-ssh`);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', who, '-f', key[who]]);
  }
  allowed = path.join(sb.root, 'allowed_signers');
  await fs.writeFile(allowed, `alice@example.com ${(await fs.readFile(`${key.alice}.pub`, 'utf8')).trim()}\n`);
});
afterAll(async () => {
  await sb?.cleanup();
});

describe('--verify-signatures', () => {
  it('deploys a head signed by an allowed key; refuses an unsigned one and one signed by another key until the branch moves', async () => {
    const p = await makePipeline(sb.checkout, { verifySignatures: true, allowedSigners: allowed });
    const unsigned = await push('one.txt');
    const refused = await p.engine.sync('poll');
    expect(refused.kind).toBe('rejected');
    expect(p.engine.status).toMatchObject({ state: 'rejected', rejectedSha: unsigned });
    expect(p.engine.status.deploys[0]).toMatchObject({ result: 'rejected', to: unsigned });
    expect(p.engine.status.deploys[0]!.error).toBe(`commit ${unsigned.slice(0, 7)} is not signed`);
    expect(await fs.readFile(path.join(sb.checkout, 'one.txt')).catch(() => 'absent')).toBe('absent');
    // a poll does not verify it again
    expect(await p.engine.sync('poll')).toMatchObject({ kind: 'blocked', state: 'rejected' });

    const forged = await push('two.txt', 'mallory');
    expect((await p.engine.sync('poll')).kind).toBe('rejected');
    expect(p.engine.status.rejectedSha).toBe(forged);
    expect(p.engine.status.deploys[0]!.error).toMatch(
      new RegExp(`^commit ${forged.slice(0, 7)} is signed by .*ED25519.*, not allowed by --allowed-signers`),
    );
    expect(p.logs.text()).toContain(`${forged.slice(0, 7)} refused: commit ${forged.slice(0, 7)} is signed by`);

    const signed = await push('three.txt', 'alice');
    expect((await p.engine.sync('poll')).kind).toBe('deployed');
    expect(await headOf(sb.checkout)).toBe(signed);
    expect(p.engine.status.rejectedSha).toBeUndefined();
    expect(p.logs.text()).toContain(`commit ${signed.slice(0, 7)} is signed by`);
    p.engine.close();
  }, 60_000);

  it('is checked at start: the trust options without --verify-signatures, and --verify-signatures without them', async () => {
    await expect(makePipeline(sb.checkout, { allowedSigners: allowed })).rejects.toThrow(
      '--allowed-signers needs --verify-signatures (got --allowed-signers without it)',
    );
    await expect(makePipeline(sb.checkout, { verifySignatures: true })).rejects.toThrow(
      '--verify-signatures needs --allowed-signers FILE or --gpg-keyring DIR (got neither)',
    );
    await expect(
      makePipeline(sb.checkout, { verifySignatures: true, gpgKeyring: path.join(sb.root, 'no-such-dir') }),
    ).rejects.toThrow(
      /^--gpg-keyring must be a GnuPG home directory with a public keyring \(got ".*no-such-dir": ENOENT\)$/,
    );
  });
});
