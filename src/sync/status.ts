/** The daemon's observable state, shared by logs, `hotpull status` and the HTTP status route. */
export type State =
  | 'starting'
  | 'idle'
  | 'syncing'
  | 'reloading'
  | 'verifying'
  | 'diverged'
  | 'dirty'
  | 'failing'
  | 'held'
  | 'rejected'
  /** an operator paused following (hotpull pause, or a manual rollback): polls go on, nothing is applied */
  | 'paused'
  /** the checkout was deleted (or is being cloned again): nothing is deployed until a clone is at its path */
  | 'missing'
  /**
   * the health check does not pass on what is served (at start, or since a deploy it could not judge): deploys go
   * on, but a failed check cannot reject them; polls probe again until it passes (see src/deploy/served.ts)
   */
  | 'unverified';

/**
 * live: verified by the health check; reloaded: reloaded, unverified (no health check configured, or one that
 * failed before the deploy too and so could not judge it: see `error`);
 * failed: a run hook or the reload failed, the checkout was restored; rolled-back: verification failed and the
 * last verified revision was restored; rejected: verification failed and --no-rollback left it in place.
 */
export type DeployResult = 'live' | 'reloaded' | 'failed' | 'rolled-back' | 'rejected';

export interface DeployRecord {
  /** when the deploy reached its result (ISO) */
  at?: string;
  trigger: string;
  /** who or what asked for it, when known: a webhook's delivery id, SIGUSR1, `hotpull sync` */
  by?: string;
  from: string;
  to: string;
  result: DeployResult;
  /** ISO timestamps of each stage reached */
  stages: { detected: string; fetched?: string; applied?: string; reloaded?: string; verified?: string };
  /** the revision restored by a rollback */
  rolledBackTo?: string;
  /** milliseconds spent in each stage; judge (--preflight, --canary) only when the revision was judged */
  durations: {
    detect: number;
    fetch: number;
    apply: number;
    reload: number;
    judge?: number;
    verify: number;
    total: number;
  };
  error?: string;
  /** --traffic: what the deploy cost its users, from the reload to its verdict (see pass/impact.ts) */
  impact?: DeployImpact;
  /** --bake: the verdict on real traffic, with its evidence (fail) or its reason (inconclusive) */
  bake?: { verdict: 'pass' | 'fail' | 'inconclusive'; said?: string };
}

/**
 * A deploy's traffic window in figures, and in one line (`summary`, formatImpact): only what the source measured.
 * A type, not an interface, so a notification's `Impact` (string and number fields) takes it as it is.
 */
export type DeployImpact = {
  summary: string;
  /** the window's length, ms */
  ms: number;
  requests: number;
  /** exceptions and harakiri kills (uwsgi-stats), 5xx answers (access-log) */
  failed: number;
  /** the source's latency measure (uWSGI: the mean; an access log: the p99), its value and the slowest figure */
  latency?: 'mean' | 'p99';
  latencyMs?: number;
  slowestMs?: number;
  queuePeak?: number;
  queueErrors?: number;
  /** the source was lost before the window's end (the figures are what was read before) */
  lost?: string;
};

export interface Status {
  state: State;
  /** why the daemon is in this state, for the blocked and failing states */
  reason?: string;
  remote: string;
  branch: string;
  /** which authentication the remote uses (`ssh key /run/secrets/deploy_key`, `password file …`), never the secret */
  auth?: string;
  deployedSha?: string;
  remoteSha?: string;
  /** the last revision verified live (refs/hotpull/last-good) */
  lastGoodSha?: string;
  /** a revision that failed and is not retried until the branch moves (refs/hotpull/rejected) */
  rejectedSha?: string;
  /** a revision held back because it changes what only a container rebuild can carry */
  heldSha?: string;
  lastError?: string;
  /** hotpull pause or rollback: who, when, why (kept across restarts in pause.json beside the journal) */
  paused?: { reason: string; by: string; at: string; left?: string };
  /** --path: pushes that changed nothing under the paths (the tree moved, nothing reloaded), and the last one */
  skipped?: { count: number; from: string; to: string; at: string };
  consecutiveFailures: number;
  lastSuccessAt?: string;
  deploys: DeployRecord[];
}

export const HISTORY_LIMIT = 20;

/** Every state, so /metrics exports a series for each (0 or 1) and none vanishes when the state changes. */
export const STATES = [
  'starting',
  'idle',
  'syncing',
  'reloading',
  'verifying',
  'diverged',
  'dirty',
  'failing',
  'held',
  'rejected',
  'paused',
  'missing',
  'unverified',
] as const satisfies readonly State[];
// A state added to State but not to STATES fails the build here.
const everyState: Exclude<State, (typeof STATES)[number]> extends never ? true : never = true;
void everyState;

/** States in which the daemon reports a problem (`hotpull status` exits 1, /status says live: false). */
export const PROBLEM_STATES: ReadonlySet<State> = new Set<State>([
  'diverged',
  'dirty',
  'failing',
  'held',
  'rejected',
  'missing',
  'unverified',
]);
