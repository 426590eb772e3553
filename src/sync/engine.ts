import type { Logger } from '../log.js';
import type { Workspace, Staged } from './workspace.js';
import type { Git } from '../git/repo.js';
import type { Reloader } from '../reload/types.js';
import type { ReloadGate } from '../reload/gate.js';
import path from 'node:path';
import { statfs } from 'node:fs/promises';
import { configError, HotpullError, isHotpullError, oneLine } from '../errors.js';
import { killGroup, runShell, KILL_GRACE_MS, UNRECORDED } from '../proc/exec.js';
import { processStartTime } from '../proc/procfs.js';
import { endLeftoverGits } from '../git/leftovers.js';
import { hooksOwed, Journal, type JournalEntry, type PendingDeploy } from './journal.js';
import { decideRules, type ChangeRule } from '../deploy/rules.js';
import { verifyHealth, type HealthCheck, type VerifyResult } from '../deploy/verify.js';
import { ServedHealth } from '../deploy/served.js';
import { endInterruptedJudge, judgeStaged, type Judge } from '../deploy/judge.js';
import { commandFailure, type JudgeContext, type JudgeVerdict } from '../deploy/preflight.js';
import { planApply, relationOf, type Policy } from './plan.js';
import {
  heldReason,
  holdBase,
  retriesRejected,
  rollbackTarget,
  sameVerdict,
  standingVerdict,
  takesFastForwardShortcut,
  type BlockedState,
  type BlockedVerdict,
} from './decide.js';
import type { DeployRecord, State, Status } from './status.js';
import type { RefSpec } from './ref.js';
import { RefFollower } from './follow.js';
import { PauseState, describePause, type Pause } from './pause.js';
import { deployRecord, formatStages, timedJudge, type Times } from './record.js';
import { StatusKeeper, type EngineChange } from './status-keeper.js';
import { shortSha } from '../sha.js';
import { replacedDuringPass, type OwnerCheck } from './checkout-watch.js';
import { formatDuration } from '../duration.js';

export const LAST_GOOD_REF = 'refs/hotpull/last-good';
export const REJECTED_REF = 'refs/hotpull/rejected';
/** the revision that was serving before the last successful deploy: what `hotpull rollback` goes back to */
export const PREVIOUS_REF = 'refs/hotpull/previous';

/** git's own housekeeping after a pass: with gc.autoDetach (the default) a real gc goes on in the background */
const HOUSEKEEPING_TIMEOUT_MS = 60_000;

/** What the engine asks of git: the remote, refs and diffs. The tree itself is the workspace's business. */
export type EngineGit = Pick<
  Git,
  | 'lsRemote'
  | 'lsRemoteRaw'
  | 'fetchBranch'
  | 'fetchRef'
  | 'resolve'
  | 'refFromFiles'
  | 'updateRef'
  | 'deleteRef'
  | 'listFiles'
  | 'changedPaths'
  | 'hasCommit'
  | 'mergeBase'
  | 'housekeeping'
  | 'close'
>;

export interface EngineOptions {
  workspace: Workspace;
  /** the workspace's repository (workspace.git), as far as the engine uses it */
  git: EngineGit;
  /** remote name or URL, as git is given it */
  remote: string;
  /** the remote as shown in logs and status (credentials redacted) */
  remoteLabel: string;
  branch: string;
  /** --ref: what to follow when it is not simply `branch` (a tag, a pinned sha, a tag pattern) */
  ref?: RefSpec;
  /** where the fetched branch is stored, e.g. refs/remotes/origin/main */
  fetchRef: string;
  reloaders: readonly Reloader[];
  /** run --watch: held from before files change until the pass ends, so file-watch reloads wait and skip them */
  gate?: ReloadGate;
  health?: HealthCheck;
  /** --preflight and --canary: the staged revision is judged before anything serving sees it */
  judge?: Judge;
  rollback: boolean;
  rules: readonly ChangeRule[];
  /** the revision the running container image was built from: hold rules compare against it when known */
  imageRevision?: string;
  onDiverged: Policy;
  onDirty: Policy;
  syncTimeoutMs: number;
  /** a timer poll's ls-remote (below syncTimeoutMs: see pollTimeoutMs in schedule.ts) */
  pollTimeoutMs?: number;
  /** shallow first fetch (atomic layout on an empty volume) */
  fetchDepth?: number;
  /** environment for run hooks */
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  clock?: () => number;
  /**
   * Told every state the engine enters (also a repeated one: `failing` comes once per failed pass) and every deploy
   * record it writes, with the status as it is then. Called synchronously: a listener must not throw or block.
   */
  onEvent?: (change: EngineChange, status: Readonly<Status>) => void;
  /** this process's ownership of the checkout, released by close(), checked before each pass (see checkout-watch.ts) */
  owner?: { release(): void; ensure?(): Promise<OwnerCheck | void>; guards?(): boolean };
}

/** What the engine tells onEvent: a state entered, or a deploy record written (live, rolled back, failed …). */
export type { EngineChange } from './status-keeper.js';

export type SyncOutcome =
  | { kind: 'up-to-date'; sha: string }
  | { kind: 'deployed'; record: DeployRecord }
  | { kind: 'rejected'; record: DeployRecord }
  | { kind: 'blocked'; state: BlockedState; reason: string };

const short = shortSha;
const ms = formatDuration;

/**
 * One pass of the pipeline: detect (ls-remote) → fetch (one ref) → plan (policies, onChange rules) → apply →
 * run hooks → reload → verify → record, with rollback when verification fails. One pass at a time: the
 * Daemon serializes them, so a reload is never started while the previous one is unverified.
 */
export class SyncEngine {
  private readonly keeper: StatusKeeper;
  private readonly clock: () => number;
  /**
   * A deploy on disk that has not reached a verdict: its hooks or reload failed, or a stop or crash interrupted
   * it (read back from the journal at start). Finished on the next pass even when the checkout is up to date.
   */
  private pending?: PendingDeploy;
  private journal?: Journal;
  private journalEntry?: Omit<JournalEntry, 'at'>;
  private journalWrites: Promise<unknown> = Promise.resolve();
  private journalRead = false;
  /** an apply whose undo failed too: its journal entry is settled again at the start of the next pass */
  private applyUnsettled = false;
  /** the last blocked verdict, so a blocked poll logs once and skips work it already did */
  private blocked?: { verdict: BlockedVerdict; outcome: Extract<SyncOutcome, { kind: 'blocked' }> };
  /** a `hotpull reset` pass: diverged and dirty are reset (with backups) whatever the policies say */
  private resetting = false;
  private rejectReason?: string;
  private initialized = false;
  private startLogged = false;
  private releaseGate?: () => void;
  /** who asked for the pass in progress (see DeployRecord.by) */
  private triggeredBy?: string;
  private readonly follower: RefFollower;
  private readonly pauses: PauseState;
  /** a manual rollback in progress: the revision it leaves, which stays rejected */
  private manualFrom?: string;
  /** what the health check says of the served revision: a failed verification is a verdict only after it passed */
  private readonly served?: ServedHealth;

