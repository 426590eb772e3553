import { hostname } from 'node:os';
import type { Config } from '../config/load.js';
import type { Logger } from '../log.js';
import type { EngineListener } from '../commands/pipeline.js';
import { configError, oneLine } from '../errors.js';
import { readSecretFile } from '../http/secret.js';
import { splitUrl } from '../redact.js';
import { hotpullVersion } from '../version.js';
import { Notifier, targetLabel, targetProblem, type DeliveryResult } from './deliver.js';
import { deriveNotices, notificationBody, parseEventFilter, INITIAL_MEMORY, NOTIFY_EVENTS, type Memory, type NotifyEvent, type Origin } from './event.js';

/** --notify, --notify-events and the signing secret, validated once at start (exit 2 on a bad value). */
export interface NotifySettings {
  urls: readonly string[];
  events: ReadonlySet<NotifyEvent>;
  secret?: string;
  failingAfter: number;
}

/** A value as an error may show it: scheme, host and port of a URL (its path or userinfo may be a token). */
const shown = (value: string) => (splitUrl(value) ? targetLabel(value) : value.length > 12 ? `${value.slice(0, 12)}…` : value);

export async function notifySettings(config: Config): Promise<NotifySettings | undefined> {
  const filter = parseEventFilter(config.notifyEvents);
  if ('bad' in filter) throw configError(`--notify-events must list events among ${NOTIFY_EVENTS.join(', ')} (got ${JSON.stringify(filter.bad)})`);
  if (config.notify.length === 0) return undefined;
  for (const url of config.notify) {
    const problem = targetProblem(url);
    if (problem) throw configError(`--notify must be an http:// or https:// URL (got ${JSON.stringify(shown(url))}: ${problem})`);
  }
  const secret = config.notifySecret ?? (config.notifySecretFile ? await readSecretFile(config.notifySecretFile, '--notify-secret-file') : undefined);
  return { urls: config.notify, events: filter.events, secret, failingAfter: config.notifyFailingAfter };
}

export interface NotifyWiring {
  settings: NotifySettings;
  origin: Omit<Origin, 'hostname' | 'version'>;
  /** the subject line of a commit, for the body and the text */
  subjectOf: (sha: string) => Promise<string | undefined>;
  logger: Logger;
  onResult?: (result: DeliveryResult) => void;
}

/**
 * The engine listener that turns its changes into notifications, and the notifier that delivers them. Notices are
 * sent in the order they happened: the subject lookups are chained.
 */
export function startNotifications(wiring: NotifyWiring): { listener: EngineListener; notifier: Notifier } {
  const { settings, logger } = wiring;
  const notifier = new Notifier({ urls: settings.urls, secret: settings.secret, version: hotpullVersion(), logger, onResult: wiring.onResult });
  const origin: Origin = { ...wiring.origin, hostname: hostname(), version: hotpullVersion() };
  let memory: Memory = INITIAL_MEMORY;
  let queue: Promise<void> = Promise.resolve();
  const listener: EngineListener = (change, status) => {
    const derived = deriveNotices(change, status, memory, settings.failingAfter);
    memory = derived.memory;
    for (const notice of derived.notices) {
      if (!settings.events.has(notice.event)) continue;
      const at = new Date();
      queue = queue
        .then(async () => {
          const subject = notice.new ? await wiring.subjectOf(notice.new).catch(() => undefined) : undefined;
          notifier.send(notice.event, notificationBody(notice, origin, subject, at));
        })
        .catch((error: unknown) => logger.error({ err: oneLine(error) }, `internal error building the ${notice.event} notification: ${oneLine(error)}`));
    }
  };
  logger.info({ notify: notifier.labels, signed: settings.secret !== undefined }, `notifying ${notifier.labels.join(', ')}${settings.secret ? ' (signed)' : ''}`);
  return { listener, notifier };
}
