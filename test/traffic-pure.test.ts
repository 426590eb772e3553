/** The pure half of traffic sources: windows from readings, log lines, source specs. Tables. */
import { describe, expect, it } from 'vitest';
import { isHotpullError } from '../src/errors.js';
import { combinedFormat, detectFormat, gunicornFormat, namedFormat, uwsgiFormat } from '../src/traffic/log-format.js';
import { parseTrafficSpec } from '../src/traffic/spec.js';
import { sampleOfStats } from '../src/traffic/uwsgi-stats.js';
import { watchTraffic, type TrafficSource } from '../src/traffic/source.js';
import { recordTraffic } from '../src/traffic/recorder.js';
import { bucketOf, LATENCY_BUCKETS_MS, windowOf, type Reading, type UnitCounters } from '../src/traffic/window.js';

const worker = (id: number, pid: number, requests: number, errors = 0, busyUs?: number): UnitCounters => ({
  key: `worker ${id}`,
  pid,
  requests,
  errors,
  ...(busyUs === undefined ? {} : { busyUs }),
});

describe('windowOf', () => {
  it.each<[string, Reading[], Record<string, unknown>]>([
    [
      'counters by difference, mean latency from busy time',
      [
        { at: 0, units: [worker(1, 10, 100, 1, 50_000), worker(2, 11, 50, 0, 20_000)], queue: 0 },
        { at: 1000, units: [worker(1, 10, 150, 3, 100_000), worker(2, 11, 100, 0, 70_000)], queue: 4 },
        { at: 2000, units: [worker(1, 10, 160, 3, 110_000), worker(2, 11, 110, 0, 80_000)], queue: 1 },
      ],
      {
        durationMs: 2000,
        requests: 120,
        errors: 2,
        queuePeak: 4,
        restarts: 0,
        gaps: 0,
        latency: { measure: 'mean', ms: 1 },
      },
    ],
    [
      'a counter that went down started again: counted from zero',
      [
        { at: 0, units: [worker(1, 10, 900), worker(2, 11, 800)] },
        { at: 500, units: [worker(1, 20, 5), worker(2, 21, 7)] },
      ],
      { requests: 12, restarts: 2 },
    ],
    [
      'a new pid that carries on its slot counts the difference (uWSGI chain reload)',
      [
        { at: 0, units: [worker(1, 10, 900)] },
        { at: 500, units: [worker(1, 20, 930)] },
      ],
      { requests: 30, restarts: 1 },
    ],
    [
      'a failed reading in between is a gap, the window goes on',
      [
        { at: 0, units: [worker(1, 10, 10)] },
        { at: 100, lost: 'ENOENT' },
        { at: 200, units: [worker(1, 12, 3)] },
      ],
      { requests: 3, gaps: 1 },
    ],
    [
      'a last reading that failed: source lost, what was read before stays',
      [
        { at: 0, units: [worker(1, 10, 10)] },
        { at: 100, units: [worker(1, 10, 15)] },
        { at: 200, lost: 'uwsgi-stats:/run/s: ECONNREFUSED' },
      ],
      { requests: 5, lost: 'source lost: uwsgi-stats:/run/s: ECONNREFUSED' },
    ],
    ['one reading: source lost', [{ at: 0, units: [] }], { requests: 0, lost: 'source lost: fewer than two readings' }],
    [
      'listen-queue overflows by difference, reset by a new master',
      [
        { at: 0, units: [], queueErrors: [{ key: 'q', pid: 1, requests: 7, errors: 0 }] },
        { at: 1, units: [], queueErrors: [{ key: 'q', pid: 1, requests: 9, errors: 0 }] },
        { at: 2, units: [], queueErrors: [{ key: 'q', pid: 2, requests: 1, errors: 0 }] },
      ],
      { queueErrors: 3 },
    ],
    [
      'garbage lines by difference',
      [
        { at: 0, units: [{ key: 'log', requests: 0, errors: 0 }], garbage: 4 },
        { at: 1, units: [{ key: 'log', requests: 2, errors: 0 }], garbage: 6 },
      ],
      { requests: 2, garbage: 2 },
    ],
  ])('%s', (_title, readings, expected) => {
    const window = windowOf(readings);
    expect(window).toMatchObject(expected);
    if (!('lost' in expected)) expect(window.lost).toBeUndefined();
  });

  it('reads p99 and the slowest from per-request buckets (upper bounds: never an underestimate)', () => {
    const before = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
    const after = [...before];
    after[bucketOf(10)]! += 98;
    after[bucketOf(300)]! += 1;
    after[bucketOf(2000)]! += 1;
    const window = windowOf([
      { at: 0, units: [{ key: 'log', requests: 0, errors: 0 }], latencyBuckets: before },
      { at: 1, units: [{ key: 'log', requests: 100, errors: 0 }], latencyBuckets: after },
    ]);
    expect(window.latency?.measure).toBe('p99');
    expect(window.latency!.ms).toBeGreaterThanOrEqual(300);
    expect(window.latency!.ms).toBeLessThan(300 * 1.045);
    expect(window.latency!.maxMs).toBeGreaterThanOrEqual(2000);
    expect(window.latency!.maxMs).toBeLessThan(2000 * 1.045);
  });
});

