import { constants } from 'node:os';

/** A parsed `--reload` value. Pure: parsing never touches the file system. */
export type ReloadSpec =
  | { kind: 'touch'; file: string }
  | { kind: 'uwsgi-fifo'; fifo: string; command: FifoCommand }
  | { kind: 'signal'; pidfile: string; signal: NodeJS.Signals }
  | { kind: 'command'; command: string }
  | { kind: 'none' };

/** uWSGI master FIFO commands that reload: r graceful, R brutal, c chain (lazy-apps), w graceful workers. */
export const FIFO_COMMANDS = ['r', 'R', 'c', 'w'] as const;
export type FifoCommand = (typeof FIFO_COMMANDS)[number];

export const RELOAD_RULE = 'one of touch:FILE, uwsgi-fifo:PATH[:r|R|c|w], signal:PIDFILE[:SIGNAL], command:"CMD", none';

/** The rule a touch file's path follows (--touch, touch:FILE). */
export const TOUCH_FILE_RULE = 'a file path without spaces or colons';

/**
 * Why a touch file's path is refused, if it is: a space or a colon is almost always a slip that glued two values
 * into one (`reload: touch:uwsgi.ini - uwsgi-fifo:/x` on one YAML line), and the touch would then create a file
 * nobody watches while every deploy says "reloaded".
 */
export function touchFileProblem(file: string): string | undefined {
  if (/\s/.test(file)) return 'it contains a space: two values run together?';
  if (file.includes(':')) return 'it contains a colon: two strategies run together?';
  return undefined;
}

/** Parses one strategy; returns an error text (the rule broken) instead of throwing, for the config layer. */
export function parseReloadSpec(text: string): ReloadSpec | { error: string } {
  const value = text.trim();
  if (value === 'none') return { kind: 'none' };
  const colon = value.indexOf(':');
  const kind = colon < 0 ? value : value.slice(0, colon);
  const rest = colon < 0 ? '' : value.slice(colon + 1);
  switch (kind) {
    case 'touch': {
      if (!rest) return { error: 'touch needs a file: touch:FILE' };
      const problem = touchFileProblem(rest);
      return problem ? { error: `touch file must be ${TOUCH_FILE_RULE} (${problem})` } : { kind: 'touch', file: rest };
    }
    case 'uwsgi-fifo': {
      const match = /^(.+?)(?::([^:/]+))?$/.exec(rest);
      if (!rest || !match) return { error: 'uwsgi-fifo needs the FIFO path: uwsgi-fifo:PATH[:r|R|c|w]' };
      const command = (match[2] ?? 'r') as FifoCommand;
      if (!FIFO_COMMANDS.includes(command))
        return { error: `uwsgi-fifo command must be one of ${FIFO_COMMANDS.join(', ')}` };
      return { kind: 'uwsgi-fifo', fifo: match[1]!, command };
    }
    case 'signal': {
      const match = /^(.+?)(?::([A-Z0-9]+))?$/.exec(rest);
      if (!rest || !match) return { error: 'signal needs a pid file: signal:PIDFILE[:SIGNAL]' };
      const raw = match[2] ?? 'HUP';
      const signal = (raw.startsWith('SIG') ? raw : `SIG${raw}`) as NodeJS.Signals;
      if (!(signal in constants.signals))
        return { error: `signal ${raw} is not a signal name (HUP, USR1, USR2, TERM, …)` };
      return { kind: 'signal', pidfile: match[1]!, signal };
    }
    case 'command': {
      const command = rest
        .replace(/^"(.*)"$/s, '$1')
        .replace(/^'(.*)'$/s, '$1')
        .trim();
      return command
        ? { kind: 'command', command }
        : { error: 'command needs a command line: command:"supervisorctl restart app"' };
    }
    default:
      return { error: `unknown strategy ${JSON.stringify(kind)}` };
  }
}

export function describeSpec(spec: ReloadSpec): string {
  switch (spec.kind) {
    case 'touch':
      return `touch:${spec.file}`;
    case 'uwsgi-fifo':
      return `uwsgi-fifo:${spec.fifo}:${spec.command}`;
    case 'signal':
      return `signal:${spec.pidfile}:${spec.signal.replace(/^SIG/, '')}`;
    case 'command':
      return `command:"${spec.command}"`;
    case 'none':
      return 'none';
  }
}
