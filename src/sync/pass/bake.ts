import { setTimeout as sleep } from 'node:timers/promises';
import { shortSha as short } from '../../sha.js';
import { formatDuration } from '../../duration.js';
import { judgeBake } from '../../traffic/bake.js';
import type { Deploy, StageEnv } from './deploy.js';
import { abortedError } from './faults.js';
import type { Stage } from './stage-types.js';
import { live } from './record.js';

/**
 * --bake: a deploy that passed verification is judged on real traffic (--traffic) for the bake window, against the
 * same-length window before its reload (the baseline, from the readings kept). Pass: live. Fail: `d.failure` with
 * the evidence, and the rollback stage takes it from there as from a failed verification. Inconclusive (too few
 * requests, a lost source): said in the record and the log, and live unless --bake-inconclusive rollback.
 * Until the verdict the journal keeps the deploy owed (marked `baking`): a stop or a crash is no verdict, and the
 * next start reloads, verifies and bakes it again. A pause does not cut the bake short; a newer push waits for it.
 */
export const bake: Stage = {
  name: 'bake',
  async run(d, s) {
    if (d.failure !== undefined || !baking(d, s)) return undefined;
    const { ms } = s.bake!;
    const traffic = s.traffic!;
    const reloadAt = d.trafficFrom!;
    const baseline = traffic.between(reloadAt - ms, reloadAt);
    const entry = s.cursor.entry;
    if (entry) await s.cursor.write({ ...entry, baking: true });
    s.report.setState('verifying', `baking ${short(d.to)}: ${formatDuration(ms)} left`);
    const start = await traffic.mark();
    try {
      await sleep(ms, undefined, { signal: d.signal });
    } catch {
      throw abortedError('bake');
    }
    const window = await traffic.since(start);
    const verdict = judgeBake(baseline, window, s.bake!);
    await s.cursor.clear();
    if (verdict.verdict === 'pass') {
      d.bake = { verdict: 'pass' };
      s.logger.info({ new: d.to }, `${short(d.to)} passed its bake: ${verdict.impact}`);
      return live(d, s);
    }
    if (verdict.verdict === 'fail') {
      d.bake = { verdict: 'fail', said: verdict.evidence };
      d.failure = `the bake window: ${verdict.evidence}`;
      return undefined;
    }
    d.bake = { verdict: 'inconclusive', said: verdict.reason };
    const said = `${short(d.to)}'s bake was inconclusive: ${verdict.reason}`;
    s.logger.warn({ new: d.to }, verdict.rollback ? `${said} (--bake-inconclusive rollback)` : `${said}; live`);
    if (!verdict.rollback) return live(d, s);
    d.failure = `the bake was inconclusive (--bake-inconclusive rollback): ${verdict.reason}`;
    return undefined;
  },
};

/** A verified deploy is baked; a rollback's own reload (automatic or `hotpull rollback`) is not. */
export function baking(d: Deploy, s: StageEnv): boolean {
  return Boolean(s.bake && s.traffic && d.trafficFrom !== undefined && !d.restore && !d.rollback);
}
