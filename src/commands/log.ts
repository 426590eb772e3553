import path from 'node:path';
import type { CommandContext } from './context.js';
import { configError, isHotpullError } from '../errors.js';
import { Git } from '../git/repo.js';
import { AtomicWorkspace } from '../sync/layout/atomic.js';
import { History, formatHistory } from '../sync/history.js';

/**
 * `hotpull log`: the deploys recorded with the checkout, newest first, read from the file (no daemon needed, and
 * no ownership: reading does not disturb a running daemon).
 */
export async function logCommand({ config, env, stdout }: CommandContext): Promise<number> {
  const repo = config.layout === 'atomic' ? AtomicWorkspace.repoDir(config.repo) : config.repo;
  let gitDir: string;
  try {
    gitDir = await new Git(repo, env).gitDir();
  } catch (error) {
    if (isHotpullError(error, 'CONFIG')) throw error;
    throw configError(
      `--repo must be a git checkout${config.layout === 'atomic' ? ' (an atomic layout)' : ''} (got ${JSON.stringify(config.repo)})`,
      error,
    );
  }
  const entries = await History.in(path.join(gitDir, 'hotpull')).read();
  stdout.write(config.json ? `${JSON.stringify(entries, null, 2)}\n` : formatHistory(entries));
  return 0;
}
