import type { Config } from '../config/load.js';
import type { Logger } from '../log.js';
import type { SyncEngine } from '../sync/engine.js';
import { buildPipeline } from './pipeline.js';
import { Daemon } from '../sync/daemon.js';
import { formatDuration } from '../duration.js';
import { Metrics } from '../http/metrics.js';
import { followedRef, rememberSubjects } from '../http/revision.js';
import { loadSecret } from '../http/secret.js';
import type { PageSource, StatusServer } from '../http/server.js';
import { configError, isHotpullError, oneLine } from '../errors.js';
import { closeOperatorSocket, operatorSocket, recordEndpoint } from '../http/local-socket.js';
import { redact } from '../redact.js';
import { hotpullVersion } from '../version.js';
import { notifySettings } from '../notify/settings.js';
import { onLiveListener } from '../notify/on-live.js';
import type { Notifier } from '../notify/deliver.js';
import path from 'node:path';
import type { Target } from '../sync/target.js';

/**
 * Out of file descriptors, Node's spawn fails on the next tick with no stdio at all. hotpull's own spawns
 * (proc/exec.ts, the ls-remote shell, flock) turn that into a failed result; simple-git, the git adapter's library,
 * reads its child's stdout before it listens for 'error' and so throws and leaves that 'error' to no one. That must
 * cost one failed pass, not the daemon: such errors are logged (once a minute at most) and the loop goes on; anything
 * else still ends the process as an uncaught error would.
 */
export function survivePidExhaustion(logger: Logger): void {
  let lastLogged = 0;
  process.on('uncaughtException', (error: NodeJS.ErrnoException) => {
    if (
      ['EMFILE', 'ENFILE', 'EAGAIN', 'ENOMEM'].includes(error.code ?? '') &&
      /spawn/.test(`${error.syscall ?? ''} ${error.message}`)
    ) {
      if (Date.now() - lastLogged > 60_000)
        logger.warn({ err: error.message }, `could not start a process (${error.code}); the pass fails and is retried`);
      lastLogged = Date.now();
      return;
    }
    process.stderr.write(`hotpull: internal error: ${redact(error.stack ?? String(error))}\n`);
    process.exit(1);
  });
}

/** A remote name (origin) says little in a chat channel: its URL, credentials masked. A URL is never put on git's argv. */
export async function repoLabel(target: Target): Promise<string> {
  if (/[/:\\]/.test(target.remote)) return target.remoteLabel;
  return redact(
    (await target.git.getConfig(`remote.${target.remote}.url`).catch(() => undefined)) ?? target.remoteLabel,
  );
}

/** What is left of it for notifications still queued (a target that is down does not hold the stop up longer). */
const NOTIFY_DRAIN_MS = 2000;

/** A daemon following one checkout, started: what `run` runs once, and a many-apps process once per app. */
export interface RunningApp {
  readonly target: Target;
  readonly engine: SyncEngine;
  readonly daemon: Daemon;
  readonly server: StatusServer;
  readonly metrics: Metrics;
  /** the first pass, and the file watcher of --watch */
  start(): Promise<void>;
  /** ends the pass in progress (or, `afterPass`, waits for it), the listener and the notifications (a short drain) */
  stop(afterPass?: boolean): Promise<unknown>;
}

export interface AppOptions {
  /** the webhook and operator secret */
  secret?: string;
  /** whether this app binds --listen itself (a single-app `run`); a many-apps process shares one listener */
  tcp: boolean;
  /** POST /reload-config on this app's operator socket (a many-apps process) */
  reloadConfig?: () => Promise<{ ok: boolean; message: string }>;
}

/**
 * Wires one app: the pipeline, its daemon, metrics, notifications, --on-live, and its operator socket (plus the TCP
 * listener when `tcp`). Throws config errors (exit 2) before anything runs.
 */
