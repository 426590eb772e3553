import type { Logger } from '../log.js';
import { formatDuration } from '../duration.js';
import { isHotpullError, oneLine } from '../errors.js';
import { missedWebhook, nextDelay, pollEvery, type PollInfo } from './schedule.js';
import type { SyncEngine, SyncOutcome } from './engine.js';

export type PassListener = (outcome: SyncOutcome | Error, pass: { trigger: string; ms: number }) => void;

export interface DaemonOptions {
  intervalMs: number;
  backoffMaxMs: number;
  /** --safety-poll: the poll period once webhooks arrive (see pollEvery); undefined: always intervalMs */
  safetyPollMs?: number;
  logger: Logger;
  random?: () => number;
  clock?: () => number;
}

/**
 * Latest wins: triggers (poll timer, signal, webhook, file watch) only raise a "sync wanted" flag. While a
 * pass runs, any number of triggers collapse into one follow-up pass, which targets whatever the remote head
 * is by then. Failures back off exponentially (up to backoffMax) and never end the process. Once webhooks arrive,
 * polls slow to --safety-poll until a poll finds a push that no webhook announced.
 */
export class Daemon {
  private wanted?: string;
  /** who asked for the wanted pass (a webhook's delivery id, SIGUSR1), told to the engine for its records */
  private wantedBy?: string;
  /** the wait chosen after a failure, so the log line and the timer agree */
  private retryIn?: number;
  private running?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private stopping = false;
  private readonly abort = new AbortController();
  private readonly random: () => number;
  private readonly clock: () => number;
  /** a webhook for the followed branch arrived, and no poll has found a push one missed since */
  private webhooksArrive = false;
  private lastWebhookAt?: number;
  /** counts webhooks, so a pass can tell whether one arrived while it ran */
  private webhooks = 0;
  /** the poll timer's wait and when it fires; undefined while a pass runs */
  private nextPoll?: { at: number; waitMs: number };
  private readonly listeners = new Set<PassListener>();
  /** sync --now --wait: told the outcome of the next pass to start */
  private waiters: ((result: SyncOutcome | Error) => void)[] = [];
  /** work that must not overlap a pass (a manual rollback), run before the next one */
  private jobs: { run: (signal: AbortSignal) => Promise<void>; cancel: (error: Error) => void }[] = [];
  /** ends git's housekeeping in progress: a pass or job was asked for, and it must not wait behind a repack */
  private yieldHousekeeping?: () => void;

  constructor(
    readonly engine: SyncEngine,
    private readonly options: DaemonOptions,
  ) {
    this.random = options.random ?? Math.random;
    this.clock = options.clock ?? Date.now;
  }

  /**
   * A webhook for the followed branch arrived (whether or not it asks for a pass: one for a revision already deployed
   * still shows deliveries work). From now polls slow to --safety-poll.
   */
  heardWebhook(): void {
    this.lastWebhookAt = this.clock();
    this.webhooks += 1;
    if (this.webhooksArrive || this.options.safetyPollMs === undefined) return;
    this.webhooksArrive = true;
    const every = this.pace();
    if (every > this.options.intervalMs)
      this.options.logger.info(
        { everyMs: every },
        `webhooks arrive: polling slows to every ${formatDuration(every)} (--safety-poll) until one is missed`,
      );
  }

  /** How polling is paced now, and when the next poll is due: for /status and `hotpull status`. */
  get polling(): PollInfo {
    const failures = this.engine.status.consecutiveFailures;
    const next = this.nextPoll;
    return {
      mode:
        failures > 0
          ? 'backoff'
          : this.webhooksArrive && this.pace() > this.options.intervalMs
            ? 'safety-poll'
            : 'interval',
      everyMs: this.pace(),
      ...(next ? { waitMs: next.waitMs, nextAt: new Date(next.at).toISOString() } : {}),
      ...(this.lastWebhookAt === undefined ? {} : { webhookAt: new Date(this.lastWebhookAt).toISOString() }),
      failures,
    };
  }

  private pace(): number {
    return pollEvery({
      intervalMs: this.options.intervalMs,
      safetyPollMs: this.options.safetyPollMs,
      webhooksArrive: this.webhooksArrive,
    });
  }

  start(): void {
    this.trigger('start');
  }

  /** Ask for a sync; returns at once. */
  trigger(reason: string, by?: string): void {
    if (this.stopping) return;
    if (this.wanted === undefined) this.wantedBy = by;
    this.wanted ??= reason;
    this.yieldHousekeeping?.();
    if (this.running) return;
    clearTimeout(this.timer);
    this.nextPoll = undefined;
    this.running = this.drain();
  }

