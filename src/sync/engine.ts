import path from 'node:path';
import { HotpullError } from '../errors.js';
import { ServedHealth } from '../deploy/served.js';
import type { EngineOptions } from './engine-options.js';
import type { Status } from './status.js';
import { RefFollower } from './pass/follow.js';
import { PauseState, describePause, type Pause } from './pause.js';
import { Approvals } from './approval.js';
import { StatusKeeper } from './status-keeper.js';
import { newDeploy, type StageEnv, type SyncOutcome } from './pass/deploy.js';
import { Cursor } from './pass/cursor.js';
import { Marks } from './pass/marks.js';
import { begin, open, settle } from './pass/recover.js';
import { manualRollback } from './pass/rollback.js';
import { enterGate } from './pass/apply.js';
import { runPass } from './pass/run.js';
import { recordTraffic } from '../traffic/recorder.js';

export type { EngineOptions, EngineGit } from './engine-options.js';
export type { EngineChange, EngineListener } from './status-keeper.js';
export type { SyncOutcome } from './pass/deploy.js';
export { LAST_GOOD_REF, REJECTED_REF, PREVIOUS_REF } from './pass/marks.js';

/** git's own housekeeping after a pass: with gc.autoDetach (the default) a real gc goes on in the background */
const HOUSEKEEPING_TIMEOUT_MS = 60_000;

/**
 * The deploy pipeline's face: a pass (detect → admit → fetch → plan → stage → judge → apply → hooks → activate →
 * reload → verify → rollback: src/sync/pass/run.ts), `hotpull rollback` (the same list from apply), pause and resume.
 * One pass at a time: the Daemon serializes them, so a reload is never started while the previous one is unverified.
 */
export class SyncEngine {
  private readonly env: StageEnv;
  private opened = false;

  constructor(options: EngineOptions) {
    const { workspace, logger } = options;
    const clock = options.clock ?? Date.now;
    const init = { remote: options.remoteLabel, branch: options.branch, auth: options.auth, history: options.history };
    const report = new StatusKeeper(init, logger, clock, options.onEvent);
    const spec = options.ref ?? { kind: 'branch' as const, name: options.branch };
    this.env = {
      ...options,
      clock,
      report,
      cursor: new Cursor(),
      marks: new Marks(() => options.git, report),
      follower: new RefFollower(spec, { ...options, git: () => options.git }),
      pauses: new PauseState(async () => path.join(await workspace.stateDir(), 'pause.json')),
      approvals: new Approvals(() => workspace.stateDir()),
      served: options.health ? new ServedHealth(options.health) : undefined,
      memo: { resetting: false, startLogged: false },
      traffic: options.traffic && recordTraffic(options.traffic.source, { everyMs: options.traffic.everyMs }),
    };
  }

  get status(): Status {
    return this.env.report.status;
  }

  /**
   * Ends helper processes (the ls-remote shell); the engine can still be used, they restart on demand. The --traffic
   * source is closed for good: a deploy after it says its source was lost.
   */
  close(): void {
    this.env.git.close();
    void this.env.traffic?.close();
    this.env.owner?.release();
  }

