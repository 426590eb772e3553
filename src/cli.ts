#!/usr/bin/env node
import { inspectorOption } from './early.js';
import { parseArgs } from 'node:util';
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OPTIONS, envName, flagName, type OptionSpec } from './config/options.js';
import { loadConfig } from './config/load.js';
import { createLogger } from './log.js';
import { configError, HotpullError, systemErrorLine } from './errors.js';
import { redact } from './redact.js';
import type { CommandContext } from './commands/context.js';

type Command = (context: CommandContext) => Promise<number>;

// Commands load lazily: `hotpull sync` from cron should not pay for what `demo` imports.
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  run: { summary: 'follow the remote branch: poll, fast-forward, reload (the sidecar)', load: async () => (await import('./commands/run.js')).runCommand },
  sync: { summary: 'one sync and exit: 0 up to date or updated, 1 failed or blocked, 2 bad config; --now asks the running daemon', load: async () => (await import('./commands/sync.js')).syncCommand },
  status: { summary: "show a running daemon's state and recent deploys (--url, --json): 0 live, 1 problem, 3 unreachable", load: async () => (await import('./commands/status.js')).statusCommand },
  watch: { summary: 'dev mode: reload the app server when files in --repo change (--ignore, --ext, --debounce, --poll); run --watch also pulls', load: async () => (await import('./commands/watch.js')).watchCommand },
  host: { summary: 'on the Docker host: host up (start or replace the app container, idempotent), host deploy (pull the code, reload), host ls', load: async () => (await import('./commands/host.js')).hostCommand },
  'supervisor-config': { summary: 'print a [program:hotpull] section for supervisord.conf that runs hotpull run with the options given', load: async () => (await import('./commands/supervisor-config.js')).supervisorConfigCommand },
  pause: { summary: 'ask the running daemon to stop applying new revisions (polls go on; kept across restarts) until resume; --reason TEXT', load: async () => (await import('./commands/pause.js')).pauseCommand },
  resume: { summary: 'ask the running daemon to follow again (lifts a pause or a rollback\'s) and sync now', load: async () => (await import('./commands/pause.js')).resumeCommand },
  rollback: { summary: 'rollback [SHA]: back to SHA or the previous live revision, verified; rejects the one left and pauses until resume', load: async () => (await import('./commands/rollback.js')).rollbackCommand },
  demo: { summary: 'self-contained demo in a temp dir: remote, checkout, app, daemon, timed pushes', load: async () => (await import('./commands/demo.js')).demoCommand },
};

/** The flag as typed: --sync-timeout, or --no-rollback for a negated boolean. */
function cliFlag(o: OptionSpec): string {
  return o.negatedFlag ? `no-${flagName(o.key)}` : flagName(o.key);
}

/** parseArgs values → config keys; a negated flag given means false. */
function flagValues(values: Record<string, unknown>): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  for (const o of OPTIONS as readonly OptionSpec[]) {
    const value = values[cliFlag(o)];
    if (value === undefined) continue;
    flags[o.key] = o.negatedFlag ? !value : value;
  }
  return flags;
}

export function helpText(): string {
  const width = 34;
  const lines = (OPTIONS as readonly OptionSpec[]).map((o) => {
    const flag = o.configOnly ? `  ${o.key} (config)` : o.envOnly ? `  ${envName(o.key)}` : `  ${o.short ? `-${o.short}, ` : ''}--${cliFlag(o)}${o.placeholder ? ` ${o.placeholder}` : ''}`;
    const meta = [o.defaultText ? `default: ${o.defaultText}` : undefined, o.configOnly || o.envOnly ? undefined : `env ${envName(o.key)}`].filter(Boolean).join('; ');
    return `${flag.padEnd(width)}${o.description}${meta ? ` (${meta})` : ''}`;
  });
  return [
    'Usage: hotpull <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width - 2)}${c.summary}`),
    '',
    'Options (flag > HOTPULL_* environment > config file > default):',
    ...lines,
    `  ${'-h, --help'.padEnd(width - 2)}show this help`,
    `  ${'--version'.padEnd(width - 2)}print the version`,
    '',
  ].join('\n');
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export interface Io {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  signals: CommandContext['signals'];
  cwd: string;
}

/** `--poll` alone means `--poll on`: options with a `bareValue` may be given without one. */
function withBareValues(argv: string[]): string[] {
  const end = argv.indexOf('--');
  return argv.map((arg, i) => {
    if (end >= 0 && i > end) return arg;
    const spec = (OPTIONS as readonly OptionSpec[]).find((o) => o.bareValue !== undefined && arg === `--${flagName(o.key)}`);
    const next = argv[i + 1];
    return spec && (next === undefined || next.startsWith('-') || (end >= 0 && i + 1 === end)) ? `${arg}=${spec.bareValue}` : arg;
  });
}

/** `--interval -1s` is the value -1s (which validation then refuses, saying why), not a flag left without a value: no flag starts with a digit. */
function withNegativeValues(argv: string[]): string[] {
  const end = argv.indexOf('--');
  const out: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const [arg, next] = [argv[i]!, argv[i + 1]];
    const takesValue = (OPTIONS as readonly OptionSpec[]).some((o) => o.kind !== 'boolean' && arg === `--${cliFlag(o)}`);
    const flag = takesValue && (end < 0 || i + 1 < end) && next !== undefined && /^-\d/.test(next);
    out.push(flag ? `${arg}=${next}` : arg);
    if (flag) i += 1;
  }
  return out;
}

