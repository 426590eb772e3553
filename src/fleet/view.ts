import { formatDuration } from '../duration.js';
import { shortSha } from '../sha.js';
import { PROBLEM_STATES, type State } from '../sync/status.js';
import type { PeerAnswer, PeerStatus } from './ask.js';
import type { Discovery } from './discover.js';

/**
 * The fleet view of one round: a row per replica, the revisions served, the drift, the exit code. Pure (the clock is
 * an argument), so the table and the verdict are tested word for word.
 */

/** States of a deploy in progress: what serves may have changed before its record is written. */
const DEPLOYING: ReadonlySet<string> = new Set<State>(['syncing', 'reloading', 'verifying']);

/** A peer's poll period when it does not say (hotpull run's default --interval). */
export const DEFAULT_PEER_INTERVAL_MS = 5000;

export interface Row {
  name: string;
  url?: string;
  reachable: boolean;
  /** why it could not be asked, or why it is failing */
  error?: string;
  /** the peer reports a problem state (hotpull status would exit 1) */
  failing: boolean;
  /** on another revision than most replicas (the drift's odd ones out) */
  odd: boolean;
  /** what it answered, the fields the view reads */
  status?: PeerStatus;
  ms?: number;
}

export interface Drift {
  /** the revisions served, most replicas first */
  revisions: Array<{ sha: string; subject?: string; replicas: string[] }>;
  /** since when the replicas differ as they do now: the newest `since` among them; absent when none says */
  since?: string;
  forMs?: number;
  afterMs: number;
  /** differing for longer than afterMs (or for an unknown time) */
  flagged: boolean;
}

export interface FleetView {
  at: string;
  rows: Row[];
  /** the one revision all reachable replicas serve, when they agree */
  revision?: { sha: string; subject?: string };
  drift?: Drift;
  unreachable: string[];
  failing: string[];
  /** 0 all on one revision, 1 drift or a replica failing, 3 some unreachable or none at all */
  exitCode: 0 | 1 | 3;
}

export interface ViewOptions {
  now: number;
  /** --drift-after; default: twice the longest poll period the peers report */
  driftAfterMs?: number;
}

const byName = (a: { name: string }, b: { name: string }) =>
  a.name.localeCompare(b.name, 'en', { numeric: true }) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function rowOf(answer: PeerAnswer): Row {
  const { peer, status } = answer;
  if (!status)
    return {
      name: peer.name,
      url: peer.url,
      reachable: false,
      error: answer.error,
      failing: false,
      odd: false,
      ms: answer.ms,
    };
  // held: waiting on --after or approval, or refusing what its peer rejected: a staged rollout working, not a fault
  const held = status.state === 'held';
  const failing = !held && PROBLEM_STATES.has(status.state as State);
  const error =
    failing || held ? (status.reason ?? status.lastError) : status.consecutiveFailures ? status.lastError : undefined;
  return {
    name: peer.name,
    url: peer.url,
    reachable: true,
    ...(error ? { error } : {}),
    failing,
    odd: false,
    status,
    ms: answer.ms,
  };
}

function driftOf(rows: Row[], options: ViewOptions): Drift | undefined {
  const serving = rows.filter((r) => r.status?.deployedSha);
  const bySha = new Map<string, Row[]>();
  for (const row of serving) bySha.set(row.status!.deployedSha!, [...(bySha.get(row.status!.deployedSha!) ?? []), row]);
  if (bySha.size <= 1) return undefined;
  // a replica deploying has no record yet for what it now serves (its `since` comes with the verdict): it moved just
  // now, so the split began now, not when the others last moved (nor at an unknown time, which is drift)
  const sinceOf = (s: PeerStatus) => (s.since ? Date.parse(s.since) : DEPLOYING.has(s.state) ? options.now : -Infinity);
  const newest = (rs: Row[]) => Math.max(...rs.map((r) => sinceOf(r.status!)));
  const revisions = [...bySha.entries()]
    .sort(([, a], [, b]) => b.length - a.length || newest(b) - newest(a))
    .map(([sha, rs]) => ({
      sha,
      ...(rs.find((r) => r.status!.subject) ? { subject: rs.find((r) => r.status!.subject)!.status!.subject } : {}),
      replicas: rs.map((r) => r.name),
    }));
  const since = newest(serving);
  const afterMs =
    options.driftAfterMs ?? 2 * Math.max(...serving.map((r) => r.status!.intervalMs ?? DEFAULT_PEER_INTERVAL_MS));
  const forMs = Number.isFinite(since) ? Math.max(0, options.now - since) : undefined;
  return {
    revisions,
    ...(forMs !== undefined ? { since: new Date(since).toISOString(), forMs } : {}),
    afterMs,
    flagged: forMs === undefined || forMs > afterMs,
  };
}

