/**
 * Authentication to a remote, the I/O half: the checks of key, known_hosts and password files (at start a bad
 * file is a config error, exit 2; later, before every network step, a runtime failure that is retried), and
 * the look-ups behind a clear message when ssh refuses (ssh-keyscan for the key a server offers). The commands
 * and environment themselves are pure: ssh.ts and credentials.ts.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { configError, HotpullError } from '../errors.js';
import {
  conflictingOptions,
  credentialEnv,
  credentialSetup,
  describeCredentials,
  explainHttpFailure,
  HELPER_VARS,
  maskUserinfo,
  remoteKind,
  type AuthOptions,
  type CredentialSource,
} from './credentials.js';
import {
  keyFileProblem,
  offeredKey,
  sshCommand,
  sshFailure,
  sshFailureMessage,
  sshTarget,
  unusablePath,
  type SshContext,
} from './ssh.js';

export type { AuthOptions } from './credentials.js';

/** ssh-keyscan and ssh-keygen only run to explain a failure; they must not hold up the retry loop. */
const LOOKUP_TIMEOUT_MS = 10_000;

async function fileProblem(
  flag: string,
  file: string | undefined,
  kind: 'key' | 'known-hosts' | 'password',
): Promise<string | undefined> {
  if (!file) return undefined;
  if (unusablePath(file))
    return `${flag} must be a path without double quotes or line breaks (got ${JSON.stringify(file)})`;
  let stat;
  try {
    stat = await fs.stat(file);
    // stat alone says nothing about reading it; opening does (and root reads anything, as ssh would)
    await (await fs.open(file, 'r')).close();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return `${flag} must be a readable file (got ${JSON.stringify(file)}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? (error as Error).message)})`;
  }
  if (kind === 'key')
    return keyFileProblem(file, { mode: stat.mode, uid: stat.uid, isFile: stat.isFile() }, process.getuid?.() ?? -1);
  if (!stat.isFile()) return `${flag} must be a file (got ${JSON.stringify(file)}: not a regular file)`;
  if (kind === 'password' && stat.size === 0)
    return `${flag} must not be empty (got ${JSON.stringify(file)}, an empty file)`;
  return undefined;
}

/** The first problem with the auth files, as one line naming the option; undefined when they are usable. */
export async function authFileProblem(options: AuthOptions): Promise<string | undefined> {
  return (
    (await fileProblem('--ssh-key-file', options.sshKeyFile, 'key')) ??
    (await fileProblem('--ssh-known-hosts-file', options.sshKnownHostsFile, 'known-hosts')) ??
    (await fileProblem('--password-file', options.passwordFile, 'password'))
  );
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: LOOKUP_TIMEOUT_MS, encoding: 'utf8' }, (_error, stdout) => resolve(stdout ?? ''));
  });
}

/**
 * A remote readied for git: the environment its commands need (ssh command, credential helper) and what to
 * check before and explain after each network step.
 */
export class RemoteAuth {
  /** for hotpull status and /status: which auth is in use, never the secret; undefined = none */
  readonly label?: string;
  /** variables to set in git's environment, and helper variables to drop from it */
  readonly env: Record<string, string>;
  readonly drop: readonly string[];
  /** the remote as git is given it (a password in the URL taken out) */
  readonly remote: string;
  private readonly home: string;

  private constructor(
    private readonly options: AuthOptions,
    private readonly url: string,
    remote: string,
    private readonly source: CredentialSource | undefined,
    env: Readonly<Record<string, string | undefined>>,
  ) {
    this.remote = remote;
    this.home = env.HOME ?? homedir();
    const kind = remoteKind(url);
    this.env = {
      GIT_SSH_COMMAND: sshCommand({ keyFile: options.sshKeyFile, knownHostsFile: options.sshKnownHostsFile }, env),
      ...(source ? credentialEnv(source) : {}),
    };
    this.drop = source ? [] : [...HELPER_VARS];
    const ssh = [
      options.sshKeyFile ? `ssh key ${options.sshKeyFile}` : undefined,
      options.sshKnownHostsFile ? `known hosts ${options.sshKnownHostsFile}` : undefined,
    ].filter(Boolean);
    this.label = kind === 'ssh' && ssh.length > 0 ? ssh.join(', ') : source ? describeCredentials(source) : undefined;
  }

  /**
   * Checks the options against the remote's URL and the files they name. Throws a config error (exit 2): this
   * runs at start. `env` is the user's environment (their GIT_SSH_COMMAND).
   */
  static async prepare(
    remote: string,
    url: string,
    options: AuthOptions,
    env: Readonly<Record<string, string | undefined>>,
  ): Promise<RemoteAuth> {
    const conflict = conflictingOptions(options);
    if (conflict) throw configError(conflict);
    const kind = remoteKind(url);
    const shown = JSON.stringify(maskUserinfo(url));
    if ((options.sshKeyFile || options.sshKnownHostsFile) && kind === 'http') {
      throw configError(
        `--${options.sshKeyFile ? 'ssh-key-file' : 'ssh-known-hosts-file'} applies to ssh remotes (got the http(s) remote ${shown}; use --password-file)`,
      );
    }
    const passwordOption = options.passwordFile
      ? '--password-file'
      : options.password
        ? 'HOTPULL_PASSWORD'
        : options.credentialHelper
          ? '--credential-helper'
          : undefined;
    if (passwordOption && kind !== 'http')
      throw configError(
        `${passwordOption} applies to http(s) remotes (got ${shown}${kind === 'ssh' ? '; use --ssh-key-file' : ''})`,
      );
    const setup = kind === 'http' ? credentialSetup(remote, url, options) : { remote };
    if ('error' in setup) throw configError(setup.error);
    const problem = await authFileProblem(options);
    if (problem) throw configError(problem);
    return new RemoteAuth(options, url, setup.remote, setup.source, env);
  }

  /** Before a network step: the files must still be usable (a Secret is being rotated, a mode was changed). */
  async preflight(): Promise<void> {
    const problem = await authFileProblem(this.options);
    if (problem) throw new HotpullError('GIT', problem.replace(/^(\S+) must/, '$1 (checked before every fetch) must'));
  }

  /** One line saying what the remote refused and what to do, from git's output; undefined when it was not auth. */
  async explain(output: string): Promise<string | undefined> {
    const kind = remoteKind(this.url);
    if (kind === 'http') return explainHttpFailure(output, this.source);
    if (kind !== 'ssh') return undefined;
    const failure = sshFailure(output);
    const target = sshTarget(this.url);
    if (!failure || !target) return undefined;
    const context: SshContext = {
      target,
      knownHosts: this.options.sshKnownHostsFile ?? path.join(this.home, '.ssh', 'known_hosts'),
      keyFile: this.options.sshKeyFile,
    };
    if (failure.kind === 'unknown-host' || (failure.kind === 'changed-host' && !failure.fingerprint)) {
      context.offered = offeredKey(
        await run('ssh-keyscan', ['-p', String(target.port), '-T', '5', '--', target.host]),
        failure.keyType,
      );
    }
    if (failure.kind === 'key-refused' && this.options.sshKeyFile) {
      context.keyFingerprint = /SHA256:[A-Za-z0-9+/]+/.exec(
        await run('ssh-keygen', ['-l', '-f', this.options.sshKeyFile]),
      )?.[0];
    }
    return sshFailureMessage(failure, context);
  }
}
