import type { Logger } from '../log.js';
import type { Workspace, Staged } from './workspace.js';
import type { Reloader } from '../reload/types.js';
import type { ReloadGate } from '../reload/gate.js';
import { HotpullError, oneLine } from '../errors.js';
import { runShell } from '../exec.js';
import { decideRules, type ChangeRule } from '../deploy/rules.js';
import { verifyHealth, type HealthCheck, type VerifyResult } from '../deploy/verify.js';
import { planApply, relationOf, type Policy } from './plan.js';
import { HISTORY_LIMIT, type DeployRecord, type State, type Status } from './status.js';

export const LAST_GOOD_REF = 'refs/hotpull/last-good';
export const REJECTED_REF = 'refs/hotpull/rejected';
/** Triggers a person or script fired on purpose: they retry a rejected revision. */
const EXPLICIT_TRIGGERS = new Set(['signal', 'cli', 'api']);

export interface EngineOptions {
  workspace: Workspace;
  /** remote name or URL, as git is given it */
  remote: string;
  /** the remote as shown in logs and status (credentials redacted) */
  remoteLabel: string;
  branch: string;
  /** where the fetched branch is stored, e.g. refs/remotes/origin/main */
  fetchRef: string;
  reloaders: readonly Reloader[];
  /** run --watch: held from before files change until the pass ends, so file-watch reloads wait and skip them */
  gate?: ReloadGate;
  health?: HealthCheck;
  rollback: boolean;
  rules: readonly ChangeRule[];
  /** the revision the running container image was built from: hold rules compare against it when known */
  imageRevision?: string;
  onDiverged: Policy;
  onDirty: Policy;
  syncTimeoutMs: number;
  /** shallow first fetch (atomic layout on an empty volume) */
  fetchDepth?: number;
  /** environment for run hooks */
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  clock?: () => number;
}

export type SyncOutcome =
  | { kind: 'up-to-date'; sha: string }
  | { kind: 'deployed'; record: DeployRecord }
  | { kind: 'rejected'; record: DeployRecord }
  | { kind: 'blocked'; state: 'diverged' | 'dirty' | 'held' | 'rejected'; reason: string };

interface Times {
  started: number;
  detected: number;
  fetched: number;
  applied: number;
  reloaded?: number;
  verified?: number;
}

const short = (sha: string | undefined) => sha?.slice(0, 12);

/**
 * One pass of the pipeline: detect (ls-remote) → fetch (one ref) → plan (policies, onChange rules) → apply →
 * run hooks → reload → verify → record, with rollback when verification fails. One pass at a time: the
 * Daemon serializes them, so a reload is never started while the previous one is unverified.
 */
export class SyncEngine {
  readonly status: Status;
  private readonly clock: () => number;
  /** a deploy whose reload failed: retried on the next pass even when the checkout is up to date */
  private pendingReload?: { from: string; to: string };
  /** the last blocked verdict, so a blocked poll logs once and skips work it already did */
  private blocked?: { key: string; outcome: Extract<SyncOutcome, { kind: 'blocked' }> };
  private rejectReason?: string;
  private initialized = false;
  private releaseGate?: () => void;

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