  constructor(private readonly options: EngineOptions) {
    this.clock = options.clock ?? Date.now;
    if (options.health) this.served = new ServedHealth(options.health);
    this.pauses = new PauseState(async () => path.join(await options.workspace.stateDir(), 'pause.json'));
    this.follower = new RefFollower(options.ref ?? { kind: 'branch', name: options.branch }, {
      ...options,
      git: () => this.git,
    });
    this.keeper = new StatusKeeper(
      { remote: options.remoteLabel, branch: options.branch },
      options.logger,
      this.clock,
      options.onEvent,
    );
  }

  get status(): Status {
    return this.keeper.status;
  }

  /** `said`: the caller logs the reason itself, the state line leaves it out */
  private setState(state: State, reason?: string, said = false): void {
    this.keeper.setState(state, reason, said);
  }

  /** Ends helper processes (the ls-remote shell); the engine can still be used, they restart on demand. */
  close(): void {
    this.git.close();
    this.options.owner?.release();
  }

  /** Called by the Daemon when a pass threw: the old code keeps serving, the state says why. */
  markFailed(error: unknown): void {
    this.keeper.failed(error);
  }

  private markSucceeded(): void {
    this.keeper.succeeded();
  }

  private get git(): EngineGit {
    return this.options.git;
  }

  /** The revision a rollback left: rejected until the branch moves, whatever the rollback's own reload does. */
  private get leftByRollback(): string | undefined {
    const pause = this.pauses.current;
    return this.manualFrom ?? (pause?.by === 'rollback' ? pause.left : undefined);
  }

  /** Paused: the poll told what is waiting; nothing is applied. Logged when what waits changes. */
  private holdPaused(remote: string, local: string | undefined): SyncOutcome {
    const reason = describePause(this.pauses.current!, { remote, deployed: local });
    if (this.status.state !== 'paused' || this.status.reason !== reason)
      this.options.logger.info({ remote: short(remote), deployed: short(local) }, reason);
    this.setState('paused', reason);
    this.markSucceeded();
    return { kind: 'blocked', state: 'paused', reason };
  }

  /**
   * Stops applying from the next pass on, and across restarts. A pass already past detection finishes its deploy
   * (reload, verify, rollback): stopping half way would leave the tree and the app server on different revisions.
   */
  async pause(reason: string, by: string, left?: string): Promise<Pause> {
    const pause: Pause = { reason, by, at: new Date(this.clock()).toISOString(), ...(left ? { left } : {}) };
    await this.pauses.set(pause);
    this.status.paused = pause;
    if (!['syncing', 'reloading', 'verifying'].includes(this.status.state)) {
      this.setState(
        'paused',
        describePause(pause, { remote: this.status.remoteSha, deployed: this.status.deployedSha }),
      );
    }
    this.options.logger.warn({ by, reason }, describePause(pause));
    return pause;
  }

  /** Lifts a pause (and a rollback's); the revision a rollback left stays rejected until the branch moves. */
  async resume(): Promise<Pause | undefined> {
    const was = await this.pauses.clear();
    this.status.paused = undefined;
    if (this.status.state === 'paused') this.setState('idle', 'resumed');
    if (was)
      this.options.logger.warn(
        { by: was.by },
        `resumed following (paused by ${was.by}${was.reason ? `: ${was.reason}` : ''})`,
      );
    return was;
  }

  /**
   * `hotpull rollback`: back to `sha` (default: the revision that served before the deployed one) through apply,
   * reload and verify. The revision it leaves is rejected and following pauses until `hotpull resume`, so the next
   * poll does not undo it. If the old revision fails verification, the one it left is put back (as a failed
   * deploy would be). The daemon runs it between passes, never beside one.
   */
  async rollback(sha: string | undefined, signal?: AbortSignal): Promise<SyncOutcome> {
    const { workspace } = this.options;
    const missing = await this.ownCheckout();
    if (missing) throw new HotpullError('GIT', missing.reason);
    await this.init();
    await this.resumeInterrupted();
    const local = await workspace.deployed();
    const target = await this.rollbackTarget(sha, local);
    const started = this.clock();
    this.manualFrom = local;
    try {
      // the rejection and the pause are written before the tree changes: a crash from here cannot resume following onto `local`
      if (local)
        await this.reject(
          local,
          `${short(local)} was rolled back by hotpull rollback; not redeployed until the branch moves`,
        );
      const pause = await this.pause(`rolled back to ${short(target)}`, 'rollback', local);
      this.pending = undefined;
      this.blocked = undefined;
      const from = local ?? '';
      await this.enterGate(local, target);
      await this.applyTree(from, target, 'reset', 'rollback', () => workspace.restore(target));
      this.status.deployedSha = target;
      await this.note({ from, to: target, stage: 'reload', trigger: 'rollback' });
      this.pending = { from, to: target, stage: 'reload' };
      const times = { started, detected: started, fetched: started, applied: started };
      const outcome = await this.finish(
        'rollback',
        from,
        { sha: target, dir: this.options.workspace.dir },
        times,
        signal,
      );
      if (outcome.kind === 'deployed')
        this.setState('paused', describePause(pause, { remote: this.status.remoteSha, deployed: target }));
      return outcome;
    } finally {
      this.manualFrom = undefined;
      this.releaseGate?.();
      this.releaseGate = undefined;
    }
  }

  private async rollbackTarget(sha: string | undefined, local: string | undefined): Promise<string> {
    if (sha !== undefined && !/^[0-9a-f]{4,64}$/.test(sha))
      throw configError(`rollback SHA must be a commit id in hex (got ${JSON.stringify(sha)})`);
    const target = await this.git.resolve(sha ?? PREVIOUS_REF);
    if (!target) {
      throw configError(
        sha
          ? `rollback SHA must be a commit this checkout has (got ${JSON.stringify(sha)})`
          : `rollback needs a SHA: no previous live revision is recorded yet (${PREVIOUS_REF}) (got none)`,
      );
    }
    if (target === local) {
      throw configError(
        `rollback SHA must differ from the deployed revision (got ${short(target)}, which is deployed${sha ? '' : `; ${PREVIOUS_REF} points at it`})`,
      );
    }
    return target;
  }

