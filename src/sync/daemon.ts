import type { Logger } from '../log.js';
import { formatDuration } from '../duration.js';
import { isHotpullError, oneLine } from '../errors.js';
import { nextDelay } from './schedule.js';
import type { SyncEngine, SyncOutcome } from './engine.js';

export type PassListener = (outcome: SyncOutcome | Error, pass: { trigger: string; ms: number }) => void;

export interface DaemonOptions {
  intervalMs: number;
  backoffMaxMs: number;
  logger: Logger;
  random?: () => number;
}

/**
 * Latest wins: triggers (poll timer, signal, webhook, file watch) only raise a "sync wanted" flag. While a
 * pass runs, any number of triggers collapse into one follow-up pass, which targets whatever the remote head
 * is by then. Failures back off exponentially (up to backoffMax) and never end the process.
 */
export class Daemon {
  private wanted?: string;
  /** the wait chosen after a failure, so the log line and the timer agree */
  private retryIn?: number;
  private running?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private stopping = false;
  private readonly abort = new AbortController();
  private readonly random: () => number;
  private readonly listeners = new Set<PassListener>();

  constructor(
    readonly engine: SyncEngine,
    private readonly options: DaemonOptions,
  ) {
    this.random = options.random ?? Math.random;
  }

  start(): void {
    this.trigger('start');
  }

  /** Ask for a sync; returns at once. */
  trigger(reason: string): void {
    if (this.stopping) return;
    this.wanted ??= reason;
    if (this.running) return;
    clearTimeout(this.timer);
    this.running = this.drain();
  }

  /** Called after every pass with its outcome or error, what triggered it and how long it took. */
  onPass(listener: PassListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async drain(): Promise<void> {
    while (this.wanted !== undefined && !this.stopping) {
      const reason = this.wanted;
      this.wanted = undefined;
      let result: SyncOutcome | Error;
      const started = Date.now();
      try {
        result = await this.engine.sync(reason, this.abort.signal);
        this.retryIn = undefined;
      } catch (error) {
        if (this.stopping && isHotpullError(error, 'ABORTED')) break;
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
      if (!(result instanceof Error)) this.options.logger.debug({ trigger: reason, outcome: result.kind, ms }, `pass (${reason}): ${passSummary(result)} in ${ms} ms`);
      for (const listener of this.listeners) listener(result, { trigger: reason, ms });
    }
    this.running = undefined;
    const wait = this.retryIn ?? this.delay();
    this.retryIn = undefined;
    if (!this.stopping) this.timer = setTimeout(() => this.trigger('poll'), wait);
  }

  private delay(): number {
    return nextDelay({
      intervalMs: this.options.intervalMs,
      failures: this.engine.status.consecutiveFailures,
      backoffMaxMs: this.options.backoffMaxMs,
      random: this.random(),
    });
  }

  /** Stops polling; aborts a network step in flight (git removes its locks on SIGINT); lets local steps finish. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    this.abort.abort();
    await this.running;
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
