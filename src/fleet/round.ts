import { formatDuration } from '../duration.js';
import { askPeers, type AskOptions } from './ask.js';
import { discover, type DiscoverInput, type DiscoverWith } from './discover.js';
import { fleetView, formatFleet, jsonView, rowCells, summaryLines, type FleetView } from './view.js';

/** One round: find the peers, ask them all, judge. */
export async function fleetRound(
  input: DiscoverInput & Pick<AskOptions, 'secret' | 'connections' | 'signal'> & { driftAfterMs?: number },
  using: DiscoverWith = {},
  clock: () => number = Date.now,
): Promise<FleetView> {
  const found = await discover(input, using);
  const answers = await askPeers(found.peers, { ...input, clock });
  return fleetView(answers, found, { now: clock(), driftAfterMs: input.driftAfterMs });
}

export interface WatchOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** What the screen shows of a round: the table (TTY), one JSON line (--json), or the rows that changed (lines). */
export interface Printer {
  print(view: FleetView): void;
}

const CLEAR = '\u001b[H\u001b[2J';

/**
 * --watch's output. On a terminal the table is drawn again in place; as --json one object a line; otherwise (a pipe,
 * a log) a line for each row that changed since the round before and for a summary that changed, each with its time.
 * A row's age column changes every round, so what counts as a change leaves it out.
 */
export function watchPrinter(out: WatchOutput, json: boolean, intervalMs: number): Printer {
  if (json) return { print: (view) => void out.write(`${JSON.stringify(jsonView(view))}\n`) };
  if (out.isTTY)
    return {
      print: (view) =>
        void out.write(
          `${CLEAR}${formatFleet(view, Date.parse(view.at))}\n${view.at}: asked every ${formatDuration(intervalMs)}; Ctrl-C to stop\n`,
        ),
    };
  const shown = new Map<string, string>();
  let summary = '';
  return {
    print(view) {
      const now = Date.parse(view.at);
      const lines: string[] = [];
      const names = new Set(view.rows.map((r) => r.name));
      for (const row of view.rows) {
        const cells = rowCells(row, now);
        const key = [...cells.slice(0, 4), ...cells.slice(5)].join('\u0000');
        if (shown.get(row.name) === key) continue;
        shown.set(row.name, key);
        lines.push(cells.filter((c, i) => i > 0 && !(i === 4 && c === '-')).join('  '));
      }
      for (const name of [...shown.keys()])
        if (!names.has(name)) {
          shown.delete(name);
          lines.push(`${name}  gone`);
        }
      const next = summaryLines(view)
        .map((l) => l.replace(/ for [\d.]+(ms|s|m|h) /, ' '))
        .join('; ');
      if (next !== summary) lines.push((summary = next));
      for (const line of lines) out.write(`${view.at}  ${line}\n`);
    },
  };
}

/**
 * After a first round shown by the caller: a round every `intervalMs` until `signal` aborts; the last round's exit
 * code. A round that throws is said and tried again at the next tick.
 */
export async function watchFleet(
  round: () => Promise<FleetView>,
  printer: Printer,
  options: { first: FleetView; intervalMs: number; signal: AbortSignal; onError: (error: unknown) => void },
): Promise<number> {
  let code: number = options.first.exitCode;
  let started = Date.parse(options.first.at);
  for (;;) {
    await new Promise<void>((resolve) => {
      // the stop listener goes with its round: one added a round and never removed piled up (a leak, and Node's
      // MaxListenersExceededWarning after 10 rounds)
      const done = () => {
        clearTimeout(timer);
        options.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, options.intervalMs - (Date.now() - started)));
      options.signal.addEventListener('abort', done, { once: true });
    });
    if (options.signal.aborted) return code;
    started = Date.now();
    try {
      const view = await round();
      code = view.exitCode;
      if (!options.signal.aborted) printer.print(view);
    } catch (error) {
      options.onError(error);
    }
  }
}
