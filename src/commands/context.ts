import type { EventEmitter } from 'node:events';
import type { Config } from '../config/load.js';
import type { Logger } from '../log.js';

/** What every command gets from the CLI: validated config, the environment, a logger, a signal source. */
export interface CommandContext {
  config: Config;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  /** process in production; any emitter in tests */
  signals: Pick<EventEmitter, 'on' | 'once'>;
  /** positional arguments after the command name */
  args: string[];
  stdout: { write(text: string): unknown };
  /** the command-line values by config key, for a command that loads the config again (host deploy) */
  flags?: Readonly<Record<string, unknown>>;
  /** the working directory the config was resolved against */
  cwd?: string;
  /** the arguments after `--`, which are also the last entries of `args` */
  passthrough?: string[];
}
