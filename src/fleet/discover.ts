import { promises as fs } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { formatDuration } from '../duration.js';
import { oneLine } from '../errors.js';
import { containerPeer, type PeerContainer } from './docker-peers.js';
import { hostPart, parsePeersFile, uniquePeers, type Peer, type PeerSource } from './peers.js';

/**
 * The peers of one round: the URLs given, the --peers-file read again, each DNS name and Docker label asked again
 * (replicas come and go between rounds). A source that gives nothing (a name without records, a file that cannot
 * be read, a container that does not say its port) is a failure of its own, named in the view like an unreachable
 * peer; each lookup has the peer time limit.
 */
export interface Discovery {
  peers: Peer[];
  failures: Array<{ name: string; error: string }>;
}

/** The lookups, so tests can point DNS at a local responder; docker is the host adapter (src/host/docker.ts). */
export interface DiscoverWith {
  /** DNS servers to ask (`127.0.0.1:5353`); default: the system's (/etc/resolv.conf) */
  dnsServers?: readonly string[];
  docker?: () => { runningWithLabel(label: string, timeoutMs: number): Promise<PeerContainer[]> };
}

export interface DiscoverInput {
  urls: readonly Peer[];
  peersFile?: string;
  sources: readonly PeerSource[];
  timeoutMs: number;
}

/** Every A and AAAA record of `host`; rejects with one line when there are none or the lookup fails. */
export async function resolveAll(host: string, timeoutMs: number, servers?: readonly string[]): Promise<string[]> {
  // c-ares, not getaddrinfo: every record of a headless Service (not the first of each family), the search list of
  // resolv.conf, and a time limit of its own instead of the libuv thread pool's
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  if (servers) resolver.setServers([...servers]);
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      resolver.cancel();
      reject(new Error(`no DNS answer within ${formatDuration(timeoutMs)}`));
    }, timeoutMs);
  });
  try {
    const [v4, v6] = await Promise.race([
      Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]),
      limit,
    ]);
    const addresses = [v4, v6].flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    if (addresses.length > 0) return addresses;
    const codes = [v4, v6]
      .map((r) =>
        r.status === 'rejected' ? ((r.reason as { code?: string }).code ?? oneLine(r.reason)) : 'no records',
      )
      .filter((c, i, all) => all.indexOf(c) === i);
    throw new Error(`no A or AAAA records (${codes.join(', ')})`);
  } finally {
    clearTimeout(timer);
  }
}

async function fromFile(file: string): Promise<Peer[] | { error: string }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    return { error: `cannot be read: ${(error as NodeJS.ErrnoException).code ?? oneLine(error)}` };
  }
  return parsePeersFile(text, file);
}

/** The peers a source gives now; a container that does not say where hotpull listens is a failure of its own. */
async function fromSource(source: PeerSource, input: DiscoverInput, using: DiscoverWith): Promise<Discovery> {
  if (source.kind === 'dns') {
    const addresses = await resolveAll(source.host, input.timeoutMs, using.dnsServers);
    const peers = addresses.map((a) => ({
      name: `${hostPart(a)}:${source.port}`,
      url: `http://${hostPart(a)}:${source.port}/status`,
    }));
    return { peers, failures: [] };
  }
  if (!using.docker) throw new Error('no docker CLI to ask');
  const label = source.value === undefined ? source.label : `${source.label}=${source.value}`;
  const containers = await using.docker().runningWithLabel(label, input.timeoutMs);
  if (containers.length === 0) throw new Error(`no running container has the label ${label}`);
  const found = containers.map(containerPeer);
  return {
    peers: found.filter((f): f is Peer => !('error' in f)),
    failures: found.filter((f): f is { name: string; error: string } => 'error' in f),
  };
}

/** The peers of this round and the sources that gave none. Throws only a config error (a bad line in the file). */
export async function discover(input: DiscoverInput, using: DiscoverWith = {}): Promise<Discovery> {
  const failures: Discovery['failures'] = [];
  const found: Peer[][] = [[...input.urls]];
  const file = input.peersFile ? await fromFile(input.peersFile) : [];
  if ('error' in file) failures.push({ name: `--peers-file ${input.peersFile}`, error: file.error });
  else found.push(file);
  const fromSources = await Promise.all(
    input.sources.map((source) =>
      fromSource(source, input, using).catch((error: unknown): Discovery => ({
        peers: [],
        failures: [{ name: source.spec, error: oneLine(error) }],
      })),
    ),
  );
  for (const source of fromSources) failures.push(...source.failures);
  return { peers: uniquePeers([...found, ...fromSources.map((s) => s.peers)].flat()), failures };
}
