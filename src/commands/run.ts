import type { CommandContext } from './context.js';
import { buildPipeline } from './pipeline.js';
import { Daemon } from '../sync/daemon.js';
import { formatDuration } from '../duration.js';

/** Shutdown must finish well inside Supervisor's default stopwaitsecs (10 s). */
const STOP_DEADLINE_MS = 8000;

export async function runCommand({ config, env, logger, signals }: CommandContext): Promise<number> {
  const { target, engine, reloads } = await buildPipeline(config, env, logger);
  const daemon = new Daemon(engine, { intervalMs: config.interval, backoffMaxMs: config.backoffMax, logger });
  logger.info(
    { repo: target.dir, remote: target.remoteLabel, branch: target.branch, interval: config.interval, reload: reloads, health: config.healthUrl, config: config.configFile },
    `hotpull following ${target.remoteLabel} ${target.branch} into ${target.dir} every ${formatDuration(config.interval)}`,
  );
  daemon.start();

  const signal = await new Promise<string>((resolve) => {
    signals.on('SIGUSR1', () => {
      logger.info('SIGUSR1: syncing now');
      daemon.trigger('signal');
    });
    signals.once('SIGTERM', () => resolve('SIGTERM'));
    signals.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info(`${signal}: stopping`);
  const deadline = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), STOP_DEADLINE_MS).unref());
  if ((await Promise.race([daemon.stop().then(() => 'done' as const), deadline])) === 'late') {
    logger.warn(`a git step did not finish within ${formatDuration(STOP_DEADLINE_MS)}; exiting anyway`);
  }
  logger.info('stopped');
  return 0;
}
