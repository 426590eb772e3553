import { formatDuration } from '../duration.js';
import { appliesTo, OPTIONS, type OptionSpec } from './options.js';
import { envName, flagName } from './names.js';
import { COMMAND_HELP, HOST_SUBCOMMANDS, TOP_COMMANDS, type CommandName, type HelpTopic } from './commands.js';

/** Help text, built from the options table and the command list; pure, wrapped to a given width. */

/** Width of the option column; a longer flag puts its description on the next line. */
const COLUMN = 30;
const MIN_WIDTH = 40;

/** The flag as typed: --sync-timeout, or --no-rollback for a negated boolean. */
export function cliFlag(o: Pick<OptionSpec, 'key' | 'negatedFlag'>): string {
  return o.negatedFlag ? `no-${flagName(o.key)}` : flagName(o.key);
}

/** Words of `text` filled into lines of at most `width` characters; a word longer than a line is cut. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (let word of text.split(/\s+/).filter(Boolean)) {
    while (word.length > width) {
      if (line) lines.push(line);
      lines.push(word.slice(0, width));
      word = word.slice(width);
      line = '';
    }
    if (!line) line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** `left` in a column of COLUMN characters, `text` wrapped beside it (or below it when `left` is wider). */
function entry(left: string, text: string, width: number): string[] {
  const column = Math.min(COLUMN, Math.floor(width / 2));
  const body = wrap(text, width - column).map((l) => `${' '.repeat(column)}${l}`);
  if (left.length <= column - 2 && body.length > 0)
    return [`${left.padEnd(column)}${body[0]!.trimStart()}`, ...body.slice(1)];
  return [...(left.length <= width ? [left] : wrap(left, width)), ...body];
}

/** A shell command cut at spaces into lines that end with ` \`, so what is shown still runs when pasted. */
function example(command: string, width: number): string[] {
  const words = command.split(' ');
  const lines: string[] = [];
  let line = '  ';
  for (const word of words) {
    const next = line.trim() === '' ? `${line}${word}` : `${line} ${word}`;
    if (next.length + 2 > width && line.trim() !== '') {
      lines.push(`${line} \\`);
      line = `      ${word}`;
    } else line = next;
  }
  lines.push(line);
  return lines.flatMap((l) => (l.length > width ? wrap(l, width) : [l]));
}

function defaultShown(o: OptionSpec): string | undefined {
  if (o.defaultText) return o.defaultText;
  if (o.default === undefined || typeof o.default === 'function') return undefined;
  if (o.kind === 'duration') return formatDuration(o.default as number);
  if (typeof o.default === 'boolean' || Array.isArray(o.default)) return undefined;
  return String(o.default);
}

function optionEntry(o: OptionSpec, command: CommandName | undefined, width: number): string[] {
  const left = o.configOnly
    ? `  ${o.key} (config file)`
    : o.envOnly
      ? `  ${envName(o.key)}`
      : `  ${o.short ? `-${o.short}, ` : ''}--${cliFlag(o)}${o.placeholder ? ` ${o.placeholder}` : ''}`;
  // "watch: …" says which command reads an option; under that command's own help it goes without saying
  const own = command
    ? [`${command}: `, ...(command.startsWith('host ') ? ['host: '] : [])].find((p) => o.description.startsWith(p))
    : undefined;
  const text = (command && o.describeFor?.[command]) ?? (own ? o.description.slice(own.length) : o.description);
  const shown = defaultShown(o);
  const meta = [
    shown ? `default: ${shown}` : undefined,
    o.configOnly || o.envOnly ? undefined : `env ${envName(o.key)}`,
  ]
    .filter(Boolean)
    .join('; ');
  return entry(left, `${text}${meta ? ` (${meta})` : ''}`, width);
}

const GLOBAL_OPTIONS = (OPTIONS as readonly OptionSpec[]).filter((o) => o.commands === 'all');

function globalSection(width: number): string[] {
  return [
    'Global options:',
    ...GLOBAL_OPTIONS.flatMap((o) => optionEntry(o, undefined, width)),
    ...entry('  -h, --help', 'show help (hotpull COMMAND --help: that command only)', width),
    ...entry('  -V, --version', 'print the version', width),
  ];
}

const SOURCES =
  'Options are read from flags, then HOTPULL_* environment variables, then a config file, then defaults. Durations: 500ms, 2s, 1.5m, 1h or compound like 1m30s.';

/** The help of one command (or host sub-command): its usage, its options only, the global ones, examples. */
export function commandHelp(topic: HelpTopic, width: number): string {
  width = Math.max(MIN_WIDTH, width);
  const help = COMMAND_HELP[topic];
  const lines = [...wrap(`Usage: ${help.usage}`, width), '', ...wrap(help.summary, width), ''];
  if (topic === 'host') {
    lines.push('Sub-commands:');
    for (const sub of HOST_SUBCOMMANDS) lines.push(...entry(`  ${sub}`, COMMAND_HELP[`host ${sub}`].summary, width));
    lines.push('', ...wrap('Run hotpull host SUB-COMMAND --help for its options.', width), '');
  }
  const own = (OPTIONS as readonly OptionSpec[]).filter(
    (o) => o.commands !== 'all' && isCommandName(topic) && appliesTo(o, topic),
  );
  if (own.length > 0) {
    lines.push(
      'Options:',
      ...own.flatMap((o) => optionEntry(o, topic as CommandName, width)),
      '',
      ...wrap(SOURCES, width),
      '',
    );
  }
  lines.push(...globalSection(width), '', 'Examples:', ...help.examples.flatMap((e) => example(e, width)), '');
  return lines.join('\n');
}

/** Whether a help topic is a command options are tagged with (not host, completion, version, help). */
export function isCommandName(topic: HelpTopic): topic is CommandName {
  return !['host', 'completion', 'version', 'help'].includes(topic);
}

/** `hotpull --help`: the commands and the global options. */
export function mainHelp(width: number): string {
  width = Math.max(MIN_WIDTH, width);
  return [
    'Usage: hotpull COMMAND [options]',
    '',
    ...wrap(
      'Deploys git commits into running containers: polls a remote (or takes a signed webhook), fast-forwards a checkout, reloads the app server, verifies health and rolls back.',
      width,
    ),
    '',
    'Commands:',
    ...TOP_COMMANDS.flatMap((name) => entry(`  ${name}`, COMMAND_HELP[name].summary, width)),
    '',
    ...globalSection(width),
    '',
    ...wrap("Run hotpull COMMAND --help (or hotpull help COMMAND) for a command's options and examples.", width),
    '',
  ].join('\n');
}

/** `hotpull` alone: a few lines on stdout. */
export function shortUsage(width: number): string {
  width = Math.max(MIN_WIDTH, width);
  return [
    'Usage: hotpull COMMAND [options]',
    ...wrap(`Commands: ${TOP_COMMANDS.join(', ')}`, width),
    ...wrap('Try hotpull demo (a self-contained demo), hotpull run --help, or hotpull --help for more.', width),
    '',
  ].join('\n');
}