describe('sampleOfStats', () => {
  it("takes uWSGI 2.0.21's fields", () => {
    const doc = {
      pid: 5,
      listen_queue: 2,
      listen_queue_errors: 1,
      sockets: [{ name: '127.0.0.1:1', queue: 3 }],
      workers: [
        { id: 1, pid: 6, requests: 10, exceptions: 2, harakiri_count: 1, running_time: 5000, avg_rt: 400 },
        { id: 2, pid: 0, requests: 0, exceptions: 0, harakiri_count: 0, running_time: 0, avg_rt: 0 },
      ],
    };
    expect(sampleOfStats(JSON.stringify(doc), 7)).toEqual({
      at: 7,
      units: [
        { key: 'worker 1', pid: 6, requests: 10, errors: 3, busyUs: 5000 },
        { key: 'worker 2', pid: 0, requests: 0, errors: 0, busyUs: 0 },
      ],
      queue: 3,
      queueErrors: [{ key: 'listen queue', pid: 5, requests: 1, errors: 0 }],
      slowestAvgMs: 0.4,
    });
  });

  it.each([
    ['<html>', /^not JSON \(6 bytes\)$/],
    ['{"workers": [{"id": 1}]}', /without a requests count/],
    ['null', /without a workers list/],
  ])('refuses %s', (text, reason) => {
    expect(sampleOfStats(text, 0)).toEqual({ unreadable: expect.stringMatching(reason) });
  });
});

