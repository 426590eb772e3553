import type { Config } from '../config/load.js';
import type { Logger } from '../log.js';
import { SyncEngine } from '../sync/engine.js';
import { resolveTarget, checkBranchOnRemote, type Target } from '../sync/target.js';
import { TouchReloader } from '../reload/touch.js';
import type { Reloader } from '../reload/types.js';
import { oneLine } from '../errors.js';

export interface Pipeline {
  target: Target;
  engine: SyncEngine;
}

/** Wires config → target → reloaders → engine; shared by `run` and `sync`. Throws config errors (exit 2). */
export async function buildPipeline(config: Config, env: Readonly<Record<string, string | undefined>>, logger: Logger): Promise<Pipeline> {
  const target = await resolveTarget(config, env);
  const reachable = await checkBranchOnRemote(target, config.syncTimeout);
  if (reachable !== 'ok') {
    logger.warn({ err: oneLine(reachable) }, `remote not reachable at start, will keep retrying: ${oneLine(reachable)}`);
  }
  const reloaders: Reloader[] = [];
  if (target.touchFile) reloaders.push(new TouchReloader(target.touchFile));
  else logger.warn(`no reload file: the repo has no uwsgi.ini and --touch is not set; deploys will update files only`);
  const engine = new SyncEngine({
    git: target.git,
    remote: target.remote,
    remoteLabel: target.remoteLabel,
    branch: target.branch,
    fetchRef: target.fetchRef,
    reloaders,
    onDiverged: config.onDiverged,
    onDirty: config.onDirty,
    syncTimeoutMs: config.syncTimeout,
    logger,
  });
  return { target, engine };
}
