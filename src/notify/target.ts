import { splitUrl } from '../redact.js';

// A notification target as it may be shown: pure, and free of node:http, so that a
// daemon without --notify never loads the HTTP client.

/** `https://hooks.slack.com` for `https://hooks.slack.com/services/T0/B0/SECRET`: no userinfo, path or query. */
export function targetLabel(url: string): string {
  const parts = splitUrl(url);
  if (!parts) return '(not a URL)';
  const end = parts.rest.search(/[/?#]/);
  return `${parts.scheme}${end < 0 ? parts.rest : parts.rest.slice(0, end)}`;
}
