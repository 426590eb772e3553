import { runShell } from '../proc/exec.js';
import type { Reloader, ReloadContext } from './types.js';

/** Runs a shell command to reload (e.g. `supervisorctl restart app`); HOTPULL_SHA tells it what was deployed. */
export class CommandReloader implements Reloader {
  readonly name: string;
  readonly repeatable = false;

  constructor(
    readonly command: string,
    private readonly cwd: string,
    private readonly timeoutMs: number,
    private readonly env: Readonly<Record<string, string | undefined>>,
  ) {
    this.name = `command:"${command}"`;
  }

  async reload(context: ReloadContext): Promise<void> {
    await runShell(this.command, {
      cwd: this.cwd,
      timeoutMs: this.timeoutMs,
      env: { ...this.env, HOTPULL_SHA: context.sha, HOTPULL_PREVIOUS_SHA: context.previousSha },
      signal: context.signal,
      onStart: context.onStart,
      progress: context.progress,
    });
  }
}
