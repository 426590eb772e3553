import { configError } from '../errors.js';
import { suggest } from '../suggest.js';
import { PROCESS_KEYS, type AppConfig } from './apps.js';
import { flagName } from './names.js';
import { OPTIONS, type OptionSpec } from './options.js';
import type { CommandName } from './commands.js';
import type { Config } from './load.js';

/** The commands that act on one app of a many-apps file, chosen with --app (status alone may take every app). */
export const APP_COMMANDS: readonly CommandName[] = [
  'status',
  'log',
  'pause',
  'resume',
  'approve',
  'rollback',
  'reset',
  'sync',
];

/** The options that locate a checkout: --app names one already. */
const CHECKOUT_KEYS = ['repo', 'layout'] as const;

const names = (config: Config) => (config.apps ?? []).map((a) => a.name).join(', ');

/**
 * The configuration `command` acts on. With --app: that app's (its checkout, its layout, the rest of its entry),
 * with what only the command line or the process sets kept (--json, --url, --reason, the listener, the log, the
 * webhook secret) and any other flag given on top. Without --app in a many-apps file: --repo names a checkout as
 * it does without apps; else status keeps the whole configuration (it lists every app) and the others are refused,
 * naming the apps. One line, exit 2, for each refusal.
 */
export function chooseApp(config: Config, flags: Readonly<Record<string, unknown>>, command: CommandName): Config {
  const name = config.app;
  // host up takes --app itself: it brings up that app's container from the whole file
  if (!APP_COMMANDS.includes(command)) return config;
  if (name === undefined) {
    if (!config.apps) return config;
    // --repo names the checkout (and so its daemon) as it does without apps:
    if (flags.repo !== undefined) return Object.freeze({ ...config, apps: undefined });
    if (command === 'status') return config;
    throw configError(
      `${command} acts on one app: ${config.configFile} has ${config.apps.length} (${names(config)}); pick one with --app NAME`,
    );
  }
  if (!config.apps)
    throw configError(
      `--app needs a config file with apps: (got --app ${JSON.stringify(name)} and ${config.configFile ? `${config.configFile}, which has no apps:` : 'no config file'})`,
    );
  const app = config.apps.find((a) => a.name === name);
  if (!app) {
    const hint = suggest(
      name,
      config.apps.map((a) => a.name),
    );
    throw configError(
      `--app must name an app of ${config.configFile}: ${names(config)} (got ${JSON.stringify(name)}${hint ? `; did you mean ${JSON.stringify(hint)}?` : ''})`,
    );
  }
  return configOfApp(config, flags, app);
}

/** One app's configuration for a client command: the app's entry, what the process and the command line set on top. */
export function configOfApp(config: Config, flags: Readonly<Record<string, unknown>>, app: AppConfig): Config {
  const given = CHECKOUT_KEYS.find((key) => flags[key] !== undefined);
  if (given)
    throw configError(
      `--${flagName(given)} is not used with --app: app ${JSON.stringify(app.name)} has its own (${app.config[given]}); give one of them`,
    );
  const fromProcess = new Set<string>([
    ...PROCESS_KEYS,
    ...(OPTIONS as readonly OptionSpec[]).filter((o) => o.noConfigKey).map((o) => o.key),
    ...Object.keys(flags),
  ]);
  const values = Object.fromEntries(
    (OPTIONS as readonly OptionSpec[]).map((o) => [
      o.key,
      ((fromProcess.has(o.key) ? config : app.config) as Readonly<Record<string, unknown>>)[o.key],
    ]),
  );
  return Object.freeze({ ...values, app: app.name, configFile: config.configFile }) as Config;
}
