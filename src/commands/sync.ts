import type { CommandContext } from './context.js';
import { buildPipeline } from './pipeline.js';
import { configError, oneLine } from '../errors.js';
import { daemonAccess } from './status.js';
import { requestControl, requestSync, UNIX } from '../net/daemon-client.js';
import { daemonOfCheckout } from './find-daemon.js';
import { shortSha } from '../sha.js';
import { ASKING_KEYS } from '../config/options.js';
import { flagName } from '../config/names.js';

/** One pass and exit: 0 = up to date or updated, 1 = failed, blocked (diverged, dirty, held) or rejected, 2 = bad config. */
export async function syncCommand({ config, env, logger, stdout, flags }: CommandContext): Promise<number> {
  if (config.wait && !config.now)
    throw configError(
      '--wait must come with sync --now (got --wait alone; hotpull sync already waits for its own pass)',
    );
  if (config.now) {
    const { url, secret } = await daemonAccess(config, env, 'sync --now');
    if (config.wait) {
      // the daemon answers when the pass this request started has ended
      const answer = await requestControl(url, secret, '/sync?wait=1', undefined, true);
      stdout.write(`${answer.message}\n`);
      return answer.ok ? 0 : 1;
    }
    stdout.write(`${await requestSync(url, secret)}\n`);
    return 0;
  }
  // A daemon owns the checkout: its lock would keep this process waiting, so the daemon runs the pass (the next
  // one it starts, shared with every other caller meanwhile) and this process reports its outcome.
  const owner = await daemonOfCheckout(config, env);
  if (owner.base?.startsWith(UNIX)) {
    // given for this process's own pass (or for the lock wait), which does not happen
    const unused = Object.keys(flags ?? {}).filter((key) => !ASKING_KEYS.has(key) && key !== 'syncTimeout');
    if (unused.length > 0)
      logger.warn(
        { flags: unused },
        `the daemon that owns ${config.repo} runs the pass with its own options: ${unused.map((k) => `--${flagName(k)}`).join(', ')} not used`,
      );
    try {
      const answer = await requestControl(owner.base, undefined, '/sync?wait=1', undefined, true);
      const line = `asked the daemon that owns ${config.repo}: ${answer.message}`;
      if (answer.ok) logger.info({ result: answer.result, sha: answer.sha }, line);
      else logger.error({ result: answer.result, sha: answer.sha }, line);
      return answer.ok ? 0 : 1;
    } catch (error) {
      logger.error({ err: oneLine(error) }, `sync failed: ${oneLine(error)}`);
      return 1;
    }
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