/** The view of one round's answers and the sources that gave no peer. */
export function fleetView(
  answers: readonly PeerAnswer[],
  discovery: Pick<Discovery, 'failures'>,
  options: ViewOptions,
): FleetView {
  const rows = [
    ...answers.map(rowOf),
    ...discovery.failures.map((f): Row => ({
      name: f.name,
      reachable: false,
      error: f.error,
      failing: false,
      odd: false,
    })),
  ].sort(byName);
  const drift = driftOf(rows, options);
  if (drift) {
    const main = new Set(drift.revisions[0]!.replicas);
    for (const row of rows) row.odd = row.status?.deployedSha !== undefined && !main.has(row.name);
  }
  const unreachable = rows.filter((r) => !r.reachable).map((r) => r.name);
  const failing = rows.filter((r) => r.failing).map((r) => r.name);
  const shas = new Set(rows.flatMap((r) => (r.status?.deployedSha ? [r.status.deployedSha] : [])));
  const one = shas.size === 1 ? [...shas][0]! : undefined;
  const subject = one
    ? rows.find((r) => r.status?.deployedSha === one && r.status.subject)?.status?.subject
    : undefined;
  return {
    at: new Date(options.now).toISOString(),
    rows,
    ...(one ? { revision: { sha: one, ...(subject ? { subject } : {}) } } : {}),
    ...(drift ? { drift } : {}),
    unreachable,
    failing,
    // no replica at all (an empty peers file) is nothing verified: said as unreachable, not as all well
    exitCode: unreachable.length > 0 || rows.length === 0 ? 3 : drift?.flagged || failing.length > 0 ? 1 : 0,
  };
}

const ago = (iso: string | undefined, now: number) =>
  iso ? `${formatDuration(Math.max(0, now - Date.parse(iso)))} ago` : '-';

function revisionCell(status: PeerStatus | undefined, width = 40): string {
  if (!status?.deployedSha) return '-';
  const subject = status.subject ?? '';
  const cut = subject.length > width ? `${subject.slice(0, width - 1)}…` : subject;
  return `${shortSha(status.deployedSha)}${cut ? ` ${cut}` : ''}`;
}

function stateCell(row: Row): string {
  if (!row.reachable) return 'unreachable';
  const s = row.status!;
  return s.state === 'paused' && s.paused?.reason ? `paused (${s.paused.reason})` : s.state;
}

const verifiedCell = (row: Row) => (row.status?.deployedSha ? (row.status.verified ? 'yes' : 'no') : '-');

/** The cells of a row, in the table's order: the mark, name, revision, state, since, verified, error. */
export function rowCells(row: Row, now: number): string[] {
  const mark = !row.reachable || row.failing ? '!' : row.odd ? '≠' : ' ';
  return [
    mark,
    row.name,
    revisionCell(row.status),
    stateCell(row),
    ago(row.status?.since, now),
    verifiedCell(row),
    row.error ?? '-',
  ];
}

/** What the view concludes, in a line or two. */
export function summaryLines(view: FleetView): string[] {
  const lines: string[] = [];
  const replicas = (n: number) => `${n} replica${n === 1 ? '' : 's'}`;
  const reachable = view.rows.filter((r) => r.reachable).length;
  if (view.revision)
    lines.push(
      `${reachable === view.rows.length ? 'all ' : ''}${replicas(reachable)} on ${shortSha(view.revision.sha)}${view.revision.subject ? ` ${view.revision.subject}` : ''}`,
    );
  if (view.drift) {
    const d = view.drift;
    const how = d.forMs === undefined ? 'for an unknown time' : `for ${formatDuration(d.forMs)}`;
    const verdict = d.flagged
      ? `drift: longer than ${formatDuration(d.afterMs)}`
      : `within ${formatDuration(d.afterMs)}, not drift yet`;
    lines.push(
      `${d.revisions.length} revisions ${how} (${verdict}): ${d.revisions.map((r) => `${shortSha(r.sha)} on ${r.replicas.join(', ')}`).join('; ')}`,
    );
  }
  if (view.failing.length > 0) lines.push(`failing: ${view.failing.join(', ')}`);
  if (view.unreachable.length > 0) lines.push(`unreachable: ${view.unreachable.join(', ')}`);
  if (view.rows.length === 0) lines.push('no replicas: the peers given list none');
  return lines;
}

/** The table: a header, a row per replica (columns padded, the error column last), then the summary. */
export function formatFleet(view: FleetView, now: number): string {
  const table = [
    ['', 'NAME', 'REVISION', 'STATE', 'SINCE', 'VERIFIED', 'ERROR'],
    ...view.rows.map((r) => rowCells(r, now)),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  // the mark and the name one space apart, the other columns two
  const lines = table.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .reduce((line, cell, i) => (i === 0 ? cell : `${line}${i === 1 ? ' ' : '  '}${cell}`), '')
      .trimEnd(),
  );
  return `${[...lines, '', ...summaryLines(view)].join('\n')}\n`;
}

/** The --json view: the rows with what each peer answered (its deploy history left out), the verdict. */
export function jsonView(view: FleetView): Record<string, unknown> {
  return {
    at: view.at,
    exitCode: view.exitCode,
    ...(view.revision ? { revision: view.revision } : {}),
    ...(view.drift ? { drift: view.drift } : {}),
    unreachable: view.unreachable,
    failing: view.failing,
    replicas: view.rows.map((r) => ({
      name: r.name,
      ...(r.url ? { url: r.url } : {}),
      reachable: r.reachable,
      failing: r.failing,
      odd: r.odd,
      ...(r.error ? { error: r.error } : {}),
      ...(r.ms !== undefined ? { ms: r.ms } : {}),
      ...(r.status ? { status: r.status } : {}),
    })),
  };
}