  /** Ends helper processes (the ls-remote shell); the engine can still be used, they restart on demand. */
  close(): void {
    this.git.close();
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

  private get git() {
    return this.options.workspace.git;
  }

  private async init(): Promise<void> {
    if (this.initialized) return;
    for (const message of await this.options.workspace.recover()) this.options.logger.warn(message);
    this.status.lastGoodSha = await this.git.resolve(LAST_GOOD_REF);
    this.status.rejectedSha = await this.git.resolve(REJECTED_REF);
    if (this.status.rejectedSha) this.rejectReason = `revision ${short(this.status.rejectedSha)} was rejected earlier (${REJECTED_REF})`;
    this.initialized = true;
  }

  private block(key: string, state: 'diverged' | 'dirty' | 'held' | 'rejected', reason: string, fields: Record<string, unknown>): SyncOutcome {
    const outcome = { kind: 'blocked' as const, state, reason };
    if (key !== this.blocked?.key) this.options.logger.warn({ state, ...fields }, `deploy blocked: ${reason}`);
    this.blocked = { key, outcome };
    this.setState(state, reason);
    this.markSucceeded();
    return outcome;
  }

  async sync(trigger: string, signal?: AbortSignal): Promise<SyncOutcome> {
    try {
      return await this.pass(trigger, signal);
    } finally {
      this.releaseGate?.();
      this.releaseGate = undefined;
    }
  }

  /** run --watch: from here files change and the app reloads (see ReloadGate). */
  private async enterGate(local: string | undefined, target: string): Promise<void> {
    const { gate } = this.options;
    if (!gate) return;
    const { git } = this;
    this.releaseGate = await gate.enter(async () =>
      local === undefined ? git.listFiles(target) : local === target ? [] : git.changedPaths(local, target),
    );
  }

  private async pass(trigger: string, signal?: AbortSignal): Promise<SyncOutcome> {
    const { git } = this;
    const { workspace } = this.options;
    const network = { timeoutMs: this.options.syncTimeoutMs, signal };
    await this.init();
    const started = this.clock();
    const local = await workspace.deployed();
    this.status.deployedSha = local;
    // A webhook announced a push: the fetch itself is the detection, which saves the ls-remote round trip on
    // the path where latency is the point. Polls ask first, so a quiet branch costs no fetch.
    const prefetch = trigger === 'webhook' && local !== undefined;
    if (prefetch) await git.fetchBranch(this.options.remote, this.options.branch, this.options.fetchRef, network);
    const remote = prefetch ? await git.resolve(this.options.fetchRef) : await git.lsRemote(this.options.remote, this.options.branch, network);
    if (!remote) throw new HotpullError('GIT', `branch ${this.options.branch} not found on ${this.options.remoteLabel}`);
    this.status.remoteSha = remote;
    const detected = this.clock();

    if (EXPLICIT_TRIGGERS.has(trigger) && this.status.rejectedSha === remote) {
      this.options.logger.info({ sha: remote }, `${trigger}: retrying rejected revision ${short(remote)}`);
      await this.clearRejected();
    }
    if (this.status.rejectedSha === remote) {
      return this.block(`rejected:${local}:${remote}`, 'rejected', this.rejectReason!, { rejected: short(remote) });
    }
    if (remote === local && !this.pendingReload) {
      this.blocked = undefined;
      this.setState('idle');
      this.markSucceeded();
      return { kind: 'up-to-date', sha: local };
    }
    // A blocked verdict for the same pair stands until something moves; only a dirty tree can clear by
    // itself (someone reverts the edit), so that one is looked at again.
    const sameBlock = this.blocked?.key.endsWith(`:${local}:${remote}`) ? this.blocked : undefined;
    if (sameBlock && sameBlock.outcome.state !== 'dirty') return sameBlock.outcome;

    for (const message of await workspace.recover()) this.options.logger.warn(message);
    const target = remote;
    let fetched = detected;
    // The dirty check is local and the fetch is network: run them side by side.
    const modifiedFiles = local === undefined ? Promise.resolve([]) : workspace.modifiedFiles();
    modifiedFiles.catch(() => undefined);
    if (remote !== local && !sameBlock && !prefetch) {
      this.setState('syncing');
      this.options.logger.debug({ remote: short(remote), ref: this.options.fetchRef }, `fetching ${this.options.branch} (${short(remote)})`);
      const depth = local === undefined ? this.options.fetchDepth : undefined;
      await git.fetchBranch(this.options.remote, this.options.branch, this.options.fetchRef, { ...network, depth });
      fetched = this.clock();
    }
    const modified = await modifiedFiles;
    const times: Times = { started, detected, fetched, applied: fetched };
    await this.enterGate(local, target);

    if (target === local) return this.finish(trigger, this.pendingReload!.from, { sha: local, dir: '' }, times, signal);

    // The common case first: a clean checkout behind the remote, no rules to consult. `merge --ff-only` both
    // checks and applies, which saves the merge-base round trip; only when it refuses is the relation worked out.
    const fastForwarded =
      workspace.tryFastForward !== undefined && local !== undefined && modified.length === 0 && this.options.rules.length === 0
        ? await workspace.tryFastForward(target)
        : false;
    const base = fastForwarded || local === undefined ? undefined : await git.mergeBase(local, target);
    // No deployed revision yet, or one this repository does not know (re-cloned after damage): nothing
    // on disk can be rewritten by going to the target.
    const unknownLocal = !fastForwarded && (local === undefined || (base === undefined && !(await git.hasCommit(local))));
    const relation = fastForwarded || unknownLocal ? 'behind' : relationOf(local!, target, base);
    const plan = planApply({ relation, modified, onDiverged: this.options.onDiverged, onDirty: this.options.onDirty });
    if (plan.kind === 'noop') {
      this.setState('idle');
      this.markSucceeded();
      return { kind: 'up-to-date', sha: target };
    }
    if (plan.kind === 'blocked') {
      return this.block(`${plan.state}:${local}:${remote}`, plan.state, plan.reason, { deployed: short(local), remote: short(target) });
    }

    const decision = await this.decide(local, target);
    if (decision.hold) {
      this.status.heldSha = target;
      const { paths } = decision.hold;
      const reason =
        `${paths.slice(0, 3).join(', ')}${paths.length > 3 ? ` and ${paths.length - 3} more` : ''} changed ` +
        `(hold rule ${JSON.stringify(decision.hold.rule.paths)}): a code deploy cannot carry this, the container needs a rebuild; ` +
        `${short(target)} and later commits stay held until the image is rebuilt from them (--image-revision)`;
      return this.block(`held:${local}:${remote}`, 'held', reason, { held: short(target), paths });
    }
    this.status.heldSha = undefined;
    this.blocked = undefined;

    const staged = fastForwarded ? { sha: target, dir: git.dir } : await workspace.stage(target, plan, local);
    if (workspace.layout === 'in-place') this.status.deployedSha = target;
    times.applied = this.clock();

    for (const hook of decision.run) {
      try {
        await this.runHook(hook.command, hook.timeoutMs, staged.dir, local ?? '', target, signal);
      } catch (error) {
        // Nothing has reloaded yet: drop the new files so the running code and the disk agree.
        await workspace.discard(staged, local);
        this.status.deployedSha = local;
        const reason = `run hook failed for ${short(target)}, checkout restored to ${short(local)}: ${oneLine(error)}`;
        const record = this.record(trigger, local ?? '', target, 'failed', times, reason);
        await this.reject(target, `${reason}; not retried until the branch moves (or SIGUSR1)`);
        this.options.logger.error({ old: local, new: target, err: oneLine(error) }, reason);
        return { kind: 'rejected', record };
      }
    }
    await workspace.activate(staged);
    this.status.deployedSha = target;
    this.pendingReload = { from: local ?? '', to: target };
    return this.finish(trigger, local ?? '', staged, times, signal);
  }

  private async decide(local: string | undefined, target: string) {
    const { rules, imageRevision } = this.options;
    const { git } = this;
    if (rules.length === 0) return decideRules(rules, []);
    // The first release of an empty volume has no old revision: every path counts as changed.
    const changed = local === undefined ? await git.listFiles(target) : await git.changedPaths(local, target);
    const decision = decideRules(rules.filter((r) => !r.hold), changed);
    // Hold rules ask "has the infrastructure changed since the image was built?": compare against the
    // image's revision when it is known, else against what is deployed.
    const holdBase = imageRevision && (await git.hasCommit(imageRevision)) ? imageRevision : local;
    const holdChanged = holdBase === local || holdBase === undefined ? changed : await git.changedPaths(holdBase, target);
    return { ...decision, hold: decideRules(rules.filter((r) => r.hold), holdChanged).hold };
  }

  private async runHook(command: string, timeoutMs: number, cwd: string, from: string, to: string, signal?: AbortSignal): Promise<void> {
    const result = await runShell(command, {
      cwd,
      timeoutMs,
      signal,
      env: { ...this.options.env, HOTPULL_SHA: to, HOTPULL_PREVIOUS_SHA: from },
    });
    const output = `${result.stdout}${result.stderr ? `\n${result.stderr}` : ''}`.trim();
    this.options.logger.info({ hook: command, ms: result.durationMs, output: output.slice(-4000) }, `ran "${command}" in ${result.durationMs}ms`);
  }

  private async reloadAll(to: string, from: string): Promise<void> {
    for (const reloader of this.options.reloaders) await reloader.reload({ sha: to, previousSha: from });
  }

  private async finish(trigger: string, from: string, staged: Staged, times: Times, signal?: AbortSignal): Promise<SyncOutcome> {
    const { health, logger, workspace } = this.options;
    const { git } = this;
    const to = staged.sha;
    this.setState('reloading');
    try {
      await this.reloadAll(to, from);
    } catch (error) {
      // The new code is on disk but maybe not served: the reload is retried on the next pass.
      this.record(trigger, from, to, 'failed', times, oneLine(error));
      throw error;
    }
    this.pendingReload = undefined;
    times.reloaded = this.clock();

    if (!health) {
      const record = this.record(trigger, from, to, 'reloaded', times);
      await this.succeeded(to, record, 'reloaded (unverified: no --health-url)');
      await workspace.settled(to);
      return { kind: 'deployed', record };
    }

    this.setState('verifying');
    const verdict = await this.verify(health, to, from, signal);
    times.verified = this.clock();
    if (verdict.ok) {
      await git.updateRef(LAST_GOOD_REF, to, 'hotpull: verified live');
      this.status.lastGoodSha = to;
      const record = this.record(trigger, from, to, 'live', times);
      await this.succeeded(to, record, 'live');
      await workspace.settled(to);
      return { kind: 'deployed', record };
    }

    if (!this.options.rollback) {
      const reason = `${short(to)} failed verification and was left in place (--no-rollback): ${verdict.reason}`;
      const record = this.record(trigger, from, to, 'rejected', times, verdict.reason);
      logger.error({ old: from, new: to, err: verdict.reason }, reason);
      await this.reject(to, reason);
      return { kind: 'rejected', record };
    }

    const good = this.status.lastGoodSha && this.status.lastGoodSha !== to ? this.status.lastGoodSha : from;
    if (!good) {
      const reason = `${short(to)} failed verification and there is no earlier revision to roll back to: ${verdict.reason}`;
      const record = this.record(trigger, from, to, 'rejected', times, verdict.reason);
      logger.error({ new: to, err: verdict.reason }, reason);
      await this.reject(to, reason);
      return { kind: 'rejected', record };
    }
    logger.error({ bad: to, good, err: verdict.reason }, `${short(to)} failed verification, rolling back to ${short(good)}: ${verdict.reason}`);
    await workspace.restore(good);
    this.status.deployedSha = good;
    const record = this.record(trigger, from, to, 'rolled-back', times, verdict.reason, good);
    // Rejected before reloading: if the reload of the good revision fails too (gunicorn exits when a worker
    // cannot import, so there is no master left to signal), the bad one must still not be deployed again.
    const rejection = `${short(to)} failed verification (${verdict.reason}); rolled back to ${short(good)}; not retried until the branch moves`;
    await this.reject(to, rejection);
    // Until the good revision is verified again, the status says the rollback is under way, not done.
    this.setState('verifying', `rolling back to ${short(good)}: ${rejection}`);
    const again = await this.reloadAll(good, to).then(
      () => verifyHealth(health, good, signal),
      (error: unknown) => ({ ok: false as const, ms: 0, requests: 0, reason: `its reload failed: ${oneLine(error)}` }),
    );
    if (!again.ok) {
      const reason = `rolled back to ${short(good)} but it is not healthy either: ${again.reason}`;
      logger.error({ good, err: again.reason }, reason);
      this.setState('failing', reason);
      this.status.lastError = reason;
    } else {
      this.setState('rejected', rejection);
      logger.warn({ good, ms: again.ms }, `rolled back: ${short(good)} is serving again`);
    }
    return { kind: 'rejected', record };
  }

  /**
   * Verifies, and once, half-way through the time allowed, repeats the reload: a reload can be lost (uWSGI drops
   * a chain reload requested while one still runs, and one requested before every worker accepts). Only
   * strategies that are safe to repeat are repeated; a broken app fails both halves the same way.
   */
  private async verify(health: HealthCheck, to: string, from: string, signal?: AbortSignal): Promise<VerifyResult> {
    const repeatable = this.options.reloaders.filter((r) => r.repeatable);
    if (repeatable.length === 0) return verifyHealth(health, to, signal);
    const half = Math.round(health.timeoutMs / 2);
    const first = await verifyHealth({ ...health, timeoutMs: half }, to, signal);
    if (first.ok || signal?.aborted) return first;
    this.options.logger.warn({ sha: to, err: first.reason }, `${short(to)} not verified after ${half}ms; reloading once more in case the reload was dropped`);
    try {
      for (const reloader of repeatable) await reloader.reload({ sha: to, previousSha: from });
    } catch (error) {
      return { ...first, reason: `${first.reason}; reloading again failed: ${oneLine(error)}` };
    }
    const second = await verifyHealth({ ...health, timeoutMs: health.timeoutMs - half }, to, signal);
    return second.ok ? { ...second, ms: first.ms + second.ms } : second;
  }

  private async succeeded(to: string, record: DeployRecord, what: string): Promise<void> {
    if (this.status.rejectedSha) await this.clearRejected();
    this.setState('idle');
    this.markSucceeded();
    const d = record.durations;
    this.options.logger.info(
      { old: record.from, new: to, trigger: record.trigger, result: record.result, ms: d },
      `deployed ${short(record.from)} → ${short(to)}, ${what}, in ${d.total}ms (detect ${d.detect}ms, fetch ${d.fetch}ms, apply ${d.apply}ms, reload ${d.reload}ms${record.stages.verified ? `, verify ${d.verify}ms` : ''})`,
    );
  }

  private async reject(sha: string, reason: string): Promise<void> {
    await this.git.updateRef(REJECTED_REF, sha, 'hotpull: rejected');
    this.status.rejectedSha = sha;
    this.rejectReason = reason;
    this.setState('rejected', reason);
    this.markSucceeded();
  }

  private async clearRejected(): Promise<void> {
    await this.git.deleteRef(REJECTED_REF).catch(() => undefined);
    this.status.rejectedSha = undefined;
    this.rejectReason = undefined;
    this.blocked = undefined;
  }

  private record(trigger: string, from: string, to: string, result: DeployRecord['result'], t: Times, error?: string, rolledBackTo?: string): DeployRecord {
    const iso = (ms: number) => new Date(ms).toISOString();
    const end = this.clock();
    const reloaded = t.reloaded ?? end;
    const verified = t.verified ?? reloaded;
    const record: DeployRecord = {
      trigger,
      from,
      to,
      result,
      stages: {
        detected: iso(t.detected),
        fetched: iso(t.fetched),
        applied: iso(t.applied),
        ...(t.reloaded === undefined ? {} : { reloaded: iso(t.reloaded) }),
        ...(t.verified === undefined || result !== 'live' ? {} : { verified: iso(t.verified) }),
      },
      durations: {
        detect: t.detected - t.started,
        fetch: t.fetched - t.detected,
        apply: t.applied - t.fetched,
        reload: reloaded - t.applied,
        verify: verified - reloaded,
        total: end - t.started,
      },
      ...(error === undefined ? {} : { error }),
      ...(rolledBackTo === undefined ? {} : { rolledBackTo }),
    };
    this.status.deploys.unshift(record);
    this.status.deploys.length = Math.min(this.status.deploys.length, HISTORY_LIMIT);
    return record;
  }

}
