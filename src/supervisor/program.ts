/**
 * The `[program:hotpull]` section `hotpull supervisor-config` prints: pure text from the options given, so it is
 * asserted word for word and the examples' supervisord.conf files are checked against it.
 *
 * What Supervisor 4.2 does with the text (supervisor/options.py, process.py, datatypes.py), and so what the
 * quoting must survive:
 * - every value first goes through `%` expansion (`%(here)s`), so a literal `%` is written `%%`;
 * - a `;` or `#` after whitespace starts an inline comment, even inside quotes;
 * - `command=` is split with shlex in POSIX mode (single quotes are literal);
 * - `environment=` is split with shlex in non-POSIX mode: quotes group a value but nothing escapes inside
 *   them, and leading and trailing quote characters are stripped from each value.
 */
import { configError } from '../errors.js';
import { appliesTo, OPTIONS, type OptionSpec } from '../config/options.js';
import { envName, flagName } from '../config/names.js';
import type { Config } from '../config/load.js';
import { authOptions, holdsSecret } from '../git/credentials.js';

export interface ProgramInput {
  /** argv of the program: ['hotpull', 'run', '--repo', '/app', …] */
  readonly command: readonly string[];
  /** non-secret variables for `environment=`, in order */
  readonly environment: ReadonlyArray<readonly [string, string]>;
  /** secret variables set where the block was printed and deliberately left out of it */
  readonly withheld: readonly string[];
}

/** The settings after command= and environment=, each with the comment that says why. */
const SETTINGS: ReadonlyArray<readonly [key: string, value: string, comment?: string]> = [
  ['autostart', 'true'],
  ['autorestart', 'unexpected', 'Restart after a crash (any exit code not in exitcodes), never after a clean stop.'],
  [
    'exitcodes',
    '0,2',
    [
      'Bad configuration exits 2 at once: within startsecs, so Supervisor retries startretries times, then gives up',
      'with FATAL (supervisorctl status hotpull); fix it, then `supervisorctl start hotpull`. 2 also counts as',
      'expected so that bad configuration found after startsecs (a slow remote) ends in EXITED: Supervisor 4.2',
      'restarts an unexpected exit after startsecs without limit.',
    ].join('\n'),
  ],
  ['startsecs', '3'],
  ['startretries', '2'],
  ['stopsignal', 'TERM', 'SIGTERM: hotpull interrupts a fetch, lets a local step finish and exits 0 within 10 s.'],
  ['stopwaitsecs', '15'],
  ['stopasgroup', 'true', 'The git and hook processes hotpull runs stop with it.'],
  ['killasgroup', 'true'],
  ['redirect_stderr', 'true'],
];

const SAFE_ARG = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One argument for Supervisor's command=: shlex (POSIX) quoting, then `%` doubled for its expansion. */
export function quoteCommandArg(arg: string): string {
  if (/[\r\n]/.test(arg))
    throw configError(`a command-line value for Supervisor cannot hold a line break (got ${JSON.stringify(arg)})`);
  let quoted = arg;
  if (!SAFE_ARG.test(arg)) {
    // Close and reopen the quotes between whitespace and ;/# so Supervisor's ini parser sees no inline comment.
    quoted = `'${arg.replaceAll("'", `'"'"'`).replace(/(\s)([;#])/g, "$1''$2")}'`;
  }
  return quoted.replaceAll('%', '%%');
}

