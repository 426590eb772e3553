import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { StatsAddress } from './spec.js';
import type { TrafficSource } from './source.js';
import type { Reading, Sample, UnitCounters } from './window.js';

/**
 * The uWSGI stats server adapter (`--stats ADDR`, TCP or a unix socket): uWSGI writes one JSON document on each
 * connection and closes it. Read with one connection at a time, bounded in time and bytes (a stats document with
 * many workers and cores runs to a few hundred KB; a peer that never stops writing is cut off at `maxBytes`).
 *
 * What a sample takes from it (uWSGI 2.0.21): per worker `requests`, `exceptions` + `harakiri_count` (the requests
 * that failed: an exception before the response is logged as a 500 with no answer at all), `running_time` (µs spent
 * in requests, cumulative: its difference over the requests' is the window's mean response time) and `avg_rt` (µs,
 * the worker's recent average: the slowest one is the window's max). The top-level `listen_queue` and
 * `listen_queue_errors` are the master's reading of the sockets' backlog (about once a second).
 */

export interface StatsReadOptions {
  /** give up on a connection after this long (default 2 s) */
  timeoutMs?: number;
  /** refuse a document larger than this (default 4 MB) */
  maxBytes?: number;
}

export const STATS_TIMEOUT_MS = 2000;
export const STATS_MAX_BYTES = 4 * 1024 * 1024;

export function describeAddress(address: StatsAddress): string {
  return 'path' in address ? address.path : `${address.host}:${address.port}`;
}

/** One stats document as text. Rejects on a connection error, a timeout, or a document over the cap. */
export function readStatsDocument(address: StatsAddress, options: StatsReadOptions = {}): Promise<string> {
  const timeoutMs = options.timeoutMs ?? STATS_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? STATS_MAX_BYTES;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const socket = 'path' in address ? net.connect(address.path) : net.connect(address.port, address.host);
    const timer = setTimeout(() => socket.destroy(new Error(`no complete answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) socket.destroy(new Error(`answer larger than ${maxBytes} bytes`));
      else chunks.push(chunk);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

const num = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;

/** A stats document as a Sample taken at `at`; a reason when it is not uWSGI's stats. Pure. */
export function sampleOfStats(text: string, at: number): Sample | { unreadable: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { unreadable: `not JSON (${text.length} bytes)` };
  }
  const workers = (doc as { workers?: unknown } | null)?.workers;
  if (!Array.isArray(workers)) return { unreadable: 'JSON without a workers list: not uWSGI stats' };
  const units: UnitCounters[] = [];
  let slowestUs: number | undefined;
  for (const worker of workers as Record<string, unknown>[]) {
    const requests = num(worker?.requests);
    if (requests === undefined) return { unreadable: 'a worker without a requests count: not uWSGI stats' };
    const unit: UnitCounters = {
      key: `worker ${String(worker.id)}`,
      requests,
      errors: (num(worker.exceptions) ?? 0) + (num(worker.harakiri_count) ?? 0),
    };
    const pid = num(worker.pid);
    if (pid !== undefined) unit.pid = pid;
    const busy = num(worker.running_time);
    if (busy !== undefined) unit.busyUs = busy;
    units.push(unit);
    const avg = num(worker.avg_rt);
    if (avg !== undefined && requests > 0) slowestUs = Math.max(slowestUs ?? 0, avg);
  }
  const top = doc as Record<string, unknown>;
  const sample: Sample = { at, units };
  const sockets = Array.isArray(top.sockets) ? (top.sockets as Record<string, unknown>[]) : [];
  const socketQueues = sockets.map((s) => num(s?.queue)).filter((q): q is number => q !== undefined);
  const queue = num(top.listen_queue) ?? (socketQueues.length > 0 ? Math.max(...socketQueues) : undefined);
  if (queue !== undefined) sample.queue = Math.max(queue, ...socketQueues);
  const overflows = num(top.listen_queue_errors);
  // one unit, keyed by the master's pid: a re-exec (a full reload) starts the count again
  if (overflows !== undefined)
    sample.queueErrors = [{ key: 'listen queue', pid: num(top.pid), requests: overflows, errors: 0 }];
  if (slowestUs !== undefined) sample.slowestAvgMs = slowestUs / 1000;
  return sample;
}

export interface UwsgiStatsSourceOptions extends StatsReadOptions {
  /** monotonic ms (default performance.now) */
  now?: () => number;
}

/** `--traffic uwsgi-stats:ADDR`. read() never throws: a stats server that is gone is a LostSample. */
export class UwsgiStatsSource implements TrafficSource {
  readonly name: string;
  private readonly now: () => number;

  constructor(
    readonly address: StatsAddress,
    private readonly options: UwsgiStatsSourceOptions = {},
  ) {
    this.name = `uwsgi-stats:${describeAddress(address)}`;
    this.now = options.now ?? (() => performance.now());
  }

  describe(): string {
    return `uWSGI stats server at ${describeAddress(this.address)}: requests, exceptions, mean and slowest response time, listen queue`;
  }

  async read(): Promise<Reading> {
    let text: string;
    try {
      text = await readStatsDocument(this.address, this.options);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const message = error instanceof Error ? error.message : String(error);
      return { at: this.now(), lost: `${this.name}: ${code && !message.includes(code) ? `${code} ` : ''}${message}` };
    }
    const at = this.now();
    const sample = sampleOfStats(text, at);
    return 'unreadable' in sample ? { at, lost: `${this.name}: ${sample.unreadable}` } : sample;
  }

  async close(): Promise<void> {}
}
