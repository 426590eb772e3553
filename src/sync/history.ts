import { shortSha, SHORT_SHA_LENGTH } from '../sha.js';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  promises as fs,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import type { DeployRecord } from './status.js';
import { formatDuration } from '../duration.js';
import { formatStages } from './record.js';

/**
 * The deploys of a checkout across restarts (`hotpull log`, /status), kept with it: `<git dir>/hotpull/history.jsonl`,
 * one JSON object a line, newest last. Each record is appended and fsynced (synchronously, see append), so a crash loses at most the line being
 * written; a torn last line (kill -9, power loss) is skipped when read, and the next append starts a fresh line.
 * Bounded: when the file holds 2 × HISTORY_KEEP lines, it is rewritten (temp file, fsync, rename) with the newest
 * HISTORY_KEEP.
 */
export const HISTORY_KEEP = 200;
export const HISTORY_FILE = 'history.jsonl';

export type HistoryEntry = DeployRecord & { at: string };

const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** The entries of a history file's text, oldest first; lines that are not a whole entry are skipped. */
export function parseHistory(text: string): { entries: HistoryEntry[]; skipped: number } {
  const entries: HistoryEntry[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const entry = parseEntry(line);
    if (entry) entries.push(entry);
    else skipped += 1;
  }
  return { entries, skipped };
}

function parseEntry(line: string): HistoryEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const e = value as Partial<HistoryEntry> | null;
  if (
    typeof e !== 'object' ||
    e === null ||
    typeof e.at !== 'string' ||
    typeof e.trigger !== 'string' ||
    typeof e.result !== 'string'
  )
    return undefined;
  if (
    typeof e.to !== 'string' ||
    !SHA.test(e.to) ||
    typeof e.from !== 'string' ||
    typeof e.durations !== 'object' ||
    e.durations === null
  )
    return undefined;
  return e as HistoryEntry;
}

export class History {
  private lines?: number;
  /** the file does not end with a line break (a torn write): the next append starts with one */
  private torn = false;

  constructor(readonly file: string) {}

  static in(stateDir: string): History {
    return new History(path.join(stateDir, HISTORY_FILE));
  }

  /** The kept entries, newest first, at most `limit`. */
  async read(limit = HISTORY_KEEP): Promise<HistoryEntry[]> {
    const text = await fs
      .readFile(this.file, 'utf8')
      .catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? '' : Promise.reject(error)));
    return parseHistory(text).entries.reverse().slice(0, limit);
  }

  /**
   * Appends one record before returning: a deploy is rare and the line is small, and written synchronously it is on
   * disk before `hotpull sync` exits or the next record comes. Throws what the filesystem says.
   */
  append(record: DeployRecord): void {
    const entry: HistoryEntry = { ...record, at: record.at ?? new Date().toISOString() };
    mkdirSync(path.dirname(this.file), { recursive: true });
    if (this.lines === undefined) {
      const text = readOrEmpty(this.file);
      this.lines = text.split('\n').filter((l) => l.trim()).length;
      this.torn = text.length > 0 && !text.endsWith('\n');
    }
    writeDurably(this.file, 'a', `${this.torn ? '\n' : ''}${JSON.stringify(entry)}\n`);
    this.torn = false;
    this.lines += 1;
    if (this.lines >= 2 * HISTORY_KEEP) {
      const kept = parseHistory(readOrEmpty(this.file)).entries.slice(-HISTORY_KEEP);
      writeDurably(`${this.file}.tmp`, 'w', kept.map((e) => `${JSON.stringify(e)}\n`).join(''));
      renameSync(`${this.file}.tmp`, this.file);
      this.lines = kept.length;
    }
  }
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

function writeDurably(file: string, flags: 'a' | 'w', text: string): void {
  const fd = openSync(file, flags);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const short = (sha: string) => (sha ? shortSha(sha) : '(none)'.padEnd(SHORT_SHA_LENGTH));

/** `hotpull log`: one line a deploy, newest first. Pure, so it is tested word for word. */
export function formatHistory(entries: readonly HistoryEntry[]): string {
  if (entries.length === 0) return 'no deploys recorded yet\n';
  return entries
    .map((e) => {
      const d = e.durations;
      const stages = formatStages(d);
      const back = e.rolledBackTo ? ` (back to ${short(e.rolledBackTo)})` : '';
      const by = e.by ? `  by ${e.by}` : '';
      return `${e.at}  ${short(e.from)} → ${short(e.to)}  ${e.result.padEnd(11)} ${formatDuration(d.total).padStart(7)}  ${e.trigger.padEnd(7)}  ${stages}${back}${by}${e.error ? `\n    ${e.error}` : ''}${e.impact ? `\n    traffic: ${e.impact.summary}` : ''}${e.bake?.verdict === 'inconclusive' ? `\n    bake inconclusive: ${e.bake.said}` : ''}`;
    })
    .join('\n')
    .concat('\n');
}
