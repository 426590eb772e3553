import { HELPER_VARS } from '../git/credentials.js';
import { OPTIONS, type OptionSpec } from './options.js';
import { envName } from './names.js';
import { didYouMean } from '../suggest.js';

/**
 * HOTPULL_* names that are not options and still mean something: what hotpull sets for the programs it starts
 * (a `command:` reload sees HOTPULL_SHA, git's credential helper HOTPULL_GIT_USERNAME …), so a hotpull started by one of
 * them inherits them, the notification secret, and the knobs of the test suite and benchmarks.
 */
const KNOWN_OTHERS = [
  'HOTPULL_SHA',
  'HOTPULL_PREVIOUS_SHA',
  // what onChange run hooks are given besides: stage or checkout
  'HOTPULL_PHASE',
  // what --preflight, --canary and --on-live commands are given
  'HOTPULL_DIR',
  // what marks the commands of --preflight, --canary and staged hooks (deploy/judge.ts)
  'HOTPULL_JUDGE',
  // what --on-live commands are given besides
  'HOTPULL_DEPLOY_BRANCH',
  'HOTPULL_DEPLOY_REMOTE',
  'HOTPULL_TRIGGER',
  'HOTPULL_RESULT',
  'HOTPULL_VERIFIED',
  'HOTPULL_DEPLOY_MS',
  ...HELPER_VARS,
  'HOTPULL_SAFE_DIRECTORY',
  // what marks the git processes hotpull starts, so that the next start can end those a kill -9 left (git/leftovers.ts)
  'HOTPULL_GIT_OWNER',
  // 0: polls of a git:// remote run git ls-remote instead of reading the remote themselves (git/native-poll.ts)
  'HOTPULL_NATIVE_POLL',
  'HOTPULL_NOTIFY_SECRET',
  'HOTPULL_KILL_ROUNDS',
  'HOTPULL_FIGURES_DIR',
  'HOTPULL_NODE_CACHE',
  'HOTPULL_WRK',
];

/**
 * One warning per HOTPULL_* variable that no option reads, with the likely intended name: a typo in the
 * environment (a misspelt HOTPULL_INTERVAL) would otherwise be ignored without a word.
 */
export function unknownEnvWarnings(env: Readonly<Record<string, string | undefined>>): string[] {
  const specs = OPTIONS as readonly OptionSpec[];
  const read = specs.filter((o) => !o.configOnly).map((o) => envName(o.key));
  const known = new Set([...read, ...KNOWN_OTHERS]);
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('HOTPULL_') || known.has(name) || env[name] === undefined) continue;
    const fileOnly = specs.find((o) => o.configOnly && envName(o.key) === name);
    warnings.push(
      fileOnly
        ? `${name} is ignored: ${fileOnly.key} is read from a config file only`
        : `${name} is not a hotpull variable and is ignored${didYouMean(name, read)}`,
    );
  }
  return warnings;
}