  /**
   * The checkout is still this process's: gone (deleted, being cloned again) blocks the pass; a new clone at the same
   * path was taken over, and what was read of the old one is read again from it.
   */
  private async ownCheckout(): Promise<Extract<SyncOutcome, { kind: 'blocked' }> | undefined> {
    const check = await this.options.owner?.ensure?.();
    if (check?.kind === 'retaken') {
      this.git.close();
      this.initialized = this.journalRead = this.applyUnsettled = false;
      this.pending = this.blocked = undefined;
    }
    if (check?.kind !== 'gone') return undefined;
    this.status.deployedSha = undefined;
    this.setState('missing', check.reason);
    return { kind: 'blocked', state: 'missing', reason: check.reason };
  }

  private async init(): Promise<void> {
    if (this.initialized) return;
    const stateDir = await this.options.workspace.stateDir();
    // what a judge killed with -9 left running (a canary on its port, a preflight) ends now, whether or not this run
    // judges (--canary may be gone from its flags), not only when the next judge runs: the branch may never bring
    // that revision back. First, before recovery cleans up: it may still be writing in what recovery removes. The next
    // judge tries again if this fails.
    await endInterruptedJudge(path.join(stateDir, 'judge-child.json'), this.options.logger).catch((error: unknown) =>
      this.options.logger.warn(
        { err: oneLine(error) },
        `could not end what an interrupted judge left running yet: ${oneLine(error)}`,
      ),
    );
    // a git a kill -9 left running would go on writing the tree that recovery settles
    for (const pid of await endLeftoverGits(this.options.workspace.git.dir))
      this.options.logger.warn(`ended git process ${pid}, left running in the checkout by a hotpull that is gone`);
    for (const message of await this.options.workspace.recover()) this.options.logger.warn(message);
    this.journal = new Journal(path.join(stateDir, 'journal.json'));
    [this.status.lastGoodSha, this.status.rejectedSha] = await Promise.all([
      this.git.resolve(LAST_GOOD_REF),
      this.git.resolve(REJECTED_REF),
    ]);
    if (this.status.rejectedSha)
      this.rejectReason = `revision ${short(this.status.rejectedSha)} was rejected earlier (${REJECTED_REF})`;
    this.status.paused = await this.pauses.load();
    this.initialized = true;
  }

  private block(verdict: BlockedVerdict, reason: string, fields: Record<string, unknown>): SyncOutcome {
    const { state } = verdict;
    const outcome = { kind: 'blocked' as const, state, reason };
    if (!sameVerdict(this.blocked?.verdict, verdict))
      this.options.logger.warn({ state, ...fields }, `deploy blocked: ${reason}`);
    this.blocked = { verdict, outcome };
    this.setState(state, reason);
    this.markSucceeded();
    return outcome;
  }

  /** Writes the journal; writes are serialized so a late one never overtakes a newer entry. */
  private note(entry: Omit<JournalEntry, 'at'> | undefined, durable = false): Promise<void> {
    this.journalEntry = entry;
    const journal = this.journal!;
    const write = this.journalWrites.then(() => (entry ? journal.write(entry, durable) : journal.clear()));
    this.journalWrites = write.catch(() => undefined);
    return write;
  }

  /** Heartbeats and last output lines of hooks and command reloads. */
  private progress = (line: string): void =>
    line.startsWith('still running') ? this.options.logger.info(line) : this.options.logger.warn(line);

  /**
   * A hook or command reload started: written down so a start after a crash can end what it left running. The command
   * waits for this before it starts (runShell's gate); when the write fails (a full disk), it does not start and the
   * deploy fails with the reason, as when a stage cannot be written down.
   */
  private noteChild = (pid: number): Promise<void> => {
    const entry = this.journalEntry;
    if (!entry) return Promise.resolve();
    const journal = this.journal!;
    const write = this.journalWrites
      .then(() => processStartTime(pid))
      // only if no newer entry was written meanwhile (the command may have finished already)
      .then((start) => (this.journalEntry === entry ? journal.write({ ...entry, child: { pid, start } }) : undefined));
    this.journalWrites = write.catch(() => undefined);
    return write;
  };

  /**
   * What a crash or a stop left half done, read back from the journal: a command still running (ended, with its
   * process group), a tree between two revisions (finished to the new one, or undone to the old when that cannot
   * be done, e.g. the disk is full), and a deploy on disk whose hooks, reload or verification never ran.
   */
  private async resumeInterrupted(): Promise<void> {
    const { workspace, logger } = this.options;
    // After the first pass only an apply left unfinished (an undo that failed on a full disk) is looked at again:
    // a poll does not read the journal file.
    const first = !this.journalRead;
    if (!first && !this.applyUnsettled) return;
    this.journalRead = true;
    let entry = await this.journal!.read();
    if (!entry || (!first && entry.stage !== 'apply')) return;
    this.journalEntry = entry;
    if (
      first &&
      entry.child &&
      entry.child.start !== undefined &&
      (await processStartTime(entry.child.pid)) === entry.child.start
    ) {
      logger.warn(
        { pid: entry.child.pid },
        `ending the command the interrupted deploy left running (process group ${entry.child.pid})`,
      );
      killGroup(entry.child.pid, 'SIGTERM');
      for (let waited = 0; waited < KILL_GRACE_MS && killGroup(entry.child.pid, 0); waited += 100) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      killGroup(entry.child.pid, 'SIGKILL');
    }
    if (entry.stage === 'apply' && workspace.settleTree) {
      try {
        for (const message of await workspace.settleTree(entry.from, entry.to, entry.to)) logger.warn(message);
        this.applyUnsettled = false;
      } catch (error) {
        const full = await diskFull(this.options.workspace.dir);
        const undone = entry.from && !entry.rollback ? await this.undoApply(entry.from, entry.to) : true;
        throw applyFailure(error, entry.to, entry.from, full, undone);
      }
      entry = { ...entry, stage: 'hooks', at: entry.at };
      await this.note({
        from: entry.from,
        to: entry.to,
        stage: 'hooks',
        rollback: entry.rollback,
        trigger: entry.trigger,
      });
    }
    const deployed = await workspace.deployed();
    if (entry.stage === 'apply' || deployed !== entry.to) {
      // e.g. the atomic layout stopped before switching `current`: nothing of it is served, the pass redoes it
      await this.note(undefined);
      return;
    }
    const { from, to, stage, rollback, hooksDone } = entry;
    this.pending = { from, to, stage, rollback, hooksDone, interrupted: true };
    logger.warn(
      { old: entry.from, new: entry.to, stage: entry.stage },
      `resuming the interrupted ${entry.rollback ? 'rollback' : 'deploy'} of ${short(entry.to)}: ${entry.stage === 'hooks' ? 'run hooks, ' : ''}reload and verify`,
    );
  }

