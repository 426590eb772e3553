import { configError } from '../errors.js';
import { redactUrl } from '../redact.js';

/**
 * Where the replicas of a fleet are: URLs given (--peer, --peers-file) and sources asked at every round (DNS
 * names, Docker labels). Pure: parsing and naming; discover.ts does the lookups.
 */

/** One replica to ask: `name` is what the table shows, `url` its /status. */
export interface Peer {
  name: string;
  url: string;
  /** `user:password` from the URL's userinfo (an environment variable, the config or the peers file), sent as Basic auth */
  auth?: string;
}

export type PeerSource =
  | { kind: 'dns'; spec: string; host: string; port: number }
  | { kind: 'docker'; spec: string; label: string; value?: string };

const DNS_RULE = 'dns:NAME:PORT (a host name and the port hotpull listens on, e.g. dns:app-headless:9300)';
const DOCKER_RULE = 'docker:LABEL[=VALUE] (a container label, e.g. docker:hotpull.listen or docker:app=web)';

/**
 * A peer's base URL → the URL of its /status, userinfo taken out (Basic auth): a URL ending in /status is taken as
 * is, any other path is a prefix (a proxy's /hotpull/ → /hotpull/status). Throws the one-line config error naming
 * `option`. A command line's userinfo was refused before (config/load.ts: ps shows argv).
 */
export function statusUrl(text: string, option: string): { url: string; auth?: string } {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw configError(
      `${option} must be an http:// or https:// URL like http://10.0.0.5:9300 (got ${JSON.stringify(redactUrl(text))})`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw configError(
      `${option} must be an http:// or https:// URL like http://10.0.0.5:9300 (got ${JSON.stringify(redactUrl(text))})`,
    );
  const auth =
    url.username || url.password
      ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
      : undefined;
  url.username = '';
  url.password = '';
  url.hash = '';
  if (!url.pathname.endsWith('/status')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/status`;
  return { url: url.href, ...(auth ? { auth } : {}) };
}

/** The table's name for a URL: host:port, and the path when it is not plain /status. */
export function nameOf(url: string): string {
  const u = new URL(url);
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  const path = u.pathname === '/status' ? '' : u.pathname.replace(/\/status$/, '');
  return `${u.hostname}:${port}${path}`;
}

export function peerOf(text: string, option: string): Peer {
  const { url, auth } = statusUrl(text, option);
  return { name: nameOf(url), url, ...(auth ? { auth } : {}) };
}

/** A --peers-file's text → peers; blank lines and # comments skipped; a bad line names the file and its number. */
export function parsePeersFile(text: string, file: string): Peer[] {
  const peers: Peer[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line) peers.push(peerOf(line, `--peers-file ${file} line ${i + 1}`));
  });
  return peers;
}

/** `dns:NAME:PORT` or `docker:LABEL[=VALUE]`; anything else is a config error naming the rule. */
export function parsePeerSource(text: string): PeerSource {
  const spec = text.trim();
  if (spec.startsWith('dns:')) {
    const match = /^dns:([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?):(\d{1,5})$/.exec(spec);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535)
      throw configError(`--peers must be ${DNS_RULE} (got ${JSON.stringify(text)})`);
    return { kind: 'dns', spec, host: match[1]!, port };
  }
  if (spec.startsWith('docker:')) {
    const match = /^docker:([A-Za-z0-9][A-Za-z0-9._/-]*)(?:=([^\s]*))?$/.exec(spec);
    if (!match) throw configError(`--peers must be ${DOCKER_RULE} (got ${JSON.stringify(text)})`);
    return { kind: 'docker', spec, label: match[1]!, ...(match[2] !== undefined ? { value: match[2] } : {}) };
  }
  throw configError(`--peers must be ${DNS_RULE} or ${DOCKER_RULE} (got ${JSON.stringify(text)})`);
}

/** The address of a DNS record as a URL's host: an IPv6 address in brackets. */
export function hostPart(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** Peers by URL, first name kept: a replica named twice (--peer and a file) is asked once. */
export function uniquePeers(peers: readonly Peer[]): Peer[] {
  const seen = new Set<string>();
  return peers.filter((p) => !seen.has(p.url) && seen.add(p.url));
}
