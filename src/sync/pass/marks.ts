import { shortSha as short } from '../../sha.js';
import type { EngineGit } from '../engine-options.js';
import type { StatusKeeper } from '../status-keeper.js';

export const LAST_GOOD_REF = 'refs/hotpull/last-good';
export const REJECTED_REF = 'refs/hotpull/rejected';
/** the revision that was serving before the last successful deploy: what `hotpull rollback` goes back to */
export const PREVIOUS_REF = 'refs/hotpull/previous';

/**
 * What hotpull remembers of revisions in the repository itself, so it outlives the process: the last verified one,
 * the rejected one (with why, for this process), the one that served before the last deploy.
 */
export class Marks {
  /** why the rejected revision was rejected */
  reason?: string;

  constructor(
    private readonly git: () => EngineGit,
    private readonly report: StatusKeeper,
  ) {}

  get lastGood(): string | undefined {
    return this.report.status.lastGoodSha;
  }

  get rejected(): string | undefined {
    return this.report.status.rejectedSha;
  }

  async load(): Promise<void> {
    const [lastGood, rejected] = await Promise.all([
      this.git().resolve(LAST_GOOD_REF),
      this.git().resolve(REJECTED_REF),
    ]);
    this.report.marks({ lastGood, rejected });
    this.reason = rejected ? `revision ${short(rejected)} was rejected earlier (${REJECTED_REF})` : undefined;
  }

  /**
   * A verified deploy: last-good moves, and previous names what served before it (a manual rollback leaves previous
   * where it was: rolling back twice goes further back). The status learns of it only once both refs are written, in
   * the same turn as the deploy's record.
   */
  async live(from: string, to: string, leftByRollback: string | undefined): Promise<void> {
    await this.git().updateRef(LAST_GOOD_REF, to, 'hotpull: verified live');
    await this.previous(from, to, leftByRollback);
    this.report.marks({ lastGood: to });
  }

  /** What `hotpull rollback` goes back to (see live). */
  async previous(from: string, to: string, leftByRollback: string | undefined): Promise<void> {
    if (from && from !== to && leftByRollback === undefined)
      await this.git().updateRef(PREVIOUS_REF, from, 'hotpull: previous live');
  }

  /** --path: a revision that changed nothing under the paths serves what `from` served, so it is as good. */
  async carried(from: string, to: string): Promise<void> {
    if (!from || this.lastGood !== from) return;
    await this.git().updateRef(LAST_GOOD_REF, to, 'hotpull: nothing under --path changed');
    this.report.marks({ lastGood: to });
  }

  /** Rejected until the branch moves (or someone asks on purpose); `state`: the status says so now. */
  async reject(sha: string, reason: string, state = true): Promise<void> {
    await this.git().updateRef(REJECTED_REF, sha, 'hotpull: rejected');
    this.report.marks({ rejected: sha });
    this.reason = reason;
    if (state) this.report.setState('rejected', reason);
    this.report.succeeded();
  }

  async clearRejected(): Promise<void> {
    await this.git()
      .deleteRef(REJECTED_REF)
      .catch(() => undefined);
    this.report.marks({ rejected: undefined });
    this.reason = undefined;
  }
}
