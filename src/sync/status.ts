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
  | 'rejected';

export type DeployResult = 'reloaded' | 'live' | 'failed';

export interface DeployRecord {
  trigger: string;
  from: string;
  to: string;
  result: DeployResult;
  /** ISO timestamps of each stage reached */
  stages: { detected: string; fetched?: string; applied?: string; reloaded?: string; verified?: string };
  /** milliseconds spent in each stage */
  durations: { detect: number; fetch: number; apply: number; reload: number; total: number };
  error?: string;
}

export interface Status {
  state: State;
  /** why the daemon is in this state, for the blocked and failing states */
  reason?: string;
  remote: string;
  branch: string;
  deployedSha?: string;
  remoteSha?: string;
  lastError?: string;
  consecutiveFailures: number;
  lastSuccessAt?: string;
  deploys: DeployRecord[];
}

export const HISTORY_LIMIT = 20;
