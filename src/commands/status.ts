import type { CommandContext } from './context.js';
import { configError, HotpullError, oneLine } from '../errors.js';
import { fetchStatus, UNIX } from '../net/daemon-client.js';
import { daemonOfCheckout } from './find-daemon.js';
import { loadSecret } from '../http/secret.js';
import { formatAppsStatus, formatStatus, statusExitCode, type AppStatusRow } from '../http/status-text.js';
import type { Config } from '../config/load.js';
import type { AppConfig } from '../config/apps.js';
import { configOfApp } from '../config/app-choice.js';
import type { Status } from '../sync/status.js';

/** --listen's address as a URL to ask (0.0.0.0 and :: at 127.0.0.1). */
export function listenUrl(listen: NonNullable<Config['listen']>): string {
  const host = ['0.0.0.0', '::'].includes(listen.host) ? '127.0.0.1' : listen.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${listen.port}`;
}

/** An app of a many-apps listener is asked below /apps/NAME/; its own operator socket, as a single-app daemon's. */
const underApp = (url: string, app: string | undefined) =>
  app === undefined ? url : `${url.replace(/\/+$/, '')}/apps/${encodeURIComponent(app)}`;

/**
 * The daemon to ask (with --app, that app's): --url; else the daemon of the checkout (--repo, else here), through
 * what it recorded there (its operator socket); else the --listen address of the same configuration. An http URL or
 * unix:PATH.
 */
export async function findDaemon(config: Config, env: CommandContext['env']): Promise<string> {
  if (config.url) return underApp(config.url, config.app);
  const found = await daemonOfCheckout(config, env);
  if (found.base) return found.base;
  if (config.listen) return underApp(listenUrl(config.listen), config.app);
  if (found.noCheckout)
    throw configError(
      `--url is needed to find the daemon: run this in the checkout it deploys, or pass --repo DIR, or --url http://HOST:PORT (got ${found.why})`,
    );
  const ask = found.denied ? '' : ': is hotpull run running there?';
  throw new HotpullError('UNREACHABLE', `${found.why}${ask} (or pass --url http://HOST:PORT)`);
}

/** The daemon to ask and, over TCP, the secret it wants (its operator socket needs none). */
export async function daemonAccess(
  config: Config,
  env: CommandContext['env'],
  what: string,
): Promise<{ url: string; secret?: string }> {
  const url = await findDaemon(config, env);
  if (url.startsWith(UNIX)) return { url };
  const secret = await loadSecret(config);
  if (!secret)
    throw configError(
      `${what} over TCP (${url}) needs the webhook secret: set HOTPULL_WEBHOOK_SECRET or --webhook-secret-file (got neither; on the daemon's machine, run it in the checkout or with --repo instead)`,
    );
  return { url, secret };
}

/** Exit 0 when live, 1 when the daemon reports a problem, 3 when it cannot be reached (with apps: the worst app's). */
export async function statusCommand(context: CommandContext): Promise<number> {
  const { config, env, stdout } = context;
  if (config.apps) return statusOfApps(context, config.apps);
  const status = await fetchStatus<Status>(await findDaemon(config, env));
  stdout.write(config.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status, Date.now()));
  return statusExitCode(status);
}

/** How long each app's daemon is given to answer when every app is asked (probing its socket is bounded apart). */
export const APP_STATUS_TIMEOUT_MS = 3000;

/** `hotpull status` in a many-apps file without --app: every app's daemon asked at once, one line each. */
async function statusOfApps(
  { config, env, stdout, flags }: CommandContext,
  apps: readonly AppConfig[],
): Promise<number> {
  const rows: AppStatusRow[] = await Promise.all(
    apps.map(async (app): Promise<AppStatusRow> => {
      try {
        const base = await findDaemon(configOfApp(config, flags ?? {}, app), env);
        return { app: app.name, status: await fetchStatus<Status>(base, APP_STATUS_TIMEOUT_MS) };
      } catch (error) {
        return { app: app.name, unreachable: oneLine(error) };
      }
    }),
  );
  stdout.write(
    config.json
      ? `${JSON.stringify(
          rows.map((r) => ({ app: r.app, ...(r.status ?? { unreachable: r.unreachable }) })),
          null,
          2,
        )}\n`
      : formatAppsStatus(rows, Date.now()),
  );
  return Math.max(...rows.map((r) => (r.status ? statusExitCode(r.status) : 3)));
}
