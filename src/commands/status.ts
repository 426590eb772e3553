import type { CommandContext } from './context.js';
import { configError } from '../errors.js';
import { fetchStatus } from '../net/daemon-client.js';
import { formatStatus, statusExitCode } from '../http/status-text.js';
import type { Config } from '../config/load.js';

/** The daemon's URL: --url, else the --listen address of the same configuration. */
export function daemonUrl(config: Config): string {
  if (config.url) return config.url;
  if (config.listen) {
    const host = ['0.0.0.0', '::'].includes(config.listen.host) ? '127.0.0.1' : config.listen.host;
    return `http://${host.includes(':') ? `[${host}]` : host}:${config.listen.port}`;
  }
  throw configError(
    '--url is needed to find the daemon: pass --url http://HOST:PORT (or HOTPULL_URL), or the --listen address it was started with (or run this where its config file is); got neither',
  );
}

/** Exit 0 when live, 1 when the daemon reports a problem, 3 when it cannot be reached. */
export async function statusCommand({ config, stdout }: CommandContext): Promise<number> {
  const status = await fetchStatus(daemonUrl(config));
  stdout.write(config.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status, Date.now()));
  return statusExitCode(status);
}
