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
 * - Rotation by rename (logrotate's default, Python's RotatingFileHandler): the new file is read from its start,
 *   and the old one stays open and is read too while it still grows (an app writes on into the renamed file until
 *   it reopens its log): it is let go after IDLE_READS readings found nothing new in it. Truncation in place
 *   (copytruncate): the file is read again from its start.
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
/** readings that find nothing new in a rotated-away file before it is let go */
const IDLE_READS = 5;

export class AccessLogSource implements TrafficSource {
  readonly name: string;
  private format: LogFormat | undefined;
  /** the file under the name */
  private tail: Tail | undefined;
  /** the file it was before a rotation, read while it still grows */
  private rotated: Tail | undefined;
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
    let handle: FileHandle;
    try {
      handle = await open(this.file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return this.describe();
      throw configError(`--traffic ${this.name}: cannot read the file (${(error as NodeJS.ErrnoException).code})`);
    }
    const info = await handle.stat();
    this.tail = new Tail(handle, info.ino, info.size, this.maxLineBytes);
    if (!this.format) {
      const start = Math.max(0, info.size - DETECT_BYTES);
      const buffer = Buffer.alloc(info.size - start);
      await handle.read(buffer, 0, buffer.length, start);
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
    const tails = [this.tail, this.rotated];
    this.tail = this.rotated = undefined;
    for (const tail of tails) await tail?.close();
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
      // renamed away and not made again yet: the open file is still read below
    }
    const sink = this.sink;
    if (this.rotated) {
      const before = budget;
      budget = await this.rotated.drain(budget, sink);
      if (budget < before) this.rotated.idle = 0;
      else if (++this.rotated.idle >= IDLE_READS) {
        await this.rotated.close();
        this.rotated = undefined;
      }
    }
    if (this.tail && current?.ino === this.tail.ino && current.size < this.tail.offset) this.tail.restart(sink);
    if (this.tail) budget = await this.tail.drain(budget, sink);
    if (budget > 0 && current && current.ino !== this.tail?.ino) {
      // a new file under the name; the one before it (read to its end above, or its rest waits) may still grow
      const handle = await open(this.file, 'r');
      const ino = (await handle.stat()).ino;
      if (this.tail) {
        await this.rotated?.close();
        this.rotated = this.tail;
      }
      this.tail = new Tail(handle, ino, 0, this.maxLineBytes);
      await this.tail.drain(budget, sink);
    }
  }

  /** where a Tail's lines and unreadable lines go */
  private readonly sink: Sink = {
    line: (text) => this.line(text),
    garbage: () => this.garbage++,
  };

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

interface Sink {
  line(text: string): void;
  garbage(): void;
}

/** One open file of the log, read from `offset` on, and the line it is in the middle of. */
class Tail {
  /** the current line's bytes so far; undefined while an over-long line is being skipped */
  private partial: Buffer[] | undefined = [];
  private partialBytes = 0;
  /** readings in a row that found nothing new (for a rotated-away file) */
  idle = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly ino: number,
    public offset: number,
    private readonly maxLineBytes: number,
  ) {}

  /** Start again from the file's beginning (it was truncated): a line it was in the middle of is garbage. */
  restart(sink: Sink): void {
    this.offset = 0;
    if (this.partialBytes > 0 || this.partial === undefined) sink.garbage();
    this.partial = [];
    this.partialBytes = 0;
  }

  /** Reads to the end of the file or of `budget` bytes; returns the budget left. */
  async drain(budget: number, sink: Sink): Promise<number> {
    const buffer = Buffer.alloc(Math.min(CHUNK, budget));
    while (budget > 0) {
      const { bytesRead } = await this.handle.read(buffer, 0, Math.min(buffer.length, budget), this.offset);
      if (bytesRead === 0) break;
      this.offset += bytesRead;
      budget -= bytesRead;
      this.consume(buffer.subarray(0, bytesRead), sink);
    }
    return budget;
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }

  private consume(chunk: Buffer, sink: Sink): void {
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
      if (this.partial) sink.line(Buffer.concat(this.partial).toString('utf8'));
      else sink.garbage();
      this.partial = [];
      this.partialBytes = 0;
      from = end + 1;
    }
  }
}
