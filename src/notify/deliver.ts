import { request } from '../net/request.js';
import type { Logger } from '../log.js';
import { hmacHex } from '../http/signature.js';
import { oneLine } from '../errors.js';
import type { Channel } from './channel.js';
import type { NotificationBody } from './event.js';
import type { Outgoing } from './formats/types.js';
import { retryAfterMs, retryDelay } from './retry.js';
import { nodeCrypto } from '../lazy-crypto.js';

/**
 * Delivers notifications in the background: one queue per target, in order, retried with backoff. Nothing here
 * can block or fail a deploy: send() only queues, a full queue drops its oldest entry, and a target that is down
 * is logged once per outage (and counted) rather than once per attempt.
 *
 * A target URL may hold a secret (a user:password, a Slack or Mattermost token in the path, a ?token= query, a chat
 * scheme's token): it is shown everywhere as its channel's label, the scheme and the host it sends to.
 */
export type DeliveryResult = 'delivered' | 'failed' | 'dropped';

export interface NotifierOptions {
  /** one per target (a telegram:// URL with two chats is two channels) */
  channels: readonly Channel[];
  /** signs each body: X-Hotpull-Signature-256: sha256=<hex HMAC-SHA256 of the raw body> */
  secret?: string;
  version: string;
  logger: Logger;
  /** told every attempt's result, for /metrics */
  onResult?: (result: DeliveryResult) => void;
  /** per target; the oldest waiting notification is dropped beyond it */
  maxQueue?: number;
  timeoutMs?: number;
  /** first retry after retryMs, doubling up to maxRetryMs */
  retryMs?: number;
  maxRetryMs?: number;
  /** a 429's or 503's Retry-After is waited for, up to this long */
  maxRetryAfterMs?: number;
  /** a notification still undelivered after this long is dropped */
  giveUpMs?: number;
}

export const NOTIFY_DEFAULTS = {
  maxQueue: 100,
  timeoutMs: 10_000,
  retryMs: 1000,
  maxRetryMs: 60_000,
  maxRetryAfterMs: 5 * 60_000,
  giveUpMs: 60 * 60_000,
};
type Settings = NotifierOptions & typeof NOTIFY_DEFAULTS;

interface Pending {
  id: string;
  event: string;
  request: Outgoing;
  queuedAt: number;
  attempts: number;
}

/** The attempt's answer: 2xx is delivered; 408, 429 and 5xx and no answer are retried; other 4xx are final. */
type Attempt = { ok: true } | { ok: false; retry: boolean; why: string; retryAfterMs?: number };

class Target {
  readonly label: string;
  private readonly queue: Pending[] = [];
  private busy = false;
  private timer?: NodeJS.Timeout;
  /** the outage in progress: logged at its start and its end only */
  private down?: { since: number; failures: number };
  private stopped = false;

  constructor(
    readonly channel: Channel,
    private readonly options: Settings,
  ) {
    this.label = channel.label;
  }

  push(item: Pending): void {
    if (this.stopped) return;
    this.queue.push(item);
    if (this.queue.length > this.options.maxQueue) {
      const dropped = this.queue.shift()!;
      this.options.onResult?.('dropped');
      this.options.logger.warn(
        { target: this.label, event: dropped.event },
        `notify ${this.label}: queue full (${this.options.maxQueue}), dropped the oldest notification (${dropped.event})`,
      );
    }
    void this.pump();
  }

