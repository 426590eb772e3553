import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { readFile } from 'node:fs/promises';
import { configError } from '../errors.js';
import { envName, OPTIONS, type OptionSpec } from './options.js';
import { validateOption, type ListenAddress, type Source } from './schema.js';
import type { ReloadSpec } from '../reload/spec.js';
import type { ChangeRule } from '../deploy/rules.js';
import { commandLineCredentials, type AuthOptions } from '../git/credentials.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/**
 * The validated configuration, frozen once at the edge; everything downstream trusts it. Remote authentication
 * (--ssh-key-file, --password-file …) is AuthOptions; the password itself is never logged.
 */
export interface Config extends AuthOptions {
  readonly repo: string;
  readonly remote: string;
  /** undefined = the checkout's upstream branch, resolved at start */
  readonly branch?: string;
  readonly interval: number;
  /** as given; resolved against the repo at start; undefined = uwsgi.ini when present */
  readonly touch?: string;
  /** reload strategies in order; empty = the default (touch, see `touch`) */
  readonly reload: readonly ReloadSpec[];
  readonly reloadTimeout: number;
  readonly healthUrl?: string;
  readonly healthExpect?: string;
  readonly healthTimeout: number;
  readonly healthSettle: number;
  readonly rollback: boolean;
  readonly onChange: readonly ChangeRule[];
  readonly imageRevision?: string;
  readonly layout: 'in-place' | 'atomic';
  readonly keep: number;
  readonly depth?: number;
  readonly listen?: ListenAddress;
  /** never logged: redacted from the config when printed */
  readonly webhookSecret?: string;
  readonly webhookSecretFile?: string;
  readonly url?: string;
  readonly json: boolean;
  readonly now: boolean;
  /** --ref as given (parsed by sync/ref.ts at start) */
  readonly ref?: string;
  readonly reason?: string;
  readonly wait: boolean;
  /** host commands (command line and environment only) */
  readonly name?: string;
  readonly image?: string;
  /** as given: HOSTDIR[:CONTAINERDIR], resolved by the host command */
  readonly code?: string;
  readonly pull: boolean;
  readonly publish: readonly string[];
  /** host up: NAME=VALUE entries for the container */
  readonly env: readonly string[];
  readonly envFile?: string;
  readonly stopTimeout: number;
  readonly dockerBin: string;
  readonly syncTimeout: number;
  readonly backoffMax: number;
  readonly onDiverged: 'stop' | 'reset';
  readonly onDirty: 'stop' | 'reset';
  /** run: also reload on local edits (dev mode) */
  readonly watch: boolean;
  /** watch: globs over repo-relative paths, on top of the built-in ignores */
  readonly ignore: readonly string[];
  /** watch: extensions without dots; empty = every file */
  readonly ext: readonly string[];
  readonly debounce: number;
  readonly poll: 'off' | 'on' | 'auto';
  readonly logLevel: LogLevel;
  readonly logFormat: 'json' | 'pretty';
  /** the config file that was read, if any */
  readonly configFile?: string;
}

export interface LoadInput {
  /** parsed command-line values keyed by config key (camelCase) */
  readonly flags: Readonly<Record<string, unknown>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly isTTY: boolean;
  /** false: flags and environment only, no config file (supervisor-config: the file is for `hotpull run` to read, maybe on another machine) */
  readonly readFile?: boolean;
}

const MODULE = 'hotpull';
export const SEARCH_PLACES = [
  'package.json',
  `${MODULE}.config.json`,
  `${MODULE}.config.yaml`,
  `${MODULE}.config.yml`,
  `${MODULE}.config.js`,
  `${MODULE}.config.mjs`,
  `${MODULE}.config.cjs`,
  `.${MODULE}rc`,
  `.${MODULE}rc.json`,
  `.${MODULE}rc.yaml`,
];

interface FileConfig {
  file: string;
  values: Record<string, unknown>;
}

/** 1-based line and column of a character offset. */
function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `line ${before.length} column ${before.at(-1)!.length + 1}`;
}

/**
 * What is wrong with a config file that failed to load, in one line: the parser's reason and where, without
 * the code frame, the quoted content or the stack the loaders attach (the content could hold a secret).
 * `content` is the file's text, when it could be read, to turn JSON's character offset into line and column.
 */
