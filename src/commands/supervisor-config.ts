import type { CommandContext } from './context.js';
import { configError } from '../errors.js';
import { programBlock, programInput } from '../supervisor/program.js';

/** Prints a `[program:hotpull]` section for supervisord.conf that runs `hotpull run` with the options given. */
export async function supervisorConfigCommand({ config, env, flags, args, stdout }: CommandContext): Promise<number> {
  if (args.length > 0)
    throw configError(`supervisor-config takes options only, like hotpull run (got ${JSON.stringify(args.join(' '))})`);
  stdout.write(programBlock(programInput(flags ?? {}, env, config)));
  return 0;
}
