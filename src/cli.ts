#!/usr/bin/env node
import { proxyFor, readProxyEnv, type ProxyEnv } from './net/proxy.js';
import { inspectorOption } from './early.js';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { appliesTo, ASKING_KEYS, OPTIONS, type OptionSpec } from './config/options.js';
import { envName, flagName } from './config/names.js';
import {
  HOST_SUBCOMMANDS,
  TOP_COMMANDS,
  type CommandName,
  type HelpTopic,
  type TopCommand,
} from './config/commands.js';
import { cliFlag, commandHelp, isCommandName, mainHelp, shortUsage } from './config/help.js';
import { unknownEnvWarnings } from './config/environment.js';
import { didYouMean } from './suggest.js';
import { loadConfig } from './config/load.js';
import { chooseApp } from './config/app-choice.js';
import { createLogger } from './log.js';
import { configError, HotpullError, systemErrorLine } from './errors.js';
import { redact } from './redact.js';
import { hotpullVersion } from './version.js';
import type { CommandContext } from './commands/context.js';

// not `import { parseArgs } from 'node:util'`, nor src/builtins.ts (which brings node:http): see src/builtins.ts
const { parseArgs } = process.getBuiltinModule('node:util');

type Command = (context: CommandContext) => Promise<number>;

// Commands load lazily: `hotpull sync` from cron should not pay for what `demo` imports. What help says about
// each is in config/commands.ts.
const COMMANDS: Readonly<Record<Exclude<TopCommand, 'completion' | 'version' | 'help'>, () => Promise<Command>>> = {
  run: async () => (await import('./commands/run.js')).runCommand,
  sync: async () => (await import('./commands/sync.js')).syncCommand,
  status: async () => (await import('./commands/status.js')).statusCommand,
  fleet: async () => (await import('./commands/fleet.js')).fleetCommand,
  log: async () => (await import('./commands/log.js')).logCommand,
  watch: async () => (await import('./commands/watch.js')).watchCommand,
  host: async () => (await import('./commands/host.js')).hostCommand,
  'supervisor-config': async () => (await import('./commands/supervisor-config.js')).supervisorConfigCommand,
  pause: async () => (await import('./commands/pause.js')).pauseCommand,
  resume: async () => (await import('./commands/pause.js')).resumeCommand,
  approve: async () => (await import('./commands/pause.js')).approveCommand,
  rollback: async () => (await import('./commands/rollback.js')).rollbackCommand,
  reset: async () => (await import('./commands/reset.js')).resetCommand,
  'reload-config': async () => (await import('./commands/reload-config.js')).reloadConfigCommand,
  demo: async () => (await import('./commands/demo.js')).demoCommand,
};

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

export interface Io {
  /** `columns`: the terminal's width, which help is wrapped to (80 when stdout is not a TTY) */
  stdout: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(text: string): unknown };
  signals: CommandContext['signals'];
  cwd: string;
}

/** `--poll` alone means `--poll on`: options with a `bareValue` may be given without one. */
function withBareValues(argv: string[]): string[] {
  const end = argv.indexOf('--');
  return argv.map((arg, i) => {
    if (end >= 0 && i > end) return arg;
    const spec = (OPTIONS as readonly OptionSpec[]).find(
      (o) => o.bareValue !== undefined && arg === `--${flagName(o.key)}`,
    );
    const next = argv[i + 1];
    return spec && (next === undefined || next.startsWith('-') || (end >= 0 && i + 1 === end))
      ? `${arg}=${spec.bareValue}`
      : arg;
  });
}

/** `--interval -1s` is the value -1s (which validation then refuses, saying why), not a flag left without a value: no flag starts with a digit. */
function withNegativeValues(argv: string[]): string[] {
  const end = argv.indexOf('--');
  const out: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const [arg, next] = [argv[i]!, argv[i + 1]];
    const takesValue = (OPTIONS as readonly OptionSpec[]).some(
      (o) => o.kind !== 'boolean' && arg === `--${cliFlag(o)}`,
    );
    const flag = takesValue && (end < 0 || i + 1 < end) && next !== undefined && /^-\d/.test(next);
    out.push(flag ? `${arg}=${next}` : arg);
    if (flag) i += 1;
  }
  return out;
}