export function configFileProblem(error: unknown, content?: string): string {
  const e = error as Error & { code?: string; reason?: string; mark?: { line: number; column: number } };
  if (e?.code === 'ENOENT') return 'does not exist';
  if (e?.code === 'EACCES' || e?.code === 'EPERM') return 'cannot be read: permission denied';
  if (e?.code === 'EISDIR') return 'cannot be read: it is a directory';
  if (e?.name === 'YAMLException' && e.reason) {
    return `cannot be parsed as YAML: ${e.reason} at line ${(e.mark?.line ?? 0) + 1} column ${(e.mark?.column ?? 0) + 1}`;
  }
  // code frames are coloured when CI is set (picocolors): without the escapes they are recognised and dropped
  const message = String(e?.message ?? error).replace(/\u001b\[[0-9;]*m/g, '');
  if (e?.name === 'JSONError') {
    // parse-json: "JSON Error in FILE:", maybe a code frame, then JSON.parse's reason, "while parsing '<the text>'"
    const lines = message.replace(/^JSON Error in [^\n]*:/, '').split('\n').map((l) => l.trim());
    const reason = (lines.find((l) => l !== '' && !/^(>?\s*\d+\s*)?\|/.test(l)) ?? 'invalid JSON')
      .replace(/ while parsing .*$/, '')
      .replace(/, (\.\.\.)?".*" is not valid JSON$/, '')
      .replace(/^Unexpected token ''$/, 'Unexpected line break'); // parse-json drops the newline it quotes
    const offset = / at position (\d+)/.exec(reason)?.[1];
    const where = offset !== undefined && content !== undefined ? ` at ${lineColumn(content, Number(offset))}` : '';
    // Node 22+ adds "(line L column C)" itself; the same place is given once, in one format
    return `cannot be parsed as JSON: ${reason.replace(/ (in JSON )?at position \d+/, '').replace(/ \(line \d+ column \d+\)$/, '')}${where}`;
  }
  const line = /^\S+:(\d+)$/m.exec(e?.stack?.split('\n')[0] ?? '')?.[1];
  const first = message.split('\n').find((l) => l.trim() !== '') ?? '';
  return e?.name === 'SyntaxError' ? `cannot be parsed: ${first}${line ? ` at line ${line}` : ''}` : `failed to load: ${first}`;
}

/** JS config files load with import() alone: cosmiconfig's fallback to require() hides an ES module's syntax error behind a Node assertion. */
const importDefault = async (filepath: string) => ((await import(pathToFileURL(filepath).href)) as { default?: unknown }).default;

async function readConfigFile(explicit: string | undefined, searchDirs: string[]): Promise<FileConfig | undefined> {
  // cosmiconfig and its parsers load only when there is a file for them to read (bench/idle.mjs: eager-cosmiconfig).
  if (!explicit && !searchDirs.some((dir) => SEARCH_PLACES.some((name) => existsSync(path.join(dir, name))))) return undefined;
  const { cosmiconfig } = await import('cosmiconfig');
  let result;
  try {
    // Inside the try: creating the explorer already reads cosmiconfig's own settings (package.json, .config/) in
    // the working directory.
    const explorer = cosmiconfig(MODULE, {
      searchPlaces: SEARCH_PLACES,
      searchStrategy: 'none',
      cache: false,
      loaders: { '.js': importDefault, '.mjs': importDefault, '.cjs': importDefault },
    });
    if (explicit) {
      result = await explorer.load(explicit);
    } else {
      for (const dir of searchDirs) {
        result = await explorer.search(dir);
        if (result) break;
      }
    }
  } catch (error) {
    const file = (error as { filepath?: string }).filepath ?? (error as { path?: string }).path ?? explicit;
    const problem = configFileProblem(error, file ? await readFile(file, 'utf8').catch(() => undefined) : undefined);
    if (explicit && file === explicit) throw configError(`--config must name a readable config file; ${file} ${problem}`, error);
    throw configError(`config file ${file ?? searchDirs[0]} ${problem}`, error);
  }
  if (!result || result.isEmpty) return result ? { file: result.filepath, values: {} } : undefined;
  const values = result.config as unknown;
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw configError(`config file ${result.filepath} must hold an object of options (got ${JSON.stringify(values)})`);
  }
  return { file: result.filepath, values: values as Record<string, unknown> };
}

function closest(word: string, candidates: string[]): string | undefined {
  const lower = word.toLowerCase();
  return candidates.find((c) => c.toLowerCase() === lower || c.toLowerCase().startsWith(lower.slice(0, 4)));
}

function checkKnownKeys(file: FileConfig): void {
  const known = OPTIONS.filter((o: OptionSpec) => !o.noConfigKey && !o.envOnly).map((o) => o.key as string);
  for (const key of Object.keys(file.values)) {
    if (!known.includes(key)) {
      const hint = closest(key, known);
      throw configError(
        `unknown key ${JSON.stringify(key)} in ${file.file}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}; known keys: ${known.join(', ')}`,
      );
    }
  }
}

/** scheme://… or git's scp-like user@host:path */
function isUrl(text: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text) || /^[^/\s]+@[^/\s:]+:/.test(text);
}

/**
 * Merges defaults < config file < environment < flags, validating each value where it came from so an error
 * names it as the user wrote it. Relative paths resolve against where they were written: flags and env against
 * the working directory, config-file values against the file's directory.
 */
