import { promises as fs } from 'node:fs';
import { HotpullError } from '../errors.js';
import type { Reloader } from './types.js';

/** Sends a signal to the pid in a pid file (gunicorn --pid, uWSGI --pidfile): HUP by default. */
export class SignalReloader implements Reloader {
  readonly name: string;
  readonly repeatable = true;

  constructor(
    readonly pidfile: string,
    readonly signal: NodeJS.Signals,
  ) {
    this.name = `signal:${pidfile}:${signal.replace(/^SIG/, '')}`;
  }

  async reload(): Promise<void> {
    const text = await fs.readFile(this.pidfile, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new HotpullError(
        'RELOAD',
        `signal: cannot read pid file ${this.pidfile}: ${error.code === 'ENOENT' ? 'it does not exist' : error.message}`,
      );
    });
    const pid = Number(text.trim());
    if (!Number.isInteger(pid) || pid <= 1) {
      throw new HotpullError(
        'RELOAD',
        `signal: pid file ${this.pidfile} must hold a process id (got ${JSON.stringify(text.trim().slice(0, 40))})`,
      );
    }
    try {
      process.kill(pid, this.signal);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why =
        code === 'ESRCH'
          ? `no process ${pid} (stale pid file)`
          : code === 'EPERM'
            ? `not allowed to signal process ${pid}`
            : (error as Error).message;
      throw new HotpullError('RELOAD', `signal: cannot send ${this.signal} from ${this.pidfile}: ${why}`, {
        cause: error,
      });
    }
  }
}
