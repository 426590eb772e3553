import { formatDuration } from '../duration.js';
import { PROBLEM_STATES, type Status } from '../sync/status.js';
import { shortSha } from '../sha.js';

const short = (sha: string | undefined) => shortSha(sha) ?? '-';

/** `hotpull status` exit code: 0 live, 1 the daemon reports a problem (3, unreachable, is decided earlier). */
export function statusExitCode(status: Status): number {
  return PROBLEM_STATES.has(status.state) ? 1 : 0;
}

/** The readable summary of `hotpull status`. Pure, so it is tested word for word. */
export function formatStatus(status: Status, now: number): string {
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