  /** Asks for a sync and resolves with the outcome of the pass that serves it: the next one to start. */
  syncAndWait(reason: string): Promise<SyncOutcome | Error> {
    if (this.stopping) return Promise.resolve(new Error('the daemon is stopping'));
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.trigger(reason);
    });
  }

  /**
   * Runs `job` in the pass queue: after the pass in progress, before any other, never beside one. With a
   * trigger, its outcome is reported to the pass listeners like a pass's.
   */
  exclusive(job: (signal: AbortSignal) => Promise<SyncOutcome>, trigger?: string): Promise<SyncOutcome> {
    if (this.stopping) return Promise.reject(new Error('the daemon is stopping'));
    return new Promise((resolve, reject) => {
      const run = async (signal: AbortSignal) => {
        const started = Date.now();
        try {
          const outcome = await job(signal);
          if (trigger) for (const listener of this.listeners) listener(outcome, { trigger, ms: Date.now() - started });
          resolve(outcome);
        } catch (error) {
          reject(error);
        }
      };
      this.jobs.push({ run, cancel: reject });
      this.yieldHousekeeping?.();
      if (this.running) return;
      clearTimeout(this.timer);
      this.nextPoll = undefined;
      this.running = this.drain();
    });
  }

  /** Called after every pass with its outcome or error, what triggered it and how long it took. */
  onPass(listener: PassListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async drain(): Promise<void> {
    while ((this.wanted !== undefined || this.jobs.length > 0) && !this.stopping) {
      const job = this.jobs.shift();
      if (job) {
        await job.run(this.abort.signal);
        continue;
      }
      const reason = this.wanted!;
      const by = this.wantedBy;
      this.wanted = this.wantedBy = undefined;
      const waiters = this.waiters;
      this.waiters = [];
      let result: SyncOutcome | Error;
      const started = Date.now();
      const remoteBefore = this.engine.status.remoteSha;
      const webhooksBefore = this.webhooks;
      try {
        result = await this.engine.syncPass(reason, this.abort.signal, by);
        this.retryIn = undefined;
      } catch (error) {
        if (this.stopping && isHotpullError(error, 'ABORTED')) {
          for (const waiter of waiters) waiter(new Error('the daemon stopped during the pass'));
          break;
        }
        this.engine.markFailed(error);
        result = error instanceof Error ? error : new Error(String(error));
        const failures = this.engine.status.consecutiveFailures;
        this.retryIn = this.delay();
        this.options.logger.warn(
          { err: oneLine(error), failures, retryInMs: this.retryIn },
          `sync failed (${failures} in a row), old code keeps serving; retrying in ${formatDuration(this.retryIn)}: ${oneLine(error)}`,
        );
      }
      const ms = Date.now() - started;
      this.noteMissedWebhook(reason, remoteBefore, webhooksBefore);
      // a poll every second: the line is built only when debug is on
      if (!(result instanceof Error) && this.options.logger.isLevelEnabled('debug'))
        this.options.logger.debug(
          { trigger: reason, outcome: result.kind, ms },
          `pass (${reason}): ${passSummary(result)} in ${ms} ms`,
        );
      for (const listener of this.listeners) listener(result, { trigger: reason, ms });
      for (const waiter of waiters) waiter(result);
      // after the outcome is out, and only while nothing else is asked for: a trigger or job arriving meanwhile ends
      // it (the repack is owed, and done after a later pass), so a webhook's deploy never waits behind it
      if (this.wanted === undefined && this.jobs.length === 0) await this.housekeep();
    }
    this.running = undefined;
    const wait = this.retryIn ?? this.delay();
    this.retryIn = undefined;
    if (this.stopping) return;
    this.nextPoll = { at: this.clock() + wait, waitMs: wait };
    this.timer = setTimeout(() => this.trigger('poll'), wait);
  }

  /** A poll found a push no webhook announced: deliveries are not reaching us, so polls go back to --interval. */
  private noteMissedWebhook(trigger: string, remoteBefore: string | undefined, webhooksBefore: number): void {
    if (!this.webhooksArrive) return;
    const remoteAfter = this.engine.status.remoteSha;
    if (!missedWebhook({ trigger, remoteBefore, remoteAfter, webhookDuringPass: this.webhooks !== webhooksBefore }))
      return;
    this.webhooksArrive = false;
    this.options.logger.warn(
      { remote: remoteAfter },
      `a poll found ${remoteAfter!.slice(0, 7)}, which no webhook announced: polling every ${formatDuration(this.options.intervalMs)} (--interval) again until a webhook arrives`,
    );
  }

  private async housekeep(): Promise<void> {
    const yielded = new AbortController();
    this.yieldHousekeeping = () => yielded.abort();
    try {
      await this.engine.housekeeping(AbortSignal.any([this.abort.signal, yielded.signal]));
    } finally {
      this.yieldHousekeeping = undefined;
    }
  }

  private delay(): number {
    return nextDelay({
      intervalMs: this.pace(),
      failures: this.engine.status.consecutiveFailures,
      backoffMaxMs: this.options.backoffMaxMs,
      random: this.random(),
    });
  }

  /** Ends once the pass in progress has (none is aborted) and starts no other: an app removed from the config. */
  async retire(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.running;
    await this.stop();
  }

  /** Stops polling; aborts a network step in flight (git removes its locks on SIGINT); lets local steps finish. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    this.abort.abort();
    await this.running;
    for (const waiter of this.waiters.splice(0)) waiter(new Error('the daemon stopped'));
    for (const job of this.jobs.splice(0)) job.cancel(new Error('the daemon stopped before it could run this'));
    this.engine.close();
  }
}

function passSummary(outcome: SyncOutcome): string {
  switch (outcome.kind) {
    case 'up-to-date':
      return `up to date at ${outcome.sha.slice(0, 7)}`;
    case 'deployed':
    case 'rejected':
      return `${outcome.record.result} ${outcome.record.to.slice(0, 7)}`;
    case 'blocked':
      return `blocked (${outcome.state})`;
  }
}
