import { configHash, LABEL, portKey, type DesiredContainer } from './spec.js';

/** The part of `docker inspect` (and `podman inspect`) output hotpull reads. */
export interface ContainerInspect {
  Id: string;
  Name: string;
  Image: string;
  RestartCount?: number;
  State: {
    Status: string;
    Running: boolean;
    Paused?: boolean;
    Restarting?: boolean;
    ExitCode?: number;
    Error?: string;
    StartedAt?: string;
    Health?: { Status: string; Log?: Array<{ ExitCode?: number; Output?: string }> | null } | null;
  };
  Config: {
    Image?: string;
    Env?: string[] | null;
    Cmd?: string[] | null;
    Labels?: Record<string, string> | null;
  };
  HostConfig?: {
    Binds?: string[] | null;
    PortBindings?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null;
  };
  Mounts?: Array<{ Type?: string; Source?: string; Destination?: string }> | null;
}

export type Decision = { action: 'create' } | { action: 'keep' } | { action: 'replace'; reasons: string[] };

export const shortId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

/** "running", "exited (3)", "created", "restarting", "paused": what `host ls` shows and the diff reports. */
export function describeState(state: ContainerInspect['State']): string {
  if (state.Restarting) return 'restarting';
  if (state.Paused) return 'paused';
  if (state.Running) return state.Health?.Status ? `running (${state.Health.Status})` : 'running';
  if (state.Status === 'exited' || state.Status === 'dead') return `${state.Status} (${state.ExitCode ?? '?'})`;
  return state.Status;
}

function hasCodeMount(container: ContainerInspect, code: DesiredContainer['code']): boolean {
  const binds = (container.HostConfig?.Binds ?? [])
    .map((b) => b.split(':'))
    .some(([src, dst]) => src === code.hostDir && dst === code.containerDir);
  const mounts = (container.Mounts ?? []).some(
    (m) => (m.Type ?? 'bind') === 'bind' && m.Source === code.hostDir && m.Destination === code.containerDir,
  );
  return binds || mounts;
}

function boundPorts(container: ContainerInspect): Set<string> {
  const keys = new Set<string>();
  for (const [port, bindings] of Object.entries(container.HostConfig?.PortBindings ?? {})) {
    const [containerPort, protocol = 'tcp'] = port.split('/');
    for (const b of bindings ?? []) {
      keys.add(
        portKey({
          hostIp: b.HostIp ?? '',
          hostPort: Number(b.HostPort),
          containerPort: Number(containerPort),
          protocol: protocol as 'tcp',
        }),
      );
    }
  }
  return keys;
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Whether the container named in the spec can stay: same image id, still running, and started by hotpull with
 * the same mounts, ports, env and arguments (the config hash label). Anything else is replaced, and the
 * reasons say why, naming env variables but never their values.
 */
export function decide(spec: DesiredContainer, imageId: string, container: ContainerInspect | undefined): Decision {
  if (!container) return { action: 'create' };
  const reasons: string[] = [];
  const labels = container.Config.Labels ?? {};
  const runningHash = labels[LABEL.configHash];
  const wantedHash = configHash(spec);

  if (!container.State.Running || container.State.Restarting || container.State.Paused)
    reasons.push(`it is ${describeState(container.State)}`);
  if (runningHash === undefined) reasons.push(`it was not started by hotpull (no ${LABEL.configHash} label)`);
  if (container.Image !== imageId) reasons.push(`image changed (${shortId(container.Image)} → ${shortId(imageId)})`);
  if (!hasCodeMount(container, spec.code))
    reasons.push(`code mount changed (now ${spec.code.hostDir}:${spec.code.containerDir})`);
  const ports = boundPorts(container);
  const missingPorts = spec.ports.map(portKey).filter((k) => !ports.has(k));
  if (missingPorts.length > 0) reasons.push(`ports changed (${missingPorts.join(', ')})`);
  const env = new Set(container.Config.Env ?? []);
  const changedEnv = spec.env.filter(([k, v]) => !env.has(`${k}=${v}`)).map(([k]) => k);
  if (changedEnv.length > 0) reasons.push(`env changed (${changedEnv.join(', ')})`);
  if (spec.command.length > 0 && !sameList(container.Config.Cmd ?? [], spec.command)) reasons.push('command changed');
  if (reasons.length === 0 && runningHash !== wantedHash) {
    // Removed env variables, ports or docker run options show only here: inspect output mixes the image's own.
    reasons.push(`options changed (${LABEL.configHash} ${runningHash} → ${wantedHash})`);
  }
  return reasons.length === 0 ? { action: 'keep' } : { action: 'replace', reasons };
}