describe('log lines', () => {
  const UWSGI_LINE =
    '[pid: 1|app: 0|req: 4/6] 127.0.0.1 () {24 vars in 254 bytes} [Mon Dec  7 19:20:32 2026] GET / => generated 2 bytes in 12 msecs (HTTP/1.1 503) 2 headers in 79 bytes (1 switches on core 0)';
  const COMBINED = '10.0.0.1 - bob [07/Dec/2026:19:27:11 +0000] "GET /a?b=\\"c\\" HTTP/1.1" 404 12 "-" "curl/7.88.1"';
  it.each([
    ['uwsgi', uwsgiFormat.read(UWSGI_LINE), { status: 503, ms: 12 }],
    ['uwsgi --log-micros', uwsgiFormat.read(UWSGI_LINE.replace('12 msecs', '1500 micros')), { status: 503, ms: 1.5 }],
    ['uwsgi, its other messages', uwsgiFormat.read('spawned uWSGI worker 1 (pid: 2, cores: 1)'), 'other'],
    ['uwsgi, a torn request line', uwsgiFormat.read('GET / => generated 2 bytes in'), 'garbage'],
    ['combined, no time', combinedFormat.read(COMBINED), { status: 404 }],
    ['combined, decimal seconds', combinedFormat.read(`${COMBINED} 0.250`), { status: 404, ms: 250 }],
    ['combined, integer microseconds', combinedFormat.read(`${COMBINED} 2500`), { status: 404, ms: 2.5 }],
    ['combined, garbage', combinedFormat.read('GET / 200'), 'garbage'],
  ])('%s', (_title, reading, expected) => {
    expect(reading).toEqual(expected);
  });

  it.each([
    ['%(h)s "%(r)s" %(s)s %(D)s', '1.2.3.4 "GET / HTTP/1.1" 502 1500', { status: 502, ms: 1.5 }],
    ['%(h)s "%(r)s" %(s)s %(L)s', '1.2.3.4 "GET / HTTP/1.1" 200 0.042', { status: 200, ms: 42 }],
    ['%(s)s %(T)s %(a)s', '200 2 Mozilla/5.0 (X11)', { status: 200, ms: 2000 }],
    ['%(s)s %(M)s', '200 17', { status: 200, ms: 17 }],
    ['%(t)s %(s)s', '[07/Dec/2026:19:27:11 +0000] 201', { status: 201 }],
    ['%(h)s %(s)s %(D)s', 'torn', 'garbage'],
  ])('gunicorn %s', (format, line, expected) => {
    const parsed = gunicornFormat(format);
    if (typeof parsed === 'string') throw new Error(parsed);
    expect(parsed.read(line)).toEqual(expected);
  });

  it.each([
    ['spaces', ' '.repeat(65_536)],
    ['quotes', '" '.repeat(32_768)],
    ['brackets', '[ '.repeat(32_768)],
    ['a near miss', `1.2.3.4 - - [07/Dec/2026:19:27:11 +0000] "GET / HTTP/1.1" 200 2 "-" "${'a '.repeat(30_000)} 12x`],
  ])('reads a hostile 64 KB line of %s in linear time, as garbage', (_title, line) => {
    const format = gunicornFormat('%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s');
    if (typeof format === 'string') throw new Error(format);
    for (const read of [format.read, combinedFormat.read, uwsgiFormat.read]) {
      const started = performance.now();
      expect(read(line)).not.toHaveProperty('status');
      expect(performance.now() - started).toBeLessThan(100);
    }
  });

  it('refuses a gunicorn format with two atoms side by side (no way to tell where one ends)', () => {
    expect(gunicornFormat('%(h)s%(l)s %(s)s')).toBe('the gunicorn format has atoms side by side: %(h)s%(l)s');
  });

  it.each([
    ['no lines yet', [''], undefined],
    ['uWSGI among its messages', ['*** Operational MODE: preforking ***', UWSGI_LINE], 'uwsgi'],
    [
      "uWSGI's log before its first request",
      ['*** Starting uWSGI 2.0.21-debian (64bit) on [Mon Dec  7 19:20:28 2026] ***', 'compiled with version: 12.2.0'],
      'uwsgi',
    ],
    ['combined with times', [`${COMBINED} 12`, `${COMBINED} 0.5`], 'combined'],
    ['combined without times', [COMBINED, COMBINED, 'junk'], 'combined'],
  ])('detects %s', (_title, lines, name) => {
    const found = detectFormat(lines);
    expect(found === undefined ? undefined : 'name' in found ? found.name : found).toEqual(name);
  });

  it('says whether combined lines carry a time', () => {
    expect(detectFormat([COMBINED])).toMatchObject({ timed: false, describe: expect.stringMatching(/status only/) });
    expect(detectFormat([`${COMBINED} 5`])).toMatchObject({ timed: true });
  });

  it.each([
    ['auto', undefined],
    ['', undefined],
    ['uwsgi', 'uwsgi'],
    ['combined', 'combined'],
  ])('names %j', (name, expected) => {
    const format = namedFormat(name);
    expect(format === undefined ? undefined : 'name' in format ? format.name : format).toEqual(expected);
  });
});

