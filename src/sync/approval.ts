import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PauseFile } from './pause.js';

/**
 * --require-approval: the revision an operator approved with `hotpull approve SHA`, kept with the checkout
 * (approval.json beside pause.json) so a restart keeps it. One approval, for that sha only: approving another
 * replaces it.
 */
export interface Approval {
  sha: string;
  by: string;
  at: string;
}

export class Approvals {
  private current?: Approval;
  private loaded = false;

  /** `locate`: the workspace's state directory */
  constructor(private readonly locate: () => Promise<string>) {}

  private async file(): Promise<string> {
    return path.join(await this.locate(), 'approval.json');
  }

  async get(): Promise<Approval | undefined> {
    if (this.loaded) return this.current;
    const text = await fs.readFile(await this.file(), 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    try {
      const value = text === undefined ? undefined : (JSON.parse(text) as Partial<Approval> | null);
      // anything but a sha approves nothing
      if (value && typeof value.sha === 'string' && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(value.sha))
        this.current = { sha: value.sha, by: String(value.by ?? ''), at: String(value.at ?? '') };
    } catch {
      this.current = undefined;
    }
    this.loaded = true;
    return this.current;
  }

  /** Written like a pause (temp file, fsync, rename): after a crash it is the old approval or the new one. */
  async set(approval: Approval): Promise<void> {
    const file = await this.file();
    await fs.mkdir(path.dirname(file), { recursive: true });
    // PauseFile's write is the atomic JSON write; an approval is not a pause, only stored the same way
    await new PauseFile(file).write(approval as never);
    this.current = approval;
    this.loaded = true;
  }
}
