import path from 'node:path';
import type { AppConfig } from '../config/apps.js';
import { configError, HotpullError } from '../errors.js';
import { locationKind } from '../git/location.js';
import { suggest } from '../suggest.js';
import { desiredContainer, parseCode, type DesiredContainer, type UpInput } from './spec.js';

/**
 * `host up` over a many-apps file (docs/many-apps.md): each app's container from its resolved configuration
 * alone (pure: no docker, no filesystem). The container is named for the app and mounts the app's checkout
 * (`repo`, the directory the daemon keeps deployed) at `code`; a first clone comes from its `remote` when that is
 * a URL or a path, on its `branch` (not for the atomic layout, whose first release the daemon makes).
 */
export interface AppUpInput {
  /** the app's envFile, read by the caller */
  envFile?: { path: string; text: string };
  /** what followed `--`: docker run arguments for every app's container */
  passthrough: readonly string[];
  processEnv: UpInput['processEnv'];
}

/**
 * The flags `host up` takes over the apps of a file: how to run docker and what to print. The others (image, code,
 * health URL, credentials …) are each app's own: on the command line they would not say which app they are for.
 */
export const PROCESS_FLAGS: readonly string[] = [
  'app',
  'pull',
  'stopTimeout',
  'dockerBin',
  'json',
  'config',
  'logLevel',
  'logFormat',
];

/** `code` of an app: the container directory (`/app`), or `HOSTDIR:CONTAINERDIR` whose HOSTDIR is its checkout. */
function codeMount(app: AppConfig): string {
  const { code, repo, configFile } = app.config;
  if (code === undefined || code.trim() === '')
    throw configError(
      `app ${JSON.stringify(app.name)}: host up needs code: CONTAINERDIR in ${configFile}, where its container mounts its checkout, e.g. /app (got none)`,
    );
  const text = code.trim();
  if (text.startsWith('/') && !text.includes(':')) return `${repo}:${text}`;
  const mount = parseCode(text, path.dirname(configFile));
  if (mount.hostDir !== repo)
    throw configError(
      `app ${JSON.stringify(app.name)}: code in ${configFile} mounts ${mount.hostDir}, not the app's checkout (repo ${repo}); give the container directory alone, e.g. /app (got ${JSON.stringify(text)})`,
    );
  return `${repo}:${mount.containerDir}`;
}

export function appContainer(app: AppConfig, input: AppUpInput): DesiredContainer {
  const { config } = app;
  if (config.image === undefined || config.image.trim() === '')
    throw configError(
      `app ${JSON.stringify(app.name)}: host up needs image in ${config.configFile}, the image its container runs (above apps: for every app) (got none)`,
    );
  const code = codeMount(app);
  // The atomic layout is hotpull's own making on an empty directory: a plain clone there would be in its way.
  const clone = locationKind(config.remote) === 'name' || config.layout === 'atomic' ? undefined : config.remote;
  try {
    return desiredContainer({
      name: app.name,
      image: config.image,
      code,
      publish: config.publish,
      env: config.env,
      envFile: input.envFile,
      passthrough: input.passthrough,
      repo: clone,
      branch: config.branch,
      cwd: path.dirname(config.configFile),
      processEnv: input.processEnv,
    });
  } catch (error) {
    // spec.ts words its rules for the flags; the app says where the value was written
    if (error instanceof HotpullError && error.code === 'CONFIG')
      throw configError(`app ${JSON.stringify(app.name)} in ${config.configFile}: ${error.message}`, error);
    throw error;
  }
}

/** The apps `host up` brings up: every one, or the one --app names. */
export function selectApps(apps: readonly AppConfig[], only: string | undefined, file: string): readonly AppConfig[] {
  if (only === undefined) return apps;
  const app = apps.find((a) => a.name === only);
  if (app) return [app];
  const names = apps.map((a) => a.name);
  const hint = suggest(only, names);
  throw configError(
    `--app must name an app of ${file}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}; its apps: ${names.join(', ')} (got ${JSON.stringify(only)})`,
  );
}
