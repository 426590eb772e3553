import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkoutUnreadable, configError, HotpullError, isHotpullError } from '../errors.js';
import { redact } from '../redact.js';
import { branchNameProblem, locationKind } from '../git/location.js';
import { Git } from '../git/repo.js';
import { authOptions, withoutSecret } from '../git/credentials.js';
import { openAtomic, type AtomicWorkspace } from './layout/atomic.js';
import type { Logger } from '../log.js';
import type { Config } from '../config/load.js';
import { describeRef, lsRemotePattern, parseLsRemote, parseRef, resolveRef, type RefSpec } from './ref.js';
import { scopeOf } from './scope-paths.js';

/** What the pipeline works on, resolved and checked once at start from the config and the checkout. */
export interface Target {
  git: Git;
  /** the checkout's top-level directory */
  dir: string;
  remote: string;
  remoteLabel: string;
  branch: string;
  fetchRef: string;
  /** --ref when it is not a plain branch (a tag, a pinned sha, a tag pattern, a bare name) */
  ref?: RefSpec;
}

/** --ref (or --branch, its older spelling) → what to follow; a branch comes back as a branch name only. */
function refOption(config: Config): { branch?: string; ref?: RefSpec } {
  if (config.ref === undefined) return { branch: config.branch };
  const spec = parseRef(config.ref);
  if ('error' in spec) throw configError(`--ref ${spec.error} (got ${JSON.stringify(config.ref)})`);
  const branch = spec.kind === 'branch' || spec.kind === 'name' ? spec.name : undefined;
  if (config.branch !== undefined && config.branch !== branch) {
    const got = `--branch ${JSON.stringify(config.branch)} and --ref ${JSON.stringify(config.ref)}`;
    throw configError(`--branch and --ref must not name different things (got ${got})`);
  }
  return spec.kind === 'branch' ? { branch: spec.name } : { ref: spec };
}

const looksLikeUrl = (remote: string) => locationKind(remote) !== 'name';

/**
 * A --remote that is a path (or file:// URL) on this machine must exist at start: retrying a typo forever helps
 * nobody (exit 2). Relative paths are taken from the checkout, as git takes them. A remote that vanishes later is a
 * runtime failure, retried.
 */
async function refuseMissingLocalRemote(remote: string, dir: string): Promise<void> {
  const kind = locationKind(remote);
  if (kind === 'name' || (kind === 'url' && !remote.startsWith('file://'))) return;
  let local: string;
  try {
    local = remote.startsWith('file://') ? fileURLToPath(remote) : path.resolve(dir, remote);
  } catch {
    return; // git says what is wrong with the URL
  }
  const error = await fs.stat(local).then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e,
  );
  if (error?.code === 'ENOENT' || error?.code === 'ENOTDIR')
    throw configError(
      `--remote must name an existing repository (got ${JSON.stringify(remote)}: ${local} does not exist)`,
    );
}

function checkBranchName(branch: string): void {
  const problem = branchNameProblem(branch);
  if (problem) throw configError(`--branch must be a valid branch name (got ${JSON.stringify(branch)}: ${problem})`);
}