  /** Called by the Daemon when a pass threw: the old code keeps serving, the state says why. */
  markFailed(error: unknown): void {
    this.env.report.failed(error);
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
   * One pass without the housekeeping: the daemon tells its listeners (metrics, notifications, waiting webhooks) the
   * outcome first and calls housekeeping() after, so a `git maintenance` never delays what a pass reports.
   */
  async syncPass(trigger: string, signal?: AbortSignal, by?: string): Promise<SyncOutcome> {
    const missing = await this.ready();
    if (missing) return missing;
    const d = newDeploy(trigger, this.env.clock, signal, by);
    return runPass(d, this.env, await begin(d, this.env));
  }

  /**
   * `hotpull reset`: one pass that backs up and resets a diverged or dirty checkout to the remote head, as
   * --on-diverged reset and --on-dirty reset do (see sync/reset.ts); a standing block is looked at again.
   */
  async resetPass(signal?: AbortSignal): Promise<SyncOutcome> {
    const { memo } = this.env;
    memo.resetting = true;
    memo.blocked = undefined;
    try {
      return await this.syncPass('reset', signal);
    } finally {
      memo.resetting = false;
    }
  }

  /** git's `maintenance run --auto` when the last pass brought objects in; never throws. */
  async housekeeping(signal?: AbortSignal): Promise<void> {
    if (!signal?.aborted) await this.env.git.housekeeping({ signal, timeoutMs: HOUSEKEEPING_TIMEOUT_MS });
  }

  /**
   * `hotpull rollback`: back to `sha` (default: the revision that served before the deployed one) through apply,
   * reload and verify. The revision it leaves is rejected and following pauses until `hotpull resume`, so the next
   * poll does not undo it. If the old revision fails verification, the one it left is put back (as a failed
   * deploy would be). The daemon runs it between passes, never beside one.
   */
  async rollback(sha: string | undefined, signal?: AbortSignal): Promise<SyncOutcome> {
    const missing = await this.ready();
    if (missing) throw new HotpullError('GIT', missing.reason);
    const { env } = this;
    const d = newDeploy('rollback', env.clock, signal);
    await manualRollback(d, env, sha, (reason, left) => this.pause(reason, 'rollback', left));
    await enterGate(d, env);
    const outcome = await runPass(d, env, 'apply');
    const pause = env.pauses.current;
    if (outcome.kind === 'deployed' && pause)
      env.report.setState('paused', describePause(pause, { remote: this.status.remoteSha, deployed: d.to }));
    return outcome;
  }

  /**
   * Stops applying from the next pass on, and across restarts. A pass already past detection finishes its deploy
   * (reload, verify, rollback): stopping half way would leave the tree and the app server on different revisions.
   */
  async pause(reason: string, by: string, left?: string): Promise<Pause> {
    const { report, logger } = this.env;
    const pause: Pause = { reason, by, at: new Date(this.env.clock()).toISOString(), ...(left ? { left } : {}) };
    await this.env.pauses.set(pause);
    report.paused(pause);
    if (!['syncing', 'reloading', 'verifying'].includes(this.status.state)) {
      const { remoteSha: remote, deployedSha: deployed } = this.status;
      report.setState('paused', describePause(pause, { remote, deployed }));
    }
    logger.warn({ by, reason }, describePause(pause));
    return pause;
  }

  /**
   * `hotpull approve SHA`: the revision may go (--require-approval), kept across restarts. A short sha is taken only
   * for the revision that waits (the remote head); else the full sha is needed, so an approval names one commit.
   */
  async approve(sha: string, by: string): Promise<string> {
    const waiting = this.status.remoteSha;
    const full = waiting?.startsWith(sha) && sha.length >= 7 ? waiting : sha;
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(full))
      throw new HotpullError(
        'CONFIG',
        `approve needs the full sha, or at least 7 characters of the revision that waits (${waiting ? waiting.slice(0, 7) : 'none'}) (got ${JSON.stringify(sha)})`,
      );
    await this.env.approvals.set({ sha: full, by, at: new Date(this.env.clock()).toISOString() });
    this.env.logger.warn({ sha: full, by }, `approved ${full.slice(0, 7)} (${by})`);
    const still = this.env.requireApproval
      ? ''
      : ' (this daemon does not use --require-approval: nothing waits for it)';
    return `approved ${full.slice(0, 7)}${full === waiting ? '' : ` (the revision that waits is ${waiting ? waiting.slice(0, 7) : 'none'})`}${still}; syncing now`;
  }

  /** Lifts a pause (and a rollback's); the revision a rollback left stays rejected until the branch moves. */
  async resume(): Promise<Pause | undefined> {
    const { report, logger } = this.env;
    const was = await this.env.pauses.clear();
    report.paused(undefined);
    if (this.status.state === 'paused') report.setState('idle', 'resumed');
    if (was)
      logger.warn({ by: was.by }, `resumed following (paused by ${was.by}${was.reason ? `: ${was.reason}` : ''})`);
    return was;
  }

  /**
   * Before a pass: the checkout is still this process's (gone blocks the pass; a new clone at the same path was taken
   * over, and what was read of the old one is read again), what the last process left is recovered once, and an
   * apply a full disk left unsettled is settled.
   */
  private async ready(): Promise<Extract<SyncOutcome, { kind: 'blocked' }> | undefined> {
    const { env } = this;
    const check = await env.owner?.ensure?.();
    if (check?.kind === 'retaken') {
      env.git.close();
      this.opened = false;
      env.memo.blocked = undefined;
    }
    if (check?.kind === 'gone') {
      env.report.deployed(undefined);
      env.report.setState('missing', check.reason);
      return { kind: 'blocked', state: 'missing', reason: check.reason };
    }
    if (!this.opened) {
      await open(env);
      this.opened = true;
      await settle(env, true);
    } else if (env.cursor.unsettled) await settle(env, false);
    return undefined;
  }
}
