import { open, stat, type FileHandle } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { configError } from '../errors.js';
import { detectFormat, namedFormat, type LogFormat } from './log-format.js';
import type { TrafficSource } from './source.js';
import { bucketOf, LATENCY_BUCKETS_MS, type Reading, type Sample } from './window.js';

/**
 * `--traffic access-log:FILE[:FORMAT]`: follows an access log from its end, by polling (each read() reads what was
 * appended since the last one), and counts requests, 5xx answers and request times (log-format.ts reads a line).
 *
 * - Rotation by rename (logrotate's default, Python's RotatingFileHandler): the old file is read to its end, then
 *   the new one from its start. Truncation in place (copytruncate): the file is read again from its start.
 * - A line longer than `maxLineBytes` is never held whole: its start is dropped as it arrives and the line counts as
 *   garbage once its end comes. One read() reads at most `maxReadBytes`, the rest comes with the next: a 1 GB line
 *   costs memory of one chunk and time in slices, never a stalled pass.
 * - A line no format reads is counted as garbage and skipped.
 */

export interface AccessLogOptions {
  /** longest line read (default 64 KB) */
  maxLineBytes?: number;
  /** most bytes one read() reads (default 16 MB) */
  maxReadBytes?: number;
  /** monotonic ms (default performance.now) */
  now?: () => number;
}

export const MAX_LINE_BYTES = 64 * 1024;
export const MAX_READ_BYTES = 16 * 1024 * 1024;
/** how much of the log's end is read to recognize its format */
const DETECT_BYTES = 64 * 1024;
/** one read(2): large enough that a GB of a runaway line is a thousand of them, not sixteen thousand */
const CHUNK = 1024 * 1024;
/** lines of a log that was empty at open read before its format is refused */
const DETECT_LINES = 50;
const NEWLINE = 0x0a;

export class AccessLogSource implements TrafficSource {
  readonly name: string;
  private format: LogFormat | undefined;
  private handle: FileHandle | undefined;
  private ino = -1;
  private offset = 0;
  /** the current line's bytes so far; undefined while an over-long line is being skipped */
  private partial: Buffer[] | undefined = [];
  private partialBytes = 0;
  private requests = 0;
  private errors = 0;
  private garbage = 0;
  private readonly buckets: number[] = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  private readonly maxLineBytes: number;
  private readonly maxReadBytes: number;
  private readonly now: () => number;
  private unreadable: string | undefined;
  /** lines read before the format is known (an empty log at open) */
  private undetected: string[] = [];

