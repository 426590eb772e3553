import { promises as fs } from 'node:fs';
import path from 'node:path';
import { shortSha } from '../sha.js';

/**
 * An operator's pause, kept with the checkout (pause.json beside the journal: .git/hotpull/ in place,
 * <root>/.hotpull/repo/.git/hotpull/ for the atomic layout) so that a restart does not quietly resume following.
 * Polls go on while paused (status shows what waits); nothing is applied until `hotpull resume`.
 */
export interface Pause {
  reason: string;
  /** who paused: cli (hotpull pause), api (POST /pause), rollback (hotpull rollback) */
  by: string;
  at: string;
  /** a rollback's pause: the revision it left, for the status line */
  left?: string;
}

/** Longest reason kept; anything beyond is cut, control characters become spaces (it ends up in logs and status). */
export const REASON_MAX = 200;

export function cleanReason(text: unknown): string {
  if (typeof text !== 'string') return '';
  // eslint-disable-next-line no-control-regex
  return text
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .trim()
    .slice(0, REASON_MAX);
}

/**
 * A pause file's text → the pause. A file that is there but does not parse (damaged by hand or by the disk; a
 * kill -9 cannot tear it, see write) still pauses: an operator asked to stop deploys, and guessing otherwise
 * would deploy what they held back. `hotpull resume` replaces it.
 */
export function parsePause(text: string): Pause {
  try {
    const value = JSON.parse(text) as Partial<Pause> | null;
    if (value && typeof value === 'object' && typeof value.by === 'string' && typeof value.at === 'string') {
      const left = typeof value.left === 'string' ? { left: cleanReason(value.left) } : {};
      return { reason: cleanReason(value.reason), by: cleanReason(value.by), at: cleanReason(value.at), ...left };
    }
  } catch {
    // below
  }
  return { reason: 'the pause file could not be read; paused to be safe until hotpull resume', by: 'unknown', at: '' };
}

/** One line for status and logs: who paused, why, and what waits. */
export function describePause(pause: Pause, waiting?: { remote?: string; deployed?: string }): string {
  const short = (sha?: string) => shortSha(sha) ?? 'none';
  const why = pause.reason ? `: ${pause.reason}` : '';
  const left = pause.left ? ` (rolled back from ${short(pause.left)})` : '';
  const waits =
    waiting?.remote && waiting.remote !== waiting.deployed
      ? `; waiting: ${short(waiting.remote)} (deployed ${short(waiting.deployed)})`
      : '';
  return `paused by ${pause.by}${pause.at ? ` at ${pause.at}` : ''}${left}${why}; nothing is applied until hotpull resume${waits}`;
}

export class PauseFile {
  constructor(readonly file: string) {}

  async read(): Promise<Pause | undefined> {
    const text = await fs.readFile(this.file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    return text === undefined ? undefined : parsePause(text);
  }

  /**
   * Temp file, fsync, rename, fsync of the directory: after a crash or power loss the file is the old pause or the
   * new one, never half of either. A temp file a kill left behind is overwritten by the next write.
   */
  async write(pause: Pause): Promise<void> {
    const dir = path.dirname(this.file);
    await fs.mkdir(dir, { recursive: true });
    const temp = `${this.file}.tmp`;
    const handle = await fs.open(temp, 'w', 0o644);
    try {
      await handle.writeFile(`${JSON.stringify(pause)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, this.file);
    await syncDir(dir);
  }

  async clear(): Promise<void> {
    await fs.rm(this.file, { force: true });
    await syncDir(path.dirname(this.file));
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  await handle.sync().catch(() => undefined);
  await handle.close();
}

/**
 * The engine's view of the pause: read from the file at the first pass, changed by pause and resume. A pause or
 * resume that comes in while the file is first read is newer than what the file said.
 */
export class PauseState {
  current?: Pause;
  private file?: PauseFile;
  private known = false;

  /** `locate`: where pause.json lives (beside the journal, in the workspace's state directory) */
  constructor(private readonly locate: () => Promise<string>) {}

  private async store(): Promise<PauseFile> {
    this.file ??= new PauseFile(await this.locate());
    return this.file;
  }

  async load(): Promise<Pause | undefined> {
    const pause = await (await this.store()).read();
    if (!this.known) this.current = pause;
    this.known = true;
    return this.current;
  }

  async set(pause: Pause): Promise<void> {
    await (await this.store()).write(pause);
    this.known = true;
    this.current = pause;
  }

  /** Lifts the pause; returns the one lifted, if any. */
  async clear(): Promise<Pause | undefined> {
    const store = await this.store();
    const was = this.current ?? (await store.read());
    await store.clear();
    this.known = true;
    this.current = undefined;
    return was;
  }
}
