import { nodeCrypto } from '../lazy-crypto.js';
import path from 'node:path';
import { configError } from '../errors.js';
import { redact } from '../redact.js';

/**
 * The container `hotpull host up` wants, derived from the options alone (pure: no docker, no filesystem), and
 * the `docker run` argument vector that creates it. Everything that decides whether a running container can
 * stay is in here, so the comparison in diff.ts and the hash in the labels agree by construction.
 */
export interface PortMapping {
  /** '' = all interfaces, as docker records it */
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

export interface CodeMount {
  hostDir: string;
  containerDir: string;
}

export interface DesiredContainer {
  name: string;
  /** as given: a tag or an id */
  image: string;
  code: CodeMount;
  ports: readonly PortMapping[];
  /** later values win; sorted by name */
  env: ReadonlyArray<readonly [string, string]>;
  /** `docker run` options placed before the image (after `--`) */
  runArgs: readonly string[];
  /** the container's command, after a second `--`; empty = the image's default */
  command: readonly string[];
  repo?: string;
  branch?: string;
}

export const LABEL = {
  code: 'hotpull.code',
  repo: 'hotpull.repo',
  branch: 'hotpull.branch',
  configHash: 'hotpull.config-hash',
} as const;

export interface UpInput {
  name?: string;
  image?: string;
  code?: string;
  publish: readonly string[];
  env: readonly string[];
  /** the --env-file's path and text, read by the caller */
  envFile?: { path: string; text: string };
  /** everything after `--` on the command line */
  passthrough: readonly string[];
  repo?: string;
  branch?: string;
  /** base for a relative HOSTDIR */
  cwd: string;
  /** for `-e NAME` without a value, which takes the value from this environment, as docker does */
  processEnv: Readonly<Record<string, string | undefined>>;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const ENV_NAME = /^[^=\s]+$/;

function required(value: string | undefined, flag: string, what: string): string {
  if (value === undefined || value.trim() === '') throw configError(`host up needs ${flag} ${what} (got none)`);
  return value.trim();
}

/** `HOSTDIR:CONTAINERDIR`; HOSTDIR resolved against cwd, CONTAINERDIR must be absolute. */
export function parseCode(text: string, cwd: string, needContainerDir = true): CodeMount {
  const at = text.lastIndexOf(':');
  const hostPart = at > 0 ? text.slice(0, at) : text;
  const containerDir = at > 0 ? text.slice(at + 1) : '';
  if (needContainerDir && (!hostPart || !containerDir.startsWith('/'))) {
    throw configError(
      `--code must be HOSTDIR:CONTAINERDIR with an absolute CONTAINERDIR, e.g. ./app:/app (got ${JSON.stringify(text)})`,
    );
  }
  if (!hostPart) throw configError(`--code must name a directory (got ${JSON.stringify(text)})`);
  return { hostDir: path.resolve(cwd, hostPart), containerDir: containerDir.replace(/(.)\/+$/, '$1') };
}

/** `[IP:]HOSTPORT:PORT[/tcp|udp|sctp]`, IPv6 hosts in brackets. */
export function parsePort(text: string): PortMapping {
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[0-9.]+):)?(\d{1,5}):(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(text.trim());
  const hostPort = Number(match?.[2]);
  const containerPort = Number(match?.[3]);
  if (!match || hostPort < 1 || hostPort > 65535 || containerPort < 1 || containerPort > 65535) {
    throw configError(
      `-p/--publish must be [IP:]HOSTPORT:PORT[/udp] with ports 1-65535, e.g. 8000:8000 or 127.0.0.1:8000:80 (got ${JSON.stringify(text)})`,
    );
  }
  return {
    hostIp: (match[1] ?? '').replace(/^\[(.*)\]$/, '$1'),
    hostPort,
    containerPort,
    protocol: (match[4] as PortMapping['protocol'] | undefined) ?? 'tcp',
  };
}

function envEntry(text: string, where: string, processEnv: UpInput['processEnv']): [string, string] {
  const at = text.indexOf('=');
  const key = at === -1 ? text : text.slice(0, at);
  if (!ENV_NAME.test(key)) throw configError(`${where} must be NAME=VALUE (got ${JSON.stringify(redactValue(text))})`);
  const value = at === -1 ? processEnv[key] : text.slice(at + 1);
  if (value === undefined)
    throw configError(
      `${where} names ${key} without a value, and ${key} is not set in the environment (got ${JSON.stringify(text)})`,
    );
  // docker's --env-file, which carries the values (so they stay out of `ps`), has no way to write a newline.
  if (/[\r\n\0]/.test(value)) throw configError(`${where} values must be one line (got a line break in ${key})`);
  return [key, value];
}

function redactValue(text: string): string {
  const at = text.indexOf('=');
  return at === -1 ? text : `${text.slice(0, at)}=…`;
}

/** docker's env-file format: NAME=VALUE per line, `#` comments and blank lines skipped, no quoting. */
export function parseEnvFile(
  file: { path: string; text: string },
  processEnv: UpInput['processEnv'],
): Array<[string, string]> {
  const entries: Array<[string, string]> = [];
  file.text.split(/\r?\n/).forEach((line, index) => {
    const trimmed = line.replace(/^\s+/, '');
    if (trimmed === '' || trimmed.startsWith('#')) return;
    entries.push(envEntry(trimmed, `--env-file ${file.path} line ${index + 1}`, processEnv));
  });
  return entries;
}

/** Splits what followed `--`: docker run options, then (after a second `--`) the container's command. */
export function splitPassthrough(passthrough: readonly string[]): { runArgs: string[]; command: string[] } {
  const cut = passthrough.indexOf('--');
  return cut === -1
    ? { runArgs: [...passthrough], command: [] }
    : { runArgs: passthrough.slice(0, cut), command: passthrough.slice(cut + 1) };
}

export function desiredContainer(input: UpInput): DesiredContainer {
  const name = required(input.name, '--name', 'NAME (the container name)');
  if (!NAME.test(name))
    throw configError(
      `--name must be a container name: two or more letters, digits and _.-, starting with a letter or digit (got ${JSON.stringify(name)})`,
    );
  const image = required(input.image, '--image', 'IMAGE');
  const code = parseCode(required(input.code, '--code', 'HOSTDIR:CONTAINERDIR'), input.cwd);
  const ports = input.publish.map(parsePort);
  const env = new Map<string, string>();
  for (const [k, v] of input.envFile ? parseEnvFile(input.envFile, input.processEnv) : []) env.set(k, v);
  for (const text of input.env) {
    const [k, v] = envEntry(text, '-e/--env', input.processEnv);
    env.set(k, v);
  }
  const { runArgs, command } = splitPassthrough(input.passthrough);
  return {
    name,
    image,
    code,
    ports,
    env: [...env.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    runArgs,
    command,
    repo: input.repo,
    branch: input.branch,
  };
}

/**
 * What a running container must match besides its image id. The image is compared by id, not in here: a new
 * image behind the same tag (after --pull) replaces the container, the same id under another tag does not.
 */
export function configHash(spec: DesiredContainer): string {
  const material = JSON.stringify({
    code: [spec.code.hostDir, spec.code.containerDir],
    ports: spec.ports.map(portKey).sort(),
    env: spec.env,
    runArgs: spec.runArgs,
    command: spec.command,
  });
  return nodeCrypto().createHash('sha256').update(material).digest('hex').slice(0, 24);
}

export function portKey(p: PortMapping): string {
  return `${p.hostIp || '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.protocol}`;
}

export function labelsOf(spec: DesiredContainer): Record<string, string> {
  return {
    [LABEL.code]: spec.code.hostDir,
    ...(spec.repo ? { [LABEL.repo]: redact(spec.repo) } : {}),
    ...(spec.branch ? { [LABEL.branch]: spec.branch } : {}),
    [LABEL.configHash]: configHash(spec),
  };
}

/** docker's --env-file text for the spec's environment (values never go on the command line, which `ps` shows). */
export function envFileText(spec: DesiredContainer): string {
  return spec.env.map(([k, v]) => `${k}=${v}\n`).join('');
}

/** `docker run` arguments: detached, named, labelled, the code mount, ports, env (via a file), extra args, image, command. */
export function runArguments(spec: DesiredContainer, envFile: string | undefined): string[] {
  const labels = Object.entries(labelsOf(spec)).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  const ports = spec.ports.flatMap((p) => [
    '--publish',
    `${p.hostIp ? `${p.hostIp.includes(':') ? `[${p.hostIp}]` : p.hostIp}:` : ''}${p.hostPort}:${p.containerPort}/${p.protocol}`,
  ]);
  return [
    'run',
    '--detach',
    '--name',
    spec.name,
    ...labels,
    '--volume',
    `${spec.code.hostDir}:${spec.code.containerDir}`,
    ...ports,
    ...(envFile ? ['--env-file', envFile] : []),
    ...spec.runArgs,
    spec.image,
    ...spec.command,
  ];
}
