import type { CommandContext } from './context.js';
import type { Daemon } from '../sync/daemon.js';
import type { Control } from '../http/server.js';
import { configError, isHotpullError } from '../errors.js';
import { daemonAccess } from './status.js';
import { requestControl } from '../net/daemon-client.js';
import { cleanReason, describePause } from '../sync/pause.js';
import { resetToRemote } from '../sync/reset.js';

const BUSY = new Set(['syncing', 'reloading', 'verifying']);

/** The daemon's side of the operator routes: pause and resume at once, a rollback or a reset in the pass queue. */
export function daemonControl(
  daemon: Daemon,
  repo: { git: Parameters<typeof resetToRemote>[1]; stateDir: string },
): Control {
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
    reset: () => {
      let made: string[] = [];
      return daemon
        .exclusive(async (signal) => {
          const { outcome, backups } = await resetToRemote(engine, repo.git, repo.stateDir, signal);
          made = backups;
          return outcome;
        }, 'reset')
        .then((outcome) => ({ outcome, backups: made }))
        .catch((error: unknown) => {
          if (!isHotpullError(error, 'CONFIG')) engine.markFailed(error);
          throw error;
        });
    },
  };
}

/** hotpull pause [--reason TEXT]: the running daemon stops applying (polls go on), across restarts, until resume. */
export async function pauseCommand({ config, env, stdout, args }: CommandContext): Promise<number> {
  if (args.length > 0)
    throw configError(
      `pause takes no arguments: give the reason with --reason (got ${JSON.stringify(args.join(' '))})`,
    );
  const { url, secret } = await daemonAccess(config, env, 'pause');
  const answer = await requestControl(url, secret, '/pause', { reason: config.reason ?? '' });
  stdout.write(`${answer.message}\n`);
  return 0;
}

/** hotpull resume: lifts a pause (or a rollback's) and syncs now. */
export async function resumeCommand({ config, env, stdout, args }: CommandContext): Promise<number> {
  if (args.length > 0) throw configError(`resume takes no arguments (got ${JSON.stringify(args.join(' '))})`);
  const { url, secret } = await daemonAccess(config, env, 'resume');
  const answer = await requestControl(url, secret, '/resume');
  stdout.write(`${answer.message}\n`);
  return 0;
}