  /**
   * Puts the tree back to `from` after an apply failed, and says whether it could; when even that fails the journal
   * stays for the next pass.
   */
  private async undoApply(from: string, to: string): Promise<boolean> {
    const settle = this.options.workspace.settleTree;
    if (!settle) return true;
    try {
      for (const message of await settle.call(this.options.workspace, from, to, from))
        this.options.logger.warn(message);
      await this.note(undefined);
      this.applyUnsettled = false;
      return true;
    } catch (error) {
      this.applyUnsettled = true;
      this.options.logger.error(
        { err: oneLine(error) },
        `could not put the checkout back to ${short(from)} either; will try again on the next pass: ${oneLine(error)}`,
      );
      return false;
    }
  }

  /** Changes the tree (in-place) with the journal written first; a failure leaves the tree at `from`, whole. */
  private async applyTree<T>(
    from: string,
    to: string,
    mode: 'ff' | 'reset',
    trigger: string,
    apply: () => Promise<T>,
    rollback?: boolean,
  ): Promise<T> {
    if (!this.options.workspace.settleTree) return apply();
    // deleted and cloned again since the pass began: the new clone is not this process's until ensure() takes it over
    if (this.options.owner?.guards?.() === false)
      throw new HotpullError('GIT', replacedDuringPass(this.options.workspace.dir));
    await this.note({ from, to, stage: 'apply', mode, trigger, ...(rollback ? { rollback } : {}) }, true);
    try {
      return await apply();
    } catch (error) {
      // looked at before the undo, which frees what the apply wrote
      const full = await diskFull(this.options.workspace.dir);
      const undone = from && !rollback ? await this.undoApply(from, to) : true;
      throw applyFailure(error, to, from, full, undone);
    }
  }

  /** One pass, then git's housekeeping: for one-shot commands (sync, host). */
  async sync(trigger: string, signal?: AbortSignal, by?: string): Promise<SyncOutcome> {
    try {
      return await this.syncPass(trigger, signal, by);
    } finally {
      await this.housekeeping(signal);
    }
  }

  /**
   * `hotpull reset`: one pass that backs up and resets a diverged or dirty checkout to the remote head, as
   * --on-diverged reset and --on-dirty reset do (see sync/reset.ts); a standing block is looked at again.
   */
  async resetPass(signal?: AbortSignal): Promise<SyncOutcome> {
    this.resetting = true;
    this.blocked = undefined;
    try {
      return await this.syncPass('reset', signal);
    } finally {
      this.resetting = false;
    }
  }

  /**
   * One pass without the housekeeping: the daemon tells its listeners (metrics, notifications, waiting webhooks) the
   * outcome first and calls housekeeping() after, so a `git maintenance` never delays what a pass reports.
   */
  async syncPass(trigger: string, signal?: AbortSignal, by?: string): Promise<SyncOutcome> {
    this.triggeredBy = by;
    try {
      return await this.pass(trigger, signal);
    } finally {
      this.releaseGate?.();
      this.releaseGate = undefined;
    }
  }