export async function loadConfig(input: LoadInput): Promise<Config> {
  const { flags, env, cwd } = input;
  const explicitConfig = (flags.config as string | undefined) ?? env[envName('config')];
  const repoHint = (flags.repo as string | undefined) ?? env[envName('repo')];
  const searchDirs = [cwd];
  if (repoHint && path.resolve(cwd, repoHint) !== cwd) searchDirs.push(path.resolve(cwd, repoHint));
  const file = input.readFile === false ? undefined : await readConfigFile(explicitConfig ? path.resolve(cwd, explicitConfig) : undefined, searchDirs);
  if (file) checkKnownKeys(file);

  const values: Record<string, unknown> = {};
  for (const spec of OPTIONS as readonly OptionSpec[]) {
    let raw: unknown;
    let source: Source | undefined;
    let base = cwd;
    if (flags[spec.key] !== undefined && !spec.envOnly) {
      raw = flags[spec.key];
      source = { kind: 'flag' };
    } else if (!spec.configOnly && env[envName(spec.key)] !== undefined && env[envName(spec.key)] !== '') {
      raw = env[envName(spec.key)];
      source = { kind: 'env' };
    } else if (file && !spec.noConfigKey && !spec.envOnly && file.values[spec.key] !== undefined) {
      raw = file.values[spec.key];
      source = { kind: 'file', file: file.file };
      base = path.dirname(file.file);
    }
    if (source === undefined) continue;
    const value = validateOption(spec, raw, source);
    // A URL stays a URL: `host up --repo https://…` is what to clone, not a path under the working directory.
    values[spec.key] = spec.kind === 'path' && !isUrl(value as string) ? path.resolve(base, value as string) : value;
  }

  // A password on the command line is in `ps` for the life of the process: refused before anything runs.
  const onCommandLine = commandLineCredentials(flags, values);
  if (onCommandLine) throw configError(onCommandLine);

  const config: Config = {
    repo: (values.repo as string | undefined) ?? cwd,
    remote: (values.remote as string | undefined) ?? 'origin',
    branch: values.branch as string | undefined,
    interval: (values.interval as number | undefined) ?? 5000,
    touch: values.touch as string | undefined,
    reload: (values.reload as ReloadSpec[] | undefined) ?? [],
    reloadTimeout: (values.reloadTimeout as number | undefined) ?? 60_000,
    healthUrl: values.healthUrl as string | undefined,
    healthExpect: values.healthExpect as string | undefined,
    healthTimeout: (values.healthTimeout as number | undefined) ?? 30_000,
    healthSettle: (values.healthSettle as number | undefined) ?? 2000,
    rollback: (values.rollback as boolean | undefined) ?? true,
    onChange: (values.onChange as ChangeRule[] | undefined) ?? [],
    imageRevision: values.imageRevision as string | undefined,
    layout: (values.layout as Config['layout'] | undefined) ?? 'in-place',
    keep: (values.keep as number | undefined) ?? 3,
    depth: values.depth as number | undefined,
    listen: values.listen as ListenAddress | undefined,
    webhookSecret: values.webhookSecret as string | undefined,
    webhookSecretFile: values.webhookSecretFile as string | undefined,
    sshKeyFile: values.sshKeyFile as string | undefined,
    sshKnownHostsFile: values.sshKnownHostsFile as string | undefined,
    username: values.username as string | undefined,
    passwordFile: values.passwordFile as string | undefined,
    password: values.password as string | undefined,
    credentialHelper: values.credentialHelper as string | undefined,
    url: values.url as string | undefined,
    json: (values.json as boolean | undefined) ?? false,
    now: (values.now as boolean | undefined) ?? false,
    ref: values.ref as string | undefined,
    reason: values.reason as string | undefined,
    wait: (values.wait as boolean | undefined) ?? false,
    name: values.name as string | undefined,
    image: values.image as string | undefined,
    code: values.code as string | undefined,
    pull: (values.pull as boolean | undefined) ?? false,
    publish: (values.publish as string[] | undefined) ?? [],
    env: (values.env as string[] | undefined) ?? [],
    envFile: values.envFile as string | undefined,
    stopTimeout: (values.stopTimeout as number | undefined) ?? 10_000,
    dockerBin: (values.dockerBin as string | undefined) ?? 'docker',
    syncTimeout: (values.syncTimeout as number | undefined) ?? 60_000,
    backoffMax: (values.backoffMax as number | undefined) ?? 120_000,
    onDiverged: (values.onDiverged as Config['onDiverged'] | undefined) ?? 'stop',
    onDirty: (values.onDirty as Config['onDirty'] | undefined) ?? 'stop',
    watch: (values.watch as boolean | undefined) ?? false,
    ignore: (values.ignore as string[] | undefined) ?? [],
    ext: (values.ext as string[] | undefined) ?? [],
    debounce: (values.debounce as number | undefined) ?? 150,
    poll: (values.poll as Config['poll'] | undefined) ?? 'off',
    logLevel: (values.logLevel as LogLevel | undefined) ?? 'info',
    logFormat: (values.logFormat as Config['logFormat'] | undefined) ?? (input.isTTY ? 'pretty' : 'json'),
    configFile: file?.file,
  };
  return Object.freeze(config);
}