function parse(argv: string[]) {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'V' },
  };
  for (const o of OPTIONS as readonly OptionSpec[]) {
    if (o.configOnly || o.envOnly) continue;
    options[cliFlag(o)] = {
      type: o.kind === 'boolean' ? 'boolean' : 'string',
      ...(o.multiple ? { multiple: true } : {}),
      ...(o.short ? { short: o.short } : {}),
    };
  }
  try {
    const args = withNegativeValues(withBareValues(argv));
    const parsed = parseArgs({ args, options, allowPositionals: true, strict: true, tokens: true });
    // What follows `--` stays in the positionals as before, and is also handed over as is (host up: docker run args).
    const terminator = parsed.tokens.find((t) => t.kind === 'option-terminator');
    return { ...parsed, passthrough: terminator ? args.slice(terminator.index + 1) : [] };
  } catch (error) {
    const topic = helpTopicOf(argv.filter((a) => !a.startsWith('-')));
    const see = `see hotpull ${topic && topic !== 'help' ? `${topic} ` : ''}--help`;
    const unknown =
      (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
        ? /^Unknown option '(--?[^'=]+)/.exec((error as Error).message)?.[1]
        : undefined;
    const secret = (OPTIONS as readonly OptionSpec[]).find((o) => o.envOnly && unknown === `--${flagName(o.key)}`);
    if (secret)
      throw configError(
        `${unknown} is not a flag: set ${envName(secret.key)} (a command line is visible to every user in ps); ${see}`,
        error,
      );
    if (unknown) throw configError(`unknown option ${unknown}${didYouMean(unknown, flagsFor(topic))}; ${see}`, error);
    const message = (error as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '');
    throw configError(`${message} (${see})`, error);
  }
}

/** The flags a command takes (all of them when it is not known), for "did you mean". */
function flagsFor(topic: HelpTopic | undefined): string[] {
  const specs = (OPTIONS as readonly OptionSpec[]).filter((o) => !o.configOnly && !o.envOnly);
  const own = topic && isCommandName(topic) ? specs.filter((o) => appliesTo(o, topic)) : specs;
  return [...own.map((o) => `--${cliFlag(o)}`), '--help', '--version'];
}

/** The help topic named by positional words: `run`, `host up`; undefined when the words name none. */
function helpTopicOf(words: readonly string[]): HelpTopic | undefined {
  const [name, sub] = words;
  if (name === 'host' && (HOST_SUBCOMMANDS as readonly string[]).includes(sub ?? '')) return `host ${sub}` as HelpTopic;
  return (TOP_COMMANDS as readonly string[]).includes(name ?? '') ? (name as HelpTopic) : undefined;
}

/**
 * A flag given to a command that does not read it is an error, not a silent no-op (`status --interval 5s`,
 * `sync --now --on-diverged reset`): one line naming the flag and the command. Only the command line is checked:
 * a config file or the environment may hold options for several commands.
 */
function refuseUnusedFlags(topic: CommandName, flags: Readonly<Record<string, unknown>>): void {
  const now = topic === 'sync' && flags.now === true;
  for (const o of OPTIONS as readonly OptionSpec[]) {
    if (flags[o.key] === undefined) continue;
    const flag = `--${cliFlag(o)}`;
    if (now && !ASKING_KEYS.has(o.key))
      throw configError(
        `${flag} is not used by sync --now: the daemon runs the pass with its own options (${o.key === 'onDiverged' || o.key === 'onDirty' ? 'hotpull reset backs up and resets a diverged or dirty checkout through it' : 'see hotpull sync --help'})`,
      );
    if (appliesTo(o, topic)) continue;
    const readers = o.commands === 'all' ? [] : o.commands;
    throw configError(
      `${flag} is not used by ${topic}${readers.length > 0 ? ` (it is an option of ${readers.join(', ')})` : ''}; see hotpull ${topic} --help`,
    );
  }
}

function unknownCommand(name: string): HotpullError {
  return configError(
    `unknown command ${JSON.stringify(name)}${didYouMean(name, TOP_COMMANDS)}: must be one of ${TOP_COMMANDS.join(', ')} (see hotpull --help)`,
  );
}

/** A command's flags (refused when the command does not read them) and its config, as main() reads them. */
async function commandLine(
  name: string,
  args: readonly string[],
  values: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  isTTY: boolean,
) {
  const flags = flagValues(values);
  const topic = name === 'host' ? helpTopicOf([name, ...args]) : (name as HelpTopic);
  // supervisor-config passes run's flags on and refuses the others itself, saying why it cannot pass them on
  if (topic && isCommandName(topic) && topic !== 'supervisor-config') refuseUnusedFlags(topic, flags);
  const loaded = await loadConfig({
    flags,
    env,
    cwd,
    isTTY,
    ...(name === 'supervisor-config' ? { readFile: false } : {}),
  });
  // a many-apps file: --app picks the app a client command acts on (config/app-choice.ts)
  const config = topic && isCommandName(topic) ? chooseApp(loaded, flags, topic) : loaded;
  return { flags, config };
}