  /** git's `maintenance run --auto` when the last pass brought objects in; never throws. */
  async housekeeping(signal?: AbortSignal): Promise<void> {
    if (!signal?.aborted) await this.git.housekeeping({ signal, timeoutMs: HOUSEKEEPING_TIMEOUT_MS });
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
    const missing = await this.ownCheckout();
    if (missing) return missing;
    await this.init();
    await this.resumeInterrupted();
    const started = this.clock();
    const local = await workspace.deployed();
    if (!this.startLogged) {
      this.startLogged = true;
      // what is on disk: whether it is what answers is for the health check to say
      const why = this.options.health ? 'not yet verified as served' : 'served unverified: no --health-url';
      const first = 'nothing deployed yet: the first pass releases the branch head';
      this.options.logger.info({ sha: local }, local ? `checkout at ${short(local)} at start (${why})` : first);
    }
    this.status.deployedSha = local;
    if (this.pending && this.pending.to !== local) this.pending = undefined;
    // A deploy a stop or crash interrupted is finished first, before anything else and without the network:
    // what is on disk gets its hooks, reload and verification. (A reload that failed is retried below, after
    // detection, so that a newer commit can still replace a revision that cannot be reloaded.)
    if (this.pending?.interrupted) {
      this.pending.interrupted = false;
      const now = this.clock();
      return this.resumePending(trigger, { started, detected: now, fetched: now, applied: now }, signal);
    }
    // A webhook announced a push: the fetch itself is the detection, which saves the ls-remote round trip on
    // the path where latency is the point. Polls ask first, so a quiet branch costs no fetch.
    const prefetch = trigger === 'webhook' && local !== undefined && this.follower.spec.kind === 'branch';
    let earlyModified: Promise<string[]> | undefined;
    if (prefetch) {
      this.setState('syncing');
      // The dirty check beside the fetch, as on the poll path: on a busy machine each is a process waiting for a core.
      for (const message of await workspace.recover()) this.options.logger.warn(message);
      earlyModified = workspace.modifiedFiles();
      earlyModified.catch(() => undefined);
      await git.fetchBranch(this.options.remote, this.options.branch, this.options.fetchRef, network);
    }
    const detect =
      trigger === 'poll' && this.options.pollTimeoutMs
        ? { ...network, timeoutMs: this.options.pollTimeoutMs }
        : network;
    // After the fetch the ref is a file git just wrote: read it rather than spawn rev-parse (a process less on the webhook path).
    const fetchedSha = async () =>
      (await git.refFromFiles(this.options.fetchRef)) ?? (await git.resolve(this.options.fetchRef));
    const remote = prefetch ? await fetchedSha() : await this.follower.detect(detect);
    if (!remote)
      throw new HotpullError('GIT', `branch ${this.options.branch} not found on ${this.options.remoteLabel}`);
    this.status.remoteSha = remote;
    const detected = this.clock();
    if (this.pauses.current) return this.holdPaused(remote, local);

    if (retriesRejected(trigger, this.status.rejectedSha, remote)) {
      this.options.logger.info({ sha: remote }, `${trigger}: retrying rejected revision ${short(remote)}`);
      await this.clearRejected();
    }
    if (this.status.rejectedSha === remote) {
      return this.block({ state: 'rejected', local, remote }, this.rejectReason!, { rejected: short(remote) });
    }
    if (remote === local && !this.pending) {
      this.blocked = undefined;
      await this.idle(local);
      this.markSucceeded();
      return { kind: 'up-to-date', sha: local };
    }
    // A blocked verdict for the same pair stands until something moves; only a dirty tree can clear by
    // itself (someone reverts the edit), so that one is looked at again.
    const sameBlock = standingVerdict(this.blocked?.verdict, local, remote) ? this.blocked : undefined;
    if (sameBlock && sameBlock.verdict.state !== 'dirty') return sameBlock.outcome;

    if (!earlyModified) for (const message of await workspace.recover()) this.options.logger.warn(message);
    const target = remote;
    let fetched = detected;
    // The dirty check is local and the fetch is network: run them side by side.
    const modifiedFiles = earlyModified ?? (local === undefined ? Promise.resolve([]) : workspace.modifiedFiles());
    modifiedFiles.catch(() => undefined);
    if (remote !== local && !sameBlock && !prefetch) {
      this.setState('syncing');
      this.options.logger.debug(
        { remote: short(remote), ref: this.options.fetchRef },
        `fetching ${this.options.branch} (${short(remote)})`,
      );
      const depth = local === undefined ? this.options.fetchDepth : undefined;
      await this.follower.fetch(remote, { ...network, depth });
      fetched = this.clock();
    }
    const modified = await modifiedFiles;
    const times: Times = { started, detected, fetched, applied: fetched };
    // what the old code answers, asked before the tree changes: what serves from disk (static files, a reloader)
    // answers for the new revision as soon as it is applied
    if (target !== local) await this.served?.refresh(local, this.options.logger);
    await this.enterGate(local, target);
    if (target === local) return this.resumePending(trigger, times, signal);

    const tryFastForward = workspace.tryFastForward?.bind(workspace);
    let fastForwarded = false;
    const shortcut = {
      layoutCanTry: tryFastForward !== undefined,
      local,
      modified: modified.length,
      rules: this.options.rules.length,
    };
    // judged revisions go through the stage first: the shortcut would change the served tree before the verdict
    if (
      tryFastForward !== undefined &&
      local !== undefined &&
      !this.options.judge &&
      takesFastForwardShortcut(shortcut)
    ) {
      fastForwarded = await this.applyTree(local, target, 'ff', trigger, () => tryFastForward(target));
      if (!fastForwarded) await this.note(undefined);
    }
    const base = fastForwarded || local === undefined ? undefined : await git.mergeBase(local, target);
    // No deployed revision yet, or one this repository does not know (re-cloned after damage): nothing
    // on disk can be rewritten by going to the target.
    const unknownLocal =
      !fastForwarded && (local === undefined || (base === undefined && !(await git.hasCommit(local))));
    const relation = fastForwarded || unknownLocal ? 'behind' : relationOf(local!, target, base);
    const obstructing =
      !fastForwarded && local !== undefined && relation !== 'same' && workspace.obstructions
        ? await workspace.obstructions(local, target)
        : [];
    const plan = planApply({
      relation,
      modified,
      obstructing,
      onDiverged: this.resetting ? 'reset' : this.options.onDiverged,
      onDirty: this.resetting ? 'reset' : this.options.onDirty,
    });
    if (plan.kind === 'noop') {
      await this.idle(target);
      this.markSucceeded();
      return { kind: 'up-to-date', sha: target };
    }
    if (plan.kind === 'blocked') {
      return this.block({ state: plan.state, local, remote }, plan.reason, {
        deployed: short(local),
        remote: short(target),
      });
    }

    const decision = await this.decide(local, target);
    if (decision.hold) {
      this.status.heldSha = target;
      const { paths } = decision.hold;
      const reason = heldReason(paths, decision.hold.rule.paths, short(target)!);
      return this.block({ state: 'held', local, remote }, reason, { held: short(target), paths });
    }
    this.status.heldSha = undefined;
    this.blocked = undefined;

    const from = local ?? '';
    // in-place: judged in the staging worktree, before the checkout changes
    const early = workspace.stageTree
      ? await this.judgeRevision(undefined, from, target, trigger, times, signal, decision.run)
      : undefined;
    if (early) return early;
    const staged = fastForwarded
      ? { sha: target, dir: workspace.dir }
      : await this.applyTree(from, target, plan.mode, trigger, () => workspace.stage(target, plan, local));
    if (workspace.settleTree) {
      this.status.deployedSha = target;
      this.pending = { from, to: target, stage: 'hooks' };
      await this.note({ from, to: target, stage: decision.run.length > 0 ? 'hooks' : 'reload', trigger });
    }
    times.applied = this.clock();

    const failed = await this.runHooks(decision.run, staged, from, target, trigger, times, signal);
    if (failed) return failed;
    // atomic: judged in its release directory, after its hooks prepared it, before `current` switches
    const late = workspace.stageTree
      ? undefined
      : await this.judgeRevision(staged, from, target, trigger, times, signal);
    if (late) return late;
    // From here the new revision may be served: a stop or a crash resumes with the reload.
    await this.note({ from, to: target, stage: 'reload', trigger });
    await workspace.activate(staged);
    this.status.deployedSha = target;
    this.pending = { from, to: target, stage: 'reload' };
    return this.finish(trigger, from, staged, times, signal);
  }

