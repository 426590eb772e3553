import { accessSync, constants, statSync } from 'node:fs';
import { configError } from '../errors.js';
import { runArgv } from '../proc/exec.js';
import { shortSha } from '../sha.js';
import { withoutRepoLocating } from './env.js';

/**
 * Is the fetched head (or the tag followed) signed by someone allowed? `git verify-commit` / `git verify-tag`, with
 * what is allowed given on the command line of that one git (`-c`), never in any git config file:
 * - SSH signatures: `gpg.ssh.allowedSignersFile` (ssh-keygen's allowed-signers format); git runs `ssh-keygen -Y`.
 * - OpenPGP signatures: GNUPGHOME pointed at the keyring directory; every public key in it is allowed, whatever its
 *   owner trust (gpg's TRUST_UNDEFINED is what an imported, unsigned key gives). Verifying writes nothing there once
 *   gpg has its trustdb (the import made it).
 * git picks the verifier by the signature's own armor, so a signature of the other kind than was configured is read
 * (or fails) with the user's own setup: only the configured kind's "good" counts, the rest is an unknown signer.
 * The verdict is read from git's words (C locale): verify-commit's exit code says 1 for an SSH key with no
 * principal but 0 for an OpenPGP key of undefined trust, and `%G?` exists for commits only.
 */
export interface SignatureTrust {
  /** an allowed-signers file (`--allowed-signers FILE`) */
  allowedSigners?: string;
  /** a GnuPG home directory whose public keys are allowed (`--gpg-keyring DIR`) */
  gpgKeyring?: string;
}

/** What is verified: the head commit, or a tag (a name under refs/tags, or the tag object's id) as a tag. */
export type SignedObject = { commit: string } | { tag: string };

export type SignatureCheck =
  | { status: 'good'; signer: string; line: string }
  | { status: 'unsigned'; line: string }
  | { status: 'unknown'; signer: string; line: string }
  | { status: 'bad'; detail: string; line: string };

/** What git said, classified. Pure. `signer` names the key for 'good' and 'unknown', the reason for 'bad'. */
export function classifySignature(
  output: string,
  trust: SignatureTrust,
): { status: 'good' | 'unknown'; signer: string } | { status: 'unsigned' } | { status: 'bad'; detail: string } {
  const ssh = /^Good "git" signature for (.+) with (\S+) key (\S+)$/m.exec(output);
  if (ssh) {
    const signer = `${ssh[1]} (${ssh[2]} key ${ssh[3]})`;
    return trust.allowedSigners ? { status: 'good', signer } : { status: 'unknown', signer: `SSH ${signer}` };
  }
  const sshUnknown = /^Good "git" signature with (\S+) key (\S+)$/m.exec(output);
  if (sshUnknown) return { status: 'unknown', signer: `${sshUnknown[1]} key ${sshUnknown[2]}` };
  const status = (word: string) => new RegExp(`^\\[GNUPG:\\] ${word} (.*)$`, 'm').exec(output)?.[1];
  const expired = status('EXPKEYSIG') ?? status('REVKEYSIG');
  if (expired) return { status: 'bad', detail: `signed by an expired or revoked key: ${expired}` };
  const bad = status('BADSIG');
  if (bad) return { status: 'bad', detail: `the signature does not match the content (BADSIG ${bad})` };
  const good = status('GOODSIG');
  const fingerprint = status('VALIDSIG')?.split(' ')[0];
  if (good && fingerprint) {
    const uid = good.slice(good.indexOf(' ') + 1);
    const signer = `${uid} (OpenPGP key ${fingerprint})`;
    return trust.gpgKeyring ? { status: 'good', signer } : { status: 'unknown', signer };
  }
  const missing = status('NO_PUBKEY') ?? status('ERRSIG')?.split(' ')[0];
  if (missing) return { status: 'unknown', signer: `OpenPGP key ${missing}` };
  if (/gpg\.ssh\.allowedSignersFile needs to be configured/.test(output))
    return { status: 'unknown', signer: 'an SSH key' };
  if (/^No principal matched\.$/m.test(output)) return { status: 'unknown', signer: 'an SSH key' };
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (lines.length === 0 || lines.some((l) => /^error: no signature found$|cannot verify a non-tag object/.test(l)))
    return { status: 'unsigned' };
  return {
    status: 'bad',
    detail:
      lines
        .filter((l) => !l.startsWith('[GNUPG:]'))
        .slice(-2)
        .join(' | ') || lines.at(-1)!,
  };
}

/** "what an allowed signer is", for an unknown signer's line */
function allowedBy(trust: SignatureTrust): string {
  return [
    trust.allowedSigners && `--allowed-signers ${trust.allowedSigners}`,
    trust.gpgKeyring && `--gpg-keyring ${trust.gpgKeyring}`,
  ]
    .filter(Boolean)
    .join(' or ');
}

