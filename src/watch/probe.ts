import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ProbeResult } from './messages.js';
import { nodeCrypto } from '../lazy-crypto.js';

/** Probe files live in the repo root for a moment; their events are the probe's, never a reason to reload. */
export const PROBE_PREFIX = '.hotpull-probe-';

export const isProbePath = (relative: string): boolean => relative.startsWith(PROBE_PREFIX) && !relative.includes('/');

export interface ProbeOptions {
  readonly dir: string;
  readonly timeoutMs: number;
  /** resolves when the watcher reports an event for this repo-relative name */
  readonly heard: (name: string) => Promise<void>;
  readonly clock?: () => number;
}

/**
 * Bind mounts from Docker Desktop and WSL2 carry file contents but no inotify events. Writes a file under the repo
 * and waits for the watcher to report it; removes it only afterwards (removing it at once could beat the
 * watcher's own look at the directory, and the event would never come even on a good mount).
 */
export async function probeMount(options: ProbeOptions): Promise<ProbeResult> {
  const clock = options.clock ?? Date.now;
  const name = `${PROBE_PREFIX}${process.pid}-${nodeCrypto().randomBytes(4).toString('hex')}`;
  const file = path.join(options.dir, name);
  const heard = options.heard(name).then(() => true);
  const started = clock();
  try {
    await fs.writeFile(file, 'hotpull checks that this mount delivers file events; removed at once\n', { flag: 'wx' });
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    return { kind: 'unwritable', reason: code ?? message };
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), options.timeoutMs)));
    return (await Promise.race([heard, timedOut]))
      ? { kind: 'events', ms: clock() - started }
      : { kind: 'silent', waitedMs: options.timeoutMs };
  } finally {
    clearTimeout(timer);
    await fs.rm(file, { force: true }).catch(() => undefined);
  }
}