  /** Runs onChange hooks; a failure (not a stop) puts the old revision back and rejects the new one. */
  private async runHooks(
    hooks: readonly { command: string; timeoutMs: number }[],
    staged: Staged,
    from: string,
    target: string,
    trigger: string,
    times: Times,
    signal?: AbortSignal,
  ): Promise<SyncOutcome | undefined> {
    const { workspace } = this.options;
    for (const hook of hooks) {
      try {
        const phase = workspace.layout === 'atomic' ? 'stage' : 'checkout';
        await this.runHook(hook.command, hook.timeoutMs, staged.dir, phase, from, target, signal);
        // written down: a restart after a crash does not run it again (unwritten, a full disk: it runs again then)
        const entry = this.journalEntry;
        if (entry?.stage === 'hooks' && entry.to === target)
          await this.note({ ...entry, hooksDone: [...(entry.hooksDone ?? []), hook.command] }).catch(() => undefined);
      } catch (error) {
        // A stop is not a verdict: the journal keeps the hooks owed, the next start runs them again.
        if (signal?.aborted || isHotpullError(error, 'ABORTED')) throw abortedError(`run hook "${hook.command}"`);
        const unfit = await this.unfitToJudge(oneLine(error));
        // Nothing has reloaded yet: drop the new files so the running code and the disk agree.
        const local = from || undefined;
        try {
          if (local !== undefined)
            await this.applyTree(target, local, 'reset', trigger, () => workspace.discard(staged, local));
          else await workspace.discard(staged, local);
          await this.note(undefined);
        } catch (restoreError) {
          if (!unfit) throw restoreError;
          // A full disk may refuse the restore too: the tree is at the new revision again (the restore's own undo),
          // and the journal must owe it its hooks, so that the next pass, or the next start, runs them (or a newer
          // revision replaces it). The restore's apply entry may have replaced that record: write it back.
          // (Not while an apply is unsettled: that record is what the next pass needs first.)
          if (!this.applyUnsettled && (await workspace.deployed().catch(() => undefined)) === target)
            await this.note({ from, to: target, stage: 'hooks', trigger }).catch(() => undefined);
          throw noVerdict(
            `${unfit} while run hook "${hook.command}" ran for ${short(target)}, and the checkout could not be restored to ${short(local)} either (${oneLine(restoreError)}); nothing was reloaded`,
            error,
          );
        }
        this.pending = undefined;
        this.status.deployedSha = local;
        if (unfit)
          throw noVerdict(
            `${unfit} while run hook "${hook.command}" ran for ${short(target)}; checkout restored to ${short(local)}`,
            error,
          );
        const reason = `run hook failed for ${short(target)}, checkout restored to ${short(local)}: ${oneLine(error)}`;
        const record = this.record(trigger, from, target, 'failed', times, reason);
        await this.reject(target, `${reason}; not retried until the branch moves (or SIGHUP)`);
        this.options.logger.error({ old: local, new: target, err: oneLine(error) }, reason);
        return { kind: 'rejected', record };
      }
    }
    return undefined;
  }

  /**
   * --preflight and --canary on the staged revision (`staged`, or the in-place staging worktree, where `stageHooks`
   * prepare it first). A failure rejects it as a failed verification does, with nothing reloaded; a stop is no verdict.
   */
  private async judgeRevision(
    staged: Staged | undefined,
    from: string,
    target: string,
    trigger: string,
    times: Times,
    signal?: AbortSignal,
    stageHooks: readonly { command: string; timeoutMs: number }[] = [],
  ): Promise<SyncOutcome | undefined> {
    const { judge, workspace, logger } = this.options;
    if (!judge) return undefined;
    const childFile = path.join(await workspace.stateDir(), 'judge-child.json');
    // what a hotpull killed with -9 left running may still write in the stage: ended before it is prepared again
    await endInterruptedJudge(childFile, logger).catch(() => undefined);
    const dir = staged?.dir ?? (await workspace.stageTree!(target)).dir;
    const ctx = { dir, sha: target, previousSha: from, env: this.options.env, signal, onStart: this.noteChild };
    const verdict = await timedJudge(times, this.clock, () =>
      judgeStaged(judge, ctx, logger, childFile, (r) => this.runStageHooks(stageHooks, dir, from, target, r, signal)),
    ).catch((error: unknown) => {
      if (signal?.aborted || isHotpullError(error, 'ABORTED')) throw abortedError('preflight/canary');
      throw error;
    });
    if (verdict.ok) return undefined;
    const unfit = await this.unfitToJudge(verdict.reason);
    if (staged) await workspace.discard(staged, from || undefined);
    if (unfit) throw noVerdict(`${unfit} while ${short(target)} was judged before serving`, verdict.reason);
    const reason = `${short(target)} rejected before it was served: ${verdict.reason}`;
    const record = this.record(trigger, from, target, 'rejected', times, verdict.reason);
    await this.reject(target, `${reason}; not retried until the branch moves (or SIGHUP)`);
    logger.error({ old: from || undefined, new: target, err: verdict.reason, ms: verdict.ms }, reason);
    return { kind: 'rejected', record };
  }

  /**
   * In-place with a judge: the onChange hooks prepare the staging worktree (a venv, collected files) before the judge
   * looks at it, and run again in the checkout after the apply. A failure is a verdict on the revision; a stop is not.
   */
  private async runStageHooks(
    hooks: readonly { command: string; timeoutMs: number }[],
    dir: string,
    from: string,
    target: string,
    recorded: Pick<JudgeContext, 'onStart' | 'env'>,
    signal?: AbortSignal,
  ): Promise<JudgeVerdict | undefined> {
    const started = Date.now();
    for (const hook of hooks) {
      try {
        await this.runHook(
          hook.command,
          hook.timeoutMs,
          dir,
          'stage',
          from,
          target,
          signal,
          recorded.onStart,
          recorded.env,
        );
      } catch (error) {
        if (signal?.aborted || isHotpullError(error, 'ABORTED'))
          throw abortedError(`run hook "${hook.command}" in the stage`);
        return { ok: false, ms: Date.now() - started, reason: commandFailure('run hook in the stage:', error) };
      }
    }
    return undefined;
  }

  /**
   * Why a failed hook or judge command says nothing about the revision, if it does not: hotpull could not write
   * down the command's pid (so it never started), or the disk holding the checkout is full (so a `pip install`
   * failing says nothing about the code). The pass fails and is retried, instead of rejecting the revision until the
   * branch moves.
   */
  private async unfitToJudge(failure: string): Promise<string | undefined> {
    if (await diskFull(this.options.workspace.dir)) return 'no space left on device';
    if (failure.includes(UNRECORDED)) return 'a command could not be written down before it started';
    return undefined;
  }

  /** The checkout is at the revision of a deploy that has not reached a verdict: finish it. */
  private async resumePending(trigger: string, times: Times, signal?: AbortSignal): Promise<SyncOutcome> {
    const pending = this.pending!;
    const staged = { sha: pending.to, dir: this.options.workspace.dir };
    if (pending.stage === 'hooks') {
      await this.note({ from: pending.from, to: pending.to, stage: 'hooks', trigger, hooksDone: pending.hooksDone });
      const decision = await this.decide(pending.from || undefined, pending.to);
      const owed = hooksOwed(decision.run, pending.hooksDone, (line) => this.options.logger.info(line));
      const failed = await this.runHooks(owed, staged, pending.from, pending.to, trigger, times, signal);
      if (failed) return failed;
    }
    await this.note({
      from: pending.from,
      to: pending.to,
      stage: 'reload',
      trigger,
      ...(pending.rollback ? { rollback: true } : {}),
    });
    this.pending = { ...pending, stage: 'reload' };
    // what answers now may be this revision already (reloaded before a crash): no probe of "before", the record says
    this.served?.resumed(
      Boolean(pending.rollback) || (pending.from !== '' && pending.from === this.status.lastGoodSha),
    );
    return this.finish(trigger, pending.from, staged, times, signal, true);
  }

