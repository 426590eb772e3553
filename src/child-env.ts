import { OPTIONS, envName } from './config/options.js';

/** HOTPULL_* names that hold a secret by their name, including ones added later (a notify secret, a token). */
const SECRET_NAME = /^HOTPULL_\w*(SECRET|PASSWORD|TOKEN|CREDENTIAL)/;
const SECRET_OPTIONS: ReadonlySet<string> = new Set(
  OPTIONS.filter((o) => 'envOnly' in o && o.envOnly).map((o) => envName(o.key)),
);

/** Variables whose value may carry a token without saying so in their name: notification URLs (a Slack path). */
const SECRET_BEARING: ReadonlySet<string> = new Set(['HOTPULL_NOTIFY']);

/**
 * The environment the commands hotpull runs get (onChange hooks, `command:` reloads, --on-live, the judge): the
 * operator's own, minus hotpull's secrets. A `pip install` or a deploy script has no business with the webhook
 * secret or the git password, and whatever it logs or leaks of its environment must not carry them. A withheld
 * variable is kept as undefined rather than left out: runShell adds this process's environment underneath, and
 * an undefined value is what takes a variable out of the child's.
 */
export function childEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(env)) out[name] = withheld(name, value) ? undefined : value;
  return out;
}

function withheld(name: string, value: string | undefined): boolean {
  if (SECRET_OPTIONS.has(name) || SECRET_BEARING.has(name) || SECRET_NAME.test(name)) return true;
  // a remote URL given with its password (refused as a flag, possible in the environment)
  return name === 'HOTPULL_REMOTE' && value !== undefined && /^[a-z][a-z0-9+.-]*:\/\/[^/@]*:[^/@]*@/i.test(value);
}
