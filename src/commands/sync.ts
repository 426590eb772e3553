import type { CommandContext } from './context.js';
import { buildPipeline } from './pipeline.js';
import { oneLine } from '../errors.js';

/** One pass and exit: 0 = up to date or updated, 1 = failed or blocked (diverged/dirty), 2 = bad config. */
export async function syncCommand({ config, env, logger }: CommandContext): Promise<number> {
  const { engine } = await buildPipeline(config, env, logger);
  try {
    const outcome = await engine.sync('cli');
    if (outcome.kind === 'up-to-date') logger.info({ sha: outcome.sha }, `up to date at ${outcome.sha.slice(0, 12)}`);
    return outcome.kind === 'blocked' ? 1 : 0;
  } catch (error) {
    logger.error({ err: oneLine(error) }, `sync failed: ${oneLine(error)}`);
    return 1;
  }
}
