import { promises as fs } from 'node:fs';

/**
 * Every git hotpull starts carries `HOTPULL_GIT_OWNER=<pid of hotpull> <repository dir>` in its environment. A kill
 * -9 of hotpull does not end its git children: a `git merge` or `reset --hard` goes on writing the checkout after
 * the next start began to settle it (found by the kill -9 loop under load: the orphan's merge landed after the
 * survivor undid the apply and cleared the journal, so the new revision was on disk and never reloaded). The next
 * start ends them before it looks at the tree.
 */
export const GIT_OWNER_VAR = 'HOTPULL_GIT_OWNER';

export function gitOwnerMark(dir: string, pid = process.pid): string {
  return `${pid} ${dir}`;
}

/**
 * The pid of the hotpull that started the process whose environment (the text of /proc/PID/environ) this is, when
 * that was a git in `dir` started by another hotpull than `self`.
 */
export function gitOwnerOf(environ: string, dir: string, self = process.pid): number | undefined {
  const prefix = `${GIT_OWNER_VAR}=`;
  const value = environ
    .split('\0')
    .find((v) => v.startsWith(prefix))
    ?.slice(prefix.length);
  const match = value === undefined ? null : /^(\d+) (.+)$/s.exec(value);
  if (!match || match[2] !== dir || Number(match[1]) === self) return undefined;
  return Number(match[1]);
}

/**
 * Ends (SIGKILL) the git processes (by name) a hotpull that is gone left running in `dir` and waits, up to `waitMs`, until they are
 * gone (or zombies); returns their pids. What they half wrote is the journal's and the lock sweep's to settle.
 */
export async function endLeftoverGits(dir: string, waitMs = 5000): Promise<number[]> {
  const found: number[] = [];
  let entries: string[];
  try {
    entries = (await fs.readdir('/proc')).filter((p) => /^\d+$/.test(p));
  } catch {
    return found;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (pid === process.pid) continue;
    // git itself and its helpers (git-remote-https, git-upload-pack) only: what a git hook started with its
    // environment (an app server a post-merge hook restarted) is not hotpull's to end
    const comm = await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (!comm.startsWith('git')) continue;
    const environ = await fs.readFile(`/proc/${pid}/environ`, 'latin1').catch(() => '');
    const owner = gitOwnerOf(environ, dir);
    // a hotpull still alive (a `sync` resolving its target before it waits for the owner lock) keeps its git
    if (owner === undefined || (await running(owner))) continue;
    try {
      process.kill(pid, 'SIGKILL');
      found.push(pid);
    } catch {
      // gone already, or not ours to end
    }
  }
  const deadline = Date.now() + waitMs;
  for (const pid of found) {
    while (Date.now() < deadline && (await running(pid))) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return found;
}

/** Alive and not a zombie: a killed orphan stays a zombie until its new parent reaps it, and a zombie writes nothing. */
async function running(pid: number): Promise<boolean> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return false;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}
