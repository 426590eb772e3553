import path from 'node:path';
import { configError } from '../errors.js';
import { suggest } from '../suggest.js';
import { OPTIONS, type OptionSpec, type OptionValues } from './options.js';
import { resolveOptions, type Layer } from './resolve.js';

/** One app of a many-apps file: its name and everything `run` takes, resolved as a single-app config would be. */
export interface AppConfig {
  readonly name: string;
  readonly config: OptionValues & { readonly configFile: string };
}

/** Options of the process itself: one listener, one log, one webhook secret serve every app. */
export const PROCESS_KEYS = ['listen', 'webhookSecretFile', 'logLevel', 'logFormat', 'config'] as const;

/** An app's name: it is a path segment (/apps/NAME/status), a label value and a word on the command line. */
export const APP_NAME_RULE = /^[a-z0-9][a-z0-9_-]{0,62}$/i;

/** The top-level keys of a config file, and its app entries when it has `apps:` (validated for shape here). */
export function splitApps(
  file: string,
  values: Readonly<Record<string, unknown>>,
): { shared: Record<string, unknown>; entries?: readonly Record<string, unknown>[] } {
  const { apps, ...shared } = values;
  if (apps === undefined) return { shared };
  if (
    !Array.isArray(apps) ||
    apps.length === 0 ||
    apps.some((e) => typeof e !== 'object' || e === null || Array.isArray(e))
  )
    throw configError(
      `apps in ${file} must be a non-empty list of app entries, each with a name (got ${JSON.stringify(apps)?.slice(0, 80)})`,
    );
  return { shared, entries: apps as Record<string, unknown>[] };
}

/** Secrets read from the environment only, and the option that reads each from a file instead. */
export const SECRET_FILE_KEY: Readonly<Record<string, string>> = {
  password: 'passwordFile',
  webhookSecret: 'webhookSecretFile',
  notifySecret: 'notifySecretFile',
};

/** What an app entry may hold: what the file may hold, less the process's own options. */
function checkEntryKeys(file: string, name: string, entry: Readonly<Record<string, unknown>>): void {
  const fileKeys = OPTIONS.filter((o: OptionSpec) => !o.noConfigKey && !o.envOnly).map((o) => o.key as string);
  const known = fileKeys.filter((k) => !(PROCESS_KEYS as readonly string[]).includes(k));
  for (const key of Object.keys(entry)) {
    if (key === 'name' || known.includes(key)) continue;
    if ((PROCESS_KEYS as readonly string[]).includes(key))
      throw configError(
        `app ${JSON.stringify(name)}: ${key} belongs to the whole process (one listener and one log serve every app); set it above apps: in ${file}`,
      );
    if (Object.hasOwn(SECRET_FILE_KEY, key)) {
      const instead = SECRET_FILE_KEY[key]!;
      // the webhook secret is the process's (one listener): its file is set above apps:
      const where = (PROCESS_KEYS as readonly string[]).includes(instead) ? ' above apps:' : '';
      throw configError(
        `app ${JSON.stringify(name)}: ${key} must not be written in ${file}, where anyone who can read the file reads it; give ${instead} FILE${where} instead`,
      );
    }
    const hint = suggest(key, [...known, 'name']);
    throw configError(
      `app ${JSON.stringify(name)}: unknown key ${JSON.stringify(key)} in ${file}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}`,
    );
  }
}

/** Whether one of two checkout paths is the other or lies inside it. */
const overlaps = (a: string, b: string) =>
  a === b || a.startsWith(`${b}${path.sep}`) || b.startsWith(`${a}${path.sep}`);

/**
 * Each app's configuration: option defaults < the file's top-level keys (shared defaults) < the app's entry.
 * Flags and the environment set the process (listen, log); of the environment only the secrets reach the apps.
 * Refused as a whole, in one line naming the app and the rule: a name missing, bad or twice, a key unknown or the
 * process's own, a secret written in the file, two apps on one checkout.
 */
export function appConfigs(
  file: string,
  entries: readonly Record<string, unknown>[],
  shared: Layer,
  env: Readonly<Record<string, unknown>>,
  at: { cwd: string; isTTY: boolean },
): readonly AppConfig[] {
  const seen = new Map<string, number>();
  const apps: AppConfig[] = [];
  const secrets = Object.fromEntries(OPTIONS.filter((o: OptionSpec) => o.envOnly).map((o) => [o.key, env[o.key]]));
  entries.forEach((entry, index) => {
    const name = entry.name;
    const rule = '1-63 letters, digits, - or _ starting with a letter or digit';
    if (name === undefined) throw configError(`apps[${index}] in ${file} has no name: each app needs one (${rule})`);
    if (typeof name !== 'string' || !APP_NAME_RULE.test(name))
      throw configError(`apps[${index}].name in ${file} must be ${rule} (got ${JSON.stringify(name)})`);
    const twice = seen.get(name);
    if (twice !== undefined)
      throw configError(
        `app ${JSON.stringify(name)} is named twice in ${file} (apps[${twice}] and apps[${index}]): each app needs its own name`,
      );
    seen.set(name, index);
    checkEntryKeys(file, name, entry);
    if (entry.repo === undefined)
      throw configError(`app ${JSON.stringify(name)}: repo is required in ${file} (each app follows its own checkout)`);
    const source = { kind: 'file' as const, file: `${file}, app ${JSON.stringify(name)}` };
    const config = resolveOptions(
      [
        { values: entry, source, base: shared.base },
        shared,
        { values: secrets, source: { kind: 'env' }, base: at.cwd },
      ],
      at,
    );
    apps.push({ name, config: { ...config, name, configFile: file } });
  });
  for (const [i, a] of apps.entries())
    for (const b of apps.slice(i + 1))
      if (overlaps(a.config.repo, b.config.repo))
        throw configError(
          `apps ${JSON.stringify(a.name)} and ${JSON.stringify(b.name)} in ${file} share a checkout (${a.config.repo} and ${b.config.repo}): each app needs its own`,
        );
  return apps;
}