/**
 * A command line read as main() reads it, up to the config, without running the command: bad input throws the
 * HotpullError main() would print. For checks of command lines written in examples and docs.
 */
export async function readCommandLine(argv: string[], env: Readonly<Record<string, string | undefined>>, cwd: string) {
  const { values, positionals, passthrough } = parse(argv);
  const [name, ...args] = positionals;
  if (!name || !Object.hasOwn(COMMANDS, name)) throw unknownCommand(name ?? '');
  return { name, args, passthrough, ...(await commandLine(name, args, values, env, cwd, false)) };
}

/** The CLI: argv and environment in, exit code out. Never calls process.exit. */
export async function main(argv: string[], env: Readonly<Record<string, string | undefined>>, io: Io): Promise<number> {
  try {
    const inspect = inspectorOption(env.NODE_OPTIONS, process.execArgv);
    if (inspect) {
      throw configError(
        `NODE_OPTIONS and node's flags must not open the inspector (got ${inspect}): anyone who can reach it runs code as hotpull`,
      );
    }
    const { values, positionals, passthrough } = parse(argv);
    const [name, ...args] = positionals;
    if (values.version || name === 'version') {
      io.stdout.write(`${hotpullVersion()}\n`);
      return 0;
    }
    const width = io.stdout.isTTY && io.stdout.columns ? io.stdout.columns : 80;
    if (name === 'help' || values.help) {
      const words = name === 'help' ? args : positionals;
      const topic = helpTopicOf(words);
      if (words.length > 0 && !topic) throw unknownCommand(words[0]!);
      io.stdout.write(topic ? commandHelp(topic, width) : mainHelp(width));
      return 0;
    }
    if (!name) {
      io.stdout.write(shortUsage(width));
      return 0;
    }
    if (name === 'completion') {
      const { completionScript } = await import('./config/completion.js');
      io.stdout.write(completionScript(args));
      return 0;
    }
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name as keyof typeof COMMANDS] : undefined;
    if (!command) throw unknownCommand(name);
    for (const warning of unknownEnvWarnings(env)) io.stderr.write(`hotpull: warning: ${warning}\n`);
    const { flags, config } = await commandLine(name, args, values, env, io.cwd, io.stdout.isTTY === true);
    // hotpull's own requests honour the proxy variables (net/proxy.ts): one that cannot be used is a config error
    const proxy = readProxyEnv(env);
    if ('problem' in proxy) throw configError(proxy.problem);
    const logger = await createLogger({
      level: config.logLevel,
      format: config.logFormat,
      env,
      isTTY: io.stdout.isTTY === true,
    });
    const viaProxy = healthThroughProxy(config.healthUrl, proxy);
    if (viaProxy)
      logger.warn(
        { healthUrl: config.healthUrl, proxy: viaProxy },
        `the health check goes through proxy ${viaProxy}: NO_PROXY is set and does not list ${new URL(config.healthUrl!).hostname}; list it if the app is on this machine`,
      );
    return await (
      await command()
    )({ config, env, logger, signals: io.signals, args, stdout: io.stdout, flags, cwd: io.cwd, passthrough });
  } catch (error) {
    if (error instanceof HotpullError) {
      io.stderr.write(`hotpull: ${redact(error.message)}\n`);
      return error.cliExitCode;
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
  const code = await main(process.argv.slice(2), process.env, {
    stdout: process.stdout,
    stderr: process.stderr,
    signals: process,
    cwd: process.cwd(),
  });
  // Exit now rather than when the event loop drains: a git transport helper orphaned by an aborted fetch
  // (git-remote-http waiting on a slow server) can hold a pipe to us open for as long as its request lasts.
  // stdout/stderr are synchronous for files, pipes and TTYs on Linux, and pino writes synchronously.
  process.exit(code);
}

if (isEntry) await runAsEntry();

/**
 * The proxy a `localhost` health URL would go through (NO_PROXY set without it): worth a warning at start, since a
 * proxy seldom reaches the app's loopback. Any other host is the user's to route.
 */
function healthThroughProxy(healthUrl: string | undefined, proxy: ProxyEnv): string | undefined {
  if (!healthUrl) return undefined;
  let url: URL;
  try {
    url = new URL(healthUrl);
  } catch {
    return undefined;
  }
  const host = url.hostname.toLowerCase();
  if (host !== 'localhost' && !host.endsWith('.localhost')) return undefined;
  return proxyFor(url, proxy)?.label;
}
