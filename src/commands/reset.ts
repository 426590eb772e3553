import type { CommandContext } from './context.js';
import { configError } from '../errors.js';
import { requestControl } from '../net/daemon-client.js';
import { daemonAccess } from './status.js';

/**
 * hotpull reset: the way out of `diverged` and `dirty`. The daemon that owns the checkout saves the deployed head
 * and local edits (refs/hotpull/backup/…, moved-aside files under its state directory) and resets the checkout to
 * the remote head, through the same pass as --on-diverged reset and --on-dirty reset; the answer names the backups.
 * Exit 0 reset and live (or nothing to reset), 1 the pass failed or is still blocked, 2 bad input, 3 no daemon.
 */
export async function resetCommand({ config, env, stdout, args }: CommandContext): Promise<number> {
  if (args.length > 0) throw configError(`reset takes no arguments (got ${JSON.stringify(args.join(' '))})`);
  const { url, secret } = await daemonAccess(config, env, 'reset');
  const answer = await requestControl(url, secret, '/reset', undefined, true);
  stdout.write(`${answer.message}\n`);
  return answer.ok ? 0 : 1;
}
