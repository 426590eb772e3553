import type { Config } from '../config/load.js';
import { configError } from '../errors.js';
import { readSecretFile } from '../http/secret.js';
import { splitUrl } from '../redact.js';
import { targetLabel } from './target.js';
import { parseChannel, type Channel } from './channel.js';
import { chatScheme } from './schemes.js';
import { parseEventFilter, NOTIFY_EVENTS, type NotifyEvent } from './event.js';

/** --notify, --notify-events and the signing secret, validated once at start (exit 2 on a bad value). */
export interface NotifySettings {
  urls: readonly string[];
  /** what the URLs say, read once: one per target */
  channels: readonly Channel[];
  /** --notify-dedupe: repeated failing and blocked for the same reason are held back this long (0: never) */
  dedupeMs: number;
  events: ReadonlySet<NotifyEvent>;
  secret?: string;
  failingAfter: number;
}

/**
 * A value as an error may show it: scheme, host and port of an http(s) URL (its path or userinfo may be a token),
 * the scheme alone of a chat URL (its host may be a token: slack://T000/…).
 */
const shown = (value: string) => {
  const chat = chatScheme(value);
  if (chat) return `${chat}://…`;
  return splitUrl(value) ? targetLabel(value) : value.length > 12 ? `${value.slice(0, 12)}…` : value;
};

export async function notifySettings(config: Config): Promise<NotifySettings | undefined> {
  const filter = parseEventFilter(config.notifyEvents);
  if ('bad' in filter)
    throw configError(
      `--notify-events must list events among ${NOTIFY_EVENTS.join(', ')} (got ${JSON.stringify(filter.bad)})`,
    );
  if (config.notify.length === 0) return undefined;
  const channels: Channel[] = [];
  for (const url of config.notify) {
    const parsed = parseChannel(url);
    if ('problem' in parsed)
      throw configError(`--notify must be a notification URL (got ${JSON.stringify(shown(url))}: ${parsed.problem})`);
    channels.push(...parsed.channels);
  }
  const secret =
    config.notifySecret ??
    (config.notifySecretFile ? await readSecretFile(config.notifySecretFile, '--notify-secret-file') : undefined);
  return {
    urls: config.notify,
    channels,
    dedupeMs: config.notifyDedupe,
    events: filter.events,
    secret,
    failingAfter: config.notifyFailingAfter,
  };
}
