import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HotpullError } from '../errors.js';
import { formatDuration } from '../duration.js';
import { verifyHealth } from '../deploy/verify.js';
import { redact } from '../redact.js';
import { checkoutOrigin, ensureCode } from './code.js';
import { classify, problemMessage, vmShareWarning } from './classify.js';
import { decide, describeState, shortId, type ContainerInspect } from './diff.js';
import type { DockerCli } from './docker.js';
import type { AuthOptions } from '../git/credentials.js';
import { envFileText, runArguments, type DesiredContainer } from './spec.js';
import { shortSha } from '../sha.js';

export interface UpOptions {
  spec: DesiredContainer;
  docker: DockerCli;
  pull: boolean;
  stopTimeoutMs: number;
  health: { url?: string; expect?: string; timeoutMs: number; settleMs: number };
  env: Readonly<Record<string, string | undefined>>;
  /** how the first clone authenticates (--ssh-key-file, --password-file …) */
  auth?: AuthOptions;
  platform: string;
  print: (line: string) => void;
}

/** What `host up` did, for `--json` (and Ansible's changed_when): one object, no secrets (env values are not in it). */
export interface UpResult {
  action: 'created' | 'replaced' | 'kept';
  changed: boolean;
  /** why the container was replaced */
  reasons?: string[];
  name: string;
  containerId: string;
  image: string;
  imageId: string;
  /** the revision in the code directory; undefined when it is not a checkout */
  sha?: string;
  code: { hostDir: string; containerDir: string; cloned: boolean };
  /** running, healthy, healthy (URL) */
  state: string;
}

const LOG_LINES = 20;
const POLL_MS = 200;

/**
 * `hotpull host up`: the seed's "container deploy" made idempotent. The image is checked (and pulled) first so
 * a missing image or an unreachable daemon fails before anything is touched; then the code directory, then the
 * running container is compared with the spec: kept, or stopped gracefully, removed and run again.
 */
export async function hostUp(options: UpOptions): Promise<UpResult> {
  const { docker, print } = options;
  let spec = options.spec;
  const warning = vmShareWarning(spec.code.hostDir, options.env, options.platform);
  if (warning) print(`warning: ${warning}`);

  if (options.pull) {
    print(`pulling ${spec.image}`);
    await docker.pull(spec.image);
  }
  const image = await docker.image(spec.image);
  if (!image)
    throw new HotpullError('DOCKER', problemMessage('image-missing', '', { action: 'run', image: spec.image }));

  const code = await ensureCode(spec.code.hostDir, {
    repo: spec.repo,
    branch: spec.branch,
    env: options.env,
    auth: options.auth,
  });
  if (code.kind === 'cloned')
    print(
      `cloned ${redact(spec.repo ?? '')}${spec.branch ? ` (${spec.branch})` : ''} into ${spec.code.hostDir} at ${shortSha(code.sha)}`,
    );
  if (code.kind === 'empty')
    print(`warning: ${spec.code.hostDir} is empty and no --repo was given: the container starts without code`);
  if (!spec.repo || !spec.branch) {
    const origin = await checkoutOrigin(spec.code.hostDir, options.env);
    spec = { ...spec, repo: spec.repo ?? origin.repo, branch: spec.branch ?? origin.branch };
  }

  const current = await docker.container(spec.name);
  const decision = decide(spec, image.Id, current);
  const what = `${spec.image} (${shortId(image.Id)})`;
  const sha = code.kind === 'empty' ? undefined : code.sha;
  const result = (action: UpResult['action'], containerId: string, state: string): UpResult => ({
    action,
    changed: action !== 'kept',
    ...(decision.action === 'replace' ? { reasons: decision.reasons } : {}),
    name: spec.name,
    containerId,
    image: spec.image,
    imageId: image.Id,
    ...(sha ? { sha } : {}),
    code: { ...spec.code, cloned: code.kind === 'cloned' },
    state,
  });
  if (decision.action === 'keep' && current) {
    print(`ok: ${spec.name} already runs ${what} with the same mounts, ports, env and args; nothing to do`);
    return result('kept', current.Id, describeState(current.State));
  }
  if (decision.action === 'replace') {
    print(`replacing ${spec.name}: ${decision.reasons.join('; ')}`);
    await docker.stop(spec.name, Math.ceil(options.stopTimeoutMs / 1000));
    await docker.remove(spec.name);
  }

  const containerId = await startContainer(docker, spec);
  const hasHealthcheck =
    (image.Config?.Healthcheck?.Test ?? []).length > 0 && image.Config?.Healthcheck?.Test?.[0] !== 'NONE';
  const state = await waitUntilUp(docker, spec.name, { ...options.health, hasHealthcheck, sha: sha ?? '' });
  const action = decision.action === 'create' ? 'created' : 'replaced';
  print(`${action} ${spec.name}: ${what}, ${spec.code.hostDir} → ${spec.code.containerDir}, ${state}`);
  return result(action, containerId, state);
}

