/**
 * "Did you mean": the known name a mistyped one most likely stands for. Pure; used for flags, commands,
 * config-file keys and HOTPULL_* variables.
 */

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1. */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j += 1) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The candidate closest to `word` (case ignored) when it is close enough to be a typo: at most one edit per
 * three characters (up to 3), else one that starts with what was typed or that it starts with.
 * Undefined when nothing is close: a wild guess is worse than none.
 */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  // The prefix every candidate has (`--`, `HOTPULL_`) says nothing about which one was meant: compared without it.
  const shared = commonPrefix(candidates.map((c) => c.toLowerCase()));
  const strip = (text: string) => (text.startsWith(shared) ? text.slice(shared.length) : text);
  const lower = strip(word.toLowerCase());
  const limit = Math.min(3, Math.max(1, Math.floor(lower.length / 3)));
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(lower, strip(candidate.toLowerCase()));
    if (distance <= limit && (!best || distance < best.distance)) best = { candidate, distance };
  }
  if (best) return best.candidate;
  if (lower.length < 3) return undefined;
  // `--health` → `--health-url`; `intervalSeconds` → `interval`
  return (
    candidates.find((c) => c.toLowerCase().startsWith(word.toLowerCase())) ??
    candidates.find((c) => strip(c.toLowerCase()).length >= 4 && lower.startsWith(strip(c.toLowerCase())))
  );
}

function commonPrefix(words: readonly string[]): string {
  if (words.length < 2) return '';
  let prefix = words[0]!;
  for (const w of words) while (!w.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}

/** ` (did you mean X?)`, or nothing. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const hint = suggest(word, candidates);
  return hint === undefined ? '' : ` (did you mean ${hint}?)`;
}
