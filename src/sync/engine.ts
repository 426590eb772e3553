import type { Logger } from '../log.js';
import type { Git } from '../git/repo.js';
import { removeStaleLocks } from '../git/locks.js';
import type { Reloader } from '../reload/types.js';
import { HotpullError, oneLine } from '../errors.js';
import { backupStamp, planApply, relationOf, type Policy } from './plan.js';
import { HISTORY_LIMIT, type DeployRecord, type State, type Status } from './status.js';

export interface EngineOptions {
  git: Git;
  /** remote name or URL, as git is given it */
  remote: string;
  /** the remote as shown in logs and status (credentials redacted) */
  remoteLabel: string;
  branch: string;
  /** where the fetched branch is stored, e.g. refs/remotes/origin/main */
  fetchRef: string;
  reloaders: readonly Reloader[];
  onDiverged: Policy;
  onDirty: Policy;
  syncTimeoutMs: number;
  logger: Logger;
  clock?: () => number;
}

export type SyncOutcome =
  | { kind: 'up-to-date'; sha: string }
  | { kind: 'deployed'; record: DeployRecord }
  | { kind: 'blocked'; state: 'diverged' | 'dirty'; reason: string };

const short = (sha: string | undefined) => sha?.slice(0, 12);

/**
 * One pass of the pipeline: detect (ls-remote) → fetch (one ref) → plan → apply → reload → record.
 * It runs one pass at a time (the Daemon serializes them); failures throw and the Daemon backs off.
 */
export class SyncEngine {
  readonly status: Status;
  private readonly clock: () => number;
  /** a deploy whose reload failed: retried on the next pass even when the checkout is up to date */
  private pendingReload?: { from: string; to: string };
  /** the last blocked verdict logged, so a blocked poll logs once, not every interval */
  private lastBlockedKey?: string;
  private gitDir?: string;

  constructor(private readonly options: EngineOptions) {
    this.clock = options.clock ?? Date.now;
    this.status = {
      state: 'starting',
      remote: options.remoteLabel,
      branch: options.branch,
      consecutiveFailures: 0,
      deploys: [],
    };
  }

  private setState(state: State, reason?: string): void {
    this.status.state = state;
    this.status.reason = reason;
  }

  /** Called by the Daemon when a pass threw: the old code keeps serving, the state says why. */
  markFailed(error: unknown): void {
    this.status.consecutiveFailures += 1;
    this.status.lastError = oneLine(error);
    this.setState('failing', this.status.lastError);
  }

  private markSucceeded(): void {
    this.status.consecutiveFailures = 0;
    this.status.lastSuccessAt = new Date(this.clock()).toISOString();
  }

