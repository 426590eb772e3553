import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { CommandContext } from './context.js';
import type { Config } from '../config/load.js';
import { loadConfig } from '../config/load.js';
import { PROCESS_KEYS, type AppConfig } from '../config/apps.js';
import { flagName } from '../config/names.js';
import { configError, isHotpullError, oneLine } from '../errors.js';
import { formatDuration } from '../duration.js';
import { loadSecret } from '../http/secret.js';
import type { StatusServer } from '../http/server.js';
import { startAppsServer, type AppEndpoint } from '../http/apps-server.js';
import { repoKey } from '../http/apps-routing.js';
import { enterLane, Slots } from '../proc/slots.js';
import { checkApp } from './pipeline.js';
import { repoLabel, startApp, survivePidExhaustion, type RunningApp } from './app.js';
import { STOP_DEADLINE_MS, stoppedInTime } from './stop.js';

/** Git processes at once for all apps, and per app: a hung remote holds at most its app's share. */
export const GIT_SLOTS = { size: 8, perApp: 2 } as const;
/** Canaries at once (each a whole app server for a while), and per app. */
export const CANARY_SLOTS = { size: 2, perApp: 1 } as const;
/** Apps started at once at start and on a reload (each asks its remote once). */
const STARTING_AT_ONCE = 8;
/** An app that could not start (not a config error: its checkout missing, its disk full) is tried again. */
const RETRY_MS = 10_000;

interface Member {
  readonly app: AppConfig;
  /** the app's configuration as text, to tell a changed entry on reload */
  readonly key: string;
  running?: RunningApp;
  endpoint?: AppEndpoint;
  retry?: NodeJS.Timeout;
  problem?: string;
  /** ends the app's claim on its directories' share of the slots (proc/slots.ts) */
  leaveLane?: () => void;
}

/** JSON with sorted keys: the same configuration gives the same text. */
function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

/** Whether an in-place app's checkout is missing (no .git there); an atomic layout makes its own. */
async function checkoutGone(app: AppConfig): Promise<boolean> {
  if (app.config.layout === 'atomic') return false;
  return !(await stat(path.join(app.config.repo, '.git')).catch(() => undefined));
}

