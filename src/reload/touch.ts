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
    /** the checkout: a reload file that is (or sits behind) a symlink leading out of it is not touched */
    private readonly within?: string,
  ) {
    this.name = `touch:${file}`;
  }

  /** The file's real location must stay inside the checkout: a committed symlink must not make hotpull change files elsewhere. */
  private async checkInside(): Promise<void> {
    if (!this.within) return;
    // a file the operator named outside the checkout is theirs to choose; only links inside it are suspect
    const lexical = path.relative(this.within, this.file);
    if (lexical.startsWith('..') || path.isAbsolute(lexical)) return;
    const root = await fs.realpath(this.within).catch(() => this.within!);
    let probe = this.file;
    let real: string | undefined;
    // the file may not exist yet: resolve the nearest existing ancestor
    for (;;) {
      real = await fs.realpath(probe).catch(() => undefined);
      if (real !== undefined || path.dirname(probe) === probe) break;
      probe = path.dirname(probe);
    }
    if (real === undefined) return;
    const resolved = path.join(real, path.relative(probe, this.file));
    if (resolved !== root && !resolved.startsWith(`${root}${path.sep}`)) {
      throw new HotpullError(
        'RELOAD',
        `not touching ${this.file}: it is a symlink (or behind one) leading out of the checkout, to ${resolved}`,
      );
    }
  }

  async reload(): Promise<void> {
    await this.checkInside();
    try {
      const previous = await fs.stat(this.file).then(
        (s) => s.mtimeMs,
        () => undefined,
      );
      if (previous === undefined) {
        // the file, never a directory: a mistyped path must not grow a tree in the checkout (see reload/check.ts)
        const dir = await fs.stat(path.dirname(this.file)).catch(() => undefined);
        if (!dir?.isDirectory())
          throw new HotpullError(
            'RELOAD',
            `touch ${this.file}: its directory ${path.dirname(this.file)} does not exist (hotpull creates the touch file, never a directory)`,
          );
        await fs.writeFile(this.file, '', { flag: 'a' });
      }
      const mtime = nextMtimeSeconds(previous, this.clock());
      await fs.utimes(this.file, mtime, mtime);
    } catch (error) {
      if (error instanceof HotpullError) throw error;
      throw new HotpullError('RELOAD', `touch ${this.file} failed: ${(error as Error).message}`, { cause: error });
    }
  }
}
