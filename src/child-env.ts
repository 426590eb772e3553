import { OPTIONS, envName } from './config/options.js';

/** HOTPULL_* names that hold a secret by their name, including ones added later (a notify secret, a token). */
const SECRET_NAME = /^HOTPULL_\w*(SECRET|PASSWORD|TOKEN|CREDENTIAL)/;
const SECRET_OPTIONS: ReadonlySet<string> = new Set(
  OPTIONS.filter((o) => 'envOnly' in o && o.envOnly).map((o) => envName(o.key)),
);

/**
 * The environment the commands hotpull runs get (onChange hooks, `command:` reloads): the operator's own, minus
 * hotpull's secrets. A `pip install` or a deploy script has no business with the webhook secret or the git
 * password, and whatever it logs or leaks of its environment must not carry them.
 */
export function childEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(env)) {
    if (SECRET_OPTIONS.has(name) || SECRET_NAME.test(name)) continue;
    // a remote URL given with its password (refused as a flag, possible in the environment)
    if (name === 'HOTPULL_REMOTE' && value && /^[a-z][a-z0-9+.-]*:\/\/[^/@]*:[^/@]*@/i.test(value)) continue;
    out[name] = value;
  }
  return out;
}
