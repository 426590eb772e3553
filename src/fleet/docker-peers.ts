import type { ContainerInspect } from '../host/diff.js';
import { hostPart, statusUrl, type Peer } from './peers.js';

/**
 * Where a container's hotpull listens, from its inspect record. Pure. The container says it with a label:
 * `hotpull.listen` = a URL (taken as is), HOST:PORT, or PORT. A bare port is reached where Docker makes it
 * reachable from this host: the host port it is published on, else the port itself on a host-network container
 * (127.0.0.1), else the container's own address on its network.
 */
export const LISTEN_LABEL = 'hotpull.listen';

/** The fields of `docker container inspect` read here besides those host/diff.ts reads. */
export type PeerContainer = ContainerInspect & {
  HostConfig?: ContainerInspect['HostConfig'] & { NetworkMode?: string };
  NetworkSettings?: {
    Ports?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null;
    Networks?: Record<string, { IPAddress?: string; GlobalIPv6Address?: string } | null> | null;
  } | null;
};

export type ContainerPeer = Peer | { name: string; error: string };

const wildcard = (ip: string | undefined) => !ip || ip === '0.0.0.0' || ip === '::';

export function containerPeer(container: PeerContainer): ContainerPeer {
  const name = container.Name.replace(/^\//, '');
  const label = container.Config.Labels?.[LISTEN_LABEL]?.trim();
  if (!label)
    return {
      name,
      error: `no ${LISTEN_LABEL} label: say where its hotpull listens (docker run --label ${LISTEN_LABEL}=9300)`,
    };
  try {
    if (/^https?:\/\//.test(label)) return { name, ...statusUrl(label, `label ${LISTEN_LABEL}`) };
    const match = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d{1,5})$/.exec(label);
    if (!match) throw new Error(`must be a URL, HOST:PORT or PORT`);
    const port = match[2]!;
    if (match[1]) return { name, ...statusUrl(`http://${match[1]}:${port}`, `label ${LISTEN_LABEL}`) };
    const published = [
      ...(container.NetworkSettings?.Ports?.[`${port}/tcp`] ?? []),
      ...(container.HostConfig?.PortBindings?.[`${port}/tcp`] ?? []),
    ].find((b) => b.HostPort);
    if (published)
      return {
        name,
        url: `http://${wildcard(published.HostIp) ? '127.0.0.1' : hostPart(published.HostIp!)}:${published.HostPort}/status`,
      };
    if (container.HostConfig?.NetworkMode === 'host') return { name, url: `http://127.0.0.1:${port}/status` };
    const address = Object.values(container.NetworkSettings?.Networks ?? {})
      .map((n) => n?.IPAddress || n?.GlobalIPv6Address)
      .find(Boolean);
    if (address) return { name, url: `http://${hostPart(address)}:${port}/status` };
    return { name, error: `port ${port} is neither published nor on a network with an address` };
  } catch (error) {
    return { name, error: `label ${LISTEN_LABEL}=${JSON.stringify(label)}: ${(error as Error).message}` };
  }
}
