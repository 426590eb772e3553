/**
 * A real dockerd for the host tests: finds one that answers (DOCKER_HOST or the default socket), builds a tiny
 * busybox image with `docker import` when missing (no registry is reachable), and removes the containers a test
 * run created. Without Docker the suites are skipped locally and fail when CI=true.
 * For the project Dockerfile (test/e2e/docker.test.ts): its base images made offline by docker/offline-bases.sh
 * and kept, the build, and the removal of what a build made.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const CI = process.env.CI === 'true';
export const DOCKER = process.env.HOTPULL_DOCKER_BIN || 'docker';
export const IMAGE = 'hotpull-test/busybox:1';
/** the same files as IMAGE under another id, for "changed image replaces" */
export const IMAGE_2 = 'hotpull-test/busybox:2';
/** Every container a test creates is named with this prefix; the per-run part keeps parallel runs apart. */
export const PREFIX = 'hotpull-test-';
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'];
const APPLETS = [
  'sh',
  'sleep',
  'echo',
  'cat',
  'ls',
  'httpd',
  'touch',
  'date',
  'true',
  'false',
  'env',
  'wget',
  'mkdir',
  'rm',
];

export async function docker(
  args: string[],
  options: { timeout?: number; reject?: boolean; bin?: string; env?: Record<string, string> } = {},
) {
  return execa(options.bin ?? DOCKER, args, {
    reject: options.reject ?? true,
    timeout: options.timeout ?? 60_000,
    stdin: 'ignore',
    env: options.env,
  });
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

async function imageExists(tag: string, bin = DOCKER): Promise<boolean> {
  return (await docker(['image', 'inspect', '--format', '{{.Id}}', tag], { reject: false, bin })).exitCode === 0;
}

/** busybox-static in an empty rootfs, imported as IMAGE and IMAGE_2 (which differs by one label, so by id); `bin`: podman. */
export async function ensureImages(bin = DOCKER): Promise<void> {
  if ((await imageExists(IMAGE, bin)) && (await imageExists(IMAGE_2, bin))) return;
  let busybox: string | undefined;
  for (const candidate of BUSYBOX) if (!busybox && (await isStatic(candidate))) busybox = candidate;
  if (!busybox)
    throw new Error(`no statically linked busybox at ${BUSYBOX.join(' or ')}: apt-get install busybox-static`);
  const rootfs = await fs.mkdtemp(path.join(tmpdir(), 'hotpull-test-rootfs-'));
  try {
    for (const dir of ['bin', 'tmp', 'etc', 'app']) await fs.mkdir(path.join(rootfs, dir));
    await fs.copyFile(busybox, path.join(rootfs, 'bin/busybox'));
    await fs.chmod(path.join(rootfs, 'bin/busybox'), 0o755);
    for (const applet of APPLETS) await fs.symlink('busybox', path.join(rootfs, 'bin', applet));
    await fs.writeFile(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
    for (const [tag, revision] of [
      [IMAGE, '1'],
      [IMAGE_2, '2'],
    ] as const) {
      await execa('tar', ['-C', rootfs, '-c', '.']).pipe(bin, [
        'import',
        '--change',
        `LABEL hotpull-test.revision=${revision}`,
        '-',
        tag,
      ]);
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

// ---------------------------------------------------------------------------------------------------------
// The project Dockerfile, built offline (test/e2e/docker.test.ts; bench/fullstack.mjs does the same in plain ESM)

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Base images the tests build the Dockerfile from; kept between runs (made by debootstrap when missing). */
export const BASE_PREFIX = 'hotpull-test';
export const APP_BASE = `${BASE_PREFIX}/debian-app:bookworm`;

export interface StackBases {
  /** `--build-arg` pairs for docker build */
  buildArgs: string[];
  appBase: string;
  nodeBase: string;
  /** with `python-slim`: the stand-in for python:3.x-slim (examples/python-slim) */
  pythonBase?: string;
}

/**
 * The Dockerfile's two bases as local images, made by docker/offline-bases.sh only when their tags are missing:
 * debootstrap + docker import (about a minute) for APP_BASE, this machine's node and npm on top for NODE_BASE.
 */
export async function ensureStackBases(extra?: 'python-slim'): Promise<StackBases> {
  const result = await execa('bash', [path.join(PROJECT_ROOT, 'docker/offline-bases.sh'), ...(extra ? [extra] : [])], {
    env: { TAG_PREFIX: BASE_PREFIX, APP_BASE_TAG: APP_BASE },
    timeout: 10 * 60_000,
    stdin: 'ignore',
    reject: false,
  });
  if (result.exitCode !== 0)
    throw new Error(`docker/offline-bases.sh failed (${result.exitCode}): ${result.stderr.trim()}`);
  const buildArgs = result.stdout.trim().split(/\s+/);
  const value = (name: string) => buildArgs.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1) ?? '';
  return {
    buildArgs,
    appBase: value('APP_BASE'),
    nodeBase: value('NODE_BASE'),
    ...(extra ? { pythonBase: value('PYTHON_BASE') } : {}),
  };
}

/** `docker build` of the project Dockerfile (or the one in `context`) offline: --pull=false, --network host. */
export async function buildImage(
  tag: string,
  bases: StackBases,
  context = PROJECT_ROOT,
  buildArgs = bases.buildArgs,
): Promise<{ seconds: number; output: string }> {
  const started = performance.now();
  const result = await execa(
    DOCKER,
    ['build', '--pull=false', '--network', 'host', ...buildArgs, '--tag', tag, context],
    {
      timeout: 10 * 60_000,
      stdin: 'ignore',
      reject: false,
      all: true,
    },
  );
  if (result.exitCode !== 0)
    throw new Error(
      `docker build of ${tag} failed (${result.exitCode}):\n${String(result.all).split('\n').slice(-30).join('\n')}`,
    );
  return { seconds: (performance.now() - started) / 1000, output: String(result.all) };
}

export interface BuildStep {
  instruction: string;
  /** the image the step left (the base's for FROM) */
  id?: string;
  cached: boolean;
}

/** The steps of a legacy-builder `docker build` log (dockerd 20.10 without BuildKit prints "Step N/M : …"). */
export function buildSteps(output: string): BuildStep[] {
  return output
    .split(/^Step \d+\/\d+ : /m)
    .slice(1)
    .map((chunk) => ({
      instruction: chunk.split('\n', 1)[0] ?? '',
      id: [...chunk.matchAll(/^ ---> ([0-9a-f]{12})$/gm)].at(-1)?.[1],
      cached: /^ ---> Using cache$/m.test(chunk),
    }));
}

/**
 * Removes the images a build made for a stage's steps from the one starting with `from` (e.g. `COPY src`) to
 * the stage's end, newest first and without pruning parents: removing the final image takes the runtime stage
 * with it, but the build stage is nobody's parent and would stay as dangling images; the layers before `from`
 * (npm ci) stay too, on purpose, as the next build's cache.
 */
export async function removeStageLeftovers(output: string, from: string): Promise<void> {
  const steps = buildSteps(output);
  const start = steps.findIndex((step) => step.instruction.startsWith(from));
  if (start < 0) return;
  const end = steps.findIndex((step, i) => i > start && step.instruction.startsWith('FROM '));
  const made = steps.slice(start, end < 0 ? undefined : end).filter((step) => !step.cached && step.id);
  for (const step of made.reverse()) await docker(['image', 'rm', '--no-prune', step.id as string], { reject: false });
}

/** Removes an image the tests built (never a base image); its runtime-stage layers go with it. */
export async function removeImage(tag: string): Promise<void> {
  if (!tag.startsWith(`${BASE_PREFIX}/`) || tag === APP_BASE || tag.startsWith(`${BASE_PREFIX}/node:`)) {
    throw new Error(`refusing to remove ${tag}`);
  }
  await docker(['image', 'rm', '--force', tag], { reject: false });
}
