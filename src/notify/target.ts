import { splitUrl } from '../redact.js';

// A notification target as it may be shown, and whether it can be one: pure, and free of node:http, so that a
// daemon without --notify never loads the HTTP client.

/** `https://hooks.slack.com` for `https://hooks.slack.com/services/T0/B0/SECRET`: no userinfo, path or query. */
export function targetLabel(url: string): string {
  const parts = splitUrl(url);
  if (!parts) return '(not a URL)';
  const end = parts.rest.search(/[/?#]/);
  return `${parts.scheme}${end < 0 ? parts.rest : parts.rest.slice(0, end)}`;
}

/** Why a --notify value cannot be a target (undefined: it can); the caller shows the value as targetLabel. */
export function targetProblem(url: string): string | undefined {
  // the request would go to a host that is part of the password
  if (splitUrl(url)?.rest.includes('@'))
    return 'an @ after the host is ambiguous (in a password write @ as %40 and / as %2F)';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'it does not parse as a URL';
  }
  return ['http:', 'https:'].includes(parsed.protocol)
    ? undefined
    : `the scheme is ${parsed.protocol.replace(/:$/, '')}`;
}
