/**
 * SSH remotes as pure functions: the ssh command git is given (GIT_SSH_COMMAND), where a remote URL points, the
 * host key and key-permission checks ssh makes, and the one-line messages for what ssh refuses. Its noise
 * ("@@@ WARNING", "Please make sure you have the correct access rights") becomes one line saying what to do.
 */
import { nodeCrypto } from '../lazy-crypto.js';

export interface SshOptions {
  readonly keyFile?: string;
  readonly knownHostsFile?: string;
}

/** POSIX shell single quoting: git runs GIT_SSH_COMMAND through `sh -c`. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'"'"'`)}'`;
}

/** A path inside an ssh -o option: ssh splits its value on whitespace unless double-quoted. */
function optionPath(file: string): string {
  return /\s/.test(file) ? `"${file}"` : file;
}

/**
 * The ssh command git runs. Without hotpull's ssh options: the user's GIT_SSH_COMMAND (or GIT_SSH) untouched,
 * else `ssh -o BatchMode=yes` (never a prompt). With them: that command followed by the key, IdentitiesOnly,
 * the known_hosts file and strict host key checking. ssh keeps the first value it is given for an option, so
 * an option the user's GIT_SSH_COMMAND sets wins over the same option of hotpull's; a key (-i) adds to theirs.
 */
export function sshCommand(options: SshOptions, env: Readonly<Record<string, string | undefined>>): string {
  const user = env.GIT_SSH_COMMAND || (env.GIT_SSH ? shellQuote(env.GIT_SSH) : undefined);
  if (!options.keyFile && !options.knownHostsFile) return user ?? 'ssh -o BatchMode=yes';
  const args = [
    ...(options.keyFile ? ['-i', options.keyFile, '-o', 'IdentitiesOnly=yes'] : []),
    ...(options.knownHostsFile ? ['-o', `UserKnownHostsFile=${optionPath(options.knownHostsFile)}`] : []),
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
  ];
  return [user ?? 'ssh', ...args.map(shellQuote)].join(' ');
}

/** Paths ssh cannot be given through -o (it has no escape for a double quote) or git through sh. */
export function unusablePath(file: string): boolean {
  return /["\r\n\0]/.test(file);
}

export interface SshTarget {
  user?: string;
  host: string;
  port: number;
}

/** user, host and port of ssh://[user@]host[:port]/path or scp-like [user@]host:path. */
export function sshTarget(url: string): SshTarget | undefined {
  const full = /^(?:ssh|git\+ssh|ssh\+git):\/\/(?:([^@/]*)@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?(?:\/|$)/i.exec(url);
  if (full)
    return {
      user: full[1] || undefined,
      host: full[2]!.replace(/^\[(.*)\]$/, '$1'),
      port: full[3] ? Number(full[3]) : 22,
    };
  const scp = /^(?:([^@/:]+)@)?(\[[^\]]+\]|[^:/]+):/.exec(url);
  if (scp) return { user: scp[1] || undefined, host: scp[2]!.replace(/^\[(.*)\]$/, '$1'), port: 22 };
  return undefined;
}

/** The name known_hosts files use: `host`, or `[host]:port` off port 22. */
export function knownHostsName(target: SshTarget): string {
  return target.port === 22 ? target.host : `[${target.host}]:${target.port}`;
}

/** SHA256:… as ssh-keygen -l prints it, of a key line `[name] type base64`; undefined when it is not one. */
export function fingerprint(line: string): { type: string; fingerprint: string } | undefined {
  const match = /(?:^|\s)((?:ssh|ecdsa|sk)-[\w@.-]+)\s+([A-Za-z0-9+/]+={0,2})(?:\s|$)/.exec(line);
  if (!match) return undefined;
  const digest = nodeCrypto()
    .createHash('sha256')
    .update(Buffer.from(match[2]!, 'base64'))
    .digest('base64')
    .replace(/=+$/, '');
  return { type: match[1]!, fingerprint: `SHA256:${digest}` };
}

/** ssh's preference among the host keys a server offers (OpenSSH 9 HostKeyAlgorithms order, without certificates). */
const HOST_KEY_ORDER = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/** ED25519 → ssh-ed25519, as ssh names a type in its messages and ssh-keyscan in its output. */
function keyscanType(sshType: string): string[] {
  const t = sshType.toUpperCase();
  if (t === 'ED25519') return ['ssh-ed25519'];
  if (t === 'ECDSA') return ['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521'];
  if (t === 'RSA') return ['ssh-rsa', 'rsa-sha2-512', 'rsa-sha2-256'];
  return [];
}

/** From ssh-keyscan output, the key ssh would have been offered: of the type ssh named, else by ssh's order. */
export function offeredKey(keyscanOutput: string, sshType?: string): { type: string; fingerprint: string } | undefined {
  const keys = keyscanOutput
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map(fingerprint)
    .filter((k): k is { type: string; fingerprint: string } => k !== undefined);
  const wanted = sshType ? keyscanType(sshType) : [];
  const rank = (k: { type: string }) =>
    wanted.includes(k.type) ? -1 : HOST_KEY_ORDER.indexOf(k.type) >= 0 ? HOST_KEY_ORDER.indexOf(k.type) : 99;
  return keys.sort((a, b) => rank(a) - rank(b))[0];
}

export type SshFailure =
  | { kind: 'unknown-host'; keyType?: string }
  | { kind: 'changed-host'; keyType?: string; fingerprint?: string; offending?: string }
  | { kind: 'key-refused'; methods: string }
  | { kind: 'key-unusable'; reason: string };

/** What ssh refused, read from git's output; undefined when it was something else. */
export function sshFailure(output: string): SshFailure | undefined {
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for \S+ has changed/.test(output)) {
    const sent = /The fingerprint for the (\S+) key sent by the remote host is\s+(SHA256:[A-Za-z0-9+/]+)/.exec(output);
    return {
      kind: 'changed-host',
      keyType: sent?.[1],
      fingerprint: sent?.[2],
      offending: /Offending \S+ key in (\S+)/.exec(output)?.[1],
    };
  }
  if (/Host key verification failed/.test(output))
    return { kind: 'unknown-host', keyType: /No (\S+) host key is known for/.exec(output)?.[1] };
  const load = /Load key "[^"]*": (.+)/.exec(output);
  if (load) return { kind: 'key-unusable', reason: load[1]!.trim() };
  const denied = /Permission denied \(([^)]*)\)/.exec(output);
  if (denied) return { kind: 'key-refused', methods: denied[1]! };
  return undefined;
}

