import { pathMatcher } from '../glob.js';
import type { ChangeRule } from '../config/options.js';

/** The rule's shape is the config's (the `rules` option kind); what it decides is here. */
export type { ChangeRule };

export interface RuleDecision {
  /** the first hold rule that matched, with the paths that matched it */
  hold?: { rule: ChangeRule; paths: string[] };
  /** commands to run, in rule order, each with the paths that triggered it */
  run: Array<{ command: string; timeoutMs: number; paths: string[] }>;
}

export function decideRules(rules: readonly ChangeRule[], changed: readonly string[]): RuleDecision {
  const decision: RuleDecision = { run: [] };
  for (const rule of rules) {
    const isMatch = pathMatcher(rule.paths);
    const paths = changed.filter((p) => isMatch(p));
    if (paths.length === 0) continue;
    if (rule.hold) {
      decision.hold ??= { rule, paths };
      continue;
    }
    for (const command of rule.run) decision.run.push({ command, timeoutMs: rule.timeoutMs, paths });
  }
  return decision;
}
