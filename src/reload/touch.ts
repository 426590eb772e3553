import { promises as fs } from 'node:fs';
import path from 'node:path';
import { HotpullError } from '../errors.js';
import type { Reloader } from './types.js';

/**
 * uWSGI's --touch-reload compares mtimes at whole-second resolution with a strict "newer than", so two touches
 * in the same second reload once. The new mtime is therefore at least one whole second past the previous one,
 * even if that puts it slightly in the future.
 */
export function nextMtimeSeconds(previousMtimeMs: number | undefined, nowMs: number): number {
  const now = nowMs / 1000;
  if (previousMtimeMs === undefined) return now;
  return Math.max(now, Math.floor(previousMtimeMs / 1000) + 1);
}

export class TouchReloader implements Reloader {
  readonly name: string;
  readonly repeatable = true;

  constructor(
    readonly file: string,
    private readonly clock: () => number = Date.now,
  ) {
    this.name = `touch:${file}`;
  }

  async reload(): Promise<void> {
    try {
      const previous = await fs.stat(this.file).then((s) => s.mtimeMs, () => undefined);
      if (previous === undefined) {
        await fs.mkdir(path.dirname(this.file), { recursive: true });
        await fs.writeFile(this.file, '', { flag: 'a' });
      }
      const mtime = nextMtimeSeconds(previous, this.clock());
      await fs.utimes(this.file, mtime, mtime);
    } catch (error) {
      throw new HotpullError('RELOAD', `touch ${this.file} failed: ${(error as Error).message}`, { cause: error });
    }
  }
}
