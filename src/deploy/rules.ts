import { pathMatcher } from '../glob.js';

/** A change-aware deploy rule from the config's `onChange` list. */
export interface ChangeRule {
  /** globs over repo-relative paths; a glob without a slash matches the file name in any directory */
  paths: readonly string[];
  /** commands run in the checkout after the files are updated and before the reload */
  run: readonly string[];
  /** changes a code deploy cannot carry (Dockerfile, apt.txt): do not deploy, a rebuild is needed */
  hold: boolean;
  timeoutMs: number;
}

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
