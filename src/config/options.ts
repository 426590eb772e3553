/**
 * The table every option is derived from: the CLI flag, the HOTPULL_* environment name, the config-file key,
 * the help text and the validation rule. Adding an option means adding one row here.
 */
export type OptionKind = 'string' | 'path' | 'duration' | 'enum' | 'boolean';

export interface OptionSpec {
  /** config-file key (camelCase); the flag is its kebab-case form, the env name HOTPULL_ + UPPER_SNAKE */
  readonly key: string;
  readonly kind: OptionKind;
  readonly placeholder?: string;
  readonly values?: readonly string[];
  /** smallest accepted duration, ms */
  readonly min?: number;
  readonly description: string;
  /** shown in --help and README; undefined = no default (or computed at start) */
  readonly defaultText?: string;
  /** options read from the command line and environment only, never from a config file */
  readonly noConfigKey?: boolean;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export const OPTIONS = [
  { key: 'repo', kind: 'path', placeholder: 'DIR', description: 'the git checkout to keep deployed', defaultText: 'current directory' },
  { key: 'remote', kind: 'string', placeholder: 'NAME|URL', description: 'remote name of the checkout, or a URL', defaultText: 'origin' },
  { key: 'branch', kind: 'string', placeholder: 'NAME', description: 'branch to follow', defaultText: "the checkout's upstream branch" },
  { key: 'interval', kind: 'duration', min: 100, placeholder: 'DURATION', description: 'poll period (500ms, 2s, 1m); each poll gets ~10% random jitter', defaultText: '5s' },
  { key: 'touch', kind: 'string', placeholder: 'FILE', description: "reload file to touch after a deploy (uWSGI --touch-reload), relative to the repo", defaultText: 'uwsgi.ini when the repo has one' },
  { key: 'syncTimeout', kind: 'duration', min: 100, placeholder: 'DURATION', description: 'time limit for one ls-remote or fetch', defaultText: '60s' },
  { key: 'backoffMax', kind: 'duration', min: 100, placeholder: 'DURATION', description: 'longest wait between retries while the remote is failing', defaultText: '2m' },
  { key: 'onDiverged', kind: 'enum', values: ['stop', 'reset'], placeholder: 'stop|reset', description: 'when the remote was force-pushed: stop and report, or save the old head under refs/hotpull/backup/ and reset', defaultText: 'stop' },
  { key: 'onDirty', kind: 'enum', values: ['stop', 'reset'], placeholder: 'stop|reset', description: 'when tracked files were changed in the checkout: stop and report, or save them under refs/hotpull/backup/ and reset', defaultText: 'stop' },
  { key: 'logLevel', kind: 'enum', values: LOG_LEVELS, placeholder: 'LEVEL', description: 'log level', defaultText: 'info' },
  { key: 'logFormat', kind: 'enum', values: ['json', 'pretty'], placeholder: 'json|pretty', description: 'log format', defaultText: 'pretty on a TTY, else json' },
  { key: 'config', kind: 'path', placeholder: 'FILE', description: 'config file (default: search hotpull.config.*, .hotpullrc*, package.json#hotpull)', noConfigKey: true },
] as const satisfies readonly OptionSpec[];

export type OptionKey = (typeof OPTIONS)[number]['key'];

export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function envName(key: string): string {
  return `HOTPULL_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export function optionSpec(key: string): OptionSpec | undefined {
  return (OPTIONS as readonly OptionSpec[]).find((o) => o.key === key);
}