  get waiting(): number {
    return this.queue.length;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async pump(): Promise<void> {
    if (this.busy || this.timer || this.stopped) return;
    this.busy = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const item = this.queue[0]!;
        item.attempts += 1;
        const attempt = await this.post(item);
        if (attempt.ok) {
          this.queue.shift();
          this.options.onResult?.('delivered');
          if (this.down) {
            this.options.logger.info(
              { target: this.label, failures: this.down.failures },
              `notify ${this.label}: delivering again after ${this.down.failures} failed attempts`,
            );
            this.down = undefined;
          }
          continue;
        }
        this.options.onResult?.('failed');
        if (!this.down) {
          this.down = { since: Date.now(), failures: 0 };
          this.options.logger.warn(
            { target: this.label, event: item.event, err: attempt.why },
            `notify ${this.label}: ${item.event} not delivered (${attempt.why}); ${attempt.retry ? 'retrying in the background' : 'dropped'}, further failures are counted in /metrics until it works again`,
          );
        }
        this.down.failures += 1;
        const expired = Date.now() - item.queuedAt > this.options.giveUpMs;
        if (!attempt.retry || expired) {
          this.queue.shift();
          this.options.onResult?.('dropped');
          continue;
        }
        const wait = retryDelay(item.attempts, attempt.retryAfterMs, this.options);
        this.timer = setTimeout(() => {
          this.timer = undefined;
          void this.pump();
        }, wait);
        this.timer.unref();
        return;
      }
    } finally {
      this.busy = false;
    }
  }

  private post(item: Pending): Promise<Attempt> {
    const { request: out } = item;
    const body = Buffer.from(out.body);
    const headers: Record<string, string | number> = {
      ...out.headers,
      'content-length': body.length,
      'user-agent': `hotpull/${this.options.version}`,
    };
    if (this.channel.format === 'json') {
      headers['x-hotpull-event'] = item.event;
      headers['x-hotpull-delivery'] = item.id;
      headers['x-hotpull-timestamp'] = Math.floor(Date.now() / 1000);
      if (this.options.secret) headers['x-hotpull-signature-256'] = `sha256=${hmacHex(this.options.secret, body)}`;
    }
    // the status is the answer: no body is read, and a target that drips or streams one costs at most timeoutMs
    return request(out.url, {
      method: 'POST',
      headers,
      auth: out.auth,
      body,
      timeoutMs: this.options.timeoutMs,
      maxBodyBytes: 0,
    }).then(
      ({ status, headers: answer, proxy }): Attempt => {
        if (status >= 200 && status < 300) return { ok: true };
        const retryAfter =
          status === 429 || status === 503 ? retryAfterMs(answer['retry-after'], Date.now()) : undefined;
        return {
          ok: false,
          retry: status === 408 || status === 429 || status >= 500,
          why: `answered ${status}${proxy ? ` through proxy ${proxy}` : ''}${retryAfter === undefined ? '' : ` (Retry-After ${Math.ceil(retryAfter / 1000)} s)`}`,
          retryAfterMs: retryAfter,
        };
      },
      // the message of a network error names the host and port, never the path or the userinfo
      (error: unknown): Attempt => ({ ok: false, retry: true, why: oneLine(error) }),
    );
  }
}

export class Notifier {
  private readonly targets: Target[];

  constructor(options: NotifierOptions) {
    const settings: Settings = { ...NOTIFY_DEFAULTS, ...options };
    this.targets = options.channels.map((channel) => new Target(channel, settings));
  }

  /** The targets as they may be shown (logs, status): scheme and host, once each. */
  get labels(): string[] {
    return [...new Set(this.targets.map((t) => t.label))];
  }

  /** Notifications waiting in the queues (not yet delivered). */
  get waiting(): number {
    return this.targets.reduce((n, t) => n + t.waiting, 0);
  }

  /** Queues one notification for every target, in its format; returns at once. */
  send(body: NotificationBody): void {
    for (const target of this.targets)
      target.push({
        id: nodeCrypto().randomUUID(),
        event: body.event,
        request: target.channel.render(body),
        queuedAt: Date.now(),
        attempts: 0,
      });
  }

  /**
   * At a stop: gives what is queued up to `ms` to go out (a `rolled-back` told just before a SIGTERM should not be
   * lost), then stops retrying.
   */
  async drain(ms: number): Promise<void> {
    for (const deadline = Date.now() + ms; this.waiting > 0 && Date.now() < deadline;)
      await new Promise((resolve) => setTimeout(resolve, 50));
    for (const target of this.targets) target.stop();
  }
}
