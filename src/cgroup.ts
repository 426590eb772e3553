import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * The cgroup v2 adapter: a cgroup of its own for a set of commands, so that everything they start can be found and
 * ended again, whatever it does to its session, process group or environment (only a process moved to another
 * cgroup on purpose, e.g. through systemd, leaves it). Usable where hotpull's own cgroup is writable (root on a
 * host or in a container whose cgroup filesystem is writable, or a delegated cgroup); everywhere else every call
 * says "not here" (undefined, false) and the caller relies on what it has besides.
 */

/**
 * Where a process's cgroup v2 directory is mounted, from its /proc/<pid>/cgroup and /proc/<pid>/mountinfo texts;
 * undefined without a v2 hierarchy (cgroup v1 only) or when the cgroup is not under the mount's root.
 */
export function cgroupDirFrom(cgroupText: string, mountinfoText: string): string | undefined {
  const own = cgroupText
    .split('\n')
    .find((l) => l.startsWith('0::'))
    ?.slice(3)
    .trim();
  if (own === undefined || own.includes('(deleted)')) return undefined;
  for (const line of mountinfoText.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || right?.split(' ')[0] !== 'cgroup2') continue;
    const fields = left.split(' ');
    const root = unescape(fields[3] ?? '');
    const mountPoint = unescape(fields[4] ?? '');
    if (!mountPoint) continue;
    if (root === '/') return trimmed(path.join(mountPoint, own));
    if (own === root || own.startsWith(`${root}/`)) return trimmed(path.join(mountPoint, own.slice(root.length)));
  }
  return undefined;
}

const trimmed = (dir: string) => (dir.length > 1 ? dir.replace(/\/+$/, '') : dir);

/** mountinfo writes a space, a tab, a newline and a backslash in a path as octal escapes. */
const unescape = (text: string) =>
  text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** This process's cgroup v2 directory, or undefined. */
export async function ownCgroupDir(): Promise<string | undefined> {
  const [cgroup, mountinfo] = await Promise.all([
    fs.readFile('/proc/self/cgroup', 'utf8').catch(() => ''),
    fs.readFile('/proc/self/mountinfo', 'utf8').catch(() => ''),
  ]);
  return cgroupDirFrom(cgroup, mountinfo);
}

/** A child cgroup of this process's own, made if needed; undefined where that cannot be done. */
export async function makeCgroup(name: string): Promise<string | undefined> {
  const parent = await ownCgroupDir();
  if (!parent) return undefined;
  const dir = path.join(parent, name);
  try {
    await fs.mkdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
  }
  // writable for us, or moving a process in would fail later
  return (await fs.access(path.join(dir, 'cgroup.procs'), fs.constants.W_OK).then(
    () => true,
    () => false,
  ))
    ? dir
    : undefined;
}

/** Moves a process (and what it starts from then on) into the cgroup; false when it could not be done. */
export async function joinCgroup(dir: string, pid: number): Promise<boolean> {
  return fs.writeFile(path.join(dir, 'cgroup.procs'), String(pid)).then(
    () => true,
    () => false,
  );
}

/** The processes in a cgroup (none when it is gone). */
export async function cgroupPids(dir: string): Promise<number[]> {
  const text = await fs.readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

const GONE_WAIT_MS = 3000;

/**
 * Kills every process in the cgroup (cgroup.kill, Linux >= 5.14; before it, SIGKILL to each listed process until
 * none is left, which also catches one forked meanwhile), waits until it is empty, and removes it. Returns whether
 * the cgroup is gone (false: it could not be emptied or removed; the next call tries again).
 */
export async function endCgroup(dir: string): Promise<boolean> {
  const deadline = Date.now() + GONE_WAIT_MS;
  if (!(await exists(dir))) return true;
  // no cgroup.kill before Linux 5.14: the loop below kills what is listed
  const killed = await fs.writeFile(path.join(dir, 'cgroup.kill'), '1').then(
    () => true,
    () => false,
  );
  for (;;) {
    const pids = await cgroupPids(dir);
    if (pids.length === 0 && !(await populated(dir))) break;
    if (!killed)
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return fs.rmdir(dir).then(
    () => true,
    (error: NodeJS.ErrnoException) => error.code === 'ENOENT',
  );
}

const exists = (p: string) =>
  fs.access(p).then(
    () => true,
    () => false,
  );

/** cgroup.events' `populated`: 1 while a process in it or below it has not exited. */
async function populated(dir: string): Promise<boolean> {
  const events = await fs.readFile(path.join(dir, 'cgroup.events'), 'utf8').catch(() => '');
  return /^populated 1$/m.test(events);
}
