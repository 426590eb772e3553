import type { CommandContext } from './context.js';
import type { Daemon } from '../sync/daemon.js';
import type { Control } from '../http/server.js';
import { configError, isHotpullError } from '../errors.js';
import { daemonUrl } from './status.js';
import { requestControl } from '../net/daemon-client.js';
import { loadSecret } from '../http/secret.js';
import { cleanReason, describePause } from '../sync/pause.js';

const BUSY = new Set(['syncing', 'reloading', 'verifying']);

/** The daemon's side of the operator routes: pause and resume at once, a rollback in the pass queue. */
export function daemonControl(daemon: Daemon): Control {
  const { engine } = daemon;
  return {
    async pause(reason) {
      const pause = await engine.pause(cleanReason(reason), 'api');
      const busy = BUSY.has(engine.status.state)
        ? `; the deploy in progress (${engine.status.state}) finishes first`
        : '';
      return `${describePause(pause, { remote: engine.status.remoteSha, deployed: engine.status.deployedSha })}${busy}`;
    },
    async resume() {
      const was = await engine.resume();
      daemon.trigger('resume');
      return was
        ? `resumed (the pause by ${was.by}${was.reason ? `: ${was.reason}` : ''} is lifted); syncing now`
        : 'was not paused; syncing now';
    },
    rollback: (sha) =>
      daemon
        .exclusive((signal) => engine.rollback(sha, signal), 'rollback')
        .catch((error: unknown) => {
          if (!isHotpullError(error, 'CONFIG')) engine.markFailed(error);
          throw error;
        }),
    syncAndWait: (trigger) => daemon.syncAndWait(trigger),
  };
}

/** The secret and URL every operator command needs to reach the daemon. */
export async function daemonAccess(
  config: CommandContext['config'],
  what: string,
): Promise<{ url: string; secret: string }> {
  const secret = await loadSecret(config);
  if (!secret)
    throw configError(
      `${what} needs the webhook secret: set HOTPULL_WEBHOOK_SECRET or --webhook-secret-file (got neither)`,
    );
  return { url: daemonUrl(config), secret };
}

/** hotpull pause [--reason TEXT]: the running daemon stops applying (polls go on), across restarts, until resume. */
export async function pauseCommand({ config, stdout, args }: CommandContext): Promise<number> {
  if (args.length > 0)
    throw configError(
      `pause takes no arguments: give the reason with --reason (got ${JSON.stringify(args.join(' '))})`,
    );
  const { url, secret } = await daemonAccess(config, 'pause');
  const answer = await requestControl(url, secret, '/pause', { reason: config.reason ?? '' });
  stdout.write(`${answer.message}\n`);
  return 0;
}

/** hotpull resume: lifts a pause (or a rollback's) and syncs now. */
export async function resumeCommand({ config, stdout, args }: CommandContext): Promise<number> {
  if (args.length > 0) throw configError(`resume takes no arguments (got ${JSON.stringify(args.join(' '))})`);
  const { url, secret } = await daemonAccess(config, 'resume');
  const answer = await requestControl(url, secret, '/resume');
  stdout.write(`${answer.message}\n`);
  return 0;
}
