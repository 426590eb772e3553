/**
 * The access-log traffic source: a real gunicorn writing its access log with a %(D)s time under load, and real
 * files rotated, truncated, torn and bloated under a follower (uWSGI's own request lines: test/traffic-uwsgi.test.ts).
 */
import { appendFile, mkdir, mkdtemp, open, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it as test } from 'vitest';
import { gunicornMissing, startGunicorn, type GunicornServer } from './helpers/gunicorn.js';
import { itNeeds } from './helpers/requires.js';
import { startLoad, TRAFFIC_APP, until } from './helpers/traffic-app.js';
import { AccessLogSource, MAX_READ_BYTES } from '../src/traffic/access-log.js';
import { watchTraffic } from '../src/traffic/source.js';
import { windowOf, type Reading } from '../src/traffic/window.js';
import { isHotpullError } from '../src/errors.js';

const HUGE_LINE = 128 * 2 ** 20;
const GUNICORN_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s';
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hotpull-test-traffic-log-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const combinedLine = (status: number, micros: number) =>
  `127.0.0.1 - - [07/Dec/2026:19:27:11 +0000] "GET /x HTTP/1.1" ${status} 2 "-" "curl/7.88.1" ${micros}\n`;

describe('access-log on a real gunicorn', () => {
  const it = itNeeds('gunicorn');
  let server: GunicornServer | undefined;
  let logFile: string;

  beforeAll(async () => {
    if (gunicornMissing()) return;
    const dir = join(root, 'gunicorn');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    await writeFile(join(dir, 'app.py'), TRAFFIC_APP);
    logFile = join(dir, 'access.log');
    server = await startGunicorn({
      dir,
      pidfile: join(dir, 'gunicorn.pid'),
      extraArgs: ['--access-logfile', logFile, '--access-logformat', GUNICORN_FORMAT],
    });
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('counts requests, 5xx and a p99 from a %(D)s log, recognized on its own and named by its format', async () => {
    const auto = new AccessLogSource(logFile);
    const named = new AccessLogSource(logFile, GUNICORN_FORMAT);
    // the start-up probe's /health line is there already: the format is recognized from it
    expect(await auto.open()).toBe(
      `access log ${logFile}: combined log format with a trailing request time: status and time`,
    );
    expect(await named.open()).toBe(
      `access log ${logFile}: gunicorn access_log_format ${JSON.stringify(GUNICORN_FORMAT)}: status and time (%(D)s)`,
    );
    const watches = [await watchTraffic(auto, { everyMs: 100 }), await watchTraffic(named, { everyMs: 100 })];
    // every 10th request answers 500, every 10th sleeps 120 ms
    const load = startLoad(server!.url, 3, (i) => (i % 10 === 3 ? '/fail' : i % 10 === 7 ? '/slow?ms=120' : '/'));
    await until('load', () => load.sent() >= 200);
    const count = await load.stop();
    expect(count.byStatus.get(500)).toBeGreaterThan(0);
    for (const watch of watches) {
      await expect.poll(async () => (await watch.window()).requests, { timeout: 3000 }).toBe(count.total);
      const window = await watch.stop();
      expect(window).toMatchObject({ requests: count.total, errors: count.byStatus.get(500), garbage: 0 });
      expect(window.latency?.measure).toBe('p99');
      expect(window.latency?.ms).toBeGreaterThanOrEqual(120);
      expect(window.latency?.ms).toBeLessThan(120 * 2); // a bucket above, with room for a loaded machine
      expect(window.queuePeak).toBeUndefined();
    }
    await auto.close();
    await named.close();
  }, 60_000);
});

describe('access-log on files torn under it', () => {
  async function followed(name: string, first = '') {
    const file = join(root, name);
    await writeFile(file, first);
    const source = new AccessLogSource(file, 'combined');
    await source.open();
    const readings: Reading[] = [await source.read()];
    return { file, source, read: async () => readings.push(await source.read()), window: () => windowOf(readings) };
  }

  test('follows from the end, across a rotation by rename (the old file read while it grows) and a truncation in place', async () => {
    const log = await followed('rotate.log', combinedLine(500, 1000).repeat(5)); // before the start: not counted
    await appendFile(log.file, combinedLine(200, 1000).repeat(3));
    await log.read();
    await appendFile(log.file, combinedLine(500, 1000));
    // logrotate's default: renamed, a new file made; the old one's last line was written before the next read
    await rename(log.file, `${log.file}.1`);
    await writeFile(log.file, combinedLine(200, 1000).repeat(2));
    await log.read();
    // the app writes on into the renamed file until it reopens its log: still read
    await appendFile(`${log.file}.1`, combinedLine(504, 1000));
    await appendFile(log.file, combinedLine(200, 1000));
    await log.read();
    // copytruncate: emptied in place, then written again
    await truncate(log.file, 0);
    await appendFile(log.file, combinedLine(502, 1000).repeat(2));
    await log.read();
    expect(log.window()).toMatchObject({ requests: 3 + 1 + 2 + 1 + 1 + 2, errors: 1 + 1 + 2, garbage: 0 });
    // the renamed file is let go after 5 readings found nothing new in it
    for (let i = 0; i < 5; i++) await log.read();
    await appendFile(`${log.file}.1`, combinedLine(200, 1000));
    await log.read();
    expect(log.window()).toMatchObject({ requests: 10 });
    await log.source.close();
  });

  test('a log not there at start is read from its start once it appears; a rename with no new file yet loses nothing', async () => {
    const file = join(root, 'later.log');
    const source = new AccessLogSource(file, 'combined');
    expect(await source.open()).toBe(
      `access log ${file}: combined log format with a trailing request time: status and time`,
    );
    const readings: Reading[] = [await source.read()];
    await writeFile(file, combinedLine(200, 1000).repeat(2));
    readings.push(await source.read());
    await appendFile(file, combinedLine(503, 1000));
    await rename(file, `${file}.1`); // the new file comes later
    readings.push(await source.read());
    await writeFile(file, combinedLine(200, 1000));
    readings.push(await source.read());
    expect(windowOf(readings)).toMatchObject({ requests: 4, errors: 1, garbage: 0, gaps: 0 });
    await source.close();
  });

  test('a garbage line is counted and skipped, a line cut by a truncation too', async () => {
    const log = await followed('garbage.log');
    await appendFile(log.file, `${combinedLine(200, 1000)}\u0000\u0001 not a log line\n${combinedLine(200, 1000)}`);
    await appendFile(log.file, '127.0.0.1 - - [07/Dec/2026'); // half a line, then the file is emptied
    await log.read();
    await truncate(log.file, 0);
    await appendFile(log.file, combinedLine(200, 1000));
    await log.read();
    expect(log.window()).toMatchObject({ requests: 3, errors: 0, garbage: 2 });
    await log.source.close();
  });

  // 128 MB, not the 1 GB: the cost is the reading (a sparse GB read in 5.7 s with dd here); what is bounded
  // (16 MB a read, one 1 MB buffer) does not depend on the size. Measured once with 1 GB: 65 reads, the slowest
  // 457 ms, RSS + 8.7 MB, one garbage line, the line after it counted.
  test('a 128 MB line is read in bounded slices, never held, and counted as one garbage line', async () => {
    const log = await followed('huge.log', combinedLine(200, 1000));
    // sparse NUL bytes without a newline: a real file, no disk written
    const handle = await open(log.file, 'r+');
    const size = (await handle.stat()).size;
    await handle.truncate(size + HUGE_LINE);
    await handle.close();
    await appendFile(log.file, `\n${combinedLine(500, 1000)}`);
    const rssBefore = process.memoryUsage().rss;
    let reads = 0;
    let slowest = 0;
    while (log.window().requests < 1) {
      const started = performance.now();
      await log.read();
      slowest = Math.max(slowest, performance.now() - started);
      reads++;
      expect(reads).toBeLessThan(100);
    }
    expect(reads).toBeGreaterThanOrEqual(HUGE_LINE / MAX_READ_BYTES);
    expect(slowest).toBeLessThan(2000);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(HUGE_LINE / 4);
    expect(log.window()).toMatchObject({ requests: 1, errors: 1, garbage: 1 });
    await log.source.close();
  }, 60_000);

  test('an empty log is recognized from its first request lines, past uWSGI start-up messages', async () => {
    const file = join(root, 'uwsgi-empty.log');
    await writeFile(file, '');
    const source = new AccessLogSource(file);
    expect(await source.open()).toBe(`access log ${file}: no lines yet, the format is recognized from the first ones`);
    const readings: Reading[] = [await source.read()];
    await appendFile(
      file,
      [
        'spawned uWSGI worker 1 (pid: 28063, cores: 1)',
        '[pid: 28064|app: 0|req: 4/6] 127.0.0.1 () {24 vars in 254 bytes} [Mon Dec  7 19:20:32 2026] GET /boom => generated 0 bytes in 7 msecs (HTTP/1.1 500) 0 headers in 0 bytes (0 switches on core 0)',
        '',
      ].join('\n'),
    );
    readings.push(await source.read());
    expect(source.describe()).toMatch(/uWSGI request lines/);
    expect(windowOf(readings)).toMatchObject({ requests: 1, errors: 1, garbage: 0, latency: { measure: 'p99' } });
    await source.close();
  });

  test.each([
    [
      'a log no format reads',
      'auto',
      'hello world\nthis is not an access log\n',
      /^--traffic access-log:\S+: no known format in its last 2 lines \(uwsgi, combined, or give a gunicorn format\), the first: "hello world"$/,
    ],
    [
      'an unknown format name',
      'apache',
      '',
      /^--traffic access-log:\S+:apache: unknown format "apache" \(auto, uwsgi, combined, or a gunicorn format with %\(s\)s\)$/,
    ],
    [
      'a gunicorn format without a status',
      '%(h)s %(D)s',
      '',
      /^--traffic access-log:\S+:%\(h\)s %\(D\)s: the gunicorn format has no %\(s\)s \(status\) atom$/,
    ],
  ])('refuses %s in one line, as a configuration error', async (_title, format, content, message) => {
    const file = join(root, `refused-${format.length}.log`);
    await writeFile(file, content);
    const source = new AccessLogSource(file, format);
    const error = await source.open().catch((e: unknown) => e);
    expect(isHotpullError(error, 'CONFIG')).toBe(true);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });
});
