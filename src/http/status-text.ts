import { formatDuration } from '../duration.js';
import { PROBLEM_STATES, type Status } from '../sync/status.js';
import { shortSha } from '../sha.js';
import type { PollInfo } from '../sync/schedule.js';
import type { RevisionFields } from './revision.js';

const short = (sha: string | undefined) => shortSha(sha) ?? '-';

/** `hotpull status` exit code: 0 live, 1 the daemon reports a problem (3, unreachable, is decided earlier). */
export function statusExitCode(status: Status): number {
  return PROBLEM_STATES.has(status.state) ? 1 : 0;
}

/** The readable summary of `hotpull status`. Pure, so it is tested word for word. */
export function formatStatus(status: Status & { poll?: PollInfo }, now: number): string {
  const lines = [
    `state     ${status.state}${status.reason ? `: ${status.reason}` : ''}`,
    `branch    ${status.branch} on ${status.remote}`,
    `deployed  ${short(status.deployedSha)}${status.remoteSha && status.remoteSha !== status.deployedSha ? `  (remote at ${short(status.remoteSha)})` : ''}`,
  ];
  if (status.auth) lines.push(`auth      ${status.auth}`);
  if (status.lastGoodSha) lines.push(`last good ${short(status.lastGoodSha)}`);
  if (status.rejectedSha) lines.push(`rejected  ${short(status.rejectedSha)}`);
  if (status.lastSuccessAt)
    lines.push(`last sync ${formatDuration(Math.max(0, now - Date.parse(status.lastSuccessAt)))} ago`);
  if (status.consecutiveFailures > 0)
    lines.push(`failures  ${status.consecutiveFailures} in a row: ${status.lastError ?? ''}`);
  if (status.poll) lines.push(`polling   ${describePolling(status.poll, now)}`);
  if (status.deploys.length > 0) {
    lines.push('', 'recent deploys:');
    for (const d of status.deploys.slice(0, 10)) {
      lines.push(
        `  ${d.stages.detected}  ${short(d.from)} → ${short(d.to)}  ${d.result.padEnd(11)} ${formatDuration(d.durations.total).padStart(7)}  (${d.trigger})${d.error ? `  ${d.error}` : ''}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The `polling` line: the pace, why, and when the next poll (or retry) is due. */
export function describePolling(poll: PollInfo, now: number): string {
  const next = poll.nextAt ? Math.max(0, Date.parse(poll.nextAt) - now) : undefined;
  const due = next === undefined ? 'a pass is running' : `next in ${formatDuration(next)}`;
  if (poll.mode === 'backoff')
    return `backing off after ${poll.failures} failure${poll.failures === 1 ? '' : 's'} in a row: ${due.replace('next', 'retry')}`;
  const why = poll.mode === 'safety-poll' ? ' (webhooks arrive: --safety-poll)' : '';
  return `every ${formatDuration(poll.everyMs)}${why}; ${due}`;
}

/** One app of a many-apps file in `hotpull status`: what its daemon's /status said, or why it did not answer. */
export interface AppStatusRow {
  app: string;
  status?: Status & Partial<Pick<RevisionFields, 'subject' | 'since' | 'verified'>> & { live?: boolean };
  unreachable?: string;
}

/**
 * `hotpull status` for every app, one line each: name, state, the deployed revision (short sha and subject), since
 * when it serves, live and verified, and the last error while passes fail (else a problem state's reason). Pure.
 */
export function formatAppsStatus(rows: readonly AppStatusRow[], now: number): string {
  const nameWidth = Math.max(...rows.map((r) => r.app.length));
  const stateWidth = Math.max(...rows.map((r) => (r.status ? r.status.state.length : 'unreachable'.length)));
  const lines = rows.map(({ app, status: s, unreachable }) => {
    const head = `${app.padEnd(nameWidth)}  ${(s?.state ?? 'unreachable').padEnd(stateWidth)}`;
    if (!s) return `${head}  ${unreachable ?? ''}`;
    const parts = [`${short(s.deployedSha)}${s.subject ? ` ${s.subject}` : ''}`];
    if (s.since) parts.push(`since ${formatDuration(Math.max(0, now - Date.parse(s.since)))} ago`);
    parts.push(`${s.live ? 'live' : 'not live'}${s.verified ? ', verified' : ''}`);
    const problem = s.consecutiveFailures > 0 ? s.lastError : PROBLEM_STATES.has(s.state) ? s.reason : undefined;
    if (problem) parts.push(`error: ${problem}`);
    return `${head}  ${parts.join('  ')}`;
  });
  return `${lines.map((l) => l.trimEnd()).join('\n')}\n`;
}
