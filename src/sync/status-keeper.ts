import type { Logger } from '../log.js';
import { oneLine } from '../errors.js';
import { HISTORY_LIMIT, type DeployRecord, type State, type Status } from './status.js';
import type { Pause } from './pause.js';

/** A change the engine reports: a state entered (repeats included), or a deploy recorded. */
export type EngineChange =
  { kind: 'state'; state: State; previous: State; reason?: string } | { kind: 'deploy'; record: DeployRecord };

/** Who hears of each change: the history, notifications, --on-live (added by the pipeline the commands build). */
export type EngineListener = (change: EngineChange, status: Readonly<Status>) => void;

/**
 * The engine's status and record keeping: the state with its reason, the failure count, the recent deploys, and
 * who hears of each change (the info log line for a state entered, the onEvent listeners: history,
 * notifications, --on-live). The engine decides; this keeps what it decided, and is the status's one writer.
 */
export class StatusKeeper {
  readonly status: Status;

  constructor(
    init: { remote: string; branch: string; auth?: string; history?: readonly DeployRecord[] },
    private readonly logger: Logger,
    private readonly clock: () => number,
    private readonly onEvent?: EngineListener,
  ) {
    const { remote, branch, auth, history = [] } = init;
    this.status = {
      state: 'starting',
      remote,
      branch,
      consecutiveFailures: 0,
      deploys: history.slice(0, HISTORY_LIMIT),
    };
    if (auth) this.status.auth = auth;
  }

  /** The revision on disk, as the workspace says (undefined: none yet, or the checkout is gone). */
  deployed(sha: string | undefined): void {
    this.status.deployedSha = sha;
  }

  /** The remote's head, as the last detection saw it. */
  remote(sha: string): void {
    this.status.remoteSha = sha;
  }

  /** The revision a hold rule keeps back (undefined: none). */
  held(sha: string | undefined): void {
    this.status.heldSha = sha;
  }

  /** refs/hotpull/last-good and rejected, as they are now: a key present and undefined clears it. */
  marks(marks: { lastGood?: string; rejected?: string }): void {
    if ('lastGood' in marks) this.status.lastGoodSha = marks.lastGood;
    if ('rejected' in marks) this.status.rejectedSha = marks.rejected;
  }

  /** --path: the tree moved from `from` to `to` with nothing under the paths changed (see pass/scope.ts). */
  skipped(from: string, to: string): void {
    const count = (this.status.skipped?.count ?? 0) + 1;
    this.status.skipped = { count, from, to, at: new Date(this.clock()).toISOString() };
  }

  paused(pause: Pause | undefined): void {
    this.status.paused = pause;
  }

  /** Nothing serves well (a rollback whose good revision is not healthy either): said by the caller, kept as the error. */
  unhealthy(reason: string): void {
    this.setState('failing', reason, true);
    this.status.lastError = reason;
  }

  /** `said`: the caller logs the reason in a line of its own, so the transition's line leaves it out. */
  setState(state: State, reason?: string, said = false): void {
    const previous = this.status.state;
    this.status.state = state;
    this.status.reason = reason;
    if (state !== previous) {
      const why = reason && !said ? `: ${reason}` : '';
      this.logger.info({ state, previous, ...(said ? {} : { reason }) }, `state ${previous} → ${state}${why}`);
    }
    this.onEvent?.({ kind: 'state', state, previous, reason }, this.status);
  }

  /** A pass threw: the old code keeps serving, the state says why. */
  failed(error: unknown): void {
    this.status.consecutiveFailures += 1;
    this.status.lastError = oneLine(error);
    this.setState('failing', this.status.lastError);
  }

  /** A pass reached a verdict (deployed, up to date, or blocked on purpose): the remote and git worked. */
  succeeded(): void {
    this.status.consecutiveFailures = 0;
    this.status.lastSuccessAt = new Date(this.clock()).toISOString();
  }

  /** A deploy's record: newest first in the status, bounded, and told to the listeners. */
  recorded(record: DeployRecord): DeployRecord {
    this.status.deploys.unshift(record);
    this.status.deploys.length = Math.min(this.status.deploys.length, HISTORY_LIMIT);
    this.onEvent?.({ kind: 'deploy', record }, this.status);
    return record;
  }
}