/** Runs `work` over `items`, `limit` at a time. */
async function bounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const at = next++;
      results[at] = await work(items[at]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * `hotpull run` with a config file holding `apps:`: one process follows every app. Each app is what a single-app
 * daemon is (its lock, journal, pause, history, rejected marks, operator socket in its own state directory, its own
 * pass queue); they share one TCP listener (/apps/NAME/…), one log (each line prefixed with the app) and the git and
 * canary slots, handed out fairly (proc/slots.ts). SIGHUP (or `hotpull reload-config`) reads the file again.
 */
export async function runApps(context: CommandContext, hupBefore: () => boolean = () => false): Promise<number> {
  const { config, env, logger, signals } = context;
  // an app's option on the command line would be one value for every app, or none of theirs: said, not guessed
  const perApp = Object.keys(context.flags ?? {}).filter((k) => !(PROCESS_KEYS as readonly string[]).includes(k));
  if (perApp.length > 0)
    throw configError(
      `--${flagName(perApp[0]!)} is an app's option: with apps: in ${config.configFile} each app takes it from its entry or the keys above apps: (got --${perApp.map(flagName).join(', --')} on the command line)`,
    );
  // a SIGHUP before the apps have started is served once they have
  let hupEarly = false;
  let reloadAsked: (() => void) | undefined;
  signals.on('SIGHUP', () => {
    logger.info('SIGHUP: reading the config file again, then every app syncs now');
    if (reloadAsked) reloadAsked();
    else hupEarly = true;
  });
  signals.on('SIGUSR1', () => {
    logger.info('SIGUSR1: every app syncs now');
    for (const m of members.values()) m.running?.daemon.trigger('signal', 'SIGUSR1');
  });
  const secret = config.listen ? await loadSecret(config) : undefined;
  const git = new Slots(GIT_SLOTS.size, GIT_SLOTS.perApp);
  const canaries = new Slots(CANARY_SLOTS.size, CANARY_SLOTS.perApp);
  const members = new Map<string, Member>();
  /** removed apps still in the pass they stop after */
  const retiring = new Set<Member>();
  let lastReload: { at: string; ok: boolean; message: string } | undefined;
  let stopping = false;
  survivePidExhaustion(logger);

  /** Starts one app; a config error is thrown (the caller refuses the whole set), anything else is retried. */
  const start = async (member: Member): Promise<void> => {
    const { app } = member;
    const log = logger.child({ app: app.name }, { msgPrefix: `${app.name}: ` });
    const lane = { app: app.name, git, canaries };
    member.leaveLane?.();
    member.leaveLane = enterLane(lane, [app.config.repo]);
    try {
      const running = await startApp(app.config as Config, env, log, {
        secret,
        tcp: false,
        reloadConfig: () => reload(),
      });
      // a checkout's git directory may lie elsewhere (a .git file): the state, stage tree and canaries live there
      const leaveGitDir = enterLane(lane, [await running.target.git.gitDir()]);
      const leaveCheckout = member.leaveLane;
      member.leaveLane = () => {
        leaveCheckout();
        leaveGitDir();
      };
      member.running = running;
      member.problem = undefined;
      member.endpoint = {
        name: app.name,
        server: running.server,
        repoKey: repoKey(await repoLabel(running.target)),
        syncNow: () => running.daemon.trigger('api'),
      };
      await running.start();
    } catch (error) {
      // a checkout that is not there (a volume not mounted yet, deleted) is a fault of that app, as it is while it
      // runs: the others start; a single app's daemon refuses it (exit 2)
      if (isHotpullError(error, 'CONFIG') && !(await checkoutGone(app)))
        throw configError(`app ${JSON.stringify(app.name)}: ${oneLine(error)}`, error);
      member.problem = oneLine(error);
      log.error(
        { err: member.problem },
        `could not start: ${member.problem}; trying again in ${formatDuration(RETRY_MS)}`,
      );
      member.retry = setTimeout(() => {
        if (!stopping && members.get(app.name) === member) void start(member).catch(() => undefined);
      }, RETRY_MS);
    }
  };
  const stop = async (member: Member, afterPass: boolean): Promise<void> => {
    clearTimeout(member.retry);
    await member.running?.stop(afterPass);
    member.running = member.endpoint = undefined;
    member.leaveLane?.();
    member.leaveLane = undefined;
  };
  const memberOf = (app: AppConfig): Member => ({ app, key: stable(app.config) });
  /** Every app's options checked before any app starts: a config error names its app; anything else waits for the start. */
  const checkApps = (apps: readonly AppConfig[]) =>
    bounded(apps, STARTING_AT_ONCE, async (app) => {
      try {
        // a checkout not there yet is that app's fault, said and retried once the others run
        if (!(await checkoutGone(app))) await checkApp(app.config as Config, env);
      } catch (error) {
        if (isHotpullError(error, 'CONFIG'))
          throw configError(`app ${JSON.stringify(app.name)}: ${oneLine(error)}`, error);
      }
    });

  // every app starts, or none: a config error in one refuses the set (exit 2), as a single app's would
  const initial = config.apps!.map(memberOf);
  await checkApps(initial.map((m) => m.app));
  try {
    await bounded(initial, STARTING_AT_ONCE, async (m) => {
      members.set(m.app.name, m);
      await start(m);
    });
  } catch (error) {
    stopping = true;
    await Promise.all(initial.map((m) => stop(m, false)));
    throw error;
  }

  let reloading: Promise<unknown> = Promise.resolve();
  /** Reads the file again: added apps start, removed ones stop after their pass, changed ones restart. */
  function reload(): Promise<{ ok: boolean; message: string }> {
    const done = reloading.then(async () => {
      const result = await applyReload().catch((error: unknown) => ({ ok: false, message: oneLine(error) }));
      lastReload = { at: new Date().toISOString(), ...result };
      if (result.ok) logger.info(`config reloaded: ${result.message}`);
      else logger.error({ err: result.message }, `config not reloaded, the running apps go on: ${result.message}`);
      return result;
    });
    reloading = done;
    return done;
  }
  // SIGHUP reads the file again and, as it does for a single app, makes every app sync now: a revision rejected
  // "until the branch moves (or SIGHUP)" is tried again
  reloadAsked = () =>
    void reload().then(() => {
      for (const m of members.values()) m.running?.daemon.trigger('signal', 'SIGHUP');
    });
  if (hupEarly || hupBefore()) reloadAsked();

  async function applyReload(): Promise<{ ok: boolean; message: string }> {
    if (stopping) return { ok: false, message: 'the daemon is stopping' };
    const next = await loadConfig({ flags: context.flags ?? {}, env, cwd: context.cwd ?? process.cwd(), isTTY: false });
    if (!next.apps)
      return {
        ok: false,
        message: `${next.configFile ?? 'the config file'} has no apps: any more (restart hotpull to run one app)`,
      };
    const wanted = new Map(next.apps.map((a) => [a.name, memberOf(a)]));
    const added = [...wanted.values()].filter((m) => !members.has(m.app.name));
    const removed = [...members.values()].filter((m) => !wanted.has(m.app.name));
    const changed = [...wanted.values()].filter(
      (m) => members.has(m.app.name) && members.get(m.app.name)!.key !== m.key,
    );
    // new apps first: one that cannot start refuses the reload before anything running is touched
    try {
      await checkApps([...added, ...changed].map((m) => m.app));
      await bounded(added, STARTING_AT_ONCE, (m) => start(m));
    } catch (error) {
      await Promise.all(added.map((m) => stop(m, false)));
      return { ok: false, message: oneLine(error) };
    }
    for (const m of added) members.set(m.app.name, m);
    const refused: string[] = [];
    for (const m of removed) members.delete(m.app.name);
    // the removed apps end their passes beside the restarts: one in a long hook or a hung fetch delays no other app
    // (and a stop meanwhile ends those passes too)
    for (const m of removed) retiring.add(m);
    const retired = Promise.all(removed.map((m) => stop(m, true).finally(() => retiring.delete(m))));
    await bounded(changed, STARTING_AT_ONCE, async (m) => {
      const old = members.get(m.app.name)!;
      await stop(old, true);
      try {
        await start(m);
        members.set(m.app.name, m);
      } catch (error) {
        // the new entry cannot start: the old one runs again, and the reload says so
        refused.push(oneLine(error));
        const again = memberOf(old.app);
        members.set(m.app.name, again);
        await start(again).catch(() => undefined);
      }
    });
    await retired;
    const names = (list: Member[]) => list.map((m) => m.app.name).join(', ') || 'none';
    const message = `added ${names(added)}; removed ${names(removed)}; restarted ${names(changed)}; ${members.size} app${members.size === 1 ? '' : 's'} running`;
    return refused.length > 0
      ? { ok: false, message: `${refused.join('; ')} (kept the old entry; ${message})` }
      : { ok: true, message };
  }

  let server: StatusServer | undefined;
  if (config.listen) {
    server = await startAppsServer({
      listen: config.listen,
      secret,
      logger,
      apps: () => [...members.values()].flatMap((m) => (m.endpoint ? [m.endpoint] : [])),
      reloadConfig: () => reload(),
      process: () => ({
        config: config.configFile,
        ...(lastReload ? { lastReload } : {}),
        problems: [...members.values()].filter((m) => m.problem).map((m) => ({ app: m.app.name, problem: m.problem })),
      }),
    });
    if (!secret)
      logger.warn(
        'no webhook secret (--webhook-secret-file or HOTPULL_WEBHOOK_SECRET): POST /webhook and /sync answer 503',
      );
    logger.info({ url: server.url }, `listening on ${server.url}`);
  }
  logger.info(
    { apps: [...members.keys()], config: config.configFile },
    `hotpull following ${members.size} apps from ${config.configFile}: ${[...members.keys()].join(', ')}`,
  );

  const signal = await new Promise<string>((resolve) => {
    signals.on('SIGTERM', () => resolve('SIGTERM'));
    signals.on('SIGINT', () => resolve('SIGINT'));
  });
  logger.info(`${signal}: stopping`);
  stopping = true;
  const stopped = Promise.all([server?.close(), ...[...members.values(), ...retiring].map((m) => stop(m, false))]);
  if (!(await stoppedInTime(stopped))) {
    logger.warn(
      `a pass in progress did not end within ${formatDuration(STOP_DEADLINE_MS)}; exiting anyway, the next start finishes it`,
    );
  }
  logger.info('stopped');
  return 0;
}