function parse(argv: string[]) {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  };
  for (const o of OPTIONS as readonly OptionSpec[]) {
    if (o.configOnly || o.envOnly) continue;
    options[cliFlag(o)] = { type: o.kind === 'boolean' ? 'boolean' : 'string', ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) };
  }
  try {
    const args = withNegativeValues(withBareValues(argv));
    const parsed = parseArgs({ args, options, allowPositionals: true, strict: true, tokens: true });
    // What follows `--` stays in the positionals as before, and is also handed over as is (host up: docker run args).
    const terminator = parsed.tokens.find((t) => t.kind === 'option-terminator');
    return { ...parsed, passthrough: terminator ? args.slice(terminator.index + 1) : [] };
  } catch (error) {
    const message = (error as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '');
    throw configError(`${message} (see hotpull --help)`, error);
  }
}

/** The CLI: argv and environment in, exit code out. Never calls process.exit. */
export async function main(argv: string[], env: Readonly<Record<string, string | undefined>>, io: Io): Promise<number> {
  try {
    const inspect = inspectorOption(env.NODE_OPTIONS, process.execArgv);
    if (inspect) {
      throw configError(`NODE_OPTIONS and node's flags must not open the inspector (got ${inspect}): anyone who can reach it runs code as hotpull`);
    }
    const { values, positionals, passthrough } = parse(argv);
    if (values.version) {
      io.stdout.write(`${version()}\n`);
      return 0;
    }
    const [name, ...args] = positionals;
    if (values.help || !name || name === 'help') {
      io.stdout.write(helpText());
      return name || values.help ? 0 : 2;
    }
    const command = COMMANDS[name];
    if (!command) throw configError(`unknown command ${JSON.stringify(name)}: must be one of ${Object.keys(COMMANDS).join(', ')} (see hotpull --help)`);
    const flags = flagValues(values as Record<string, unknown>);
    const config = await loadConfig({ flags, env, cwd: io.cwd, isTTY: io.stdout.isTTY === true, ...(name === 'supervisor-config' ? { readFile: false } : {}) });
    const logger = await createLogger({ level: config.logLevel, format: config.logFormat });
    return await (await command.load())({ config, env, logger, signals: io.signals, args, stdout: io.stdout, flags, cwd: io.cwd, passthrough });
  } catch (error) {
    if (error instanceof HotpullError) {
      io.stderr.write(`hotpull: ${redact(error.message)}\n`);
      return error.exitCode;
    }
    const system = systemErrorLine(error);
    if (system) {
      io.stderr.write(`hotpull: ${redact(system.line)}\n`);
      return system.exitCode;
    }
    io.stderr.write(`hotpull: internal error: ${redact((error as Error)?.stack ?? String(error))}\n`);
    return 1;
  }
}

const isEntry = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
})();

/** The process entry: runs main() on this process's argv and exits with its code. */
export async function runAsEntry(): Promise<never> {
  const code = await main(process.argv.slice(2), process.env, { stdout: process.stdout, stderr: process.stderr, signals: process, cwd: process.cwd() });
  // Exit now rather than when the event loop drains: a git transport helper orphaned by an aborted fetch
  // (git-remote-http waiting on a slow server) can hold a pipe to us open for as long as its request lasts.
  // stdout/stderr are synchronous for files, pipes and TTYs on Linux, and pino writes synchronously.
  process.exit(code);
}

if (isEntry) await runAsEntry();
