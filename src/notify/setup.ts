import { hostname } from 'node:os';
import type { Logger } from '../log.js';
import type { EngineListener } from '../sync/status-keeper.js';
import { oneLine } from '../errors.js';
import { hotpullVersion } from '../version.js';
import { Notifier, type DeliveryResult } from './deliver.js';
import { deriveNotices, notificationBody, INITIAL_MEMORY, type Memory, type Origin } from './event.js';
import { dedupe, INITIAL_DEDUPE, type DedupeState } from './dedupe.js';
import type { NotifySettings } from './settings.js';

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
  const notifier = new Notifier({
    channels: settings.channels,
    secret: settings.secret,
    version: hotpullVersion(),
    logger,
    onResult: wiring.onResult,
  });
  const origin: Origin = { ...wiring.origin, hostname: hostname(), version: hotpullVersion() };
  let memory: Memory = INITIAL_MEMORY;
  let repeats: DedupeState = INITIAL_DEDUPE;
  let queue: Promise<void> = Promise.resolve();
  const listener: EngineListener = (change, status) => {
    const derived = deriveNotices(change, status, memory, settings.failingAfter);
    memory = derived.memory;
    for (const derivedNotice of derived.notices) {
      if (!settings.events.has(derivedNotice.event)) continue;
      const held = dedupe(derivedNotice, Date.now(), settings.dedupeMs, repeats);
      repeats = held.state;
      const notice = held.send;
      if (!notice) {
        logger.debug(
          { event: derivedNotice.event, reason: derivedNotice.reason },
          `notification ${derivedNotice.event} held back (--notify-dedupe)`,
        );
        continue;
      }
      const at = new Date();
      queue = queue
        .then(async () => {
          const subject = notice.new ? await wiring.subjectOf(notice.new).catch(() => undefined) : undefined;
          notifier.send(notificationBody(notice, origin, subject, at));
        })
        .catch((error: unknown) =>
          logger.error(
            { err: oneLine(error) },
            `internal error building the ${notice.event} notification: ${oneLine(error)}`,
          ),
        );
    }
  };
  logger.info(
    { notify: notifier.labels, signed: settings.secret !== undefined },
    `notifying ${notifier.labels.join(', ')}${settings.secret ? ' (signed)' : ''}`,
  );
  return { listener, notifier };
}
