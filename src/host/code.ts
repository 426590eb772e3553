import { promises as fs } from 'node:fs';
import { configError } from '../errors.js';
import { Git } from '../git/repo.js';
import type { AuthOptions } from '../git/credentials.js';

/** A first clone can take much longer than one fetch of a branch. */
const CLONE_TIMEOUT_MS = 10 * 60_000;

export type CodeState = { kind: 'cloned'; sha: string } | { kind: 'present'; sha?: string } | { kind: 'empty' };

export interface CodeOptions {
  repo?: string;
  branch?: string;
  env: Readonly<Record<string, string | undefined>>;
  /** --ssh-key-file, --password-file …: as for the daemon, never a secret on git's command line */
  auth?: AuthOptions;
}

/**
 * The host side of the code volume: HOSTDIR is created when missing and, when empty, cloned from `repo` (the
 * first deploy). A directory with anything in it is left as it is: it is someone's checkout.
 */
export async function ensureCode(hostDir: string, options: CodeOptions): Promise<CodeState> {
  const stat = await fs
    .stat(hostDir)
    .catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : Promise.reject(error)));
  if (stat && !stat.isDirectory())
    throw configError(`--code HOSTDIR must be a directory (got ${JSON.stringify(hostDir)}, a file)`);
  if (!stat) await fs.mkdir(hostDir, { recursive: true });
  if ((await fs.readdir(hostDir)).length > 0) return { kind: 'present', sha: await deployedSha(hostDir, options.env) };
  if (!options.repo) return { kind: 'empty' };
  const git = new Git(hostDir, options.env);
  // A password in the URL goes to git through its environment, and the clone's config keeps the URL without it.
  const url = await git.prepareRemote(options.repo, options.auth, { trustLocal: false });
  await git.clone(url, options.branch, { timeoutMs: CLONE_TIMEOUT_MS });
  return { kind: 'cloned', sha: await git.head() };
}

/** HEAD of the checkout in `dir`; undefined when there is none (missing directory, not a checkout, no commit). */
export async function deployedSha(
  dir: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string | undefined> {
  try {
    return await new Git(dir, env).head();
  } catch {
    return undefined;
  }
}

/** The checkout's origin URL and branch, for the labels when `--repo` / `--branch` were not given. */
export async function checkoutOrigin(
  dir: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<{ repo?: string; branch?: string }> {
  try {
    const git = new Git(dir, env);
    const upstream = await git.upstream();
    const branch = upstream?.branch ?? (await git.currentBranch());
    const remote = upstream?.remote ?? 'origin';
    const repo = (await git.run(['config', '--get', `remote.${remote}.url`]).catch(() => '')).trim() || undefined;
    return { repo, branch };
  } catch {
    return {};
  }
}
