import { childEnv } from '../proc/child-env.js';
import { promises as fs } from 'node:fs';
import type { CommandContext } from './context.js';
import type { Config } from '../config/load.js';
import type { Logger } from '../log.js';
import type { ReloadGate } from '../reload/gate.js';
import { describeSpec } from '../reload/spec.js';
import { configError } from '../errors.js';
import { formatDuration } from '../duration.js';
import { resolveReloads, type Reloads } from './pipeline.js';
import { startDevWatch, type DevWatch } from '../watch/dev.js';
import { STOP_DEADLINE_MS, stoppedInTime } from './stop.js';

/** Dev mode on `dir` with the configured options; shared by `watch` and `run --watch` (which passes the engine's gate). */
export function startWatching(
  config: Config,
  dir: string,
  reloads: Reloads,
  logger: Logger,
  gate?: ReloadGate,
): DevWatch {
  return startDevWatch({
    dir,
    reloaders: reloads.reloaders,
    reloadFiles: reloads.files,
    ignore: config.ignore,
    ext: config.ext,
    debounceMs: config.debounce,
    poll: config.poll,
    logger,
    gate,
  });
}

/** `hotpull watch`: reload the app server when files in --repo change; runs until SIGTERM or SIGINT, then exits 0. */
export async function watchCommand({ config, env, logger, signals }: CommandContext): Promise<number> {
  const dir = config.repo;
  if (!(await fs.stat(dir).catch(() => undefined))?.isDirectory())
    throw configError(`--repo must be an existing directory (got ${JSON.stringify(dir)})`);
  const reloads = await resolveReloads(config, dir, childEnv(env));
  if (reloads.specs.length === 0 && !config.reload.some((s) => s.kind === 'none')) {
    throw configError(
      `--reload is required for watch: give --touch FILE or --reload STRATEGY, or --reload none to only log changes (got neither, and ${dir} has no uwsgi.ini)`,
    );
  }
  // `on`, not `once`: a second signal during the stop must find a listener, or Node's default action ends the process.
  const stop = new Promise<string>((resolve) => {
    signals.on('SIGTERM', () => resolve('SIGTERM'));
    signals.on('SIGINT', () => resolve('SIGINT'));
  });
  const names = reloads.specs.map(describeSpec);
  logger.info(
    { repo: dir, reload: names, debounce: config.debounce, ext: config.ext, ignore: config.ignore, poll: config.poll },
    `hotpull watching ${dir}: ${names.length ? `reload with ${names.join(', ')}` : 'log changes only'} after ${formatDuration(config.debounce)} without changes`,
  );
  const watching = startWatching(config, dir, reloads, logger);
  const signal = await stop;
  logger.info(`${signal}: stopping`);
  if (!(await stoppedInTime(watching.close()))) {
    logger.warn(`a reload did not finish within ${formatDuration(STOP_DEADLINE_MS)}; exiting anyway`);
  }
  logger.info('stopped');
  return 0;
}
