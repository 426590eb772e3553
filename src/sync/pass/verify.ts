import { oneLine } from '../../errors.js';
import { formatDuration } from '../../duration.js';
import { shortSha as short } from '../../sha.js';
import { verifyHealth, type HealthCheck, type VerifyResult } from '../../deploy/verify.js';
import type { Deploy, StageEnv } from './deploy.js';
import { abortedError, noVerdict, stopped, unfitToJudge } from './faults.js';
import type { Stage } from './stage-types.js';
import { progress } from './hooks.js';
import { live, record, unverified } from './record.js';
import { markReload } from './impact.js';
import { baking } from './bake.js';

/** Every reloader, in order. A failure leaves the new code on disk but maybe not served: the next pass retries it. */
export const reload: Stage = {
  name: 'reload',
  state: () => 'reloading',
  async run(d, s) {
    await markReload(d, s);
    try {
      await reloadAll(d, s, d.to, d.from);
    } catch (error) {
      // A stop is not a verdict, and the journal says a reload is owed: the next start reloads and verifies.
      if (stopped(d, error)) throw abortedError('reload');
      record(d, s, 'failed', oneLine(error));
      throw error;
    }
    d.times.reloaded = s.clock();
    return undefined;
  },
};

/**
 * The health check on what is served: live, or a failure handed to rollback. A stop, or a full disk (an app that
 * cannot write fails its check), is no verdict: the deploy stays owed and the next pass verifies again.
 */
export const verify: Stage = {
  name: 'verify',
  state: (_d, s) => (s.health ? 'verifying' : undefined),
  async run(d, s) {
    if (!s.health) return unverified(d, s);
    const verdict = await verifyServed(d, s, s.health);
    if (d.signal?.aborted) throw abortedError('verification');
    const unfit = !verdict.ok && (await unfitToJudge(s, verdict.reason));
    if (unfit && !verdict.ok) throw noVerdict(`${unfit} while ${short(d.to)} was verified`, verdict.reason);
    d.times.verified = s.clock();
    // baked: the bake stage gives the verdict, and the journal keeps the deploy owed until then
    if (verdict.ok && baking(d, s)) return undefined;
    await s.cursor.clear();
    if (verdict.ok) return live(d, s);
    if (s.served && !s.served.canJudge) return unverified(d, s, s.served.cannotJudge(d.to, verdict.reason));
    d.failure = verdict.reason;
    return undefined;
  },
};

export async function reloadAll(d: Deploy, s: StageEnv, to: string, from: string): Promise<void> {
  for (const reloader of s.reloaders) {
    if (d.signal?.aborted) throw abortedError('reload');
    await reloader.reload({
      sha: to,
      previousSha: from,
      signal: d.signal,
      onStart: s.cursor.onChild,
      progress: progress(s),
    });
  }
}

/**
 * Verifies, and once, half-way through the time allowed, repeats the reload: a reload can be lost (uWSGI drops
 * a chain reload requested while one still runs, and one requested before every worker accepts). Only
 * strategies that are safe to repeat are repeated; a broken app fails both halves the same way.
 */
async function verifyServed(d: Deploy, s: StageEnv, health: HealthCheck): Promise<VerifyResult> {
  const { to, from, signal } = d;
  const repeatable = s.reloaders.filter((r) => r.repeatable);
  const before = s.served?.state;
  if (repeatable.length === 0) return verifyHealth(health, to, signal, before);
  const half = Math.round(health.timeoutMs / 2);
  const part = { timeoutMs: health.timeoutMs, waitedMs: 0 };
  const first = await verifyHealth({ ...health, timeoutMs: half, part }, to, signal, before);
  if (first.ok || signal?.aborted || first.failedFast || first.impossible) return first;
  s.logger.warn(
    { sha: to, err: first.reason },
    `${short(to)} not verified after ${formatDuration(half)}; reloading once more in case the reload was dropped`,
  );
  try {
    for (const reloader of repeatable) await reloader.reload({ sha: to, previousSha: from, signal });
  } catch (error) {
    return { ...first, reason: `${first.reason}; reloading again failed: ${oneLine(error)}` };
  }
  part.waitedMs = first.ms;
  const second = await verifyHealth({ ...health, timeoutMs: health.timeoutMs - half, part }, to, signal, before);
  return second.ok ? { ...second, ms: first.ms + second.ms } : second;
}