  async sync(trigger: string, signal?: AbortSignal): Promise<SyncOutcome> {
    const { git, logger } = this.options;
    const network = { timeoutMs: this.options.syncTimeoutMs, signal };
    const started = this.clock();
    const local = await git.head();
    this.status.deployedSha = local;
    const remote = await git.lsRemote(this.options.remote, this.options.branch, network);
    if (!remote) {
      throw new HotpullError('GIT', `branch ${this.options.branch} not found on ${this.options.remoteLabel}`);
    }
    this.status.remoteSha = remote;
    const detected = this.clock();

    if (remote === local && !this.pendingReload) {
      this.lastBlockedKey = undefined;
      this.setState('idle');
      this.markSucceeded();
      return { kind: 'up-to-date', sha: local };
    }

    await this.recoverLocks();
    let target = remote;
    let fetched = detected;
    if (remote !== local && !(await git.hasCommit(remote))) {
      this.setState('syncing');
      logger.debug({ remote: short(remote), ref: this.options.fetchRef }, `fetching ${this.options.branch} (${short(remote)})`);
      target = await git.fetchBranch(this.options.remote, this.options.branch, this.options.fetchRef, network);
      fetched = this.clock();
      this.status.remoteSha = target;
    }

    if (target === local) {
      // Nothing to apply; only a reload that failed earlier is still owed.
      const owed = this.pendingReload!;
      return this.finish(trigger, owed.from, local, { started, detected, fetched, applied: fetched });
    }

    const relation = relationOf(local, target, await git.isAncestor(local, target), await git.isAncestor(target, local));
    const plan = planApply({
      relation,
      modified: await git.modifiedFiles(),
      onDiverged: this.options.onDiverged,
      onDirty: this.options.onDirty,
    });
    if (plan.kind === 'noop') {
      this.setState('idle');
      this.markSucceeded();
      return { kind: 'up-to-date', sha: local };
    }
    if (plan.kind === 'blocked') {
      const key = `${plan.state}:${local}:${target}`;
      if (key !== this.lastBlockedKey) {
        logger.warn({ state: plan.state, deployed: short(local), remote: short(target) }, `deploy blocked: ${plan.reason}`);
        this.lastBlockedKey = key;
      }
      this.setState(plan.state, plan.reason);
      this.markSucceeded();
      return { kind: 'blocked', state: plan.state, reason: plan.reason };
    }
    this.lastBlockedKey = undefined;

    const stamp = backupStamp(this.clock());
    if (plan.backupWorktree) {
      const stash = await git.stashCreate(`hotpull: local changes before deploying ${target}`);
      if (stash) {
        const ref = `refs/hotpull/backup/${stamp}-worktree`;
        await git.updateRef(ref, stash, 'hotpull: backup of local changes');
        logger.warn({ ref }, `discarding local changes to tracked files; saved under ${ref}`);
      }
    }
    if (plan.backupHead) {
      const ref = `refs/hotpull/backup/${stamp}`;
      await git.updateRef(ref, local, 'hotpull: backup before reset');
      logger.warn({ ref, old: short(local), new: short(target) }, `resetting the checkout to the rewritten remote; old head saved under ${ref}`);
    }
    if (plan.mode === 'ff') await git.fastForward(target);
    else await git.resetHard(target);
    this.status.deployedSha = target;
    this.pendingReload = { from: local, to: target };
    const applied = this.clock();
    return this.finish(trigger, local, target, { started, detected, fetched, applied });
  }

  private async finish(
    trigger: string,
    from: string,
    to: string,
    t: { started: number; detected: number; fetched: number; applied: number },
  ): Promise<SyncOutcome> {
    this.setState('reloading');
    for (const reloader of this.options.reloaders) {
      try {
        await reloader.reload({ sha: to, previousSha: from });
      } catch (error) {
        // The new code is on disk but not served: retried on the next pass, reported meanwhile.
        this.record(trigger, from, to, 'failed', t, undefined, oneLine(error));
        throw error;
      }
    }
    this.pendingReload = undefined;
    const reloaded = this.clock();
    const record = this.record(trigger, from, to, 'reloaded', t, reloaded);
    this.setState('idle');
    this.markSucceeded();
    this.options.logger.info(
      { old: from, new: to, trigger, ms: record.durations },
      `deployed ${short(from)} → ${short(to)} in ${record.durations.total}ms (detect ${record.durations.detect}ms, fetch ${record.durations.fetch}ms, apply ${record.durations.apply}ms, reload ${record.durations.reload}ms)`,
    );
    return { kind: 'deployed', record };
  }

  private record(
    trigger: string,
    from: string,
    to: string,
    result: DeployRecord['result'],
    t: { started: number; detected: number; fetched: number; applied: number },
    reloaded?: number,
    error?: string,
  ): DeployRecord {
    const iso = (ms: number) => new Date(ms).toISOString();
    const end = reloaded ?? this.clock();
    const record: DeployRecord = {
      trigger,
      from,
      to,
      result,
      stages: {
        detected: iso(t.detected),
        fetched: iso(t.fetched),
        applied: iso(t.applied),
        ...(reloaded === undefined ? {} : { reloaded: iso(reloaded) }),
      },
      durations: {
        detect: t.detected - t.started,
        fetch: t.fetched - t.detected,
        apply: t.applied - t.fetched,
        reload: end - t.applied,
        total: end - t.started,
      },
      ...(error === undefined ? {} : { error }),
    };
    this.status.deploys.unshift(record);
    this.status.deploys.length = Math.min(this.status.deploys.length, HISTORY_LIMIT);
    return record;
  }

  private async recoverLocks(): Promise<void> {
    this.gitDir ??= await this.options.git.gitDir();
    for (const file of await removeStaleLocks(this.gitDir)) {
      this.options.logger.warn({ file }, `removed stale git lock ${file} (no process holds it; left by a killed git)`);
    }
  }
}
