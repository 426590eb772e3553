import type { CommandContext } from './context.js';
import { configError } from '../errors.js';
import { daemonAccess } from './status.js';
import { requestControl } from '../net/daemon-client.js';

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

/** hotpull approve SHA: the daemon (run --require-approval) may apply SHA; syncs now. */
export async function approveCommand({ config, env, stdout, args }: CommandContext): Promise<number> {
  const sha = args[0] ?? '';
  if (args.length !== 1 || !/^[0-9a-f]{4,64}$/.test(sha))
    throw configError(`approve takes one SHA, a commit id in hex (got ${JSON.stringify(args.join(' '))})`);
  const { url, secret } = await daemonAccess(config, env, 'approve');
  const answer = await requestControl(url, secret, '/approve', { sha });
  stdout.write(`${answer.message}\n`);
  return 0;
}
