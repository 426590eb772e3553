import { statSync } from 'node:fs';
import path from 'node:path';
import { NativeLsRemoteError, nativeCommand, nativeLsRemote, parseGitUrl } from './native-ls-remote.js';

/**
 * When the branch poll may read a `git://` remote itself (native-ls-remote.ts) instead of running `git ls-remote`:
 * only when git would have opened a plain TCP connection to the same place. So
 * - the remote's effective URL (`git ls-remote --get-url`: remote names and `url.<base>.insteadOf` applied) is
 *   git://, worked out again whenever a git config file it may come from changes;
 * - no proxy command (GIT_PROXY_COMMAND, core.gitProxy), no protocol policy (GIT_ALLOW_PROTOCOL,
 *   protocol.*allow, which may forbid git://) and no custom upload-pack name, each of which changes what git does;
 * - not turned off: HOTPULL_NATIVE_POLL=0.
 * A native failure other than a timeout or a stop hands that poll to git; one that says the remote speaks
 * something else (a protocol error, an advertisement over the cap) hands it to git until the config changes.
 * Config files pulled in with `[include]` are not watched: a change there is seen at the next restart.
 */

export type Env = Readonly<Record<string, string | undefined>>;

/** Config keys that make git do something other than a plain connection (names as `git config --list` prints). */
export function gitOnlyConfig(keys: readonly string[], remote: string): string | undefined {
  const uploadPack = `remote.${remote.toLowerCase()}.uploadpack`;
  return keys.find((key) => {
    const k = key.toLowerCase();
    return k === 'core.gitproxy' || /^protocol\.(?:[^.]+\.)?allow$/.test(k) || k === uploadPack;
  });
}

/** Why the environment rules the native poll out; undefined when it does not. */
export function gitOnlyEnv(env: Env): string | undefined {
  if (env.HOTPULL_NATIVE_POLL === '0') return 'HOTPULL_NATIVE_POLL=0';
  return ['GIT_PROXY_COMMAND', 'GIT_ALLOW_PROTOCOL'].find((name) => env[name]);
}

/** The config files git reads besides the repository's own, as far as the environment tells. */
export function userConfigFiles(envs: readonly Env[]): string[] {
  const files = new Set<string>();
  for (const env of envs) {
    if (env.GIT_CONFIG_GLOBAL) files.add(env.GIT_CONFIG_GLOBAL);
    if (env.HOME) {
      files.add(path.join(env.XDG_CONFIG_HOME || path.join(env.HOME, '.config'), 'git', 'config'));
      files.add(path.join(env.HOME, '.gitconfig'));
    }
    if (!env.GIT_CONFIG_NOSYSTEM) files.add(env.GIT_CONFIG_SYSTEM || '/etc/gitconfig');
  }
  return [...files];
}

/** Changes when any of the files is written, replaced, created or removed. */
function stamp(files: readonly string[]): string {
  return files
    .map((file) => {
      const s = statSync(file, { throwIfNoEntry: false });
      return s ? `${s.ino}:${s.size}:${s.mtimeMs}` : '-';
    })
    .join('|');
}

export interface NativePollHost {
  /** the environment git runs with */
  env(): Env;
  /** git in the checkout (config reads only) */
  run(args: string[]): Promise<string>;
  /** every config file whose change may change the effective URL (the repository's first) */
  configFiles(): Promise<string[]>;
}

export class NativePoll {
  private files?: string[];
  private route?: { remote: string; stamp: string; url?: string };

  constructor(private readonly host: NativePollHost) {}

  /** The git:// URL to read natively for `remote`, or undefined: ask git. */
  async url(remote: string): Promise<string | undefined> {
    if (gitOnlyEnv(this.host.env())) return undefined;
    this.files ??= await this.host.configFiles();
    const now = stamp(this.files);
    if (this.route?.remote === remote && this.route.stamp === now) return this.route.url;
    this.route = { remote, stamp: now, url: await this.resolve(remote) };
    return this.route.url;
  }

  private async resolve(remote: string): Promise<string | undefined> {
    try {
      const url = (await this.host.run(['ls-remote', '--get-url', '--', remote])).trim();
      if (!parseGitUrl(url)) return undefined;
      // names only: values may hold secrets (http.extraHeader) and are never needed here
      const keys = (await this.host.run(['config', '--list', '--name-only'])).split('\n');
      return gitOnlyConfig(keys, remote) ? undefined : url;
    } catch {
      return undefined; // git itself will say what is wrong
    }
  }

  /**
   * The poll over the native path: `{ sha }` (undefined sha: no such branch), or undefined when git must answer
   * (not a native remote, or the native read failed but not by timeout or stop). Timeouts and stops are thrown,
   * as the git path throws them. `report` is told of the attempt like of a git command (redacted, never the why).
   */
  async poll(
    remote: string,
    branch: string,
    options: { timeoutMs?: number; signal?: AbortSignal },
    report?: (command: string, ms: number, failed: boolean) => void,
  ): Promise<{ sha: string | undefined } | undefined> {
    const url = await this.url(remote);
    if (!url) return undefined;
    const started = performance.now();
    const took = () => Math.round(performance.now() - started);
    const command = nativeCommand(url, `refs/heads/${branch}`);
    try {
      const sha = await nativeLsRemote(url, branch, options);
      report?.(command, took(), false);
      return { sha };
    } catch (error) {
      report?.(command, took(), true);
      if (!(error instanceof NativeLsRemoteError)) throw error;
      if ((error.problem === 'protocol' || error.problem === 'too-large') && this.route?.remote === remote)
        this.route.url = undefined;
      return undefined;
    }
  }
}