/** The one line a check gives, naming the commit (and the tag). Pure. */
export function signatureLine(
  what: string,
  result: ReturnType<typeof classifySignature>,
  trust: SignatureTrust,
): string {
  switch (result.status) {
    case 'good':
      return `${what} is signed by ${result.signer}`;
    case 'unknown':
      return `${what} is signed by ${result.signer}, not allowed by ${allowedBy(trust)}`;
    case 'unsigned':
      return `${what} is not signed`;
    case 'bad':
      return `${what} has a bad signature: ${result.detail}`;
  }
}

export interface VerifyOptions {
  /** the environment git runs with (default process.env); repo-locating variables are dropped */
  env?: Readonly<Record<string, string | undefined>>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Verifies `object` in the repository at `dir` against `trust`. Throws only on a timeout or a stop. */
export async function verifySignature(
  dir: string,
  object: SignedObject,
  trust: SignatureTrust,
  options: VerifyOptions = {},
): Promise<SignatureCheck> {
  const env: Record<string, string> = {
    ...withoutRepoLocating(options.env ?? process.env),
    LC_ALL: 'C',
    GIT_TERMINAL_PROMPT: '0',
  };
  if (trust.gpgKeyring) env.GNUPGHOME = trust.gpgKeyring;
  const config = [
    `safe.directory=${dir}`,
    // the verifiers git runs: the user's config must not swap them for something that always says yes
    'gpg.program=gpg',
    'gpg.openpgp.program=gpg',
    'gpg.x509.program=gpgsm',
    'gpg.ssh.program=ssh-keygen',
    ...(trust.allowedSigners ? [`gpg.ssh.allowedSignersFile=${trust.allowedSigners}`] : []),
  ].flatMap((c) => ['-c', c]);
  const run = (args: string[]) =>
    runArgv('git', [...config, ...args], {
      cwd: dir,
      env,
      replaceEnv: true,
      timeoutMs: options.timeoutMs ?? 10_000,
      signal: options.signal,
    });
  const name = 'commit' in object ? object.commit : object.tag;
  const target = await run(['rev-parse', '--verify', '--quiet', `${name}^{commit}`]);
  const commit = target.stdout.trim();
  const what =
    'commit' in object
      ? `commit ${shortSha(commit || name)}`
      : `tag ${/^[0-9a-f]{40}$/.test(object.tag) ? shortSha(object.tag) : object.tag.replace(/^refs\/tags\//, '')} (commit ${shortSha(commit)})`;
  if (target.exitCode !== 0 || commit === '')
    return { status: 'bad', detail: `no such ${'commit' in object ? 'commit' : 'tag'}`, line: `${what}: not found` };
  const verify = await run(
    'commit' in object ? ['verify-commit', '--raw', commit] : ['verify-tag', '--raw', object.tag],
  );
  const result = classifySignature(verify.all, trust);
  const line = signatureLine(what, result, trust);
  return { ...result, line } as SignatureCheck;
}

/**
 * Checks the trust options once, at the edge: a file of allowed signers that can be read, a keyring directory with a
 * public keyring in it. Throws a configuration error naming the option, the rule and the value.
 */
export function checkSignatureTrust(trust: SignatureTrust): void {
  if (!trust.allowedSigners && !trust.gpgKeyring)
    throw configError('--verify-signatures needs --allowed-signers FILE or --gpg-keyring DIR (got neither)');
  if (trust.allowedSigners) {
    try {
      accessSync(trust.allowedSigners, constants.R_OK);
      if (!statSync(trust.allowedSigners).isFile()) throw Object.assign(new Error(), { code: 'not a file' });
    } catch (error) {
      throw configError(
        `--allowed-signers must be a readable allowed-signers file (got ${JSON.stringify(trust.allowedSigners)}: ${(error as NodeJS.ErrnoException).code})`,
      );
    }
  }
  if (trust.gpgKeyring) {
    const problem = keyringProblem(trust.gpgKeyring);
    if (problem)
      throw configError(
        `--gpg-keyring must be a GnuPG home directory with a public keyring (got ${JSON.stringify(trust.gpgKeyring)}: ${problem})`,
      );
  }
}

function keyringProblem(dir: string): string | undefined {
  try {
    if (!statSync(dir).isDirectory()) return 'not a directory';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'unreadable';
  }
  for (const ring of ['pubring.kbx', 'pubring.gpg']) {
    try {
      accessSync(`${dir}/${ring}`, constants.R_OK);
      return undefined;
    } catch {
      // the other one
    }
  }
  return 'no pubring.kbx or pubring.gpg in it';
}
