import { formatDuration } from '../duration.js';
import { PROBLEM_STATES, type Status } from '../sync/status.js';
import { shortSha } from '../sha.js';
import type { PollInfo } from '../sync/schedule.js';

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
