import { configError, HotpullError } from '../errors.js';
import { runArgv, type ArgvResult } from '../proc/exec.js';
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
    const details = {
      command: redact([this.options.bin, ...args].join(' ')),
      stdout: result.stdout,
      stderr: result.stderr,
    };
    if (problem === 'daemon-unreachable' || problem === 'permission-denied')
      return new HotpullError('UNREACHABLE', message, details);
    return new HotpullError('DOCKER', message, details);
  }

  /** The image's inspect record, or undefined when this Docker host does not have it. */
  async image(ref: string): Promise<ImageInspect | undefined> {
    const result = await this.run(
      ['image', 'inspect', '--', ref],
      { action: 'image inspect', image: ref },
      QUICK_MS,
      true,
    );
    if (result.exitCode === 0) return (JSON.parse(result.stdout) as ImageInspect[])[0];
    if (classify(result.stderr) === 'image-missing') return undefined;
    throw this.failure(result, ['image', 'inspect', ref], { action: 'image inspect', image: ref });
  }

  async pull(ref: string): Promise<void> {
    await this.run(['pull', '--', ref], { action: 'pull', image: ref }, PULL_MS);
  }

  /** Inspect records of the named containers that exist; missing ones are left out. */
  async containers(names: readonly string[], timeoutMs = QUICK_MS): Promise<ContainerInspect[]> {
    if (names.length === 0) return [];
    const args = ['container', 'inspect', '--', ...names];
    const result = await this.run(args, { action: 'inspect' }, timeoutMs, true);
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
    const result = await this.run(['ps', '--all', '--quiet', '--no-trunc', '--filter', `label=${label}`], {
      action: 'ps',
    });
    return result.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  }

  /** Inspect records of the running containers carrying the label (`LABEL` or `LABEL=VALUE`): hotpull fleet's peers. */
  async runningWithLabel(label: string, timeoutMs = QUICK_MS): Promise<ContainerInspect[]> {
    const args = ['ps', '--quiet', '--no-trunc', '--filter', `label=${label}`, '--filter', 'status=running'];
    const ids = (await this.run(args, { action: 'ps' }, timeoutMs)).stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    return this.containers(ids, timeoutMs);
  }

  /** Graceful stop: SIGTERM (or the image's STOPSIGNAL), SIGKILL after `timeoutS`. */
  async stop(name: string, timeoutS: number): Promise<void> {
    await this.run(['stop', '-t', String(timeoutS), '--', name], { action: 'stop' }, (timeoutS + 60) * 1000);
  }

  async remove(name: string): Promise<void> {
    await this.run(['rm', '--force', '--', name], { action: 'rm' });
  }

  /** `docker run --detach …`: the new container's id (the last line: podman may print pull progress first). */
  async start(args: string[], context: ProblemContext): Promise<string> {
    return (await this.run(args, context, PULL_MS)).stdout.trim().split('\n').at(-1) ?? '';
  }

  /**
   * The container's last log lines, oldest first; undefined when there is no such container. docker writes the
   * container's stdout and stderr to two pipes, so their order is restored from the timestamps.
   */
  async logs(name: string, lines: number): Promise<string[] | undefined> {
    const result = await this.run(
      ['logs', '--timestamps', '--tail', String(lines), '--', name],
      { action: 'logs' },
      QUICK_MS,
      true,
    );
    if (result.exitCode !== 0) return undefined;
    return [...parseLogLines(result.stdout), ...parseLogLines(result.stderr)]
      .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
      .map((l) => l.text)
      .slice(-lines);
  }
}

/** `2026-11-26T20:38:19.45990791Z text` → a sortable key (nanoseconds padded) and the text. */
export function parseLogLines(output: string): Array<{ at: string; text: string }> {
  return output
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) ?(.*)$/.exec(line);
      return match
        ? { at: `${match[1]}.${(match[2] ?? '').padEnd(9, '0')}${match[3]}`, text: match[4]! }
        : { at: '', text: line };
    });
}
