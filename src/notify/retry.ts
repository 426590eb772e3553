/**
 * When to try a notification again: pure. The backoff doubles from retryMs up to maxRetryMs; a 429 or 503 that says
 * Retry-After (seconds, or an HTTP date: RFC 9110 §10.2.3) is waited for instead, when it asks for longer, but never
 * beyond maxRetryAfterMs: a service asking for a day does not silence the deploys of a day.
 */
export interface RetrySettings {
  retryMs: number;
  maxRetryMs: number;
  maxRetryAfterMs: number;
}

/** Retry-After in milliseconds from `now`, or undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function retryDelay(attempts: number, retryAfter: number | undefined, settings: RetrySettings): number {
  const backoff = Math.min(settings.retryMs * 2 ** (attempts - 1), settings.maxRetryMs);
  return retryAfter === undefined ? backoff : Math.min(Math.max(backoff, retryAfter), settings.maxRetryAfterMs);
}
