import type { ServedHealth } from '../../deploy/served.js';
import type { RuleDecision } from '../../deploy/rules.js';
import type { ApplyPlan, Staged } from '../layout/workspace.js';
import type { BlockedState, BlockedVerdict } from './decide.js';
import type { RefFollower } from './follow.js';
import type { PauseState } from '../pause.js';
import type { Approvals } from '../approval.js';
import type { Times } from '../record.js';
import type { DeployImpact, DeployRecord } from '../status.js';
import type { StatusKeeper } from '../status-keeper.js';
import type { EngineOptions } from '../engine-options.js';
import type { Cursor } from './cursor.js';
import type { Marks } from './marks.js';
import type { TrafficRecorder } from '../../traffic/recorder.js';
import type { AfterMemo } from '../after-peer.js';

/** What a pass ends with. */
export type SyncOutcome =
  /** skipped: --path, the tree moved to `sha` but nothing under the paths changed (no hooks, reload or record) */
  | { kind: 'up-to-date'; sha: string; skipped?: boolean }
  | { kind: 'deployed'; record: DeployRecord }
  | { kind: 'rejected'; record: DeployRecord }
  | { kind: 'blocked'; state: BlockedState; reason: string };

export type Hook = RuleDecision['run'][number];

/**
 * One pass's facts, built once and handed to every stage (execa's per-run context): who asked, the revisions, the
 * plan, the tree the hooks and the judge work in, and what kind of deploy this is.
 */
export interface Deploy {
  readonly trigger: string;
  /** who asked (see DeployRecord.by) */
  readonly by?: string;
  readonly signal?: AbortSignal;
  readonly times: Times;
  /** the deployed revision when the pass began (undefined: nothing yet) */
  local?: string;
  /** `local`, or '' on an empty volume */
  from: string;
  /** the revision this pass deploys (the remote head, a rollback's target, the cursor's) */
  to: string;
  /** detect: a webhook's fetch was the detection */
  prefetched?: boolean;
  /** the tracked files modified in the served tree, asked beside the fetch (`dirty` once it answered) */
  modified?: Promise<string[]>;
  dirty: readonly string[];
  /** admit: a blocked verdict for the same pair that stands (only a dirty one is looked at again) */
  standing?: BlockedVerdict;
  /** plan: how the tree changes; 'try-ff' lets apply try the fast-forward first */
  plan?: ApplyPlan | 'try-ff';
  /** scope: nothing under --path changed; the tree moves, nothing else happens */
  quiet?: boolean;
  /** the run hooks this change needs (onChange rules), or those a resumed deploy still owes */
  run: readonly Hook[];
  /** the new revision on disk, where hooks run and the judge looks (in-place: the checkout or the stage tree) */
  staged?: Staged;
  /** the hooks of a resumed deploy that finished before the interruption */
  hooksDone?: string[];
  /** finishing a deploy the cursor says is on disk without a verdict: nothing is staged or activated again */
  resumed?: boolean;
  /** `hotpull rollback`: apply restores `to`, which then serves without an activation; `leftBy` stays rejected */
  restore?: boolean;
  leftBy?: string;
  /** the journal's rollback mark: a rollback to a good revision, the bad one already rejected */
  rollback?: boolean;
  /** verify: why the revision failed verification (rollback takes it from there) */
  failure?: string;
  /** --traffic: the reading taken at the reload (the impact window's start), and the window at the verdict */
  trafficFrom?: number;
  impact?: DeployImpact;
  /** --bake: the verdict (the record takes it) */
  bake?: DeployRecord['bake'];
  /** ends the run --watch gate (released when the pass ends) */
  gate?: () => void;
}

export function newDeploy(trigger: string, clock: () => number, signal?: AbortSignal, by?: string): Deploy {
  const now = clock();
  return {
    trigger,
    by,
    signal,
    times: { started: now, detected: now, fetched: now, applied: now },
    from: '',
    to: '',
    run: [],
    dirty: [],
  };
}

/** What lasts between passes besides the status: the last blocked verdict, a reset pass, the start line said. */
export interface Memo {
  blocked?: { verdict: BlockedVerdict; outcome: Extract<SyncOutcome, { kind: 'blocked' }> };
  resetting: boolean;
  startLogged: boolean;
  /** --after: what the after stage remembers between passes */
  after?: AfterMemo;
  /** the last wait logged (after, approve) */
  waitSaid?: string;
}

/** What every stage works with: the options, and the collaborators that outlive a pass. */
export interface StageEnv extends Omit<EngineOptions, 'clock' | 'onEvent' | 'history' | 'auth' | 'traffic'> {
  clock: () => number;
  /** --traffic, read from the engine's start to its close() */
  traffic?: TrafficRecorder;
  cursor: Cursor;
  marks: Marks;
  report: StatusKeeper;
  follower: RefFollower;
  pauses: PauseState;
  approvals: Approvals;
  served?: ServedHealth;
  memo: Memo;
}