  constructor(
    readonly file: string,
    private readonly formatName = 'auto',
    options: AccessLogOptions = {},
  ) {
    this.name = `access-log:${file}${formatName === 'auto' ? '' : `:${formatName}`}`;
    this.maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
    this.maxReadBytes = options.maxReadBytes ?? MAX_READ_BYTES;
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * Opens the log at its end and recognizes its format from its last lines (or takes the one named). Returns one
   * line saying what was recognized. Throws a configuration error (one line) for a format it cannot read or a file
   * it may not read; a file not there yet is followed from its start once it appears.
   */
  async open(): Promise<string> {
    const named = namedFormat(this.formatName);
    if (named && 'refused' in named) throw configError(`--traffic ${this.name}: ${named.refused}`);
    this.format = named;
    try {
      this.handle = await open(this.file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return this.describe();
      throw configError(`--traffic ${this.name}: cannot read the file (${(error as NodeJS.ErrnoException).code})`);
    }
    const info = await this.handle.stat();
    this.ino = info.ino;
    this.offset = info.size;
    if (!this.format) {
      const start = Math.max(0, info.size - DETECT_BYTES);
      const buffer = Buffer.alloc(info.size - start);
      await this.handle.read(buffer, 0, buffer.length, start);
      const lines = buffer.toString('utf8').split('\n');
      if (start > 0) lines.shift(); // cut in the middle
      const found = detectFormat(lines);
      if (found && 'refused' in found) {
        await this.close();
        throw configError(`--traffic ${this.name}: ${found.refused}`);
      }
      this.format = found;
    }
    return this.describe();
  }

  describe(): string {
    return this.format
      ? `access log ${this.file}: ${this.format.describe}`
      : `access log ${this.file}: no lines yet, the format is recognized from the first ones`;
  }

  async read(): Promise<Reading> {
    try {
      await this.follow();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return {
        at: this.now(),
        lost: `${this.name}: ${code ?? (error instanceof Error ? error.message : String(error))}`,
      };
    }
    if (this.unreadable) return { at: this.now(), lost: `${this.name}: ${this.unreadable}` };
    const sample: Sample = {
      at: this.now(),
      units: [{ key: 'log', requests: this.requests, errors: this.errors }],
      garbage: this.garbage,
    };
    if (this.format?.timed !== false) sample.latencyBuckets = [...this.buckets];
    return sample;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => undefined);
  }

  /** Reads what was appended (at most maxReadBytes), across a rotation or a truncation. */
  private async follow(): Promise<void> {
    let budget = this.maxReadBytes;
    let current: { ino: number; size: number } | undefined;
    try {
      const info = await stat(this.file);
      current = { ino: info.ino, size: info.size };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // renamed away and not made again yet: what was written to the old file is still read below
    }
    if (this.handle && current && current.ino === this.ino && current.size < this.offset) this.restart();
    if (this.handle) budget = await this.drain(budget);
    if (budget > 0 && current && current.ino !== this.ino) {
      // a new file under the name: the old one was read to its end above (or its rest waits for the next read)
      await this.close();
      this.handle = await open(this.file, 'r');
      this.ino = (await this.handle.stat()).ino;
      this.restart();
      await this.drain(budget);
    }
  }

  /** Start again from a file's beginning: a truncated log, a new file after a rotation. */
  private restart(): void {
    this.offset = 0;
    if (this.partialBytes > 0 || this.partial === undefined) this.garbage++; // a line cut off by the truncation
    this.partial = [];
    this.partialBytes = 0;
  }

  private async drain(budget: number): Promise<number> {
    const buffer = Buffer.alloc(CHUNK);
    while (budget > 0 && this.handle) {
      const { bytesRead } = await this.handle.read(buffer, 0, Math.min(CHUNK, budget), this.offset);
      if (bytesRead === 0) break;
      this.offset += bytesRead;
      budget -= bytesRead;
      this.consume(buffer.subarray(0, bytesRead));
    }
    return budget;
  }

  private consume(chunk: Buffer): void {
    let from = 0;
    for (;;) {
      const end = chunk.indexOf(NEWLINE, from);
      const piece = chunk.subarray(from, end < 0 ? chunk.length : end);
      if (this.partial) {
        if (this.partialBytes + piece.length > this.maxLineBytes) {
          this.partial = undefined; // too long: skipped to its end, never held
          this.partialBytes = 0;
        } else if (piece.length > 0) {
          this.partial.push(Buffer.from(piece));
          this.partialBytes += piece.length;
        }
      }
      if (end < 0) return;
      if (this.partial) this.line(Buffer.concat(this.partial).toString('utf8'));
      else this.garbage++;
      this.partial = [];
      this.partialBytes = 0;
      from = end + 1;
    }
  }

  private line(text: string): void {
    if (text.trim() === '') return;
    if (!this.format) {
      // the first lines of a log that was empty: uWSGI's start-up messages come before any request line
      this.undetected.push(text);
      const found = detectFormat(this.undetected);
      if (found === undefined || ('refused' in found && this.undetected.length < DETECT_LINES)) return;
      const lines = this.undetected;
      this.undetected = [];
      if ('refused' in found) {
        this.garbage += lines.length;
        this.unreadable = found.refused;
        return;
      }
      this.format = found;
      this.unreadable = undefined;
      for (const held of lines) this.count(held);
      return;
    }
    this.count(text);
  }

  private count(text: string): void {
    const format = this.format!;
    const reading = format.read(text);
    if (reading === 'other') return;
    if (reading === 'garbage') {
      this.garbage++;
      return;
    }
    this.requests++;
    if (reading.status >= 500) this.errors++;
    if (reading.ms !== undefined) this.buckets[bucketOf(reading.ms)]!++;
  }
}
