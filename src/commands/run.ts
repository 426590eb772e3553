import type { CommandContext } from './context.js';
import { buildPipeline } from './pipeline.js';
import { Daemon } from '../sync/daemon.js';
import { formatDuration } from '../duration.js';
import { Metrics } from '../http/metrics.js';
import { loadSecret } from '../http/secret.js';
import type { StatusServer } from '../http/server.js';
import { configError } from '../errors.js';
import { redact } from '../redact.js';

/**
 * Out of file descriptors or processes, a spawn can fail in a way no caller hears of (execa 9 throws before it
 * listens to its subprocess, whose 'error' then has no listener). That must cost one failed pass, not the
 * daemon: such errors are logged (once a minute at most) and the loop goes on; anything else still ends the
 * process as an uncaught error would.
 */
function survivePidExhaustion(logger: CommandContext['logger']): void {
  let lastLogged = 0;
  process.on('uncaughtException', (error: NodeJS.ErrnoException) => {
    if (['EMFILE', 'ENFILE', 'EAGAIN', 'ENOMEM'].includes(error.code ?? '') && /spawn/.test(`${error.syscall ?? ''} ${error.message}`)) {
      if (Date.now() - lastLogged > 60_000) logger.warn({ err: error.message }, `could not start a process (${error.code}); the pass fails and is retried`);
      lastLogged = Date.now();
      return;
    }
    process.stderr.write(`hotpull: internal error: ${redact(error.stack ?? String(error))}\n`);
    process.exit(1);
  });
}

/** Shutdown must finish well inside Supervisor's default stopwaitsecs (10 s). */
const STOP_DEADLINE_MS = 8000;

export async function runCommand({ config, env, logger, signals }: CommandContext): Promise<number> {
  const secret = config.listen ? await loadSecret(config) : undefined;
  if (config.watch && config.layout === 'atomic') {
    throw configError('--watch needs --layout in-place (got atomic): dev mode reloads for edits made in the checkout itself');
  }
  const { target, engine, reloads, reloading, gate } = await buildPipeline(config, env, logger, 'run');
  survivePidExhaustion(logger);
  const daemon = new Daemon(engine, { intervalMs: config.interval, backoffMaxMs: config.backoffMax, logger });

  let server: StatusServer | undefined;
  if (config.listen) {
    const metrics = new Metrics();
    daemon.onPass((outcome, pass) => metrics.recordPass(outcome, pass));
    // Loaded only when asked for: a poll-only sidecar never pays for the HTTP stack.
    const { startServer } = await import('../http/server.js');
    const { daemonControl } = await import('./pause.js');
    const { refMoves } = await import('../sync/ref.js');
    const follows = target.ref ? (ref: string) => refMoves(target.ref!, ref) : undefined;
    const control = daemonControl(daemon);
    server = await startServer({ listen: config.listen, daemon, status: () => engine.status, metrics, branch: target.branch, follows, secret, logger, control });
    if (!secret) logger.warn('no webhook secret (--webhook-secret-file or HOTPULL_WEBHOOK_SECRET): POST /webhook and /sync answer 503');
    logger.info({ url: server.url }, `listening on ${server.url}`);
  }

  logger.info(
    { repo: target.dir, remote: target.remoteLabel, branch: target.branch, interval: config.interval, reload: reloads, health: config.healthUrl, config: config.configFile },
    `hotpull following ${target.remoteLabel} ${target.branch} into ${target.dir} every ${formatDuration(config.interval)}`,
  );
  daemon.start();
  // Dev mode: local edits reload too, through the gate the engine holds while it deploys. Loaded only when asked for.
  const watching = config.watch ? (await import('./watch.js')).startWatching(config, target.dir, reloading, logger, gate) : undefined;

  // `on`, not `once`: execa's exit hook re-raises a signal it finds no other listener for.
  const signal = await new Promise<string>((resolve) => {
    signals.on('SIGUSR1', () => {
      logger.info('SIGUSR1: syncing now');
      daemon.trigger('signal');
    });
    signals.on('SIGTERM', () => resolve('SIGTERM'));
    signals.on('SIGINT', () => resolve('SIGINT'));
  });
  logger.info(`${signal}: stopping`);
  const deadline = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), STOP_DEADLINE_MS).unref());
  const stopped = Promise.all([daemon.stop(), server?.close(), watching?.close()]).then(() => 'done' as const);
  if ((await Promise.race([stopped, deadline])) === 'late') {
    // Reload and hook commands are ended with their process group within a few seconds; what is left is a local
    // git step. The journal says what the next start has to finish.
    logger.warn(`the pass in progress (${engine.status.state}) did not end within ${formatDuration(STOP_DEADLINE_MS)}; exiting anyway, the next start finishes it`);
  }
  logger.info('stopped');
  return 0;
}
