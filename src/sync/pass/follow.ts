import type { Git } from '../../git/repo.js';
import type { Logger } from '../../log.js';
import { HotpullError } from '../../errors.js';
import { describeRef, lsRemotePattern, parseLsRemote, resolveRef, type RefSpec } from '../ref.js';

export interface FollowOptions {
  /** the checkout's git adapter, looked up at each call (the workspace owns it) */
  git: () => Pick<Git, 'lsRemote' | 'lsRemoteRaw' | 'fetchBranch' | 'fetchRef' | 'hasCommit'>;
  remote: string;
  remoteLabel: string;
  branch: string;
  fetchRef: string;
  logger: Logger;
}

type Network = { timeoutMs: number; signal?: AbortSignal };

/** --ref's two git steps: where the followed ref points now (detect) and getting that commit (fetch). */
export class RefFollower {
  /** the remote ref the last detection pointed at (a tag), fetched when the target is new */
  private source?: string;
  private ignored?: string;

  constructor(
    readonly spec: RefSpec,
    private readonly options: FollowOptions,
  ) {}

  /** One ls-remote (a branch as before; a tag or pattern by its namespace); none for a pinned sha, which cannot move. */
  async detect(network: Network): Promise<string | undefined> {
    const { remote, branch, remoteLabel, logger } = this.options;
    const { spec } = this;
    const git = this.options.git();
    if (spec.kind === 'branch') return git.lsRemote(remote, branch, network);
    if (spec.kind === 'sha') return spec.sha;
    const resolved = resolveRef(spec, parseLsRemote(await git.lsRemoteRaw(remote, lsRemotePattern(spec)!, network)));
    const what = spec.kind === 'pattern' ? 'semver tag' : 'branch or tag';
    if (!resolved) throw new HotpullError('GIT', `${describeRef(spec)}: no ${what} matches on ${remoteLabel}`);
    const names = resolved.ignored ?? [];
    const ignored =
      names.length > 0 ? `${names.length}: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}` : undefined;
    if (ignored && ignored !== this.ignored)
      logger.debug({ ref: spec }, `--ref ${describeRef(spec)}: ignoring tags that are not semver (${ignored})`);
    this.ignored = ignored;
    this.source = resolved.ref;
    return resolved.sha;
  }

  /** Fetches the detected target: the branch, the tag it was found under, or a pinned sha once. */
  async fetch(target: string, options: Network & { depth?: number }): Promise<void> {
    const { remote, branch, fetchRef } = this.options;
    const git = this.options.git();
    if (this.spec.kind === 'branch') return git.fetchBranch(remote, branch, fetchRef, options);
    if (this.spec.kind === 'sha' && (await git.hasCommit(target))) return;
    await git.fetchRef(remote, this.spec.kind === 'sha' ? target : this.source!, fetchRef, options);
  }
}
