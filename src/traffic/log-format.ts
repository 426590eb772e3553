/**
 * Access-log line formats: what one line says about one request (its status, and its time when the format has it),
 * and which format a file is written in. Pure; access-log.ts follows the file.
 *
 * - `uwsgi`: uWSGI's default request line, `… GET / => generated 2 bytes in 3 msecs (HTTP/1.1 500) …` (`micros`
 *   with --log-micros). uWSGI writes its other messages (tracebacks, respawns) to the same log: lines without
 *   `=> generated` are not requests and not garbage.
 * - `combined`: the combined log format (Apache, nginx, gunicorn's default), with or without one trailing request
 *   time: a decimal is seconds (nginx's $request_time, gunicorn's %(L)s), an integer microseconds (Apache's %D,
 *   gunicorn's %(D)s).
 * - a gunicorn `--access-logformat` string (anything with `%(`): its documented atoms `%(s)s` (status) and `%(D)s`
 *   (microseconds), `%(L)s` (decimal seconds), `%(T)s` (whole seconds), `%(M)s` (milliseconds) are read; other
 *   atoms match anything.
 */

export interface RequestLine {
  status: number;
  /** the request's time in ms, when the format has it */
  ms?: number;
}

/** What a line is: a request, a line of the log that is no request (uWSGI's own messages), or unreadable. */
export type LineReading = RequestLine | 'other' | 'garbage';

export interface LogFormat {
  /** how the user names it: 'uwsgi', 'combined', or the gunicorn format string */
  name: string;
  /** one line for the log: what was recognized and what it gives */
  describe: string;
  /** whether its lines carry the request's time */
  timed: boolean;
  read(line: string): LineReading;
}

/** lines only uWSGI writes: its start-up banner, a spawned master or worker */
const UWSGI_MESSAGE = /^\*\*\* Starting uWSGI \d|^spawned uWSGI (master|worker) /;

const UWSGI = / => generated \d+ bytes in (\d+) (msecs|micros) \(\S+ (\d{3})\)/;

export const uwsgiFormat: LogFormat = {
  name: 'uwsgi',
  describe: "uWSGI request lines ('=> generated … in N msecs (HTTP/1.1 STATUS)'): status and time",
  timed: true,
  read(line) {
    const match = UWSGI.exec(line);
    if (!match) return line.includes('=> generated ') ? 'garbage' : 'other';
    const n = Number(match[1]);
    return { status: Number(match[3]), ms: match[2] === 'micros' ? n / 1000 : n };
  },
};

// host ident user [time] "request" status bytes "referer" "agent" [time]
const COMBINED =
  /^\S+ \S+ \S+ \[[^\]]+\] "(?:[^"\\]|\\.)*" (\d{3}) (?:\d+|-) "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*"(?: (\d+(?:\.\d+)?))?\s*$/;

/** A trailing time: a decimal is seconds, an integer microseconds (see the header). */
function trailingMs(text: string): number {
  return text.includes('.') ? Number(text) * 1000 : Number(text) / 1000;
}

function combined(timed: boolean): LogFormat {
  return {
    name: 'combined',
    describe: timed
      ? 'combined log format with a trailing request time: status and time'
      : 'combined log format without a request time: status only, no latency',
    timed,
    read(line) {
      const match = COMBINED.exec(line);
      if (!match) return 'garbage';
      return match[2] === undefined
        ? { status: Number(match[1]) }
        : { status: Number(match[1]), ms: trailingMs(match[2]) };
    },
  };
}

export const combinedFormat = combined(true);

/** gunicorn's time atoms and what their value is worth in ms */
const TIME_ATOMS: Record<string, (text: string) => number> = {
  D: (t) => Number(t) / 1000,
  L: (t) => Number(t) * 1000,
  T: (t) => Number(t) * 1000,
  M: (t) => Number(t),
};

const ATOM = /%\((\{[^}]*\}[a-z]|[a-zA-Z])\)s/g;

/**
 * A gunicorn access_log_format string as a LogFormat; a message when it cannot give a status. Each atom matches only
 * what cannot run into what follows it, so a hostile line is read in linear time (a lazy `.*?` per atom took 74 s
 * for 500 spaces): a status is three digits, a time a number, `%(t)s` a bracketed date, an atom in quotes anything
 * but an unescaped quote, the last atom the rest of the line, any other atom a run of non-spaces. Two atoms side by
 * side are refused: nothing tells where one ends.
 */
