import { probeOnce, expandExpect, type Answer, type Before, type HealthCheck } from './verify.js';
import { shortSha } from '../sha.js';
import type { Logger } from '../log.js';

/** One probe of the served revision: short, it runs in a poll or just before a reload. */
const PROBE_TIMEOUT_MS = 2000;

/**
 * What the health check says of the revision being served, between deploys: probed at the first pass (start), again
 * before each deploy and at each poll while it does not pass, and set by each verification. A check that fails
 * before a deploy is no evidence against the deploy (a wrong port in --health-url fails for every revision): while
 * it is not `good`, a failed verification cannot reject or roll back; the deploy stays, unverified, and says why.
 */
export class ServedHealth {
  private before: Before | undefined;
  private problem = '';

  constructor(private readonly check: HealthCheck) {}

  /** `good`, `bad`, `unreachable`, or undefined before the first probe. */
  get state(): Before | undefined {
    return this.before;
  }

  /** Whether a failed verification says something about the deploy. */
  get canJudge(): boolean {
    return this.before === 'good';
  }

  /**
   * Probes once when the last word was not `good`, and says so in the log when what it finds changes.
   * `sha`: the revision on disk that is served (its {sha} in --health-expect).
   */
  async refresh(sha: string | undefined, logger: Logger): Promise<void> {
    if (this.before === 'good') return;
    const expected = this.check.expect === undefined || !sha ? undefined : expandExpect(this.check.expect, sha);
    const answer = await probeOnce(this.check.url, expected, Math.min(PROBE_TIMEOUT_MS, this.check.timeoutMs));
    const was = { before: this.before, problem: this.problem };
    this.set(answer);
    if (this.state === 'good') {
      if (was.before !== undefined)
        logger.info({ sha }, `the health check passes on ${shortSha(sha) ?? 'the served revision'} now`);
    } else if (was.before !== this.state || was.problem !== this.problem) {
      logger.warn({ sha, err: this.problem }, this.describe(sha));
    }
  }

  /**
   * A deploy resumed (after a crash, a stop or a failed reload): what answers may be the new revision already, so it
   * is not probed; `verifiedBefore` (the revision before it is last-good, or it is a rollback) stands for a pass.
   */
  resumed(verifiedBefore: boolean): void {
    if (verifiedBefore) this.set({ good: true, status: 200 });
  }

  /** A verification's result: passed, or (after a rollback that did not pass either) failed. */
  verified(ok: boolean, problem?: string): void {
    if (ok) this.set({ good: true, status: 200 });
    else {
      this.before = this.before === 'unreachable' ? 'unreachable' : 'bad';
      this.problem = problem ?? this.problem;
    }
  }

  private set(answer: Answer): void {
    if (answer.good) {
      this.before = 'good';
      this.problem = '';
      return;
    }
    this.before = answer.status === undefined ? 'unreachable' : 'bad';
    this.problem = answer.problem;
  }

  /** The state's reason while the check does not pass: what it found, and where to look. */
  describe(sha: string | undefined): string {
    return `${shortSha(sha) ?? 'the served revision'} is not verified: ${this.problem}${hint(this.before, this.problem)}; a failed check cannot reject a deploy until it passes`;
  }

  /** The reason a deploy stays unverified: verification failed but the check failed before it too. */
  cannotJudge(to: string, reason: string): string {
    return `${shortSha(to)} reloaded, verification impossible: the health check failed before this deploy too (${this.problem}${hint(this.before, this.problem)}), so its failure now is no verdict: ${reason}`;
  }
}

function hint(before: Before | undefined, problem: string): string {
  if (before !== 'unreachable') return '';
  if (/ECONNREFUSED/.test(problem))
    return ' (connection refused: nothing listens there; is --health-url the address and port the app server listens on?)';
  return ' (no answer: is --health-url the address the app server listens on?)';
}
