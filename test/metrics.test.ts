/** Issue 14: /metrics exports every state (so no series vanishes), the build, deploy durations, notification counters. */
import { describe, expect, it } from 'vitest';
import { Metrics } from '../src/http/metrics.js';
import { STATES, type State, type Status } from '../src/sync/status.js';

const status = (state: State, extra: Partial<Status> = {}): Status => ({
  state,
  remote: 'origin',
  branch: 'main',
  consecutiveFailures: 0,
  deploys: [],
  ...extra,
});
const series = (text: string, name: string) =>
  text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

describe('metrics', () => {
  it.each(STATES)('in state %s: a hotpull_state series for every state, 1 only for the current one', (state) => {
    const text = new Metrics('1.2.3').render(status(state));
    expect(series(text, 'hotpull_state')).toEqual(
      STATES.map((s) => `hotpull_state{state="${s}"} ${s === state ? 1 : 0}`),
    );
  });

  it('a state another module adds (paused) is exported too', () => {
    const text = new Metrics('1.2.3').render(status('paused' as State));
    expect(series(text, 'hotpull_state')).toContain('hotpull_state{state="paused"} 1');
    expect(series(text, 'hotpull_state').filter((l) => l.endsWith(' 1'))).toHaveLength(1);
  });

  it('build info, the last success as a timestamp (absent before the first), deploy durations, notifications', () => {
    const metrics = new Metrics('1.2.3', () => 4);
    expect(series(metrics.render(status('starting')), 'hotpull_last_success_timestamp_seconds')).toEqual([]);
    const deployed = {
      kind: 'deployed' as const,
      record: {
        trigger: 'poll',
        from: 'a',
        to: 'b',
        result: 'live' as const,
        stages: { detected: '' },
        durations: { detect: 0, fetch: 0, apply: 0, reload: 0, verify: 0, total: 3500 },
      },
    };
    metrics.recordPass(deployed, { trigger: 'poll', ms: 3600 });
    metrics.recordNotification('failed');
    metrics.recordNotification('delivered');
    metrics.recordOnLive('ok');
    const text = metrics.render(status('idle', { lastSuccessAt: '2026-11-30T12:00:00.500Z' }));
    expect(text).toContain('# TYPE hotpull_build_info gauge\nhotpull_build_info{version="1.2.3"} 1\n');
    expect(series(text, 'hotpull_last_success_timestamp_seconds')).toEqual([
      `hotpull_last_success_timestamp_seconds ${Date.UTC(2026, 10, 30, 12, 0, 0, 500) / 1000}`,
    ]);
    expect(text).not.toContain('hotpull_seconds_since_last_success');
    expect(text).toContain(
      'hotpull_deploy_duration_seconds_bucket{le="2"} 0\nhotpull_deploy_duration_seconds_bucket{le="5"} 1\n',
    );
    expect(text).toContain('hotpull_deploy_duration_seconds_sum 3.5\nhotpull_deploy_duration_seconds_count 1\n');
    expect(series(text, 'hotpull_notifications_total')).toEqual([
      'hotpull_notifications_total{result="delivered"} 1',
      'hotpull_notifications_total{result="failed"} 1',
      'hotpull_notifications_total{result="dropped"} 0',
    ]);
    expect(series(text, 'hotpull_notifications_waiting')).toEqual(['hotpull_notifications_waiting 4']);
    expect(series(text, 'hotpull_on_live_total')).toEqual([
      'hotpull_on_live_total{result="ok"} 1',
      'hotpull_on_live_total{result="failed"} 0',
    ]);
  });
});

describe('the revision gauge (issue 28)', () => {
  it('hotpull_revision_info{sha,branch,ref} 1 for the deployed revision, absent before the first', () => {
    expect(series(new Metrics('1.2.3').render(status('starting')), 'hotpull_revision_info')).toEqual([]);
    const sha = 'a'.repeat(40);
    expect(series(new Metrics('1.2.3').render(status('idle', { deployedSha: sha })), 'hotpull_revision_info')).toEqual([
      `hotpull_revision_info{sha="${sha}",branch="main",ref="refs/heads/main"} 1`,
    ]);
    const tagged = new Metrics('1.2.3', undefined, 'refs/tags/v*').render(
      status('idle', { deployedSha: sha, branch: 'tags v*' }),
    );
    expect(series(tagged, 'hotpull_revision_info')).toEqual([
      `hotpull_revision_info{sha="${sha}",branch="tags v*",ref="refs/tags/v*"} 1`,
    ]);
  });
});
