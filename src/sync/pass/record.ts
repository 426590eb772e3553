import { formatDuration as ms } from '../../duration.js';
import { shortSha as short } from '../../sha.js';
import { deployRecord, formatStages } from '../record.js';
import type { DeployRecord } from '../status.js';
import type { Deploy, StageEnv, SyncOutcome } from './deploy.js';
import { measureImpact } from './impact.js';

/** The deploy's record, into the status and to the listeners (history, notifications, --on-live). */
export function record(
  d: Deploy,
  s: StageEnv,
  result: DeployRecord['result'],
  error?: string,
  rolledBackTo?: string,
): DeployRecord {
  const { trigger, by, from, to, times } = d;
  const end = s.clock();
  const entry = deployRecord({ trigger, by, from, to, result, times, end, error, rolledBackTo });
  return s.report.recorded({
    ...entry,
    ...(d.impact ? { impact: d.impact } : {}),
    ...(d.bake ? { bake: d.bake } : {}),
  });
}

/** A verdict of live: the marks move, the record is written, old releases may go. */
export async function live(d: Deploy, s: StageEnv): Promise<SyncOutcome> {
  s.served?.verified(true);
  await s.marks.live(d.from, d.to, leftByRollback(d, s));
  // the window ends right before the record: its figures are what the record's time says
  await measureImpact(d, s);
  const entry = record(d, s, 'live');
  await succeeded(d, s, entry, 'live');
  await s.workspace.settled(d.to);
  return { kind: 'deployed', record: entry };
}

/**
 * Reloaded with no verdict: no --health-url, or (`why`) a check that failed before the deploy too, whose failure
 * now says nothing about it (see ServedHealth). The deploy stays.
 */
export async function unverified(d: Deploy, s: StageEnv, why?: string): Promise<SyncOutcome> {
  await s.cursor.clear();
  await s.marks.previous(d.from, d.to, leftByRollback(d, s));
  await measureImpact(d, s);
  const entry = record(d, s, 'reloaded', why);
  await succeeded(d, s, entry, why ? 'unverified' : 'reloaded (unverified: no --health-url)');
  if (why) s.report.setState('unverified', why);
  if (why) s.logger.warn({ new: d.to }, why);
  await s.workspace.settled(d.to);
  return { kind: 'deployed', record: entry };
}

async function succeeded(d: Deploy, s: StageEnv, entry: DeployRecord, what: string): Promise<void> {
  // a manual rollback keeps the revision it left rejected
  if (s.marks.rejected && leftByRollback(d, s) === undefined) {
    await s.marks.clearRejected();
    s.memo.blocked = undefined;
  }
  s.report.setState('idle');
  s.report.succeeded();
  const t = entry.durations;
  s.logger.info(
    { old: entry.from, new: d.to, trigger: entry.trigger, result: entry.result, ms: t },
    `deployed ${short(entry.from)} → ${short(d.to)}, ${what}, in ${ms(t.total)} (${formatStages(t, Boolean(entry.stages.verified))})`,
  );
}

/**
 * A revision refused before it served (a hook or the judge failed): recorded, rejected until the branch moves (or
 * someone asks on purpose), said once.
 */
export async function refuse(
  d: Deploy,
  s: StageEnv,
  refusal: { result: DeployRecord['result']; error: string; said: string; fields: Record<string, unknown> },
): Promise<SyncOutcome> {
  const entry = record(d, s, refusal.result, refusal.error);
  await s.marks.reject(d.to, `${refusal.said}; not retried until the branch moves (or SIGHUP)`);
  s.logger.error(refusal.fields, refusal.said);
  return { kind: 'rejected', record: entry };
}

/** The revision a rollback left: rejected until the branch moves, whatever the rollback's own reload does. */
export function leftByRollback(d: Deploy | undefined, s: StageEnv): string | undefined {
  const pause = s.pauses.current;
  return d?.leftBy ?? (pause?.by === 'rollback' ? pause.left : undefined);
}
