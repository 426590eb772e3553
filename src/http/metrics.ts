import type { SyncOutcome } from '../sync/engine.js';
import { STATES, type Status } from '../sync/status.js';

/** Prometheus text exposition, hand-written: a handful of series do not justify prom-client's import cost. */
const PASS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** A deploy includes the app server's reload and the health check's settle time: seconds to minutes. */
const DEPLOY_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
const NOTIFY_RESULTS = ['delivered', 'failed', 'dropped'] as const;
const ON_LIVE_RESULTS = ['ok', 'failed'] as const;

const escape = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(private readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(seconds: number): void {
    this.buckets.forEach((le, i) => {
      if (seconds <= le) this.counts[i]! += 1;
    });
    this.sum += seconds;
    this.count += 1;
  }

  render(name: string): string[] {
    return [
      ...this.buckets.map((le, i) => `${name}_bucket{le="${le}"} ${this.counts[i]}`),
      `${name}_bucket{le="+Inf"} ${this.count}`,
      `${name}_sum ${this.sum}`,
      `${name}_count ${this.count}`,
    ];
  }
}

export class Metrics {
  private readonly deploys = new Map<string, number>();
  /** --traffic: requests served and failed between a deploy's reload and its verdict, by the deploy's result */
  private readonly deployRequests = new Map<string, number>();
  private readonly deployFailed = new Map<string, number>();
  private readonly webhooks = new Map<string, number>();
  private readonly passes = new Map<string, number>();
  private readonly notifications = new Map<string, number>(NOTIFY_RESULTS.map((r) => [r, 0]));
  private readonly onLive = new Map<string, number>(ON_LIVE_RESULTS.map((r) => [r, 0]));
  private readonly passDuration = new Histogram(PASS_BUCKETS);
  private readonly deployDuration = new Histogram(DEPLOY_BUCKETS);

  /**
   * `notifyWaiting`: notifications queued and not yet delivered, when --notify is set; `ref`: the ref followed
   * (revision.ts followedRef), refs/heads/<branch> when not given
   */
  constructor(
    private readonly version = '',
    private readonly notifyWaiting?: () => number,
    private readonly ref?: string,
  ) {}

  recordPass(outcome: SyncOutcome | Error, pass: { trigger: string; ms: number }): void {
    this.passDuration.observe(pass.ms / 1000);
    const result = outcome instanceof Error ? 'error' : outcome.kind;
    this.bump(this.passes, `${pass.trigger}\u0000${result}`);
    if (!(outcome instanceof Error) && (outcome.kind === 'deployed' || outcome.kind === 'rejected')) {
      this.bump(this.deploys, outcome.record.result);
      const { impact, result } = outcome.record;
      if (impact) {
        this.bump(this.deployRequests, result, impact.requests);
        this.bump(this.deployFailed, result, impact.failed);
      }
      this.deployDuration.observe(outcome.record.durations.total / 1000);
    }
  }

  recordWebhook(result: string): void {
    this.bump(this.webhooks, result);
  }

  recordNotification(result: (typeof NOTIFY_RESULTS)[number]): void {
    this.bump(this.notifications, result);
  }

  recordOnLive(result: (typeof ON_LIVE_RESULTS)[number]): void {
    this.bump(this.onLive, result);
  }

  private bump(map: Map<string, number>, key: string, by = 1): void {
    map.set(key, (map.get(key) ?? 0) + by);
  }

  /** `_now` is kept for the callers: the last success is exported as a timestamp, not an age. */
  render(status: Status, _now?: number): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const counter = (name: string, help: string, label: string, map: Map<string, number>) => {
      family(name, 'counter', help);
      for (const [value, n] of map) lines.push(`${name}{${label}="${escape(value)}"} ${n}`);
    };

    family('hotpull_build_info', 'gauge', 'The running hotpull version.');
    lines.push(`hotpull_build_info{version="${escape(this.version)}"} 1`);