  private async decide(local: string | undefined, target: string) {
    const { rules, imageRevision } = this.options;
    const { git } = this;
    if (rules.length === 0) return decideRules(rules, []);
    // The first release of an empty volume has no old revision: every path counts as changed.
    const changed = local === undefined ? await git.listFiles(target) : await git.changedPaths(local, target);
    const decision = decideRules(
      rules.filter((r) => !r.hold),
      changed,
    );
    const base = holdBase(imageRevision, imageRevision !== undefined && (await git.hasCommit(imageRevision)), local);
    const holdChanged = base === local || base === undefined ? changed : await git.changedPaths(base, target);
    return {
      ...decision,
      hold: decideRules(
        rules.filter((r) => r.hold),
        holdChanged,
      ).hold,
    };
  }

  /** `phase`: `stage` in a tree nothing serves yet (the in-place stage, an atomic release), `checkout` in the served one */
  private async runHook(
    command: string,
    timeoutMs: number,
    cwd: string,
    phase: 'stage' | 'checkout',
    from: string,
    to: string,
    signal?: AbortSignal,
    onStart: (pid: number) => void | Promise<void> = this.noteChild,
    env: Readonly<Record<string, string | undefined>> = this.options.env,
  ): Promise<void> {
    const result = await runShell(command, {
      cwd,
      timeoutMs,
      signal,
      onStart,
      progress: this.progress,
      env: { ...env, HOTPULL_SHA: to, HOTPULL_PREVIOUS_SHA: from, HOTPULL_DIR: cwd, HOTPULL_PHASE: phase },
    });
    const output = `${result.stdout}${result.stderr ? `\n${result.stderr}` : ''}`.trim();
    this.options.logger.info(
      { hook: command, phase, ms: result.durationMs, output: output.slice(-4000) },
      `ran "${command}" in ${formatDuration(result.durationMs)}`,
    );
  }

  private async reloadAll(to: string, from: string, signal?: AbortSignal): Promise<void> {
    for (const reloader of this.options.reloaders) {
      if (signal?.aborted) throw abortedError('reload');
      await reloader.reload({ sha: to, previousSha: from, signal, onStart: this.noteChild, progress: this.progress });
    }
  }

