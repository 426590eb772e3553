import { pino, type Logger, type DestinationStream } from 'pino';
import { redact } from './redact.js';

export type { Logger };

export interface LogOptions {
  level: string;
  format: 'json' | 'pretty';
  /** defaults to stdout; tests pass their own */
  destination?: { write(line: string): unknown };
  /** NO_COLOR, FORCE_COLOR (default: process.env) */
  env?: Readonly<Record<string, string | undefined>>;
  /** is stdout a terminal (default: process.stdout.isTTY) */
  isTTY?: boolean;
}

/**
 * Colours in pretty output: FORCE_COLOR (0 or false: none) wins, as in Node itself; else NO_COLOR (any non-empty
 * value, no-color.org) turns them off; else a terminal gets them and a pipe or file does not.
 */
export function useColor(env: Readonly<Record<string, string | undefined>>, isTTY: boolean): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !['0', 'false'].includes(force.trim().toLowerCase());
  if (env.NO_COLOR) return false;
  return isTTY;
}

/**
 * The one pino adapter. Every line passes through `redact` on its way out, whatever field it sits in, so a
 * credential that git echoed inside an error message cannot reach the log.
 */
export async function createLogger(options: LogOptions): Promise<Logger> {
  const pretty = options.format === 'pretty';
  let sink: { write(line: string): unknown };
  if (options.destination) {
    sink = options.destination;
  } else if (pretty) {
    // Loaded only when asked for: the sidecar's JSON path does not pay its import cost.
    const { default: prettyStream } = await import('pino-pretty');
    const colorize = useColor(options.env ?? process.env, options.isTTY ?? process.stdout.isTTY === true);
    // one line an event for a person: the fields (the JSON's, for machines) only when debug asks for everything
    const hideObject = !['debug', 'trace'].includes(options.level);
    sink = prettyStream({ colorize, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', hideObject });
  } else {
    sink = pino.destination({ fd: 1, sync: true });
  }
  const stream: DestinationStream = { write: (line: string) => void sink.write(redact(line)) };
  // pretty: the state changes are debug there, the outcome lines (deployed, rolled back, failed …) tell a deploy
  const hooks = pretty ? { hooks: { logMethod: stateAtDebug } } : {};
  return pino({ level: options.level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime, ...hooks }, stream);
}

/** Logs a state change (a line with `state` and `previous`, see StatusKeeper) at debug instead of info. */
function stateAtDebug(
  this: Logger,
  args: Parameters<Logger['info']>,
  method: (...a: unknown[]) => void,
  level: number,
) {
  const fields = args[0] as unknown;
  if (level === 30 && typeof fields === 'object' && fields !== null && 'previous' in fields && 'state' in fields) {
    (this.debug as (...a: unknown[]) => void)(...args);
    return;
  }
  method.apply(this, args);
}