    counter(
      'hotpull_deploys_total',
      'Deploys by result (live, reloaded, failed, rolled-back, rejected).',
      'result',
      this.deploys,
    );

    counter(
      'hotpull_deploy_requests_total',
      "Requests served between a deploy's reload and its verdict (--traffic), by deploy result.",
      'result',
      this.deployRequests,
    );
    counter(
      'hotpull_deploy_failed_requests_total',
      "Failed requests (exceptions, 5xx) between a deploy's reload and its verdict (--traffic), by deploy result.",
      'result',
      this.deployFailed,
    );

    family(
      'hotpull_deploy_duration_seconds',
      'histogram',
      'Wall time of a deploy, from detection to its result (reload and verification included).',
    );
    lines.push(...this.deployDuration.render('hotpull_deploy_duration_seconds'));

    family('hotpull_syncs_total', 'counter', 'Sync passes (polls, webhooks, signals) by trigger and outcome.');
    for (const [key, n] of this.passes) {
      const [trigger, result] = key.split('\u0000');
      lines.push(`hotpull_syncs_total{trigger="${escape(trigger!)}",result="${escape(result!)}"} ${n}`);
    }

    family('hotpull_sync_duration_seconds', 'histogram', 'Wall time of one sync pass.');
    lines.push(...this.passDuration.render('hotpull_sync_duration_seconds'));

    family(
      'hotpull_skipped_deploys_total',
      'counter',
      'Pushes that changed nothing under --path: the tree moved, nothing reloaded.',
    );
    lines.push(`hotpull_skipped_deploys_total ${status.skipped?.count ?? 0}`);

    counter('hotpull_webhook_requests_total', 'Webhook calls by result.', 'result', this.webhooks);
    counter(
      'hotpull_notifications_total',
      'Notification delivery attempts by result (delivered, failed and retried, dropped).',
      'result',
      this.notifications,
    );
    if (this.notifyWaiting) {
      family('hotpull_notifications_waiting', 'gauge', 'Notifications queued and not yet delivered.');
      lines.push(`hotpull_notifications_waiting ${this.notifyWaiting()}`);
    }
    counter('hotpull_on_live_total', '--on-live runs by result.', 'result', this.onLive);

    family('hotpull_info', 'gauge', 'The deployed revision and branch.');
    lines.push(
      `hotpull_info{sha="${escape(status.deployedSha ?? '')}",branch="${escape(status.branch)}",remote="${escape(status.remote)}"} 1`,
    );

    // One series per replica, labelled by what it serves: `count by (sha) (hotpull_revision_info)` says what runs
    // where. Absent until a revision is deployed (an empty sha would count as one).
    family(
      'hotpull_revision_info',
      'gauge',
      'The deployed revision, the branch and the ref followed (absent before the first).',
    );
    if (status.deployedSha)
      lines.push(
        `hotpull_revision_info{sha="${escape(status.deployedSha)}",branch="${escape(status.branch)}",ref="${escape(this.ref ?? `refs/heads/${status.branch}`)}"} 1`,
      );

    // Every state, 0 or 1, so no series vanishes when the state changes (a state another module adds shows too).
    family('hotpull_state', 'gauge', 'The current state: 1 for the current one, 0 for the others.');
    const states: string[] = [...STATES];
    if (!states.includes(status.state)) states.push(status.state);
    for (const state of states) lines.push(`hotpull_state{state="${escape(state)}"} ${state === status.state ? 1 : 0}`);

    if (status.lastSuccessAt) {
      family(
        'hotpull_last_success_timestamp_seconds',
        'gauge',
        'Unix time of the last successful sync pass (absent before the first).',
      );
      lines.push(`hotpull_last_success_timestamp_seconds ${Date.parse(status.lastSuccessAt) / 1000}`);
    }

    family('hotpull_consecutive_failures', 'gauge', 'Failed sync passes in a row.');
    lines.push(`hotpull_consecutive_failures ${status.consecutiveFailures}`);
    return `${lines.join('\n')}\n`;
  }
}