describe('parseTrafficSpec', () => {
  it.each([
    ['uwsgi-stats:127.0.0.1:9191', { kind: 'uwsgi-stats', address: { host: '127.0.0.1', port: 9191 } }],
    ['uwsgi-stats:[::1]:9191', { kind: 'uwsgi-stats', address: { host: '::1', port: 9191 } }],
    ['uwsgi-stats:localhost:1', { kind: 'uwsgi-stats', address: { host: 'localhost', port: 1 } }],
    ['uwsgi-stats:/run/app/stats.sock', { kind: 'uwsgi-stats', address: { path: '/run/app/stats.sock' } }],
    ['uwsgi-stats:./stats.sock', { kind: 'uwsgi-stats', address: { path: './stats.sock' } }],
    ['access-log:/var/log/app.log', { kind: 'access-log', file: '/var/log/app.log', format: 'auto' }],
    ['access-log:/var/log/app.log:uwsgi', { kind: 'access-log', file: '/var/log/app.log', format: 'uwsgi' }],
    ['access-log:/var/log/a:b.log:auto', { kind: 'access-log', file: '/var/log/a:b.log', format: 'auto' }],
    [
      'access-log:/var/log/g.log:%(h)s "%(r)s" %(s)s %(D)s',
      { kind: 'access-log', file: '/var/log/g.log', format: '%(h)s "%(r)s" %(s)s %(D)s' },
    ],
  ])('%s', (text, expected) => {
    expect(parseTrafficSpec(text)).toEqual(expected);
  });

  it.each([
    [
      'prometheus:http://x',
      '--traffic must be uwsgi-stats:ADDR or access-log:FILE[:FORMAT] (got "prometheus:http://x")',
    ],
    [
      'uwsgi-stats:127.0.0.1:99999',
      '--traffic must be uwsgi-stats:ADDR with ADDR a socket path (/…) or HOST:PORT (port 1-65535) (got "uwsgi-stats:127.0.0.1:99999")',
    ],
    [
      'uwsgi-stats:stats.sock',
      '--traffic must be uwsgi-stats:ADDR with ADDR a socket path (/…) or HOST:PORT (port 1-65535) (got "uwsgi-stats:stats.sock")',
    ],
    [
      'access-log:/var/log/app.log:apache',
      '--traffic must be access-log:FILE[:FORMAT] with FORMAT auto, uwsgi, combined or a gunicorn format (%(s)s …) (got "access-log:/var/log/app.log:apache")',
    ],
    ['access-log:', '--traffic must be access-log:FILE[:FORMAT] with a FILE (got "access-log:")'],
  ])('refuses %s in one line', (text, message) => {
    let error: unknown;
    try {
      parseTrafficSpec(text);
    } catch (e) {
      error = e;
    }
    expect(isHotpullError(error, 'CONFIG')).toBe(true);
    expect((error as Error).message).toBe(message);
  });
});

describe('watchTraffic', () => {
  it('turns a source that throws into lost readings, never a throw', async () => {
    const source = {
      name: 'broken:1',
      describe: () => 'broken',
      read: () => Promise.reject(new Error('adapter bug')),
      close: async () => undefined,
    };
    const watch = await watchTraffic(source, { everyMs: 60_000 });
    expect(await watch.stop()).toMatchObject({ requests: 0, gaps: 1, lost: 'source lost: broken:1: adapter bug' });
  });
});

describe('recordTraffic: the readings a deploy and its baseline are taken from', () => {
  /** a source whose counter the test sets; a reading at each tick of a clock the test moves */
  function scripted() {
    const state = { now: 0, requests: 0, closed: false, fail: false };
    const source: TrafficSource = {
      name: 'scripted',
      describe: () => 'scripted',
      read: async () => {
        if (state.fail) throw new Error('gone');
        return { at: state.now, units: [{ key: 'w1', requests: state.requests, errors: 0 }] };
      },
      close: async () => void (state.closed = true),
    };
    return { state, source };
  }

  it('windows since a mark and between two times; readings older than keepMs go', async () => {
    const { state, source } = scripted();
    const recorder = recordTraffic(source, { everyMs: 3_600_000, keepMs: 10_000, now: () => state.now });
    Object.assign(state, { now: 1000, requests: 10 });
    const first = await recorder.mark();
    Object.assign(state, { now: 5000, requests: 40 });
    const reload = await recorder.mark();
    Object.assign(state, { now: 8000, requests: 100 });
    expect(await recorder.since(reload)).toMatchObject({ requests: 60, durationMs: 3000 });
    expect(recorder.between(first, reload)).toMatchObject({ requests: 30, durationMs: 4000 });
    Object.assign(state, { now: 20_000, requests: 150 });
    await recorder.mark();
    // the readings at 1000 and 5000 are older than 10 s now: the baseline they made is gone
    expect(recorder.between(first, reload).lost).toBe('source lost: fewer than two readings');
    await recorder.close();
  });

  it('a source that throws is a lost window, never a throw; after close() windows say closed', async () => {
    const { state, source } = scripted();
    const recorder = recordTraffic(source, { everyMs: 3_600_000, now: () => state.now });
    const mark = await recorder.mark();
    state.fail = true;
    state.now = 100;
    expect((await recorder.since(mark)).lost).toBe('source lost: scripted: gone');
    state.fail = false;
    await recorder.close();
    expect(state.closed).toBe(true);
    expect((await recorder.since(mark)).lost).toBe('source lost: scripted: closed');
  });
});
