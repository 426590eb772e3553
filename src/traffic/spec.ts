import { configError, type HotpullError } from '../errors.js';

/**
 * `--traffic SOURCE` as given, parsed once at the edge. Pure.
 * - `uwsgi-stats:ADDR`: ADDR a unix socket path (absolute, or starting with `./`) or `HOST:PORT` (`[::1]:PORT`).
 * - `access-log:FILE[:FORMAT]`: FORMAT `auto` (the default), `uwsgi`, `combined`, or a gunicorn format string (from
 *   the first `:%(` on). A FILE whose name holds a `:` takes an explicit FORMAT (`:auto`).
 */
export type StatsAddress = { path: string } | { host: string; port: number };

export type TrafficSpec =
  { kind: 'uwsgi-stats'; address: StatsAddress } | { kind: 'access-log'; file: string; format: string };

const OPTION = '--traffic';
const RULE = 'uwsgi-stats:ADDR or access-log:FILE[:FORMAT]';

function bad(rule: string, value: string): HotpullError {
  return configError(`${OPTION} must be ${rule} (got ${JSON.stringify(value)})`);
}

export function parseTrafficSpec(text: string): TrafficSpec {
  const colon = text.indexOf(':');
  const kind = colon < 0 ? text : text.slice(0, colon);
  const rest = colon < 0 ? '' : text.slice(colon + 1);
  if (kind === 'uwsgi-stats') return { kind, address: parseStatsAddress(rest, text) };
  if (kind === 'access-log') {
    let file = rest;
    let format = 'auto';
    const gunicorn = rest.indexOf(':%(');
    const last = rest.lastIndexOf(':');
    if (gunicorn >= 0) [file, format] = [rest.slice(0, gunicorn), rest.slice(gunicorn + 1)];
    else if (last >= 0 && !rest.slice(last + 1).includes('/'))
      [file, format] = [rest.slice(0, last), rest.slice(last + 1)];
    if (file === '') throw bad('access-log:FILE[:FORMAT] with a FILE', text);
    if (!/^(auto|uwsgi|combined)$/.test(format) && !format.includes('%('))
      throw bad('access-log:FILE[:FORMAT] with FORMAT auto, uwsgi, combined or a gunicorn format (%(s)s …)', text);
    return { kind, file, format };
  }
  throw bad(RULE, text);
}

function parseStatsAddress(address: string, text: string): StatsAddress {
  if (address.startsWith('/') || address.startsWith('./')) return { path: address };
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(address);
  const port = Number(match?.[3]);
  if (!match || !(port >= 1 && port <= 65535))
    throw bad('uwsgi-stats:ADDR with ADDR a socket path (/…) or HOST:PORT (port 1-65535)', text);
  return { host: match[1] ?? match[2]!, port };
}
