import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { readFile } from 'node:fs/promises';
import { configError } from '../errors.js';
import { LOG_LEVELS, OPTIONS, type OptionSpec, type OptionValues } from './options.js';
import { envName } from './names.js';
import type { Source } from './schema.js';
import { resolveOptions } from './resolve.js';
import { appConfigs, SECRET_FILE_KEY, splitApps, type AppConfig } from './apps.js';
import { commandLineCredentials } from '../git/credentials.js';
import { suggest } from '../suggest.js';

export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The validated configuration, frozen once at the edge; everything downstream trusts it. Its fields and their
 * types come from the options table (options.ts), so are its defaults. Remote authentication (--ssh-key-file,
 * --password-file …) is AuthOptions; the password itself is never logged.
 */
export type Config = OptionValues & {
  /** the config file that was read, if any */
  readonly configFile?: string;
  /** the apps of a many-apps file (`apps:`), each with its own configuration */
  readonly apps?: readonly AppConfig[];
};

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
    const lines = message
      .replace(/^JSON Error in [^\n]*:/, '')
      .split('\n')
      .map((l) => l.trim());
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
  return e?.name === 'SyntaxError'
    ? `cannot be parsed: ${first}${line ? ` at line ${line}` : ''}`
    : `failed to load: ${first}`;
}

/** JS config files load with import() alone: cosmiconfig's fallback to require() hides an ES module's syntax error behind a Node assertion. */
const importDefault = async (filepath: string) =>
  ((await import(pathToFileURL(filepath).href)) as { default?: unknown }).default;

/**
 * What cosmiconfig could find in `dir`: the search places that exist, a package.json only when it has a `hotpull`
 * key (an app's own package.json is common in the working directory). A package.json that cannot be read or
 * parsed counts: cosmiconfig reports it as it always did.
 */
async function configFilesIn(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of SEARCH_PLACES) {
    const file = path.join(dir, name);
    if (!existsSync(file)) continue;
    if (name !== 'package.json') {
      found.push(file);
      continue;
    }
    try {
      const json = JSON.parse(await readFile(file, 'utf8')) as unknown;
      if (typeof json !== 'object' || json === null || Object.hasOwn(json, MODULE)) found.push(file);
    } catch {
      found.push(file);
    }
  }
  return found;
}

async function readConfigFile(explicit: string | undefined, searchDirs: string[]): Promise<FileConfig | undefined> {
  // cosmiconfig and its parsers load only when there is a file for them to read (bench/idle.mjs: eager-cosmiconfig).
  if (!explicit) {
    const found = [...new Set((await Promise.all(searchDirs.map(configFilesIn))).flat())];
    if (found.length === 0) return undefined;
    // which one would win is an accident of the search order: the user says
    if (found.length > 1)
      throw configError(
        `only one config file may be found, name one with --config FILE (got ${found.length}: ${found.join(' and ')})`,
      );
  }
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
    if (explicit && file === explicit)
      throw configError(`--config must name a readable config file; ${file} ${problem}`, error);
    throw configError(`config file ${file ?? searchDirs[0]} ${problem}`, error);
  }
  if (!result || result.isEmpty) return result ? { file: result.filepath, values: {} } : undefined;
  const values = result.config as unknown;
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw configError(`config file ${result.filepath} must hold an object of options (got ${JSON.stringify(values)})`);
  }
  return { file: result.filepath, values: values as Record<string, unknown> };
}

function checkKnownKeys(file: FileConfig): void {
  const known = OPTIONS.filter((o: OptionSpec) => !o.noConfigKey && !o.envOnly).map((o) => o.key as string);
  for (const key of Object.keys(file.values)) {
    const secret = Object.hasOwn(SECRET_FILE_KEY, key) ? SECRET_FILE_KEY[key] : undefined;
    if (secret)
      throw configError(
        `${key} must not be written in ${file.file}, where anyone who can read the file reads it; give ${secret} FILE instead`,
      );
    if (!known.includes(key)) {
      const hint = suggest(key, known);
      throw configError(
        `unknown key ${JSON.stringify(key)} in ${file.file}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}; known keys: ${known.join(', ')}`,
      );
    }
  }
}

/**
 * Merges defaults < config file < environment < flags, validating each value where it came from so an error
 * names it as the user wrote it. Relative paths resolve against where they were written: flags and env against
 * the working directory, config-file values against the file's directory. A file with `apps:` also gives each
 * app's own configuration (apps.ts).
 */
export async function loadConfig(input: LoadInput): Promise<Config> {
  const { flags, env, cwd } = input;
  const explicitConfig = (flags.config as string | undefined) ?? env[envName('config')];
  const repoHint = (flags.repo as string | undefined) ?? env[envName('repo')];
  const searchDirs = [cwd];
  if (repoHint && path.resolve(cwd, repoHint) !== cwd) searchDirs.push(path.resolve(cwd, repoHint));
  const file =
    input.readFile === false
      ? undefined
      : await readConfigFile(explicitConfig ? path.resolve(cwd, explicitConfig) : undefined, searchDirs);
  const { shared, entries } = file ? splitApps(file.file, file.values) : { shared: {}, entries: undefined };
  if (file) checkKnownKeys({ file: file.file, values: shared });

  const envValues = Object.fromEntries(
    (OPTIONS as readonly OptionSpec[]).map((spec) => [spec.key, env[envName(spec.key)]]),
  );
  const at = { cwd, isTTY: input.isTTY };
  const fileLayer = file && {
    values: shared,
    source: { kind: 'file', file: file.file } as Source,
    base: path.dirname(file.file),
  };
  const config = resolveOptions(
    [
      { values: flags, source: { kind: 'flag' }, base: cwd },
      { values: envValues, source: { kind: 'env' }, base: cwd },
      ...(fileLayer ? [fileLayer] : []),
    ],
    at,
  );

  // A password on the command line is in `ps` for the life of the process: refused before anything runs.
  const onCommandLine = commandLineCredentials(flags, config);
  if (onCommandLine) throw configError(onCommandLine);

  const apps = entries && fileLayer ? appConfigs(file.file, entries, fileLayer, envValues, at) : undefined;
  return Object.freeze({ ...config, configFile: file?.file, ...(apps ? { apps } : {}) }) as Config;
}
