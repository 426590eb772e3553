import type { CommandContext } from './context.js';
import { configError, HotpullError } from '../errors.js';
import { requestControl, UNIX } from '../net/daemon-client.js';
import { daemonOfCheckout } from './find-daemon.js';

/**
 * hotpull reload-config: the process that runs the apps of a config file reads the file again. It is found through
 * the operator socket of each app in turn (the first that answers: each app binds its own, in its state directory);
 * a daemon that runs one app alone (`hotpull run --repo`) does not know the route and the next app is tried.
 * Exit 0 applied, 2 refused (the file has an error; the running apps go on), 1 no daemon of these apps answers.
 */
export async function reloadConfigCommand({ config, env, stdout, args }: CommandContext): Promise<number> {
  if (args.length > 0) throw configError(`reload-config takes no arguments (got ${JSON.stringify(args.join(' '))})`);
  if (!config.apps)
    throw configError(
      `reload-config needs a config file with apps: (got ${config.configFile ? `${config.configFile}, which has none` : 'no config file'}; name it with --config FILE)`,
    );
  const why: string[] = [];
  for (const app of config.apps) {
    const found = await daemonOfCheckout(app.config, env);
    if (!found.base?.startsWith(UNIX)) {
      why.push(`${app.name}: ${found.why || `its daemon answers only over TCP (${found.base})`}`);
      continue;
    }
    try {
      const answer = await requestControl(found.base, undefined, '/reload-config');
      stdout.write(`${answer.message}\n`);
      return answer.ok ? 0 : 1;
    } catch (error) {
      // 404: a daemon of this app alone, not the process of the file's apps
      if (!(error instanceof HotpullError) || error.code === 'CONFIG') throw error;
      why.push(`${app.name}: ${error.message}`);
    }
  }
  throw new HotpullError(
    'REFUSED',
    `no hotpull daemon running the apps of ${config.configFile} answers (${why.join('; ')}): is hotpull run --config ${config.configFile} running?`,
  );
}
