import type { CommandContext } from './context.js';
import { buildPipeline } from './pipeline.js';
import { configError } from '../errors.js';
import { requestControl } from '../net/daemon-client.js';
import { describeOutcome } from '../http/server.js';
import { daemonAccess } from './status.js';
import { daemonOfCheckout } from './find-daemon.js';

export const AFTER_ROLLBACK =
  'following is paused until `hotpull resume`; the revision rolled back from is rejected (refs/hotpull/rejected) and is not redeployed until the branch moves';

/**
 * hotpull rollback [SHA]: back to SHA, or to the revision that served before the deployed one, through apply,
 * reload and verify. With a daemon to ask (--url, the --listen of the same configuration, or the daemon that owns the
 * checkout, through its operator socket) the daemon does it in its pass queue; without one, this process does it,
 * taking the checkout's lock like `hotpull sync`.
 * Exit 0 rolled back (live or reloaded), 1 it failed verification or could not be done, 2 bad SHA.
 */
export async function rollbackCommand(context: CommandContext): Promise<number> {
  const { config, env, logger, stdout, args } = context;
  if (args.length > 1) throw configError(`rollback takes at most one SHA (got ${JSON.stringify(args.join(' '))})`);
  const sha = args[0]?.toLowerCase();
  if (sha !== undefined && !/^[0-9a-f]{4,64}$/.test(sha))
    throw configError(`rollback SHA must be a commit id in hex (got ${JSON.stringify(args[0])})`);
  let answer: { ok: boolean; message: string };
  // --url or --listen name a daemon; else the checkout's own daemon, if one answers, does it
  const asked = config.url || config.listen ? undefined : (await daemonOfCheckout(config, env)).base;
  if (config.url || config.listen || asked) {
    const { url, secret } = await daemonAccess(config, env, 'rollback');
    answer = await requestControl(url, secret, '/rollback', sha ? { sha } : {}, true);
  } else {
    const { engine } = await buildPipeline(config, env, logger);
    try {
      answer = describeOutcome(await engine.rollback(sha));
    } finally {
      engine.close();
    }
  }
  stdout.write(`${answer.message}\n${AFTER_ROLLBACK}\n`);
  return answer.ok ? 0 : 1;
}
