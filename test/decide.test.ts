import { describe, expect, it } from 'vitest';
import {
  heldReason,
  holdBase,
  retriesRejected,
  rollbackTarget,
  sameVerdict,
  standingVerdict,
  takesFastForwardShortcut,
} from '../src/sync/pass/decide.js';
import { deployRecord } from '../src/sync/record.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

describe('the engine decisions, as tables', () => {
  it.each([
    ['signal', B, B, true],
    ['cli', B, B, true],
    ['api', B, B, true],
    ['poll', B, B, false],
    ['webhook', B, B, false],
    ['start', B, B, false],
    ['signal', undefined, B, false],
    ['signal', A, B, false],
  ] as const)('trigger %s, rejected %s, remote %s: retried = %s', (trigger, rejected, remote, expected) => {
    expect(retriesRejected(trigger, rejected, remote)).toBe(expected);
  });

  it.each([
    ['same pair', { state: 'diverged', local: A, remote: B }, A, B, true],
    ['remote moved', { state: 'diverged', local: A, remote: B }, A, C, false],
    ['local moved', { state: 'held', local: A, remote: B }, C, B, false],
    ['no cache', undefined, A, B, false],
    ['first release (no local)', { state: 'held', local: undefined, remote: B }, undefined, B, true],
  ] as const)('a blocked verdict stands: %s', (_name, cached, local, remote, expected) => {
    expect(standingVerdict(cached, local, remote) !== undefined).toBe(expected);
  });

  it('a verdict is the same only with the same state and pair (a changed state logs again)', () => {
    expect(sameVerdict({ state: 'dirty', local: A, remote: B }, { state: 'dirty', local: A, remote: B })).toBe(true);
    expect(sameVerdict({ state: 'dirty', local: A, remote: B }, { state: 'diverged', local: A, remote: B })).toBe(
      false,
    );
    expect(sameVerdict(undefined, { state: 'dirty', local: A, remote: B })).toBe(false);
  });

  it.each([
    [true, A, 0, 0, true],
    [false, A, 0, 0, false], // atomic layout: no in-place fast-forward
    [true, undefined, 0, 0, false], // first release
    [true, A, 1, 0, false], // local edits: the plan decides
    [true, A, 0, 2, false], // onChange rules need the changed paths first
  ] as const)(
    'fast-forward shortcut: layout can %s, local %s, %i modified, %i rules → %s',
    (layoutCanTry, local, modified, rules, expected) => {
      expect(takesFastForwardShortcut({ layoutCanTry, local, modified, rules })).toBe(expected);
    },
  );

  it.each([
    [C, true, A, C],
    [C, false, A, A], // the image's revision is not in this repository (shallow, or never pushed)
    [undefined, false, A, A],
    [undefined, false, undefined, undefined],
  ] as const)('hold rules compare against: image %s (known %s), deployed %s → %s', (image, known, local, expected) => {
    expect(holdBase(image, known, local)).toBe(expected);
  });

  it.each([
    ['the last verified revision', { to: C, from: B, lastGood: A, rejected: undefined }, A],
    ['the previous one when nothing was verified yet', { to: C, from: B, lastGood: undefined, rejected: undefined }, B],
    ['the previous one when the failed one was last good', { to: C, from: B, lastGood: C, rejected: undefined }, B],
    ['nowhere: a first release', { to: C, from: '', lastGood: undefined, rejected: undefined }, undefined],
    ['never to a rejected revision', { to: C, from: B, lastGood: A, rejected: A }, undefined],
    ['never to itself', { to: C, from: C, lastGood: undefined, rejected: undefined }, undefined],
  ] as const)('rollback goes to %s', (_name, input, expected) => {
    expect(rollbackTarget(input)).toBe(expected);
  });

  it('a held revision says what changed, the rule, and what releases it', () => {
    const reason = heldReason(['Dockerfile', 'apt.txt', 'a', 'b', 'c'], ['Dockerfile', 'apt.txt'], 'ccccccc');
    expect(reason).toContain('Dockerfile, apt.txt, a and 2 more changed');
    expect(reason).toContain('(hold rule ["Dockerfile","apt.txt"])');
    expect(reason).toContain(
      'ccccccc and later commits stay held until the image is rebuilt from them (--image-revision)',
    );
  });

  it('a deploy record: durations per stage, stages not reached take no time, verified only when live', () => {
    const times = { started: 1000, detected: 1100, fetched: 1300, applied: 1350, reloaded: 1400, verified: 2400 };
    const live = deployRecord({ trigger: 'poll', from: A, to: B, result: 'live', times, end: 2500 });
    expect(live.durations).toEqual({ detect: 100, fetch: 200, apply: 50, reload: 50, verify: 1000, total: 1500 });
    expect(live.stages.verified).toBe(new Date(2400).toISOString());
    const rolledBack = deployRecord({
      trigger: 'poll',
      from: A,
      to: B,
      result: 'rolled-back',
      times,
      end: 2500,
      error: 'x',
      rolledBackTo: A,
    });
    expect(rolledBack.stages.verified).toBeUndefined();
    expect(rolledBack).toMatchObject({ error: 'x', rolledBackTo: A });
    const failedReload = deployRecord({
      trigger: 'poll',
      from: A,
      to: B,
      result: 'failed',
      times: { started: 0, detected: 10, fetched: 20, applied: 30 },
      end: 100,
    });
    expect(failedReload.durations).toMatchObject({ reload: 70, verify: 0, total: 100 });
    expect(failedReload.stages.reloaded).toBeUndefined();
  });
});

describe('status keeping', () => {
  it('a state entered is logged once and told every time; failures count until a success; records are bounded', async () => {
    const { StatusKeeper } = await import('../src/sync/status-keeper.js');
    const { HISTORY_LIMIT } = await import('../src/sync/status.js');
    const { createLogger } = await import('../src/log.js');
    const lines: string[] = [];
    const logger = await createLogger({
      level: 'info',
      format: 'json',
      destination: { write: (l: string) => void lines.push(l) },
    });
    const told: string[] = [];
    const keeper = new StatusKeeper(
      { remote: 'origin', branch: 'main' },
      logger,
      () => 0,
      (change) => told.push(change.kind === 'state' ? change.state : 'deploy'),
    );
    keeper.failed(new Error('remote hung up'));
    keeper.failed(new Error('remote hung up'));
    expect(keeper.status).toMatchObject({ state: 'failing', consecutiveFailures: 2, lastError: 'remote hung up' });
    expect(lines.filter((l) => l.includes('state starting → failing')).length).toBe(1);
    expect(told).toEqual(['failing', 'failing']);
    keeper.succeeded();
    expect(keeper.status).toMatchObject({ consecutiveFailures: 0, lastSuccessAt: new Date(0).toISOString() });
    const record = deployRecord({
      trigger: 'poll',
      from: A,
      to: B,
      result: 'live',
      times: { started: 0, detected: 0, fetched: 0, applied: 0 },
      end: 1,
    });
    for (let i = 0; i < HISTORY_LIMIT + 5; i++) keeper.recorded({ ...record, trigger: `t${i}` });
    expect(keeper.status.deploys.length).toBe(HISTORY_LIMIT);
    expect(keeper.status.deploys[0]!.trigger).toBe(`t${HISTORY_LIMIT + 4}`);
  });
});