export async function startApp(
  config: Config,
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
  { secret, tcp, reloadConfig }: AppOptions,
): Promise<RunningApp> {
  if (config.watch && config.layout === 'atomic') {
    throw configError(
      '--watch needs --layout in-place (got atomic): dev mode reloads for edits made in the checkout itself',
    );
  }
  const notify = await notifySettings(config);
  const { target, engine, reloads, reloading, gate, listen } = await buildPipeline(config, env, logger, 'run');
  const daemon = new Daemon(engine, {
    intervalMs: config.interval,
    backoffMaxMs: config.backoffMax,
    safetyPollMs: config.safetyPoll,
    logger,
  });
  let notifier: Notifier | undefined;
  const ref = followedRef(target.ref, target.branch);
  const metrics = new Metrics(hotpullVersion(), notify ? () => notifier?.waiting ?? 0 : undefined, ref);
  const subjectOf = async (sha: string) =>
    (await target.git.run(['log', '-1', '--format=%s', sha])).trim() || undefined;
  // /status names the deployed revision's subject: looked up once per revision, as soon as the status names it
  const knownSubject = rememberSubjects(subjectOf);
  listen((_change, status) => void (status.deployedSha && knownSubject(status.deployedSha)));
  if (engine.status.deployedSha) knownSubject(engine.status.deployedSha);
  const stopping = new AbortController();
  if (notify) {
    // Loaded only when asked for: a daemon without --notify never loads the HTTP client.
    const { startNotifications } = await import('../notify/setup.js');
    const started = startNotifications({
      settings: notify,
      origin: { repo: await repoLabel(target), branch: target.branch, dir: target.dir },
      subjectOf,
      logger,
      onResult: (result) => metrics.recordNotification(result),
    });
    notifier = started.notifier;
    listen(started.listener);
  }
  if (config.onLive) {
    listen(
      onLiveListener({
        command: config.onLive,
        timeoutMs: config.onLiveTimeout,
        dir: config.layout === 'atomic' ? path.join(target.dir, 'current') : target.dir,
        branch: target.branch,
        remoteLabel: target.remoteLabel,
        env,
        logger,
        signal: stopping.signal,
        onResult: (result) => metrics.recordOnLive(result),
      }),
    );
  }

  // Always listening on the operator socket (status, pause, reset … need no --url or secret on this machine); on TCP
  // only with --listen.
  daemon.onPass((outcome, pass) => metrics.recordPass(outcome, pass));
  const { startServer } = await import('../http/server.js');
  const { daemonControl } = await import('../sync/control.js');
  const { refMoves } = await import('../sync/ref.js');
  const follows = target.ref ? (ref: string) => refMoves(target.ref!, ref) : undefined;
  const stateDir = path.join(await target.git.gitDir(), 'hotpull');
  const control = daemonControl(daemon, { git: target.git, stateDir });
  // when the state was entered, for the status page and /status (the status itself keeps no time per state)
  let since = new Date().toISOString();
  listen((change) => {
    if (change.kind === 'state' && change.state !== change.previous) since = new Date().toISOString();
  });
  const page: PageSource = {
    since: () => since,
    subjects: async (shas) => {
      // one git for all; a sha the checkout does not have is left out (--ignore-missing), not an error
      const out = await target.git.run(['log', '--no-walk=unsorted', '--ignore-missing', '--format=%H %s', ...shas]);
      return new Map(
        out
          .split('\n')
          .filter((line) => line.length > 41)
          .map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)] as const),
      );
    },
  };
  const options = {
    listen: tcp ? config.listen : undefined,
    daemon,
    status: () => engine.status,
    metrics,
    branch: target.branch,
    follows,
    secret,
    logger,
    control,
    page,
    revision: { ref, intervalMs: config.interval, subjectOf: knownSubject },
    reloadConfig,
  };
  const socket = await operatorSocket(stateDir, logger);
  const server: StatusServer = await startServer({ ...options, socket }).catch((error: unknown) => {
    if (!socket || isHotpullError(error, 'CONFIG')) throw error;
    // the socket could not be bound: TCP alone (with --listen), said once
    logger.warn(
      { err: oneLine(error) },
      `no operator socket (${socket}): ${oneLine(error)}; --url is needed to reach this daemon`,
    );
    return startServer(options);
  });
  if (tcp && config.listen) {
    if (!secret)
      logger.warn(
        'no webhook secret (--webhook-secret-file or HOTPULL_WEBHOOK_SECRET): POST /webhook and /sync answer 503',
      );
    logger.info({ url: server.url }, `listening on ${server.url}`);
  }
  if (server.socket) {
    await recordEndpoint(stateDir, server.socket, tcp && config.listen ? server.url : undefined, logger);
  }

  logger.info(
    {
      repo: target.dir,
      remote: target.remoteLabel,
      branch: target.branch,
      interval: config.interval,
      reload: reloads,
      health: config.healthUrl,
      config: config.configFile,
    },
    `hotpull following ${target.remoteLabel} ${target.branch} into ${target.dir} every ${formatDuration(config.interval)}`,
  );
  let watching: { close(): Promise<void> } | undefined;
  return {
    target,
    engine,
    daemon,
    server,
    metrics,
    async start() {
      daemon.start();
      // Dev mode: local edits reload too, through the gate the engine holds while it deploys. Loaded only when asked for.
      watching = config.watch
        ? (await import('./watch.js')).startWatching(config, target.dir, reloading, logger, gate)
        : undefined;
    },
    stop: async (afterPass = false) => {
      if (afterPass) await daemon.retire();
      stopping.abort();
      return Promise.all([
        daemon.stop(),
        server.close().then(() => closeOperatorSocket(stateDir, server.socket)),
        watching?.close(),
      ]).then(() => notifier?.drain(NOTIFY_DRAIN_MS));
    },
  };
}
