import { promises as fs, constants } from 'node:fs';
import { HotpullError } from '../errors.js';
import type { FifoCommand } from './spec.js';
import type { Reloader } from './types.js';

/**
 * Writes a command to uWSGI's --master-fifo. Opened non-blocking: with no reader (uWSGI not running), open
 * fails at once with ENXIO instead of hanging the daemon until someone reads.
 */
export class FifoReloader implements Reloader {
  readonly name: string;
  readonly repeatable = true;

  constructor(
    readonly fifo: string,
    readonly command: FifoCommand,
  ) {
    this.name = `uwsgi-fifo:${fifo}:${command}`;
  }

  async reload(): Promise<void> {
    const stat = await fs.stat(this.fifo).catch(() => undefined);
    if (!stat)
      throw new HotpullError(
        'RELOAD',
        `uwsgi-fifo: ${this.fifo} does not exist (start uWSGI with --master-fifo ${this.fifo})`,
      );
    if (!stat.isFIFO())
      throw new HotpullError('RELOAD', `uwsgi-fifo: ${this.fifo} is not a FIFO (uWSGI creates it with --master-fifo)`);
    let handle;
    try {
      handle = await fs.open(this.fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why =
        code === 'ENXIO' ? 'no process is reading it (is the uWSGI master running?)' : (error as Error).message;
      throw new HotpullError('RELOAD', `uwsgi-fifo: cannot write to ${this.fifo}: ${why}`, { cause: error });
    }
    try {
      await handle.write(this.command);
    } finally {
      await handle.close();
    }
  }
}
