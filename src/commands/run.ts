import type { CommandContext } from './context.js';
import { formatDuration } from '../duration.js';
import { loadSecret } from '../http/secret.js';
import { startApp, survivePidExhaustion } from './app.js';
import { STOP_DEADLINE_MS, stoppedInTime } from './stop.js';

/** "Sync now": SIGHUP, and SIGUSR1 where Node still delivers it (bin/hotpull gives --disable-sigusr1 where it can). */
const SYNC_SIGNALS = ['SIGHUP', 'SIGUSR1'] as const;

export async function runCommand(context: CommandContext): Promise<number> {
  // a config file with apps: one process follows them all
  if (context.config.apps) {
    // a SIGHUP while the module loads must not meet Node's default action (the end of the process): kept for it
    let early = false;
    const keep = () => void (early = true);
    context.signals.on('SIGHUP', keep);
    const { runApps } = await import('./run-apps.js');
    return runApps(context, () => early);
  }
  const { config, env, logger, signals } = context;
  // Listened to first: a SIGHUP left to its default would end a daemon still starting. One that comes before the
  // loop runs is served by its first pass.
  let syncNow: ((name: string) => void) | undefined;
  for (const name of SYNC_SIGNALS)
    signals.on(name, () => {
      logger.info(`${name}: syncing now`);
      syncNow?.(name);
    });
  const secret = config.listen ? await loadSecret(config) : undefined;
  const app = await startApp(config, env, logger, { secret, tcp: true });
  survivePidExhaustion(logger);
  await app.start();
  syncNow = (name) => app.daemon.trigger('signal', name);

  // `on`, not `once`: a second signal during the stop must find a listener, or Node's default action ends the process.
  const signal = await new Promise<string>((resolve) => {
    signals.on('SIGTERM', () => resolve('SIGTERM'));
    signals.on('SIGINT', () => resolve('SIGINT'));
  });
  logger.info(`${signal}: stopping`);
  if (!(await stoppedInTime(app.stop()))) {
    // Reload and hook commands are ended with their process group within a few seconds; what is left is a local
    // git step. The journal says what the next start has to finish.
    logger.warn(
      `the pass in progress (${app.engine.status.state}) did not end within ${formatDuration(STOP_DEADLINE_MS)}; exiting anyway, the next start finishes it`,
    );
  }
  logger.info('stopped');
  return 0;
}
