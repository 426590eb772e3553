import type { Logger } from '../log.js';
import type { Reloader } from '../reload/types.js';
import type { ReloadGate } from '../reload/gate.js';
import type { Git } from '../git/repo.js';
import type { HealthCheck } from '../deploy/verify.js';
import type { Judge } from '../deploy/judge.js';
import type { ChangeRule } from '../deploy/rules.js';
import type { Workspace } from './layout/workspace.js';
import type { Policy } from './pass/policy.js';
import type { RefSpec } from './ref.js';
import type { OwnerCheck } from './checkout-watch.js';
import type { DeployRecord } from './status.js';
import type { EngineListener } from './status-keeper.js';
import type { SignatureTrust } from '../git/signatures.js';
import type { TrafficSource } from '../traffic/source.js';
import type { BakeThresholds } from '../traffic/bake.js';
import type { AfterPeer } from './after-peer.js';

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
  | 'fileAt'
  | 'hasCommit'
  | 'mergeBase'
  | 'housekeeping'
  | 'close'
>;

/** The engine's options: who the checkout follows, how it is judged, and the wiring. */
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
  /** --verify-signatures: who may sign the revisions deployed (see pass/trust.ts) */
  signatures?: SignatureTrust;
  /** --traffic: read every `everyMs` while the engine lives (closed by close()); see pass/impact.ts */
  traffic?: { source: TrafficSource; everyMs: number };
  /** --bake: how long a verified deploy is judged on --traffic before it is live, and the thresholds (pass/bake.ts) */
  bake?: BakeThresholds & { ms: number };
  /** --after: the peer a revision must be live on first (see pass/after.ts) */
  after?: AfterPeer;
  /** --require-approval: a new revision waits for `hotpull approve SHA` (see pass/approve.ts) */
  requireApproval?: boolean;
  rules: readonly ChangeRule[];
  /** --path: a change with nothing under these (normalized, repo-relative) is not deployed (see pass/scope.ts) */
  paths?: readonly string[];
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
  /** the credential helper in use, as status shows it */
  auth?: string;
  /** the deploys of earlier runs (newest first), so `hotpull log` and /status show them after a restart */
  history?: readonly DeployRecord[];
  /**
   * Told every state the engine enters (also a repeated one: `failing` comes once per failed pass) and every deploy
   * record it writes, with the status as it is then. Called synchronously: a listener must not throw or block.
   */
  onEvent?: EngineListener;
  /** this process's ownership of the checkout, released by close(), checked before each pass (see checkout-watch.ts) */
  owner?: { release(): void; ensure?(): Promise<OwnerCheck | void>; guards?(): boolean };
}
