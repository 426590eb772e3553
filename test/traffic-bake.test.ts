/** Judging a bake window against its baseline, and the impact line: tables (src/traffic/bake.ts is pure). */
import { describe, expect, it } from 'vitest';
import { BAKE_DEFAULTS, formatImpact, judgeBake, type BakeThresholds } from '../src/traffic/bake.js';
import type { Window } from '../src/traffic/window.js';

const win = (requests: number, errors: number, extra: Partial<Window> = {}): Window => ({
  durationMs: 60_000,
  requests,
  errors,
  restarts: 0,
  gaps: 0,
  garbage: 0,
  ...extra,
});
const p99 = (ms: number): Partial<Window> => ({ latency: { measure: 'p99', ms } });
const withLatency: BakeThresholds = { ...BAKE_DEFAULTS, maxLatencyMs: 500 };

describe('judgeBake', () => {
  it.each<[string, Window | undefined, Window, BakeThresholds, Record<string, unknown>]>([
    ['a clean bake passes', win(1000, 0), win(1874, 0), BAKE_DEFAULTS, { verdict: 'pass' }],
    [
      '5 % failing against a clean baseline fails, with the evidence',
      win(1000, 2),
      win(2000, 100),
      BAKE_DEFAULTS,
      {
        verdict: 'fail',
        evidence:
          "5 % of requests failed (100 of 2,000), above --bake-max-errors 1 % and the baseline's 0.2 % (2 of 1,000)",
      },
    ],
    ['exactly at the threshold passes', win(1000, 0), win(1000, 10), BAKE_DEFAULTS, { verdict: 'pass' }],
    [
      'above the threshold but no worse than the baseline passes',
      win(1000, 30),
      win(1000, 30),
      BAKE_DEFAULTS,
      { verdict: 'pass' },
    ],
    [
      'no baseline (lost): the threshold alone judges',
      win(0, 0, { lost: 'source lost: ECONNREFUSED' }),
      win(100, 2),
      BAKE_DEFAULTS,
      { verdict: 'fail', evidence: '2 % of requests failed (2 of 100), above --bake-max-errors 1 %' },
    ],
    [
      'an idle app is inconclusive, never a rollback by default',
      win(3, 0),
      win(12, 12),
      BAKE_DEFAULTS,
      {
        verdict: 'inconclusive',
        reason: '12 requests in the bake window, fewer than --bake-min-requests 50',
        rollback: false,
      },
    ],
    [
      'inconclusive rolls back when asked to',
      win(3, 0),
      win(1, 0),
      { ...BAKE_DEFAULTS, inconclusive: 'rollback' },
      {
        verdict: 'inconclusive',
        reason: '1 request in the bake window, fewer than --bake-min-requests 50',
        rollback: true,
      },
    ],
    [
      'a source lost during the bake is inconclusive',
      win(1000, 0),
      win(900, 0, { lost: 'source lost: uwsgi-stats:/run/s: ENOENT' }),
      BAKE_DEFAULTS,
      { verdict: 'inconclusive', reason: 'source lost: uwsgi-stats:/run/s: ENOENT' },
    ],
    [
      'tripled latency above the limit fails',
      win(1000, 0, p99(200)),
      win(1000, 0, p99(600)),
      withLatency,
      { verdict: 'fail', evidence: "p99 latency 600ms, above --bake-max-latency 500ms and 2× the baseline's 200ms" },
    ],
    [
      'above the limit but under 2× the baseline passes',
      win(1000, 0, p99(400)),
      win(1000, 0, p99(700)),
      withLatency,
      { verdict: 'pass' },
    ],
    [
      '3× the baseline but under the limit passes',
      win(1000, 0, p99(100)),
      win(1000, 0, p99(300)),
      withLatency,
      { verdict: 'pass' },
    ],
    [
      'latency is not judged without --bake-max-latency',
      win(1000, 0, p99(1)),
      win(1000, 0, p99(9000)),
      BAKE_DEFAULTS,
      { verdict: 'pass' },
    ],
    [
      'a baseline of another measure is not compared',
      win(1000, 0, { latency: { measure: 'mean', ms: 400 } }),
      win(1000, 0, p99(600)),
      withLatency,
      { verdict: 'fail', evidence: 'p99 latency 600ms, above --bake-max-latency 500ms' },
    ],
    [
      'errors and latency both: both in the evidence',
      win(1000, 0, p99(100)),
      win(1000, 50, p99(2500)),
      withLatency,
      {
        verdict: 'fail',
        evidence:
          "5 % of requests failed (50 of 1,000), above --bake-max-errors 1 % and the baseline's 0 % (0 of 1,000); p99 latency 2.5s, above --bake-max-latency 500ms and 2× the baseline's 100ms",
      },
    ],
  ])('%s', (_title, baseline, bake, thresholds, expected) => {
    expect(judgeBake(baseline, bake, thresholds)).toMatchObject(expected);
  });

  it('carries the impact line with every verdict', () => {
    expect(judgeBake(undefined, win(1874, 0, { queuePeak: 3 }), BAKE_DEFAULTS)).toEqual({
      verdict: 'pass',
      impact: '0 failed of 1,874 requests, listen queue peak 3',
    });
  });
});

describe('formatImpact', () => {
  it.each<[Window, string]>([
    [win(1874, 0, { queuePeak: 3 }), '0 failed of 1,874 requests, listen queue peak 3'],
    [win(1, 1), '1 failed of 1 request'],
    [
      win(2000, 12, { queuePeak: 100, queueErrors: 7, latency: { measure: 'mean', ms: 4.23, maxMs: 31 } }),
      '12 failed of 2,000 requests, listen queue peak 100, 7 connections refused by a full listen queue, mean 4.2ms (slowest 31ms)',
    ],
    [win(10, 0, { ...p99(1500), garbage: 1 }), '0 failed of 10 requests, p99 1.5s, 1 unreadable log line'],
    [
      win(33431, 0, { queuePeak: 5, latency: { measure: 'mean', ms: 0.043, maxMs: 9.2 } }),
      '0 failed of 33,431 requests, listen queue peak 5, mean 0.04ms (slowest 9.2ms)',
    ],
    [
      win(5, 0, { lost: 'source lost: uwsgi-stats:127.0.0.1:9191: connect ECONNREFUSED 127.0.0.1:9191' }),
      '0 failed of 5 requests (source lost: uwsgi-stats:127.0.0.1:9191: connect ECONNREFUSED 127.0.0.1:9191)',
    ],
  ])('%j', (window, line) => {
    expect(formatImpact(window)).toBe(line);
  });
});