/** Fails with a sentence, not Node's stack or git's "not a git repository", when this user cannot read `dir` (a missing one passes). */
async function checkReadable(dir: string): Promise<void> {
  try {
    const isDir = (await fs.stat(dir).catch(() => undefined))?.isDirectory() ?? true;
    await fs.access(dir, isDir ? fsConstants.R_OK | fsConstants.X_OK : fsConstants.R_OK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EACCES' || (error as NodeJS.ErrnoException).code === 'EPERM')
      throw checkoutUnreadable(dir, error);
  }
}

export async function resolveTarget(
  config: Config,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Target> {
  await checkReadable(config.repo);
  await checkReadable(path.join(config.repo, '.git'));
  const stat = await fs.stat(config.repo).catch(() => undefined);
  if (!stat?.isDirectory())
    throw configError(`--repo must be an existing directory (got ${JSON.stringify(config.repo)})`);
  const git = new Git(config.repo, env);
  let dir: string;
  try {
    dir = await git.topLevel();
  } catch (error) {
    if (isHotpullError(error, 'CONFIG')) throw error;
    const detail =
      error instanceof HotpullError && /not a git repository/i.test(error.message)
        ? 'no git repository there'
        : (error as Error).message;
    throw configError(`--repo must be a git checkout (got ${JSON.stringify(config.repo)}: ${detail})`, error);
  }
  const checkout = dir === git.dir ? git : new Git(dir, env);

  if (config.remote.startsWith('-'))
    throw configError(`--remote must be a remote name or URL (got ${JSON.stringify(config.remote)})`);
  await refuseMissingLocalRemote(config.remote, dir);
  if (!looksLikeUrl(config.remote)) {
    const remotes = await checkout.remotes();
    if (!remotes.includes(config.remote)) {
      throw configError(
        `--remote must be a remote of the checkout or a URL (got ${JSON.stringify(config.remote)}; remotes: ${remotes.join(', ') || 'none'})`,
      );
    }
  }

  const following = refOption(config);
  if (following.ref) {
    return {
      git: checkout,
      dir,
      remote: await checkout.prepareRemote(config.remote, authOptions(config)),
      remoteLabel: redact(config.remote),
      branch: describeRef(following.ref),
      fetchRef: 'refs/hotpull/ref',
      ref: following.ref,
    };
  }
  let branch = following.branch;
  if (!branch) {
    const upstream = await checkout.upstream();
    if (!upstream) {
      // Following the current branch by its name would take whatever the remote has under it, maybe an unrelated history.
      const current = await checkout.currentBranch();
      if (!current)
        throw configError(
          `--branch is required: the checkout at ${dir} has a detached HEAD and no upstream branch (got none)`,
        );
      const setIt = looksLikeUrl(config.remote)
        ? ''
        : `, or give the branch an upstream: git branch --set-upstream-to=${config.remote}/${current}`;
      throw configError(
        `--branch is required: the checkout's branch ${JSON.stringify(current)} in ${dir} has no upstream branch to follow (pass --branch NAME${setIt})`,
      );
    }
    branch = upstream.branch;
  }
  checkBranchName(branch);

  return {
    git: checkout,
    dir,
    remote: await checkout.prepareRemote(config.remote, authOptions(config)),
    remoteLabel: redact(config.remote),
    branch,
    fetchRef: looksLikeUrl(config.remote) ? `refs/hotpull/remote/${branch}` : `refs/remotes/${config.remote}/${branch}`,
  };
}

/**
 * The atomic layout's target: the volume root holds .hotpull/repo (made on an empty directory, cloned from
 * --remote, which must then be a URL), releases/ and the `current` link.
 */
export async function resolveAtomicTarget(
  config: Config,
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
): Promise<Target & { workspace: AtomicWorkspace }> {
  const root = config.repo;
  await checkReadable(root);
  const stat = await fs.stat(root).catch(() => undefined);
  if (stat && !stat.isDirectory())
    throw configError(`--repo must be a directory for --layout atomic (got ${JSON.stringify(root)}: a file)`);
  await fs.mkdir(root, { recursive: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EACCES' && error.code !== 'EPERM' && error.code !== 'EROFS') throw error;
    const why = error.code === 'EROFS' ? 'read-only file system' : 'permission denied';
    throw configError(
      `--repo must be a directory this user can create for --layout atomic (got ${JSON.stringify(root)}: ${why})`,
      error,
    );
  });
  const existing = await fs.stat(path.join(root, '.hotpull', 'repo', 'HEAD')).catch(() => undefined);
  if (!existing) {
    const entries = (await fs.readdir(root)).filter((e) => e !== 'lost+found' && e !== '.hotpull');
    if (entries.length > 0) {
      throw configError(
        `--repo must be an empty directory or an existing atomic layout for --layout atomic (got ${JSON.stringify(root)}, which holds ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''})`,
      );
    }
    if (!looksLikeUrl(config.remote)) {
      throw configError(
        `--remote must be a URL for the first clone of an atomic layout (got ${JSON.stringify(config.remote)})`,
      );
    }
  }
  await refuseMissingLocalRemote(config.remote, root);
  const { workspace, created } = await openAtomic(root, {
    // the repository's config on the volume never holds a password: git gets it through its environment
    remoteUrl: looksLikeUrl(config.remote) ? withoutSecret(config.remote, authOptions(config)) : undefined,
    keep: config.keep,
    env,
    logger,
    sparse: scopeOf(config).sparse,
  });
  const git = workspace.git;
  const remote = await git.prepareRemote(looksLikeUrl(config.remote) ? config.remote : 'origin', authOptions(config));
  const following = refOption(config);
  // the atomic layout follows a branch: a bare --ref NAME is one, anything else is refused
  if (following.ref && following.ref.kind !== 'name') {
    throw configError(
      `--ref must be a branch for --layout atomic (got ${JSON.stringify(config.ref)}; tags and shas need --layout in-place for now)`,
    );
  }
  let branch =
    following.branch ??
    (following.ref?.kind === 'name' ? following.ref.name : undefined) ??
    (await git.getConfig('hotpull.branch'));
  if (!branch) {
    branch = await git.remoteDefaultBranch(remote, { timeoutMs: config.syncTimeout }).catch(() => undefined);
    if (!branch) throw configError(`--branch is required: the remote's default branch could not be read (got none)`);
  }
  checkBranchName(branch);
  await git.setConfig('hotpull.branch', branch);
  if (created) logger.info({ root }, `created the atomic layout in ${root}`);
  const url = (await git.getConfig('remote.origin.url')) ?? config.remote;
  return {
    git,
    dir: root,
    remote,
    remoteLabel: redact(url),
    branch,
    fetchRef: `refs/remotes/origin/${branch}`,
    workspace,
  };
}

/**
 * Start-up check that the branch exists on the remote. A remote that answers without the branch is bad
 * configuration (exit 2); a remote that does not answer is a runtime failure, left to the retry loop.
 */
export async function checkBranchOnRemote(target: Target, timeoutMs: number): Promise<'ok' | Error> {
  // a pinned sha is checked by its fetch; a pattern may match nothing yet (no release), which the passes report
  if (target.ref?.kind === 'sha' || target.ref?.kind === 'pattern') return 'ok';
  if (target.ref) {
    let output: string;
    try {
      output = await target.git.lsRemoteRaw(target.remote, lsRemotePattern(target.ref)!, { timeoutMs });
    } catch (error) {
      return error as Error;
    }
    if (resolveRef(target.ref, parseLsRemote(output))) return 'ok';
    const name = JSON.stringify(target.branch.replace(/^tag /, ''));
    throw configError(`--ref must name a branch or tag on the remote (got ${name}: none on ${target.remoteLabel})`);
  }
  let sha: string | undefined;
  try {
    sha = await target.git.lsRemote(target.remote, target.branch, { timeoutMs });
  } catch (error) {
    return error as Error;
  }
  if (!sha) {
    throw configError(
      `--branch must name a branch on the remote (got ${JSON.stringify(target.branch)}: no refs/heads/${target.branch} on ${target.remoteLabel})`,
    );
  }
  return 'ok';
}