  private async finish(
    trigger: string,
    from: string,
    staged: Staged,
    times: Times,
    signal?: AbortSignal,
    resumed = false,
  ): Promise<SyncOutcome> {
    const { health, logger, workspace } = this.options;
    const { git } = this;
    const to = staged.sha;
    // what the old code answers decides whether a failed verification can be blamed on this deploy
    if (!resumed) await this.served?.refresh(from || undefined, logger);
    this.setState('reloading');
    try {
      await this.reloadAll(to, from, signal);
    } catch (error) {
      // A stop is not a verdict, and the journal says a reload is owed: the next start reloads and verifies.
      if (signal?.aborted || isHotpullError(error, 'ABORTED')) throw abortedError('reload');
      // The new code is on disk but maybe not served: the reload is retried on the next pass.
      this.record(trigger, from, to, 'failed', times, oneLine(error));
      throw error;
    }
    times.reloaded = this.clock();

    if (!health) return this.unverified(trigger, from, to, times);

    this.setState('verifying');
    const verdict = await this.verify(health, to, from, signal);
    // Stopped while verifying: no verdict either way. Nothing is marked rejected; the next start re-verifies.
    if (signal?.aborted) throw abortedError('verification');
    // Nor is a full disk (an app that cannot write fails its check): the deploy stays owed, the next pass re-verifies.
    const unfit = !verdict.ok && (await this.unfitToJudge(verdict.reason));
    if (unfit && !verdict.ok) throw noVerdict(`${unfit} while ${short(to)} was verified`, verdict.reason);
    times.verified = this.clock();
    this.pending = undefined;
    await this.note(undefined);
    if (verdict.ok) {
      this.served?.verified(true);
      await git.updateRef(LAST_GOOD_REF, to, 'hotpull: verified live');
      await this.notePrevious(from, to);
      this.status.lastGoodSha = to;
      const record = this.record(trigger, from, to, 'live', times);
      await this.succeeded(to, record, 'live');
      await workspace.settled(to);
      return { kind: 'deployed', record };
    }

    if (this.served && !this.served.canJudge)
      return this.unverified(trigger, from, to, times, this.served.cannotJudge(to, verdict.reason));

    if (!this.options.rollback) {
      const reason = `${short(to)} failed verification and was left in place (--no-rollback): ${verdict.reason}`;
      const record = this.record(trigger, from, to, 'rejected', times, verdict.reason);
      logger.error({ old: from, new: to, err: verdict.reason }, reason);
      await this.reject(to, reason);
      return { kind: 'rejected', record };
    }

    // (a manual rollback whose target fails goes back to the revision it left, which it had rejected itself)
    const good = rollbackTarget({
      to,
      from,
      lastGood: this.status.lastGoodSha,
      rejected: this.status.rejectedSha,
      leftByRollback: this.leftByRollback,
    });
    if (!good) {
      const reason = `${short(to)} failed verification and there is no earlier revision to roll back to: ${verdict.reason}`;
      const record = this.record(trigger, from, to, 'rejected', times, verdict.reason);
      logger.error({ new: to, err: verdict.reason }, reason);
      await this.reject(to, reason);
      return { kind: 'rejected', record };
    }
    // Rejected before reloading: if the reload of the good revision fails too (gunicorn exits when a worker
    // cannot import, so there is no master left to signal), the bad one must still not be deployed again.
    const rejection = `${short(to)} failed verification (${verdict.reason}); rolled back to ${short(good)}; not retried until the branch moves`;
    await this.reject(to, rejection, false);
    // the reason is logged once, when the rollback is verified (until then the state says only what is under way)
    this.setState('verifying', `rolling back to ${short(good)}: ${short(to)} failed verification`);
    await this.applyTree(to, good, 'reset', trigger, () => workspace.restore(good), true);
    this.status.deployedSha = good;
    const record = this.record(trigger, from, to, 'rolled-back', times, verdict.reason, good);
    // A stop from here on resumes the rollback (reload and verify the good revision) at the next start.
    await this.note({ from: to, to: good, stage: 'reload', trigger, rollback: true });
    this.pending = { from: to, to: good, stage: 'reload', rollback: true };
    const again = await this.reloadAll(good, to, signal).then(
      () => verifyHealth(health, good, signal),
      (error: unknown) => ({ ok: false as const, ms: 0, requests: 0, reason: `its reload failed: ${oneLine(error)}` }),
    );
    if (signal?.aborted) throw abortedError('rollback');
    this.pending = undefined;
    await this.note(undefined);
    this.served?.verified(again.ok, again.ok ? undefined : again.reason);
    if (!again.ok) {
      const reason = `${short(to)} failed verification: ${verdict.reason}; rolled back to ${short(good)}, but it is not healthy either: ${again.reason}`;
      logger.error({ bad: to, good, err: again.reason }, reason);
      this.setState('failing', reason, true);
      this.status.lastError = reason;
    } else {
      this.setState('rejected', rejection, true);
      const what = `${short(to)} failed verification: ${verdict.reason}; rolled back, ${short(good)} serves again`;
      logger.warn({ bad: to, good, err: verdict.reason, ms: again.ms }, what);
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
    const before = this.served?.state;
    if (repeatable.length === 0) return verifyHealth(health, to, signal, before);
    const half = Math.round(health.timeoutMs / 2);
    const part = { timeoutMs: health.timeoutMs, waitedMs: 0 };
    const first = await verifyHealth({ ...health, timeoutMs: half, part }, to, signal, before);
    if (first.ok || signal?.aborted || first.failedFast || first.impossible) return first;
    this.options.logger.warn(
      { sha: to, err: first.reason },
      `${short(to)} not verified after ${formatDuration(half)}; reloading once more in case the reload was dropped`,
    );
    try {
      for (const reloader of repeatable) await reloader.reload({ sha: to, previousSha: from, signal });
    } catch (error) {
      return { ...first, reason: `${first.reason}; reloading again failed: ${oneLine(error)}` };
    }
    part.waitedMs = first.ms;
    const second = await verifyHealth({ ...health, timeoutMs: health.timeoutMs - half, part }, to, signal, before);
    return second.ok ? { ...second, ms: first.ms + second.ms } : second;
  }

  /** Idle, or `unverified` while the health check does not pass on what is served (probed again each time). */
  private async idle(sha: string | undefined): Promise<void> {
    await this.served?.refresh(sha, this.options.logger);
    if (this.served && !this.served.canJudge) this.setState('unverified', this.served.describe(sha));
    else this.setState('idle');
  }

  /**
   * Reloaded with no verdict: no --health-url, or (`why`) a check that failed before the deploy too, whose failure
   * now says nothing about it (see ServedHealth). The deploy stays.
   */
  private async unverified(trigger: string, from: string, to: string, times: Times, why?: string) {
    this.pending = undefined;
    await this.note(undefined);
    await this.notePrevious(from, to);
    const record = this.record(trigger, from, to, 'reloaded', times, why);
    await this.succeeded(to, record, why ? 'unverified' : 'reloaded (unverified: no --health-url)');
    if (why) this.setState('unverified', why);
    if (why) this.options.logger.warn({ new: to }, why);
    await this.options.workspace.settled(to);
    return { kind: 'deployed' as const, record };
  }

  private async succeeded(to: string, record: DeployRecord, what: string): Promise<void> {
    // a manual rollback keeps the revision it left rejected
    if (this.status.rejectedSha && this.leftByRollback === undefined) await this.clearRejected();
    this.setState('idle');
    this.markSucceeded();
    const d = record.durations;
    this.options.logger.info(
      { old: record.from, new: to, trigger: record.trigger, result: record.result, ms: d },
      `deployed ${short(record.from)} → ${short(to)}, ${what}, in ${ms(d.total)} (${formatStages(d, Boolean(record.stages.verified))})`,
    );
  }

  /** What `hotpull rollback` goes back to; a manual rollback leaves it where it was (rolling back twice goes further back). */
  private async notePrevious(from: string, to: string): Promise<void> {
    if (from && from !== to && this.leftByRollback === undefined)
      await this.git.updateRef(PREVIOUS_REF, from, 'hotpull: previous live');
  }

  private async reject(sha: string, reason: string, state = true): Promise<void> {
    await this.git.updateRef(REJECTED_REF, sha, 'hotpull: rejected');
    this.status.rejectedSha = sha;
    this.rejectReason = reason;
    if (state) this.setState('rejected', reason);
    this.markSucceeded();
  }

  private async clearRejected(): Promise<void> {
    await this.git.deleteRef(REJECTED_REF).catch(() => undefined);
    this.status.rejectedSha = undefined;
    this.rejectReason = undefined;
    this.blocked = undefined;
  }

  private record(
    trigger: string,
    from: string,
    to: string,
    result: DeployRecord['result'],
    t: Times,
    error?: string,
    rolledBackTo?: string,
  ): DeployRecord {
    const record = deployRecord({
      trigger,
      by: this.triggeredBy,
      from,
      to,
      result,
      times: t,
      end: this.clock(),
      error,
      rolledBackTo,
    });
    return this.keeper.recorded(record);
  }
}

function abortedError(step: string): HotpullError {
  return new HotpullError('ABORTED', `${step} stopped: no verdict, the next start finishes the deploy`);
}

/**
 * Whether the filesystem holding `dir` is full (blocks or inodes): git reports a failed write as "unable to write
 * file" without the reason, so the filesystem is asked.
 */
async function diskFull(dir: string): Promise<boolean> {
  const stats = await statfs(dir).catch(() => undefined);
  if (!stats) return false;
  const blocks = process.getuid?.() === 0 ? stats.bfree : stats.bavail;
  return blocks * stats.bsize < 1024 * 1024 || (stats.files > 0 && stats.ffree < 16);
}

/** A hook or judge command that failed for want of disk or of its record (`unfitToJudge`): the pass fails, is retried. */
function noVerdict(what: string, failure: unknown): HotpullError {
  const detail = typeof failure === 'string' ? failure : oneLine(failure);
  return new HotpullError('RELOAD', `${what}; not a verdict on the revision, retrying: ${detail}`, {
    cause: typeof failure === 'string' ? undefined : failure,
  });
}

/** An apply that failed: said in words when the disk is full, with what was done about it. */
function applyFailure(error: unknown, to: string, from: string, full: boolean, undone: boolean): unknown {
  if (!full && !/no space left on device|ENOSPC/i.test(oneLine(error))) return error;
  const back = !from
    ? 'nothing is served yet'
    : undone
      ? `the checkout stays at ${short(from)} and the old code keeps serving`
      : `the checkout could not be put back to ${short(from)} yet (the next pass tries again); nothing was reloaded`;
  return new HotpullError(
    'GIT',
    `no space left on device while writing ${short(to)}; ${back}; retrying: ${oneLine(error)}`,
    { cause: error },
  );
}
