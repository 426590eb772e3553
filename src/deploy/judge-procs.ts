import { promises as fs } from 'node:fs';
import { nodeCrypto } from '../lazy-crypto.js';
import { killGroup } from '../proc/exec.js';
import { cgroupPids, endCgroup, joinCgroup, makeCgroup } from '../cgroup.js';
import { describeProcess, processesWithEnv, processGroupOf } from '../proc/procfs.js';

/**
 * Set for every command a judge runs (staged hooks, preflight, canary) to the path of its record: whatever they
 * start inherits it, so it names them even when no pid was written down (see endInterruptedJudge), and after they
 * moved to a session of their own (setsid, a daemonizing server).
 */
export const JUDGE_MARK = 'HOTPULL_JUDGE';

/**
 * The cgroup a judge's commands run in where hotpull's own cgroup (v2) is writable: one per record, so a start after
 * a kill -9 finds it by name too. Undefined where none can be made.
 */
export async function judgeCgroup(file: string): Promise<string | undefined> {
  const hash = nodeCrypto().createHash('sha256').update(file).digest('hex').slice(0, 12);
  return makeCgroup(`hotpull-judge-${hash}`);
}

/** Puts a judge's command in its cgroup before it starts (runShell's gate holds it until then). */
export async function enterJudgeCgroup(dir: string | undefined, pid: number): Promise<void> {
  if (dir) await joinCgroup(dir, pid);
}

export interface Leftover {
  pid: number;
  pgid: number;
  /** its command line, for the log */
  command: string;
}

/** At most this many rounds of "find, kill": a daemon forking while it is killed leaves a child the next round finds. */
const ROUNDS = 5;

/**
 * Ends every process a judge started that still runs: those whose environment carries JUDGE_MARK for `file`, with
 * their process groups, and everything in the judge's cgroup. Returns what was found (empty: nothing was left).
 * Nothing a judge starts serves anyone, so each is killed outright (SIGKILL).
 */
export async function endJudgeProcesses(file: string, cgroup: string | undefined): Promise<Leftover[]> {
  const own = await ownGroup();
  const found = new Map<number, Leftover>();
  for (let round = 0; round < ROUNDS; round++) {
    const marked = (await processesWithEnv(JUDGE_MARK, file)) ?? [];
    const grouped = cgroup ? await cgroupPids(cgroup) : [];
    for (const p of marked) if (!found.has(p.pid)) found.set(p.pid, { ...p, command: await describeProcess(p.pid) });
    for (const pid of grouped)
      if (!found.has(pid))
        found.set(pid, { pid, pgid: (await processGroupOf(pid)) ?? pid, command: await describeProcess(pid) });
    for (const { pid, pgid } of marked) {
      if (pgid > 1 && pgid !== own) killGroup(pgid, 'SIGKILL');
      kill(pid);
    }
    if (cgroup) await endCgroup(cgroup);
    if (marked.length === 0 && grouped.length === 0) break;
  }
  await waitDead([...found.keys()]);
  return [...found.values()];
}

const GONE_WAIT_MS = 3000;

/** Until each is gone or a zombie (which holds no port and runs nothing), or GONE_WAIT_MS passed. */
async function waitDead(pids: number[]): Promise<void> {
  const deadline = Date.now() + GONE_WAIT_MS;
  for (const pid of pids) {
    while (Date.now() < deadline && (await living(pid))) await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function living(pid: number): Promise<boolean> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  return stat !== '' && state !== 'Z' && state !== 'X';
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

let ownPgid: number | undefined;
/** This process's group: never one to kill, whatever marks it (a hotpull run by another's judge inherits its mark). */
async function ownGroup(): Promise<number> {
  if (ownPgid === undefined) {
    const stat = await fs.readFile('/proc/self/stat', 'utf8').catch(() => '');
    ownPgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) || -1;
  }
  return ownPgid;
}

/** Whether something a judge started still runs (a canary whose command exited after its server daemonized). */
export async function judgeProcessesAlive(file: string, cgroup: string | undefined): Promise<boolean> {
  if (((await processesWithEnv(JUDGE_MARK, file)) ?? []).length > 0) return true;
  return cgroup !== undefined && (await cgroupPids(cgroup)).length > 0;
}
