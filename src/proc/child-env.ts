import { OPTIONS } from '../config/options.js';
import { envName } from '../config/names.js';

/** HOTPULL_* names that hold a secret by their name, including ones added later (a notify secret, a token). */
const SECRET_NAME = /^HOTPULL_\w*(SECRET|PASSWORD|TOKEN|CREDENTIAL)/;

/**
 * Every option's variable (HOTPULL_REMOTE, HOTPULL_INTERVAL, HOTPULL_WEBHOOK_SECRET …): hotpull's own settings, which a
 * `hotpull` run by a hook or an --on-live command would read as its own (an inner `hotpull sync --repo OTHER`
 * following the outer remote).
 */
const OPTION_NAMES: ReadonlySet<string> = new Set(OPTIONS.map((o) => envName(o.key)));

/** Variables whose value may carry a token without saying so in their name: notification URLs (a Slack path). */
const SECRET_BEARING: ReadonlySet<string> = new Set(['HOTPULL_NOTIFY']);

/**
 * The environment the commands hotpull runs get (onChange hooks, `command:` reloads, --on-live, the judge): the
 * operator's own, minus hotpull's options and secrets. A `pip install` or a deploy script has no business with the
 * webhook secret or the git password, whatever it logs or leaks of its environment must not carry them, and a
 * `hotpull` it runs must get its settings from its own flags, not from the outer daemon's. What hotpull tells a
 * command (HOTPULL_SHA, HOTPULL_DIR …) is set after this, under names no option has. A withheld variable is kept
 * as undefined rather than left out: runShell adds this process's environment underneath, and an undefined value
 * is what takes a variable out of the child's.
 */
export function childEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(env)) out[name] = withheld(name) ? undefined : value;
  return out;
}

function withheld(name: string): boolean {
  return OPTION_NAMES.has(name) || SECRET_BEARING.has(name) || SECRET_NAME.test(name);
}
