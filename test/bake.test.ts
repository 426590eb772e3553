/**
 * --bake (issue 27 item 3) on a real uWSGI read through its stats server (lazy-apps, 2 workers, chain reloads on
 * the master FIFO), under a steady load loop: a revision whose health page is fine but that fails real requests, or
 * is three times slower, is rolled back within its bake window; an idle app is inconclusive and stays live. One
 * uWSGI for the file; bake windows of 2 s.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it as test } from 'vitest';
import { itNeeds } from './helpers/requires.js';
import { commitAndPush, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { makePipeline, runCli } from './helpers/hotpull.js';
import { fetchText, startUwsgi, uwsgiMissing, waitWorkersReady, type UwsgiServer } from './helpers/uwsgi.js';
import { startLoad } from './helpers/traffic-app.js';
import { formatHistory, type HistoryEntry } from '../src/sync/history.js';
import type { DeployRecord } from '../src/sync/status.js';

/** `/health` is always fine (it names the revision); `/flaky` raises when `flaky`; every other path sleeps `sleepMs` and answers the version. */
function app(version: string, opts: { flaky?: boolean; sleepMs?: number } = {}): string {
  return `
import os, subprocess, time
VERSION = ${JSON.stringify(version)}
SHA = subprocess.run(["git", "-c", "safe.directory=*", "rev-parse", "HEAD"], cwd=os.path.dirname(os.path.abspath(__file__)), capture_output=True, text=True).stdout.strip()

def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/health":
        body = ("ok " + VERSION + " " + SHA).encode()
    else:
        if path == "/flaky" and ${opts.flaky ? 'True' : 'False'}:
            raise RuntimeError("hotpull bake test: flaky")
        time.sleep(${(opts.sleepMs ?? 0) / 1000})
        body = VERSION.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`;
}

const it = itNeeds('uwsgi');
let sb: Sandbox | undefined;
let server: UwsgiServer | undefined;
let fifo: string;

beforeAll(async () => {
  if (uwsgiMissing()) return;
  sb = await makeSandbox({ files: { 'app.py': app('v1', { sleepMs: 5 }) } });
  fifo = path.join(sb.root, 'master.fifo');
  server = await startUwsgi({ dir: sb.checkout, workers: 2, lazyApps: true, masterFifo: fifo });
}, 30_000);

afterAll(async () => {
  await server?.stop();
  await sb?.cleanup();
});

const options = () => ({
  reload: [`uwsgi-fifo:${fifo}:c`],
  healthUrl: `${server!.url}/health`,
  healthExpect: '{sha}',
  healthSettle: '500ms',
  traffic: `uwsgi-stats:${server!.statsSocket}`,
  trafficEvery: '100ms',
  bake: '2s',
});

async function baked(flags: Record<string, unknown>, load?: (i: number) => string) {
  await waitWorkersReady(server!, 15_000);
  const pipeline = await makePipeline(sb!.checkout, { ...options(), ...flags });
  const loop = load && startLoad(server!.url, 4, load);
  try {
    // a baseline: the same length of traffic before the deploy
    if (loop) await new Promise((resolve) => setTimeout(resolve, 2000));
    const outcome = await pipeline.engine.sync('test');
    return { outcome, record: (outcome as { record: DeployRecord }).record, status: pipeline.engine.status };
  } finally {
    await loop?.stop();
    pipeline.engine.close();
  }
}

/** one request in 20 goes to /flaky */
const fivePercent = (i: number) => (i % 20 === 19 ? '/flaky' : '/');

