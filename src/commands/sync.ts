import type { CommandContext } from './context.js';
import { buildPipeline } from './pipeline.js';
import { configError, oneLine } from '../errors.js';
import { daemonUrl } from './status.js';
import { requestControl, requestSync } from '../net/daemon-client.js';
import { loadSecret } from '../http/secret.js';
import { shortSha } from '../sha.js';

/** One pass and exit: 0 = up to date or updated, 1 = failed, blocked (diverged, dirty, held) or rejected, 2 = bad config. */
export async function syncCommand({ config, env, logger, stdout }: CommandContext): Promise<number> {
  if (config.wait && !config.now)
    throw configError(
      '--wait must come with sync --now (got --wait alone; hotpull sync already waits for its own pass)',
    );
  if (config.now) {
    const secret = await loadSecret(config);
    if (!secret)
      throw configError(
        'sync --now needs the webhook secret: set HOTPULL_WEBHOOK_SECRET or --webhook-secret-file (got neither)',
      );
    if (config.wait) {
      // the daemon answers when the pass this request started has ended
      const answer = await requestControl(daemonUrl(config), secret, '/sync?wait=1', undefined, true);
      stdout.write(`${answer.message}\n`);
      return answer.ok ? 0 : 1;
    }
    stdout.write(`${await requestSync(daemonUrl(config), secret)}\n`);
    return 0;
  }
  const { engine } = await buildPipeline(config, env, logger);
  try {
    const outcome = await engine.sync('cli');
    if (outcome.kind === 'up-to-date') logger.info({ sha: outcome.sha }, `up to date at ${shortSha(outcome.sha)}`);
    return outcome.kind === 'blocked' || outcome.kind === 'rejected' ? 1 : 0;
  } catch (error) {
    logger.error({ err: oneLine(error) }, `sync failed: ${oneLine(error)}`);
    return 1;
  }
}
