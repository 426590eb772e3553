import { childEnv } from '../proc/child-env.js';
import { shortSha } from '../sha.js';
import type { Logger } from '../log.js';
import type { EngineListener } from '../sync/status-keeper.js';
import { runShell } from '../proc/exec.js';
import { oneLine, isHotpullError } from '../errors.js';
import { redact } from '../redact.js';

export interface OnLiveOptions {
  command: string;
  timeoutMs: number;
  /** the checkout as served (atomic: its `current`) */
  dir: string;
  branch: string;
  remoteLabel: string;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  signal?: AbortSignal;
  onResult?: (result: 'ok' | 'failed') => void;
}

/**
 * --on-live: after each deploy that went live (verified, or reloaded when there is no health check), runs the
 * command once, in the background and one at a time. Its failure is logged and counted; it never rolls back.
 */
export function onLiveListener(options: OnLiveOptions): EngineListener {
  const { logger, command } = options;
  const label = redact(command);
  let queue: Promise<void> = Promise.resolve();
  return (change) => {
    if (change.kind !== 'deploy' || (change.record.result !== 'live' && change.record.result !== 'reloaded')) return;
    const { record } = change;
    const env: Record<string, string | undefined> = {
      ...childEnv(options.env),
      HOTPULL_SHA: record.to,
      HOTPULL_PREVIOUS_SHA: record.from,
      HOTPULL_DIR: options.dir,
      // not HOTPULL_BRANCH and HOTPULL_REMOTE: those are options, which a `hotpull` this runs would read as its own
      HOTPULL_DEPLOY_BRANCH: options.branch,
      HOTPULL_DEPLOY_REMOTE: options.remoteLabel,
      HOTPULL_TRIGGER: record.trigger,
      HOTPULL_RESULT: record.result,
      HOTPULL_VERIFIED: record.result === 'live' ? '1' : '0',
      HOTPULL_DEPLOY_MS: String(record.durations.total),
    };
    queue = queue.then(async () => {
      if (options.signal?.aborted) return;
      try {
        const result = await runShell(command, {
          cwd: options.dir,
          timeoutMs: options.timeoutMs,
          env,
          signal: options.signal,
          progress: (line) => (line.startsWith('still running') ? logger.info(line) : logger.warn(line)),
        });
        options.onResult?.('ok');
        logger.info(
          { onLive: label, sha: record.to, ms: result.durationMs },
          `--on-live "${label}" ran for ${shortSha(record.to)} in ${result.durationMs}ms`,
        );
      } catch (error) {
        if (isHotpullError(error, 'ABORTED')) return;
        options.onResult?.('failed');
        logger.error(
          { onLive: label, sha: record.to, err: oneLine(error) },
          `--on-live failed for ${shortSha(record.to)} (the deploy stays live): ${oneLine(error)}`,
        );
      }
    });
  };
}