/** `docker run`, with the environment in a private temp file so values never show in `ps`; the new container's id. */
async function startContainer(docker: DockerCli, spec: DesiredContainer): Promise<string> {
  const dir = spec.env.length > 0 ? await fs.mkdtemp(path.join(os.tmpdir(), 'hotpull-env-')) : undefined;
  try {
    const envFile = dir ? path.join(dir, 'env') : undefined;
    if (envFile) await fs.writeFile(envFile, envFileText(spec), { mode: 0o600 });
    try {
      return await docker.start(runArguments(spec, envFile), {
        action: 'run',
        image: spec.image,
        hostDir: spec.code.hostDir,
      });
    } catch (error) {
      // A run that fails after creating the container (a command not in the image) has logs worth showing.
      if (error instanceof HotpullError && error.code === 'DOCKER' && classify(error.stderr ?? '') === 'other') {
        throw await withLogs(docker, spec.name, error.message, error);
      }
      throw error;
    }
  } finally {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }
}

interface WaitOptions {
  url?: string;
  expect?: string;
  timeoutMs: number;
  settleMs: number;
  hasHealthcheck: boolean;
  /** the deployed revision, for {sha} in --health-expect */
  sha: string;
}

/**
 * Until the container is running, healthy by its own HEALTHCHECK when the image has one, still running after
 * the settle window (a bad config often exits a moment after start), and answering --health-url when given.
 * Returns the state to report; a failure throws with the container's last log lines.
 */
async function waitUntilUp(docker: DockerCli, name: string, options: WaitOptions): Promise<string> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  let runningSince: number | undefined;
  // A check from `docker run --health-cmd` counts like the image's HEALTHCHECK: docker reports both in State.Health.
  let checked = options.hasHealthcheck;
  for (;;) {
    const container = await docker.container(name);
    if (!container)
      throw new HotpullError('DOCKER', `container ${name} disappeared while starting (removed by someone else?)`);
    const problem = startProblem(container);
    if (problem) throw await withLogs(docker, name, `container ${name} ${problem} while starting`);
    const { State: state } = container;
    if (state.Running) {
      runningSince ??= Date.now();
      // podman reports Health with an empty Status for a container without a check: that is no check
      const health = state.Health?.Status || undefined;
      checked ||= health !== undefined;
      if (health === 'healthy' || (!checked && Date.now() - runningSince >= options.settleMs)) break;
    }
    if (Date.now() >= deadline) {
      const goal = checked ? 'healthy' : 'running';
      throw await withLogs(
        docker,
        name,
        `container ${name} did not become ${goal} within ${formatDuration(options.timeoutMs)} (it is ${describeState(state)})`,
      );
    }
    await sleep(POLL_MS);
  }
  if (!options.url) return checked ? 'healthy' : 'running';
  const result = await verifyHealth(
    {
      url: options.url,
      expect: options.expect,
      timeoutMs: Math.max(1000, deadline - Date.now()),
      settleMs: options.settleMs,
    },
    options.sha,
  );
  if (result.ok) return `healthy (${options.url})`;
  const container = await docker.container(name);
  const problem = container && startProblem(container);
  throw await withLogs(docker, name, `container ${name} ${problem ?? `is running but ${result.reason}`}`);
}

/** What makes a starting container a failed one, or undefined while it may still come up. */
function startProblem(container: ContainerInspect): string | undefined {
  const { State: state } = container;
  if (state.Status === 'exited' || state.Status === 'dead')
    return `exited with code ${state.ExitCode ?? '?'}${state.Error ? ` (${state.Error})` : ''}`;
  if (state.Restarting || (container.RestartCount ?? 0) > 0)
    return `keeps restarting (last exit code ${state.ExitCode ?? '?'})`;
  if (state.Health?.Status === 'unhealthy') {
    const last = state.Health.Log?.at(-1)?.Output?.trim();
    return `is unhealthy${last ? ` (last check: ${last.split('\n').slice(-1)[0]})` : ''}`;
  }
  return undefined;
}

async function withLogs(docker: DockerCli, name: string, message: string, cause?: HotpullError): Promise<HotpullError> {
  const logs = (await docker.logs(name, LOG_LINES).catch(() => undefined))?.map((l) => l.trimEnd()).filter(Boolean);
  const text =
    logs === undefined
      ? ''
      : logs.length > 0
        ? ` (left for \`docker logs ${name}\`); its last log lines:\n${logs.map((l) => `  ${l}`).join('\n')}`
        : ` (left for \`docker logs ${name}\`); it printed nothing`;
  return new HotpullError('DOCKER', `${message}${text}`, {
    cause,
    command: cause?.command,
    stdout: cause?.stdout,
    stderr: cause?.stderr,
  });
}