export function gunicornFormat(format: string): LogFormat | string {
  let source = '^';
  let at = 0;
  let statusGroup = 0;
  let timeGroup = 0;
  let timeAtom = '';
  let group = 0;
  for (const match of format.matchAll(ATOM)) {
    if (group > 0 && match.index === at)
      return `the gunicorn format has atoms side by side: ${format.slice(at - previousAtomLength(format, at), at + match[0].length)}`;
    source += escape(format.slice(at, match.index));
    const quoted = format[match.index - 1] === '"' && format[match.index + match[0].length] === '"';
    at = match.index + match[0].length;
    const atom = match[1]!;
    group++;
    if (atom === 's' && statusGroup === 0) {
      statusGroup = group;
      source += '(\\d{3})';
    } else if (atom in TIME_ATOMS && timeGroup === 0) {
      timeGroup = group;
      timeAtom = atom;
      source += '(\\d+(?:\\.\\d+)?)';
    } else if (atom === 't') source += '(\\[[^\\]]*\\])';
    else if (quoted) source += '((?:[^"\\\\]|\\\\.)*)';
    else if (format.slice(at).trim() === '')
      source += '(.*)'; // the last atom: the rest of the line
    else source += '(\\S*)';
  }
  source += `${escape(format.slice(at))}\\s*$`;
  if (statusGroup === 0) return 'the gunicorn format has no %(s)s (status) atom';
  const pattern = new RegExp(source);
  const toMs = TIME_ATOMS[timeAtom];
  return {
    name: format,
    describe: `gunicorn access_log_format ${JSON.stringify(format)}: status${toMs ? ` and time (%(${timeAtom})s)` : ' only, no latency'}`,
    timed: toMs !== undefined,
    read(line) {
      const match = pattern.exec(line);
      if (!match) return 'garbage';
      const status = Number(match[statusGroup]);
      return toMs ? { status, ms: toMs(match[timeGroup]!) } : { status };
    },
  };
}

/** the length of the atom that ends at `end` */
function previousAtomLength(format: string, end: number): number {
  const before = format.slice(0, end);
  const last = [...before.matchAll(ATOM)].at(-1);
  return last && last.index + last[0].length === end ? last[0].length : 0;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The format names FORMAT may be, besides a gunicorn format string. */
export const FORMAT_NAMES = ['auto', 'uwsgi', 'combined'] as const;

/** The LogFormat a user named (undefined: auto), or why it cannot be read. */
export function namedFormat(name: string): LogFormat | undefined | { refused: string } {
  if (name === '' || name === 'auto') return undefined;
  if (name === 'uwsgi') return uwsgiFormat;
  if (name === 'combined') return combinedFormat;
  if (name.includes('%(')) {
    const format = gunicornFormat(name);
    return typeof format === 'string' ? { refused: format } : format;
  }
  return { refused: `unknown format ${JSON.stringify(name)} (auto, uwsgi, combined, or a gunicorn format with %(s)s)` };
}

/**
 * Which format `lines` (the end of a log) are written in: the first of uwsgi, combined with a time, combined
 * without one that reads most of them (uWSGI: at least one request line or start-up message; the others: more than
 * half the lines).
 * Undefined when there are no lines yet to tell; a refusal, with the first line, when nothing reads them.
 */
export function detectFormat(lines: readonly string[]): LogFormat | undefined | { refused: string } {
  const text = lines.filter((l) => l.trim() !== '');
  if (text.length === 0) return undefined;
  const requests = (format: LogFormat) => text.filter((l) => typeof format.read(l) === 'object').length;
  // uWSGI's own log before its first request: its start-up messages say whose log it is
  if (requests(uwsgiFormat) > 0 || text.some((l) => UWSGI_MESSAGE.test(l))) return uwsgiFormat;
  const read = text.map((l) => combinedFormat.read(l)).filter((r): r is RequestLine => typeof r === 'object');
  if (read.length * 2 > text.length) {
    const timed = read.filter((r) => r.ms !== undefined).length * 2 > read.length;
    return timed ? combinedFormat : combined(false);
  }
  const first = text[0]!;
  return {
    refused: `no known format in its last ${text.length} lines (uwsgi, combined, or give a gunicorn format), the first: ${JSON.stringify(first.length > 120 ? `${first.slice(0, 120)}…` : first)}`,
  };
}
