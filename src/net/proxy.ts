import { isIP } from 'node:net';
import { credentialsOf, splitUrl } from '../redact.js';

/**
 * Which proxy a request of hotpull's own goes through (health checks, canary probes, notifications, the operator
 * commands' calls to a daemon), read from the environment as curl, and so git, reads it: pure.
 *
 * - `https_proxy` / `HTTPS_PROXY` for https URLs, `http_proxy` / `HTTP_PROXY` for http URLs (the lowercase one wins
 *   when both are set, as in curl). The proxy is an `http://[USER:PASSWORD@]HOST[:PORT]` URL (no scheme: http; no
 *   port: 80); https goes through it with CONNECT, http in absolute form.
 * - `no_proxy` / `NO_PROXY`: a comma-separated list of names (`example.com` and `.example.com` both match the name
 *   and every name under it), IP addresses, IPv4 CIDR ranges (`10.0.0.0/8`), or `*` for none at all.
 * - Loopback addresses written as such (127.0.0.0/8, ::1) are never proxied: no proxy can reach this machine's
 *   loopback. The name `localhost` follows NO_PROXY: without NO_PROXY it is not proxied; with NO_PROXY set, only
 *   if the list names it (so a list is the whole truth, and a name resolving to this machine can be proxied).
 */
export interface ProxyEnv {
  http?: ProxyServer;
  https?: ProxyServer;
  /** undefined: NO_PROXY is not set */
  noProxy?: readonly string[];
}

export interface ProxyServer {
  host: string;
  port: number;
  /** `user:password`, decoded, for Proxy-Authorization */
  auth?: string;
  /** `http://127.0.0.1:3128`: how errors and logs name it, without its credentials */
  label: string;
}

const pick = (env: Readonly<Record<string, string | undefined>>, name: string) => {
  const lower = env[name.toLowerCase()];
  if (lower !== undefined && lower !== '') return { name: name.toLowerCase(), value: lower };
  const upper = env[name];
  return upper !== undefined && upper !== '' ? { name, value: upper } : undefined;
};

/** The proxy settings, or the one-line problem with a variable (named, its value without credentials). */
export function readProxyEnv(env: Readonly<Record<string, string | undefined>>): ProxyEnv | { problem: string } {
  const out: { http?: ProxyServer; https?: ProxyServer; noProxy?: readonly string[] } = {};
  for (const [key, name] of [
    ['http', 'HTTP_PROXY'],
    ['https', 'HTTPS_PROXY'],
  ] as const) {
    const found = pick(env, name);
    if (!found) continue;
    const server = proxyServer(found.value);
    if ('problem' in server) return { problem: `${found.name} ${server.problem}` };
    out[key] = server;
  }
  const noProxy = pick(env, 'NO_PROXY');
  if (noProxy)
    out.noProxy = noProxy.value
      .split(/[\s,]+/)
      .map((e) => e.trim().toLowerCase())
      .filter(Boolean);
  return out;
}

function proxyServer(value: string): ProxyServer | { problem: string } {
  const written = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  const parts = splitUrl(written)!;
  const shown = `${parts.scheme}${parts.rest}`;
  if (parts.scheme.toLowerCase() !== 'http://')
    return {
      problem: `must be an http:// proxy (hotpull's own requests go through no ${parts.scheme.slice(0, -3)} proxy; got ${JSON.stringify(shown)})`,
    };
  let url: URL;
  try {
    url = new URL(shown);
  } catch {
    return { problem: `must be a proxy URL http://HOST[:PORT] (got ${JSON.stringify(shown)})` };
  }
  if (!url.hostname || (url.pathname !== '/' && url.pathname !== ''))
    return { problem: `must be a proxy URL http://HOST[:PORT] (got ${JSON.stringify(shown)})` };
  const port = url.port ? Number(url.port) : 80;
  const creds = parts.userinfo === undefined ? undefined : credentialsOf(parts.userinfo);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return {
    host,
    port,
    auth: creds ? `${creds.username}:${creds.password}` : undefined,
    label: `http://${url.host}`,
  };
}

/** The proxy for this URL, or undefined to go direct. */
export function proxyFor(target: URL, proxy: ProxyEnv): ProxyServer | undefined {
  const server = target.protocol === 'https:' ? proxy.https : target.protocol === 'http:' ? proxy.http : undefined;
  if (!server) return undefined;
  const host = target.hostname
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.$/, '');
  if (isLoopbackAddress(host)) return undefined;
  if (proxy.noProxy === undefined) return host === 'localhost' || host.endsWith('.localhost') ? undefined : server;
  return proxy.noProxy.some((entry) => matches(entry, host)) ? undefined : server;
}

function isLoopbackAddress(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(host) || /^::ffff:127\./.test(host);
  return false;
}

function matches(entry: string, host: string): boolean {
  if (entry === '*') return true;
  const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(entry);
  if (cidr) return isIP(host) === 4 && inRange(host, cidr[1]!, Number(cidr[2]));
  const name = entry.replace(/^\*?\./, '').replace(/^\[|\]$/g, '');
  if (isIP(name) || isIP(host)) return name === host;
  return host === name || host.endsWith(`.${name}`);
}

function inRange(ip: string, base: string, bits: number): boolean {
  if (bits > 32) return false;
  const prefix = (a: string) =>
    Math.floor(a.split('.').reduce((n, part) => n * 256 + Number(part), 0) / 2 ** (32 - bits));
  return prefix(ip) === prefix(base);
}
