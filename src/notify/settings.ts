import type { Config } from '../config/load.js';
import { configError } from '../errors.js';
import { readSecretFile } from '../http/secret.js';
import { splitUrl } from '../redact.js';
import { targetLabel, targetProblem } from './target.js';
import { parseEventFilter, NOTIFY_EVENTS, type NotifyEvent } from './event.js';

/** --notify, --notify-events and the signing secret, validated once at start (exit 2 on a bad value). */
export interface NotifySettings {
  urls: readonly string[];
  events: ReadonlySet<NotifyEvent>;
  secret?: string;
  failingAfter: number;
}

/** A value as an error may show it: scheme, host and port of a URL (its path or userinfo may be a token). */
const shown = (value: string) =>
  splitUrl(value) ? targetLabel(value) : value.length > 12 ? `${value.slice(0, 12)}…` : value;

export async function notifySettings(config: Config): Promise<NotifySettings | undefined> {
  const filter = parseEventFilter(config.notifyEvents);
  if ('bad' in filter)
    throw configError(
      `--notify-events must list events among ${NOTIFY_EVENTS.join(', ')} (got ${JSON.stringify(filter.bad)})`,
    );
  if (config.notify.length === 0) return undefined;
  for (const url of config.notify) {
    const problem = targetProblem(url);
    if (problem)
      throw configError(`--notify must be an http:// or https:// URL (got ${JSON.stringify(shown(url))}: ${problem})`);
  }
  const secret =
    config.notifySecret ??
    (config.notifySecretFile ? await readSecretFile(config.notifySecretFile, '--notify-secret-file') : undefined);
  return { urls: config.notify, events: filter.events, secret, failingAfter: config.notifyFailingAfter };
}