export interface SshContext {
  target: SshTarget;
  /** the known_hosts file ssh consulted */
  knownHosts: string;
  keyFile?: string;
  /** the fingerprint of keyFile's key, when it could be read */
  keyFingerprint?: string;
  /** the host key the server offers (from ssh-keyscan), when it could be read */
  offered?: { type: string; fingerprint: string };
}

/** The one line for an ssh failure: which host, which key, and the command that fixes it. */
export function sshFailureMessage(failure: SshFailure, context: SshContext): string {
  const { target, knownHosts } = context;
  const name = knownHostsName(target);
  const pin = `ssh-keyscan -p ${target.port} ${target.host} >> ${shellQuote(knownHosts)}`;
  switch (failure.kind) {
    case 'unknown-host': {
      const offered = context.offered
        ? `${context.offered.type} key ${context.offered.fingerprint}`
        : 'a key ssh-keyscan could not read';
      return `ssh refused host ${name}: its host key is not in ${knownHosts} (the server offered ${offered}); if that is your git server's key, pin it: ${pin}`;
    }
    case 'changed-host': {
      const fp = failure.fingerprint ?? context.offered?.fingerprint;
      const offered = fp ? `${failure.keyType ?? context.offered?.type ?? 'a'} key ${fp}` : 'another key';
      return (
        `ssh refused host ${name}: its host key CHANGED (the server offered ${offered}, ${failure.offending ?? knownHosts} pins another), so the connection may be intercepted; ` +
        `if the server's key really changed: ssh-keygen -f ${shellQuote(knownHosts)} -R ${shellQuote(name)} && ${pin}`
      );
    }
    case 'key-refused': {
      const who = `${target.user ? `${target.user}@` : ''}${name}`;
      const key = context.keyFile
        ? `the key ${context.keyFile}${context.keyFingerprint ? ` (${context.keyFingerprint})` : ''}`
        : 'every key ssh offered';
      const fix = context.keyFile
        ? 'add its public key to the repository as a deploy key (ssh-keygen -y -f KEY prints it)'
        : 'give a deploy key with --ssh-key-file FILE';
      return `ssh: ${who} refused ${key}: Permission denied (${failure.methods}); ${fix}`;
    }
    case 'key-unusable':
      return `ssh could not use the key ${context.keyFile ?? '(from ssh config)'}: ${failure.reason}`;
  }
}

/**
 * What ssh itself would refuse in a private key file, from its stat: ssh ignores a key its owner has made
 * readable by group or others ("UNPROTECTED PRIVATE KEY FILE"). A key owned by another uid (a Kubernetes Secret
 * mounted with fsGroup) needs group read to be readable at all, and ssh accepts it.
 */
export function keyFileProblem(
  file: string,
  stat: { mode: number; uid: number; isFile: boolean },
  uid: number,
): string | undefined {
  if (!stat.isFile)
    return `--ssh-key-file must be a private key file (got ${JSON.stringify(file)}: not a regular file)`;
  if (stat.uid === uid && (stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    return `--ssh-key-file must be readable by its owner only, or ssh ignores it (got ${JSON.stringify(file)} with mode ${mode}): chmod 600 ${shellQuote(file)}`;
  }
  return undefined;
}
