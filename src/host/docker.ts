import { configError, HotpullError } from '../errors.js';
import { runArgv, type ArgvResult } from '../exec.js';
import { redact } from '../redact.js';
import { classify, problemMessage, type ProblemContext } from './classify.js';
import type { ContainerInspect } from './diff.js';

/**
 * The one adapter for the docker CLI (or Podman's docker-compatible one: `--docker-bin podman`). The CLI rather
 * than the Engine API: it already honours DOCKER_HOST, contexts, TLS settings and ssh:// hosts, and Podman ships
 * the same commands. Every failure becomes one classified line (classify.ts) with docker's output attached.
 */
export interface ImageInspect {
  Id: string;
  Config?: { Healthcheck?: { Test?: string[] | null } | null; Env?: string[] | null } | null;
}

export interface DockerOptions {
  /** the CLI binary: docker, podman, or a path */
  bin: string;
  env: Readonly<Record<string, string | undefined>>;
}

const QUICK_MS = 60_000;
const PULL_MS = 30 * 60_000;
const NO_SUCH = /no such (container|object)|no container with name or id/i;

export class DockerCli {
  constructor(private readonly options: DockerOptions) {}

  /** Runs `<bin> args`; a non-zero exit becomes a classified HotpullError unless `allowFailure`. */
  async run(args: string[], context: ProblemContext, timeoutMs = QUICK_MS, allowFailure = false): Promise<ArgvResult> {
    const result = await runArgv(this.options.bin, args, { timeoutMs, env: this.options.env });
    if (result.startError) {
      throw configError(
        `--docker-bin must name a docker-compatible CLI: ${JSON.stringify(this.options.bin)} could not be started (${result.startError}); install Docker or Podman, or set --docker-bin / HOTPULL_DOCKER_BIN`,
      );
    }
    if (result.exitCode !== 0 && !allowFailure) throw this.failure(result, args, context);
    return result;
  }

  failure(result: ArgvResult, args: readonly string[], context: ProblemContext): HotpullError {
    const problem = classify(result.stderr);
    const message = problemMessage(problem, result.stderr, { dockerHost: this.options.env.DOCKER_HOST, ...context });
    const details = { command: redact([this.options.bin, ...args].join(' ')), stdout: result.stdout, stderr: result.stderr };
    if (problem === 'daemon-unreachable' || problem === 'permission-denied') return new HotpullError('UNREACHABLE', message, { ...details, exitCode: 3 });
    return new HotpullError('DOCKER', message, details);
  }

  /** The image's inspect record, or undefined when this Docker host does not have it. */
  async image(ref: string): Promise<ImageInspect | undefined> {
    const result = await this.run(['image', 'inspect', '--', ref], { action: 'image inspect', image: ref }, QUICK_MS, true);
    if (result.exitCode === 0) return (JSON.parse(result.stdout) as ImageInspect[])[0];
    if (classify(result.stderr) === 'image-missing') return undefined;
    throw this.failure(result, ['image', 'inspect', ref], { action: 'image inspect', image: ref });
  }

  async pull(ref: string): Promise<void> {
    await this.run(['pull', '--', ref], { action: 'pull', image: ref }, PULL_MS);
  }

  /** Inspect records of the named containers that exist; missing ones are left out. */
  async containers(names: readonly string[]): Promise<ContainerInspect[]> {
    if (names.length === 0) return [];
    const args = ['container', 'inspect', '--', ...names];
    const result = await this.run(args, { action: 'inspect' }, QUICK_MS, true);
    // With several names, docker prints the ones it found and fails for the rest.
    if (result.exitCode !== 0 && !NO_SUCH.test(result.stderr)) throw this.failure(result, args, { action: 'inspect' });
    const text = result.stdout.trim();
    return text ? (JSON.parse(text) as ContainerInspect[]) : [];
  }

  async container(name: string): Promise<ContainerInspect | undefined> {
    return (await this.containers([name]))[0];
  }

  /** Ids of all containers (running or not) carrying the label. */
  async withLabel(label: string): Promise<string[]> {
    const result = await this.run(['ps', '--all', '--quiet', '--no-trunc', '--filter', `label=${label}`], { action: 'ps' });
    return result.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  }

  /** Graceful stop: SIGTERM (or the image's STOPSIGNAL), SIGKILL after `timeoutS`. */
  async stop(name: string, timeoutS: number): Promise<void> {
    await this.run(['stop', '-t', String(timeoutS), '--', name], { action: 'stop' }, (timeoutS + 60) * 1000);
  }

  async remove(name: string): Promise<void> {
    await this.run(['rm', '--force', '--', name], { action: 'rm' });
  }

  async start(args: string[], context: ProblemContext): Promise<string> {
    return (await this.run(args, context, PULL_MS)).stdout.trim();
  }

  /** The container's last log lines, stdout and stderr interleaved; empty when they cannot be read. */
  async logs(name: string, lines: number): Promise<string> {
    const result = await this.run(['logs', '--tail', String(lines), '--', name], { action: 'logs' }, QUICK_MS, true);
    return result.exitCode === 0 ? result.all : '';
  }
}
