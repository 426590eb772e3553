import type { SyncOutcome } from '../sync/engine.js';
import type { Status } from '../sync/status.js';

/** Prometheus text exposition, hand-written: a handful of series do not justify prom-client's import cost. */
const BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const escape = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export class Metrics {
  private readonly deploys = new Map<string, number>();
  private readonly webhooks = new Map<string, number>();
  private readonly passes = new Map<string, number>();
  private readonly bucketCounts = BUCKETS.map(() => 0);
  private durationSum = 0;
  private durationCount = 0;

  recordPass(outcome: SyncOutcome | Error, pass: { trigger: string; ms: number }): void {
    const seconds = pass.ms / 1000;
    BUCKETS.forEach((le, i) => {
      if (seconds <= le) this.bucketCounts[i]! += 1;
    });
    this.durationSum += seconds;
    this.durationCount += 1;
    const result = outcome instanceof Error ? 'error' : outcome.kind;
    this.bump(this.passes, `${pass.trigger}\u0000${result}`);
    if (!(outcome instanceof Error) && (outcome.kind === 'deployed' || outcome.kind === 'rejected')) this.bump(this.deploys, outcome.record.result);
  }

  recordWebhook(result: string): void {
    this.bump(this.webhooks, result);
  }

  private bump(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  render(status: Status, now: number): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

    family('hotpull_deploys_total', 'counter', 'Deploys by result (live, reloaded, failed, rolled-back, rejected).');
    for (const [result, n] of this.deploys) lines.push(`hotpull_deploys_total{result="${escape(result)}"} ${n}`);

    family('hotpull_syncs_total', 'counter', 'Sync passes (polls, webhooks, signals) by trigger and outcome.');
    for (const [key, n] of this.passes) {
      const [trigger, result] = key.split('\u0000');
      lines.push(`hotpull_syncs_total{trigger="${escape(trigger!)}",result="${escape(result!)}"} ${n}`);
    }

    family('hotpull_sync_duration_seconds', 'histogram', 'Wall time of one sync pass.');
    BUCKETS.forEach((le, i) => lines.push(`hotpull_sync_duration_seconds_bucket{le="${le}"} ${this.bucketCounts[i]}`));
    lines.push(`hotpull_sync_duration_seconds_bucket{le="+Inf"} ${this.durationCount}`);
    lines.push(`hotpull_sync_duration_seconds_sum ${this.durationSum}`, `hotpull_sync_duration_seconds_count ${this.durationCount}`);

    family('hotpull_webhook_requests_total', 'counter', 'Webhook calls by result.');
    for (const [result, n] of this.webhooks) lines.push(`hotpull_webhook_requests_total{result="${escape(result)}"} ${n}`);

    family('hotpull_info', 'gauge', 'The deployed revision and branch.');
    lines.push(`hotpull_info{sha="${escape(status.deployedSha ?? '')}",branch="${escape(status.branch)}",remote="${escape(status.remote)}"} 1`);

    family('hotpull_state', 'gauge', 'The current state (1 for the current one).');
    lines.push(`hotpull_state{state="${status.state}"} 1`);

    family('hotpull_seconds_since_last_success', 'gauge', 'Seconds since the last successful sync pass (-1 before the first).');
    lines.push(`hotpull_seconds_since_last_success ${status.lastSuccessAt ? (now - Date.parse(status.lastSuccessAt)) / 1000 : -1}`);

    family('hotpull_consecutive_failures', 'gauge', 'Failed sync passes in a row.');
    lines.push(`hotpull_consecutive_failures ${status.consecutiveFailures}`);
    return `${lines.join('\n')}\n`;
  }
}
