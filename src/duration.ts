const UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
const ORDER = ['h', 'm', 's', 'ms'];
// `ms` before `m`: the alternation takes the first unit that matches.
const PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;

/**
 * The longest duration any option takes. Node's timers hold at most 2^31-1 ms (24.8 days) and fire after 1 ms
 * beyond that, so a longer value would turn a poll interval or a time limit into a busy loop; a day is far more
 * than any poll, timeout or backoff needs.
 */
export const MAX_DURATION_MS = 24 * 3_600_000;

/**
 * Parses `500ms`, `2s`, `1.5m`, `1h` and compounds like `1m30s` or `1h5m` (each unit at most once, largest
 * first) into milliseconds; undefined when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  let total = 0;
  let rank = -1;
  for (let at = 0; at < trimmed.length;) {
    PART.lastIndex = at;
    const match = PART.exec(trimmed);
    const next = match ? ORDER.indexOf(match[2]!) : -1;
    if (!match || next <= rank) return undefined;
    total += Number(match[1]) * UNITS[match[2]!]!;
    rank = next;
    at = PART.lastIndex;
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** Short human form for logs and messages: 850ms, 2s, 1.5s, 2m, 1h. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(2)}s`;
  if (ms < 3_600_000) return `${+(ms / 60_000).toFixed(2)}m`;
  return `${+(ms / 3_600_000).toFixed(2)}h`;
}

/**
 * What a duration option's text fails, as the end of "<option> must be …"; undefined when it is accepted.
 * `rule` is the option's general rule, used when the text is not a duration at all.
 */
export function durationProblem(text: string, rule: string, min = 0, max = MAX_DURATION_MS): string | undefined {
  const ms = parseDuration(text);
  if (ms === undefined)
    return text.trim().startsWith('-') && parseDuration(text.trim().slice(1)) !== undefined
      ? 'a positive duration like 2s'
      : rule;
  if (ms < min) return rule;
  if (ms > max) return `at most ${formatDuration(max)}`;
  return undefined;
}