describe('--bake on real traffic', () => {
  it('a revision that raises on 5 % of requests passes its health check and is rolled back within the bake', async () => {
    const good = await headOf(sb!.checkout);
    await commitAndPush(sb!, { 'app.py': app('v2', { flaky: true, sleepMs: 5 }) });
    const { outcome, record, status } = await baked({}, fivePercent);
    expect(outcome.kind).toBe('rejected');
    expect(record).toMatchObject({ result: 'rolled-back', rolledBackTo: good, bake: { verdict: 'fail' } });
    expect(record.error).toMatch(
      /^the bake window: [\d.]+ % of requests failed \([\d,]+ of [\d,]+\), above --bake-max-errors 1 %/,
    );
    expect(record.impact!.failed).toBeGreaterThan(0);
    expect(status.rejectedSha).toBe(record.to);
    expect(status.deployedSha).toBe(good);
    expect(await fetchText(`${server!.url}/`)).toMatchObject({ status: 200, body: 'v1' });
  }, 60_000);

  it('a revision three times slower is rolled back with --bake-max-latency', async () => {
    const good = await headOf(sb!.checkout);
    await commitAndPush(sb!, { 'app.py': app('v3', { sleepMs: 15 }) });
    const { record } = await baked({ bakeMaxLatency: '10ms' }, () => '/');
    expect(record).toMatchObject({ result: 'rolled-back', rolledBackTo: good, bake: { verdict: 'fail' } });
    expect(record.error).toMatch(/mean latency [\d.]+ms, above --bake-max-latency 10ms and 2× the baseline's [\d.]+ms/);
    expect(await fetchText(`${server!.url}/`)).toMatchObject({ status: 200, body: 'v1' });
  }, 60_000);

  it('an idle app is inconclusive and stays live, said in the record and the history', async () => {
    await commitAndPush(sb!, { 'app.py': app('v4', { sleepMs: 5 }) });
    const { outcome, record, status } = await baked({});
    expect(outcome.kind).toBe('deployed');
    expect(record).toMatchObject({
      result: 'live',
      bake: { verdict: 'inconclusive', said: '0 requests in the bake window, fewer than --bake-min-requests 50' },
    });
    expect(status.lastGoodSha).toBe(record.to);
    expect(formatHistory([record as HistoryEntry])).toContain(
      '\n    bake inconclusive: 0 requests in the bake window, fewer than --bake-min-requests 50',
    );
  }, 60_000);
});

describe('a stop during the bake', () => {
  it('is no verdict: the journal says a bake was running, status said baking, the next start bakes it again', async () => {
    await waitWorkersReady(server!, 15_000);
    const before = await headOf(sb!.checkout);
    const sha = await commitAndPush(sb!, { 'app.py': app('v5', { sleepMs: 5 }) });
    const first = await makePipeline(sb!.checkout, options());
    const stop = new AbortController();
    const reasons: string[] = [];
    first.listen((change) => {
      if (change.kind !== 'state' || change.state !== 'verifying' || !change.reason?.startsWith('baking')) return;
      reasons.push(change.reason);
      stop.abort();
    });
    try {
      await expect(first.engine.sync('test', stop.signal)).rejects.toThrow(/bake/);
      expect(reasons).toEqual([`baking ${sha.slice(0, 7)}: 2s left`]);
      expect(first.engine.status.lastGoodSha).not.toBe(sha);
    } finally {
      first.engine.close();
    }
    const journal = JSON.parse(await readFile(path.join(sb!.checkout, '.git/hotpull/journal.json'), 'utf8'));
    expect(journal).toMatchObject({ from: before, to: sha, stage: 'reload', baking: true });
    const second = await makePipeline(sb!.checkout, options());
    try {
      const outcome = await second.engine.sync('test');
      expect(outcome).toMatchObject({
        kind: 'deployed',
        record: { to: sha, result: 'live', bake: { verdict: 'inconclusive' } },
      });
    } finally {
      second.engine.close();
    }
  }, 60_000);
});

describe('the bake options are checked at start', () => {
  test.each([
    [['--bake', '3s'], '--bake needs --traffic (got --bake 3s without it)'],
    [['--bake', '3s', '--traffic', 'uwsgi-stats:127.0.0.1:1'], '--bake needs --health-url (got --bake 3s without it)'],
    [
      [
        '--bake',
        '3s',
        '--traffic',
        'uwsgi-stats:127.0.0.1:1',
        '--health-url',
        'http://127.0.0.1:1/',
        '--bake-max-errors',
        '5',
      ],
      '--bake-max-errors must be a percentage from 0% to 100% like 1% or 0.5% (got "5")',
    ],
  ])('%j: exit 2 and one line', async (args, says) => {
    const result = await runCli(['sync', '--repo', '/tmp', ...args]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(says);
  });
});
