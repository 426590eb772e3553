import { promises as fs } from 'node:fs';

/**
 * Pids of other processes whose working directory or an open file satisfies `match`, seen through /proc.
 * Undefined when /proc cannot be read (not Linux): callers then fall back to a safe default.
 */
export async function processesUsing(match: (target: string) => boolean): Promise<number[] | undefined> {
  let pids: string[];
  try {
    pids = (await fs.readdir('/proc')).filter((p) => /^\d+$/.test(p));
  } catch {
    return undefined;
  }
  const found: number[] = [];
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    const cwd = await fs.readlink(`/proc/${pid}/cwd`).catch(() => '');
    if (cwd && match(cwd)) {
      found.push(Number(pid));
      continue;
    }
    const fds = await fs.readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (target && match(target)) {
        found.push(Number(pid));
        break;
      }
    }
  }
  return found;
}
