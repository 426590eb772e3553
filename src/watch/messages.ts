import { formatDuration } from '../duration.js';
import { oneLine } from '../errors.js';

/** The fix for the inotify watch limit; the limit is the host kernel's, shared by every container on it. */
export const WATCH_LIMIT_FIX = 'sysctl fs.inotify.max_user_watches=524288';

export interface WatchErrorContext {
  /** the path as the user knows it: repo-relative, or the repo itself */
  readonly where: string;
  /** the inotify watches a user may have, when it could be read */
  readonly watchLimit?: number;
  readonly uid?: number;
}

/**
 * One line for an error the watcher reports: the expected ones (watch limit, permissions) say what it means and
 * how to fix it; anything else is shown as its message. Pure.
 */
export function watchErrorMessage(error: NodeJS.ErrnoException, context: WatchErrorContext): string {
  const { where } = context;
  switch (error.code) {
    case 'ENOSPC':
      return (
        `cannot watch ${where}: the inotify watch limit is reached${context.watchLimit ? ` (${context.watchLimit} watches per user)` : ''}, ` +
        `so changes below it will not reload; raise it on the host with \`${WATCH_LIMIT_FIX}\`, or --ignore large directories, or use --poll on`
      );
    case 'EMFILE':
      return (
        `cannot watch ${where}: too many inotify instances or open files (fs.inotify.max_user_instances, ulimit -n), ` +
        'so changes below it will not reload; raise it on the host with `sysctl fs.inotify.max_user_instances=512`, or use --poll on'
      );
    case 'EACCES':
    case 'EPERM':
      return (
        `cannot watch ${where}: permission denied (${error.code})${context.uid === undefined ? '' : ` for uid ${context.uid}`}, ` +
        'so changes to it will not reload; make it readable (chmod, chown) or --ignore it'
      );
    default:
      return `cannot watch ${where}: ${oneLine(error)}`;
  }
}

export type PollMode = 'off' | 'on' | 'auto';

/** What the mount probe found: events arrive, none did within the wait, or the probe file could not be written. */
export type ProbeResult =
  { kind: 'events'; ms: number } | { kind: 'silent'; waitedMs: number } | { kind: 'unwritable'; reason: string };

/** The warning for a mount that delivers no events, or undefined when there is nothing to say. Pure. */
export function probeMessage(
  result: ProbeResult,
  dir: string,
  mode: PollMode,
  pollIntervalMs: number,
): string | undefined {
  switch (result.kind) {
    case 'events':
      return undefined;
    case 'unwritable':
      return `could not probe ${dir} for file events (${result.reason}); if edits do not reload, use --poll on`;
    case 'silent':
      return (
        `no file event arrived within ${formatDuration(result.waitedMs)} of writing a probe file in ${dir}: this mount does not deliver ` +
        `inotify events (a Docker Desktop or WSL2 bind mount?)` +
        (mode === 'auto'
          ? `; polling every ${formatDuration(pollIntervalMs)} instead (--poll auto)`
          : ', so edits will not reload; use --poll on (or --poll auto)')
      );
  }
}
