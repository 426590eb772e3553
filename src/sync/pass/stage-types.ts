import type { State } from '../status.js';
import type { JournalStage } from '../journal.js';
import type { Deploy, StageEnv, SyncOutcome } from './deploy.js';

export type StageName =
  | 'detect'
  | 'admit'
  | 'fetch'
  | 'trust'
  | 'after'
  | 'approve'
  | 'plan'
  | 'scope'
  | 'lfs'
  | 'stage'
  | 'judge'
  | 'apply'
  | 'hooks'
  | 'activate'
  | 'reload'
  | 'verify'
  | 'bake'
  | 'rollback';

/** undefined: go on; an outcome: the pass ends with it; skipTo: go on from a later stage */
export type StageEnd = SyncOutcome | { skipTo: StageName } | undefined;

/**
 * A step of the deploy. It declares the state the status reports while it runs and the journal step it enters
 * (the loop sets both, before it runs); `run` does the work and says how the pass goes on.
 */
export interface Stage {
  readonly name: StageName;
  state?(d: Deploy, s: StageEnv): State | undefined;
  cursor?(d: Deploy, s: StageEnv): JournalStage | undefined;
  run(d: Deploy, s: StageEnv): Promise<StageEnd>;
}
