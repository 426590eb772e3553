/**
 * A real dockerd for the host tests: finds one that answers (DOCKER_HOST or the default socket), builds a tiny
 * busybox image with `docker import` when missing (no registry is reachable), and removes the containers a test
 * run created. Without Docker the suites are skipped locally and fail when CI=true.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export const CI = process.env.CI === 'true';
export const DOCKER = process.env.HOTPULL_DOCKER_BIN || 'docker';
export const IMAGE = 'hotpull-test/busybox:1';
/** the same files as IMAGE under another id, for "changed image replaces" */
export const IMAGE_2 = 'hotpull-test/busybox:2';
/** Every container a test creates is named with this prefix; the per-run part keeps parallel runs apart. */
export const PREFIX = 'hotpull-test-';
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'];
const APPLETS = ['sh', 'sleep', 'echo', 'cat', 'ls', 'httpd', 'touch', 'date', 'true', 'false', 'env', 'wget', 'mkdir', 'rm'];

export async function docker(args: string[], options: { timeout?: number; reject?: boolean } = {}) {
  return execa(DOCKER, args, { reject: options.reject ?? true, timeout: options.timeout ?? 60_000, stdin: 'ignore' });
}

/** undefined when a dockerd answers; else why not. */
export async function dockerProblem(): Promise<string | undefined> {
  try {
    const result = await docker(['info', '--format', '{{.ServerVersion}}'], { reject: false, timeout: 20_000 });
    if (result.exitCode === 0 && result.stdout.trim()) return undefined;
    return `${DOCKER} info failed: ${(result.stderr || result.stdout).trim().split('\n')[0]}`;
  } catch (error) {
    return `${DOCKER} could not be run: ${(error as Error).message.split('\n')[0]}`;
  }
}

/** A 64-bit ELF without a PT_INTERP program header needs no loader or libc inside the empty image. */
async function isStatic(file: string): Promise<boolean> {
  const elf = await fs.readFile(file).catch(() => undefined);
  if (!elf || elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const size = elf.readUInt16LE(0x36);
  const count = elf.readUInt16LE(0x38);
  for (let i = 0; i < count; i += 1) if (elf.readUInt32LE(phoff + i * size) === 3) return false;
  return true;
}

async function imageExists(tag: string): Promise<boolean> {
  return (await docker(['image', 'inspect', '--format', '{{.Id}}', tag], { reject: false })).exitCode === 0;
}

/** busybox-static in an empty rootfs, imported as IMAGE and IMAGE_2 (which differs by one label, so by id). */
export async function ensureImages(): Promise<void> {
  if ((await imageExists(IMAGE)) && (await imageExists(IMAGE_2))) return;
  let busybox: string | undefined;
  for (const candidate of BUSYBOX) if (!busybox && (await isStatic(candidate))) busybox = candidate;
  if (!busybox) throw new Error(`no statically linked busybox at ${BUSYBOX.join(' or ')}: apt-get install busybox-static`);
  const rootfs = await fs.mkdtemp(path.join(tmpdir(), 'hotpull-test-rootfs-'));
  try {
    for (const dir of ['bin', 'tmp', 'etc', 'app']) await fs.mkdir(path.join(rootfs, dir));
    await fs.copyFile(busybox, path.join(rootfs, 'bin/busybox'));
    await fs.chmod(path.join(rootfs, 'bin/busybox'), 0o755);
    for (const applet of APPLETS) await fs.symlink('busybox', path.join(rootfs, 'bin', applet));
    await fs.writeFile(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
    for (const [tag, revision] of [[IMAGE, '1'], [IMAGE_2, '2']] as const) {
      await execa('tar', ['-C', rootfs, '-c', '.']).pipe(DOCKER, ['import', '--change', `LABEL hotpull-test.revision=${revision}`, '-', tag]);
    }
  } finally {
    await fs.rm(rootfs, { recursive: true, force: true });
  }
}

export async function imageId(tag: string): Promise<string> {
  return (await docker(['image', 'inspect', '--format', '{{.Id}}', tag])).stdout.trim();
}

export interface Inspect {
  Id: string;
  Image: string;
  State: { Status: string; Running: boolean };
  Config: { Env: string[] | null; Labels: Record<string, string> | null };
  HostConfig: { Binds: string[] | null };
}

export async function inspect(name: string): Promise<Inspect | undefined> {
  const result = await docker(['container', 'inspect', name], { reject: false });
  return result.exitCode === 0 ? (JSON.parse(result.stdout) as Inspect[])[0] : undefined;
}

/** Removes every container whose name starts with `prefix` (which must start with PREFIX). */
export async function removeContainers(prefix: string): Promise<void> {
  if (!prefix.startsWith(PREFIX)) throw new Error(`refusing to remove containers outside ${PREFIX}*`);
  const names = (await docker(['ps', '--all', '--format', '{{.Names}}'], { reject: false })).stdout
    .split('\n')
    .map((n) => n.trim())
    .filter((n) => n.startsWith(prefix));
  if (names.length > 0) await docker(['rm', '--force', ...names], { reject: false });
}
