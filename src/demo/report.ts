import { shortSha } from '../sha.js';

/** The demo's printed output, built by pure functions so the layout is tested without running anything. */

export interface DeployRow {
  /** the pushed commit, full sha */
  sha: string;
  version: string;
  /** end of `git push` until the app answered with `version`; undefined = never served */
  servedAfterMs?: number;
  /** hotpull's own pass for this commit (ls-remote → fetch → merge → touch), when it was seen */
  passMs?: number;
  /** what the app answered with, to show the new code is live */
  says?: string;
}

const COLUMNS = [
  { title: 'commit', width: 9 },
  { title: 'version', width: 9 },
  { title: 'push→served', width: 13 },
  { title: 'hotpull pass', width: 14 },
  { title: 'app says', width: 0 },
] as const;

function line(cells: string[]): string {
  return cells
    .map((cell, i) => cell.padEnd(COLUMNS[i]!.width))
    .join('')
    .trimEnd();
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function tableHeader(): string {
  return line(COLUMNS.map((c) => c.title));
}

export function tableRow(row: DeployRow): string {
  return line([
    shortSha(row.sha),
    row.version,
    row.servedAfterMs === undefined ? 'not served' : seconds(row.servedAfterMs),
    row.passMs === undefined ? '-' : `${Math.round(row.passMs)} ms`,
    row.says ?? '-',
  ]);
}

/** The closing line: the median over the pushes that were served, and how many were not. */
export function summary(rows: readonly DeployRow[], intervalMs: number): string {
  const served = rows.flatMap((r) => (r.servedAfterMs === undefined ? [] : [r.servedAfterMs]));
  const mid = median(served);
  const missed = rows.length - served.length;
  if (mid === undefined) return `no push was served (${rows.length} tried)`;
  const range = `min ${seconds(Math.min(...served))}, max ${seconds(Math.max(...served))}`;
  const tail = missed > 0 ? `; ${missed} of ${rows.length} not served` : '';
  // Most of the wait is the poll: on average half an interval passes before hotpull even looks.
  return `median push→served ${seconds(mid)} over ${served.length} pushes (${range}; polling every ${intervalMs} ms)${tail}`;
}

/** Why a push was not served, with what the app and hotpull were doing at the time. */
export function notServedMessage(input: {
  version: string;
  sha: string;
  timeoutMs: number;
  /** the version the app last answered with, if it answered at all */
  servedVersion?: string;
  probeError?: string;
  state: string;
  reason?: string;
  deployedSha?: string;
}): string {
  const app =
    input.servedVersion !== undefined
      ? `the app still serves ${input.servedVersion}`
      : `the app does not answer (${input.probeError ?? 'no reply'})`;
  const deployed = input.deployedSha ? `, checkout at ${shortSha(input.deployedSha)}` : '';
  const hotpull = `hotpull is ${input.state}${input.reason ? ` (${input.reason})` : ''}${deployed}`;
  return `${input.version} (${shortSha(input.sha)}) was not served within ${input.timeoutMs / 1000} s: ${app}; ${hotpull}`;
}
