import type { Daemon } from './daemon.js';
import type { SyncOutcome } from './engine.js';
import { isHotpullError } from '../errors.js';
import { cleanReason, describePause } from './pause.js';
import { resetToRemote } from './reset.js';

/** What an operator may ask of the daemon beyond a sync: daemonControl answers it, http/server.ts routes to it. */
export interface Control {
  pause(reason: string): Promise<string>;
  resume(): Promise<string>;
  /** --require-approval: `sha` may be applied */
  approve(sha: string): Promise<string>;
  rollback(sha: string | undefined): Promise<SyncOutcome>;
  syncAndWait(trigger: string): Promise<SyncOutcome | Error>;
  /** back up and reset a diverged or dirty checkout to the remote head; `backups`: the refs and paths saved */
  reset(): Promise<{ outcome: SyncOutcome; backups: string[] }>;
}

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
    async approve(sha) {
      const message = await engine.approve(sha, 'api');
      daemon.trigger('approve');
      return message;
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
