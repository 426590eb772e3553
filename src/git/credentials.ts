/**
 * How a password or token reaches git, as pure functions of the options and the remote URL: never on a command
 * line (`ps` and /proc/<pid>/cmdline are world-readable, and git hands the URL on to git-remote-http's argv),
 * always through a credential helper configured in git's environment (GIT_CONFIG_COUNT). The helper is a shell
 * function that reads the password file each time git asks, so a rotated file takes effect on the next poll.
 */
import { flagName, envName } from '../config/names.js';
import { chatScheme, credentialsOf } from '../redact.js';

/** What hotpull takes from the configuration to authenticate to a remote (see src/config/options.ts). */
export interface AuthOptions {
  readonly sshKeyFile?: string;
  readonly sshKnownHostsFile?: string;
  readonly username?: string;
  readonly passwordFile?: string;
  readonly password?: string;
  readonly credentialHelper?: string;
}

export function authOptions(config: AuthOptions): AuthOptions {
  const { sshKeyFile, sshKnownHostsFile, username, passwordFile, password, credentialHelper } = config;
  return { sshKeyFile, sshKnownHostsFile, username, passwordFile, password, credentialHelper };
}

export type RemoteKind = 'http' | 'ssh' | 'local' | 'other';

/** http(s)://, ssh:// (and git+ssh://), scp-like [user@]host:path, or a path / file:// on this machine. */
export function remoteKind(url: string): RemoteKind {
  if (/^https?:\/\//i.test(url)) return 'http';
  if (/^(ssh|git\+ssh|ssh\+git):\/\//i.test(url)) return 'ssh';
  if (/^file:\/\//i.test(url) || url.startsWith('/') || url.startsWith('.')) return 'local';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return 'other';
  return /^[^/]+:/.test(url) ? 'ssh' : 'local';
}

export interface SplitUrl {
  /** the URL without its password (the user stays) */
  readonly url: string;
  /** the URL without any userinfo */
  readonly bare: string;
  /** the text between scheme:// and the last @, when there is one */
  readonly userinfo?: string;
  readonly user?: string;
  readonly password?: string;
}

/**
 * The userinfo of a URL found by position, never by whether the URL parses: everything between `scheme://` and
 * the last `@`. A password may hold `@`, `/`, quotes or a bad % escape and still be found; a path that holds an
 * `@` is taken for userinfo too, which errs on the side of keeping a secret.
 */
export function splitUserinfo(url: string): SplitUrl {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0];
  if (!scheme) return { url, bare: url };
  const rest = url.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  if (at < 0) return { url, bare: url };
  const userinfo = rest.slice(0, at);
  const colon = userinfo.indexOf(':');
  const { username: user, password: decoded } = credentialsOf(userinfo);
  const password = colon < 0 ? undefined : decoded;
  const keepUser = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
  return {
    url: `${scheme}${keepUser}@${rest.slice(at + 1)}`,
    bare: `${scheme}${rest.slice(at + 1)}`,
    userinfo,
    user,
    password,
  };
}

/** The URL with its whole userinfo replaced by *** (for a message that must show which URL was refused). */
export function maskUserinfo(url: string): string {
  const split = splitUserinfo(url);
  return split.userinfo === undefined ? url : split.bare.replace('://', '://***@');
}

const hasPasswordSource = (o: AuthOptions) => Boolean(o.passwordFile || o.password || o.credentialHelper);

/**
 * A secret in an http(s) URL's userinfo: a password, or a user alone when no password option is given (then
 * `https://TOKEN@host` is a token, as GitHub and GitLab take it).
 */
export function urlSecret(url: string, options: AuthOptions): boolean {
  const split = splitUserinfo(url);
  if (split.userinfo === undefined) return false;
  if (split.password !== undefined) return true;
  return remoteKind(url) === 'http' && !hasPasswordSource(options) && split.user !== '';
}

/**
 * Whether an option's value holds a secret: a URL with a password, (remote, repo) with a token, or (notify) a chat
 * scheme's URL, which always holds one (a webhook token, a bot token, an app token, an ntfy topic).
 */
export function holdsSecret(key: string, value: string, options: AuthOptions): boolean {
  if (key === 'notify' && chatScheme(value)) return true;
  return key === 'remote' || key === 'repo' ? urlSecret(value, options) : splitUserinfo(value).password !== undefined;
}

/** The URL as it may be written to disk: without a password, or without a token standing alone as the user. */
export function withoutSecret(url: string, options: AuthOptions): string {
  if (!urlSecret(url, options)) return url;
  const split = splitUserinfo(url);
  return split.password === undefined ? split.bare : split.url;
}

/**
 * Refuses credentials given as command-line flags, before anything runs: `ps` shows a process's argv to every
 * user for its whole life. Returns the one-line error, or undefined. Flags are keyed by config key.
 */
export function commandLineCredentials(
  flags: Readonly<Record<string, unknown>>,
  options: AuthOptions,
): string | undefined {
  for (const [key, raw] of Object.entries(flags)) {
    for (const value of Array.isArray(raw) ? raw : [raw]) {
      if (typeof value !== 'string' || !holdsSecret(key, value, options)) continue;
      const isRemote = key === 'remote' || key === 'repo';
      const chat = key === 'notify' ? chatScheme(value) : undefined;
      const got = `got ${JSON.stringify(chat ? `${chat}://…` : maskUserinfo(value))}`;
      const alternatives = isRemote
        ? `put the password or token in a file and give --password-file FILE (with --username NAME), or set HOTPULL_PASSWORD, or give the whole URL in ${envName(key)}`
        : `give the URL in ${envName(key)} instead`;
      return `--${flagName(key)} must not carry a password or token on the command line, where ps shows it to every user (${got}): ${alternatives}`;
    }
  }
  return undefined;
}

/** Options that contradict each other, whatever the remote: the one-line config error, or undefined. */
export function conflictingOptions(options: AuthOptions): string | undefined {
  if (options.passwordFile && options.password) return 'give one of --password-file and HOTPULL_PASSWORD (got both)';
  if (options.credentialHelper && (options.passwordFile || options.password)) {
    return `--credential-helper supplies the password itself: drop ${options.passwordFile ? '--password-file' : 'HOTPULL_PASSWORD'} (got both)`;
  }
  if (options.username && !hasPasswordSource(options)) {
    return `--username needs a password: --password-file FILE, HOTPULL_PASSWORD or --credential-helper CMD (got ${JSON.stringify(options.username)} alone)`;
  }
  return undefined;
}

/** A password in git's environment, never its argv. Which of them applies is decided by `credentialSetup`. */
export type CredentialSource =
  | { kind: 'file'; file: string; username?: string }
  | { kind: 'env'; password: string; username?: string }
  | { kind: 'url'; password: string; username: string }
  | { kind: 'helper'; command: string; username?: string };

/**
 * The shell function git runs as its credential helper (`!f() …; f get`): answers `get` only (store and erase
 * are none of its business), prints the user when one is set, and the password from the file (first line, a
 * trailing CR dropped) or from the environment. `read` and `printf` are shell built-ins: no process is started
 * with the password among its arguments.
 */
export const PASSWORD_HELPER = [
  '!f() { test "$1" = get || return 0',
  'if test -n "${HOTPULL_GIT_USERNAME+set}"; then printf \'username=%s\\n\' "$HOTPULL_GIT_USERNAME"; fi',
  'if test -n "${HOTPULL_GIT_PASSWORD_FILE:-}"; then p=; IFS= read -r p < "$HOTPULL_GIT_PASSWORD_FILE" || test -n "$p" || { echo quit=1; return 0; }',
  'else p=$HOTPULL_GIT_PASSWORD; fi',
  'case $p in *"$(printf \'\\r\')") p=${p%?};; esac',
  'printf \'password=%s\\n\' "$p"; }; f',
].join('; ');

/** Variables hotpull sets for the helper; any inherited value is dropped so only this configuration counts. */
export const HELPER_VARS = ['HOTPULL_GIT_USERNAME', 'HOTPULL_GIT_PASSWORD', 'HOTPULL_GIT_PASSWORD_FILE'] as const;

/**
 * git configuration through the environment (GIT_CONFIG_COUNT, …KEY_n, …VALUE_n). The helper list is reset
 * first (an empty credential.helper), so a `store` helper in the user's own config neither answers before ours
 * nor writes the password to ~/.git-credentials when git approves it.
 */
export function credentialEnv(source: CredentialSource): Record<string, string> {
  const entries: Array<[string, string]> = [
    ['credential.helper', ''],
    ['credential.helper', source.kind === 'helper' ? source.command : PASSWORD_HELPER],
  ];
  const env: Record<string, string> = {};
  if (source.kind === 'helper' && source.username) entries.push(['credential.username', source.username]);
  if (source.kind !== 'helper' && source.username !== undefined) env.HOTPULL_GIT_USERNAME = source.username;
  if (source.kind === 'file') env.HOTPULL_GIT_PASSWORD_FILE = source.file;
  if (source.kind === 'env' || source.kind === 'url') env.HOTPULL_GIT_PASSWORD = source.password;
  entries.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  env.GIT_CONFIG_COUNT = String(entries.length);
  return env;
}

/** What `hotpull status` and /status show: where the secret comes from, never the secret. */
export function describeCredentials(source: CredentialSource): string {
  const user = source.username ? ` (user ${source.username})` : '';
  switch (source.kind) {
    case 'file':
      return `password file ${source.file}${user}`;
    case 'env':
      return `password from HOTPULL_PASSWORD${user}`;
    case 'url':
      return 'credentials from the remote URL'; // the user may be the token itself
    case 'helper':
      // The command is shown by its program only: a shell snippet could hold anything.
      return `credential helper ${source.command.startsWith('!') ? '(shell command)' : source.command.split(/\s/)[0]}${user}`;
  }
}

export interface CredentialSetup {
  /** the remote as git is to be given it: without a password */
  readonly remote: string;
  readonly source?: CredentialSource;
}

/**
 * Where an http(s) remote's password comes from: --password-file, HOTPULL_PASSWORD, --credential-helper, or a
 * password in the URL (taken out of it). Throws nothing: returns the config error text as `error`.
 */
export function credentialSetup(
  remote: string,
  url: string,
  options: AuthOptions,
): CredentialSetup | { error: string } {
  const split = splitUserinfo(url);
  const urlUser = split.user || undefined;
  const username =
    options.username ?? (split.password !== undefined || hasPasswordSource(options) ? urlUser : undefined);
  if (hasPasswordSource(options)) {
    if (split.password !== undefined) {
      return {
        error: `the remote URL carries a password and ${options.passwordFile ? '--password-file' : options.password ? 'HOTPULL_PASSWORD' : '--credential-helper'} is given: keep one (got ${JSON.stringify(maskUserinfo(url))})`,
      };
    }
    if (!options.credentialHelper && !username) {
      return {
        error: `${options.passwordFile ? '--password-file' : 'HOTPULL_PASSWORD'} needs a user name: give --username NAME (any name works for a GitHub token, e.g. x-access-token) or put it in the URL (got ${JSON.stringify(maskUserinfo(url))})`,
      };
    }
    const source: CredentialSource = options.passwordFile
      ? { kind: 'file', file: options.passwordFile, username }
      : options.password
        ? { kind: 'env', password: options.password, username }
        : { kind: 'helper', command: options.credentialHelper!, username };
    return { remote, source };
  }
  if (split.userinfo === undefined || split.userinfo === '') return { remote };
  // user:password keeps the user in the URL; a bare token (https://TOKEN@host) is the secret itself, sent as the
  // user with an empty password, as git would send it. Git gets the URL rather than the remote's name, which
  // would make it read the password from the config again.
  const token = split.password === undefined;
  return {
    remote: token ? split.bare : split.url,
    source: { kind: 'url', password: split.password ?? '', username: split.user! },
  };
}

/** One line saying why an http(s) remote refused us, from git's output; undefined when it was not that. */
export function explainHttpFailure(output: string, source: CredentialSource | undefined): string | undefined {
  const refused = /Authentication failed for '([^']*)'/.exec(output);
  if (refused) {
    const using = source ? describeCredentials(source) : 'no credentials';
    return `Authentication failed for '${refused[1]}': the server refused the credentials (${using})`;
  }
  const asked = /could not read (Username|Password) for '([^']*)'/.exec(output);
  if (asked) {
    return `${asked[2]} asks for a ${asked[1]!.toLowerCase()} and none is configured: give --username NAME with --password-file FILE, HOTPULL_PASSWORD or --credential-helper CMD`;
  }
  return undefined;
}

/**
 * The environment for a command that reaches other hosts than the remote's (submodules): the credential helper and
 * user name credentialEnv configured answer for the remote's scheme, host and port only (`credential.<origin>.helper`),
 * so a submodule elsewhere is never sent the remote's password. The helper list's reset stays unscoped.
 */
export function scopedCredentials(env: Record<string, string>, url: string): Record<string, string> {
  const origin = /^(https?:\/\/)(?:[^@/]*@)?([^/?#]+)/i.exec(url);
  const scoped = { ...env };
  for (let i = 0; i < Number(env.GIT_CONFIG_COUNT ?? 0); i++) {
    const key = env[`GIT_CONFIG_KEY_${i}`];
    if (key !== 'credential.helper' && key !== 'credential.username') continue;
    if (key === 'credential.helper' && env[`GIT_CONFIG_VALUE_${i}`] === '') continue;
    // not an http(s) remote: no password is meant for anyone, so no host gets the helper
    scoped[`GIT_CONFIG_KEY_${i}`] = origin
      ? `credential.${origin[1]!.toLowerCase()}${origin[2]!.toLowerCase()}.${key.slice('credential.'.length)}`
      : 'hotpull.unused';
  }
  return scoped;
}