/** One value of Supervisor's environment= (non-POSIX shlex: no escapes), or a config error naming the variable. */
export function quoteEnvValue(name: string, value: string): string {
  const problem = /[\r\n]/.test(value)
    ? 'a line break'
    : value.includes('"') && value.includes("'")
      ? 'both kinds of quote'
      : /^["']|["']$/.test(value)
        ? 'a quote at either end'
        : /\s[;#]/.test(value)
          ? 'whitespace before ; or #, which Supervisor reads as a comment'
          : undefined;
  if (problem)
    throw configError(
      `${name} cannot be written to Supervisor's environment= because it holds ${problem} (got ${JSON.stringify(value)}); give it as a flag instead`,
    );
  const quote = value.includes('"') ? "'" : '"';
  return `${quote}${value.replaceAll('%', '%%')}${quote}`;
}

function comment(text: string): string[] {
  return text.split('\n').map((line) => `; ${line}`);
}

/** The `[program:hotpull]` section, ending with a newline. */
export function programBlock(input: ProgramInput): string {
  const lines = [
    '[program:hotpull]',
    '; Printed by `hotpull supervisor-config`: keeps the checkout on its branch head and reloads the app server.',
    `command=${input.command.map(quoteCommandArg).join(' ')}`,
    ...comment(
      [
        'Secrets never go in this file: give HOTPULL_WEBHOOK_SECRET to supervisord itself (docker run -e or',
        '--env-file, a Kubernetes Secret), whose programs inherit its environment, or mount a file and add',
        '--webhook-secret-file FILE to the command. The same for the git remote: HOTPULL_PASSWORD (or a URL with',
        "a token in HOTPULL_REMOTE) in supervisord's environment, or --password-file FILE / --ssh-key-file FILE.",
      ].join('\n'),
    ),
  ];
  if (input.withheld.length > 0)
    lines.push(`; Set where this was printed and left out on purpose: ${input.withheld.join(', ')}.`);
  if (input.environment.length > 0) {
    lines.push(
      `environment=${input.environment.map(([name, value]) => `${name}=${quoteEnvValue(name, value)}`).join(',')}`,
    );
  }
  for (const [key, value, why] of SETTINGS) {
    if (why) lines.push(...comment(why));
    lines.push(`${key}=${value}`);
  }
  lines.push(
    '; In a container, send the log to the container output (docker logs) instead of a file under childlogdir:',
    ';stdout_logfile=/dev/stdout',
    ';stdout_logfile_maxbytes=0',
  );
  return `${lines.join('\n')}\n`;
}

/** Options that only other commands read: given to supervisor-config they are a mistake, not something to pass on. */
function isRunOption(spec: OptionSpec): boolean {
  return appliesTo(spec, 'run');
}

function flagArgs(spec: OptionSpec, raw: unknown, resolved: unknown): string[] {
  const flag = `--${flagName(spec.key)}`;
  if (spec.kind === 'boolean') {
    if (spec.negatedFlag) return raw === false ? [`--no-${flagName(spec.key)}`] : [];
    return raw === true ? [flag] : [];
  }
  // Paths as loadConfig resolved them (Supervisor starts programs in its own working directory), enum values as
  // validated (a flag given alone stands for a value); the rest as typed (2s stays 2s).
  const value = (spec.kind === 'path' || spec.kind === 'enum') && typeof resolved === 'string' ? resolved : raw;
  const values = Array.isArray(value) ? value : [value];
  return values.flatMap((v) => [flag, String(v)]);
}

/**
 * From what `supervisor-config` was given to the program: flags become `hotpull run` flags (in the option table's
 * order), HOTPULL_* variables of `run` options become environment= entries, the secret is only named.
 */
export function programInput(
  flags: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
  config: Config,
  bin = 'hotpull',
): ProgramInput {
  const resolved = config as unknown as Readonly<Record<string, unknown>>;
  const command = [bin, 'run'];
  const environment: Array<[string, string]> = [];
  const withheld: string[] = [];
  for (const spec of OPTIONS as readonly OptionSpec[]) {
    const raw = flags[spec.key];
    const fromEnv = env[envName(spec.key)];
    if (spec.envOnly) {
      if (fromEnv) withheld.push(envName(spec.key));
      continue;
    }
    if (raw !== undefined) {
      if (!isRunOption(spec)) {
        throw configError(
          `--${flagName(spec.key)} is not an option of hotpull run, so supervisor-config cannot pass it on (got ${JSON.stringify(raw)})`,
        );
      }
      command.push(...flagArgs(spec, raw, resolved[spec.key]));
    } else if (fromEnv && isRunOption(spec) && !spec.configOnly) {
      // HOTPULL_REMOTE=https://user:token@… is a secret too: named, never printed
      // a notification URL may hold a token in its path (Slack, Mattermost): withheld whatever it looks like
      if (spec.key === 'notify' || holdsSecret(spec.key, fromEnv, authOptions(config))) {
        withheld.push(envName(spec.key));
        continue;
      }
      environment.push([
        envName(spec.key),
        spec.kind === 'path' && typeof resolved[spec.key] === 'string' ? (resolved[spec.key] as string) : fromEnv,
      ]);
    }
  }
  return { command, environment, withheld };
}
