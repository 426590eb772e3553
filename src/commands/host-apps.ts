import type { CommandContext } from './context.js';
import { docker, print, printJson, readEnvFile } from './host-io.js';
import type { AppConfig } from '../config/apps.js';
import { flagName } from '../config/names.js';
import { configError, HotpullError, oneLine } from '../errors.js';
import { authOptions } from '../git/credentials.js';
import { appContainer, PROCESS_FLAGS, selectApps } from '../host/apps.js';
import { hostUp, type UpResult } from '../host/up.js';

type AppResult = { app: string } & (UpResult | { action: 'failed'; changed: false; error: string });

/**
 * `host up --config FILE` when FILE has `apps:`: one container per app (or the one --app names), each from its
 * app's configuration, one after the other. Every app's options are checked before any container is touched; an
 * app that does not come up is said and the others still go (exit 1 at the end). --json: `{"apps": [...]}`, or
 * with --app the one object `host up` prints for a single container.
 */
export async function upApps(context: CommandContext, apps: readonly AppConfig[]): Promise<number> {
  const { config, env } = context;
  const file = config.configFile ?? 'the config file';
  const given = Object.keys(context.flags ?? {}).find((key) => !PROCESS_FLAGS.includes(key));
  if (given)
    throw configError(
      `--${flagName(given)} is an app's own setting: host up over the apps of ${file} takes ${given} from each app's entry (or above apps: for every app), not from the command line`,
    );
  const passthrough = context.passthrough ?? [];
  const wanted: Array<{ app: AppConfig; spec: ReturnType<typeof appContainer> }> = [];
  for (const app of selectApps(apps, config.app, file)) {
    const envFile = await readEnvFile(app.config.envFile, `app ${JSON.stringify(app.name)}: envFile`);
    wanted.push({ app, spec: appContainer(app, { envFile, passthrough, processEnv: env }) });
  }
  const up = ({ app, spec }: (typeof wanted)[number]) =>
    hostUp({
      spec,
      docker: docker(context),
      pull: config.pull,
      stopTimeoutMs: config.stopTimeout,
      health: {
        url: app.config.healthUrl,
        expect: app.config.healthExpect,
        timeoutMs: app.config.healthTimeout,
        settleMs: app.config.healthSettle,
      },
      env,
      auth: authOptions(app.config),
      platform: process.platform,
      print: print(context),
    });
  if (config.app !== undefined) {
    const result = await up(wanted[0]!);
    if (config.json) printJson(context, result);
    return 0;
  }
  const results: AppResult[] = [];
  for (const one of wanted) {
    try {
      results.push({ app: one.app.name, ...(await up(one)) });
    } catch (error) {
      // A Docker daemon out of reach (exit 3) fails every app alike: said once. A container that would not start
      // is that app's failure.
      if (!(error instanceof HotpullError) || error.cliExitCode !== 1) throw error;
      print(context)(`failed ${one.app.name}: ${error.message}`);
      results.push({ app: one.app.name, action: 'failed', changed: false, error: oneLine(error) });
    }
  }
  if (config.json) printJson(context, { apps: results });
  const failed = results.filter((r) => r.action === 'failed').map((r) => r.app);
  if (failed.length > 0)
    throw new HotpullError(
      'DOCKER',
      `${failed.length} of ${results.length} apps did not come up: ${failed.join(', ')}`,
    );
  return 0;
}
