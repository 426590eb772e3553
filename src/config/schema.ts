import { configError } from '../errors.js';
import { didYouMean } from '../suggest.js';
import { durationProblem, formatDuration, parseDuration } from '../duration.js';
import { redactUrl, splitUrl } from '../redact.js';
import { envName, flagName } from './names.js';
import type { ChangeRule, ListenAddress, OptionSpec } from './options.js';
import { parseReloadSpec, RELOAD_RULE, TOUCH_FILE_RULE, touchFileProblem, type ReloadSpec } from '../reload/spec.js';

/** Where a value came from, so an error can name the option the way the user wrote it. */
export type Source = { kind: 'flag' } | { kind: 'env' } | { kind: 'file'; file: string };

export function optionLabel(spec: Pick<OptionSpec, 'key' | 'negatedFlag'>, source: Source): string {
  switch (source.kind) {
    case 'flag':
      return `--${spec.negatedFlag ? `no-${flagName(spec.key)}` : flagName(spec.key)}`;
    case 'env':
      return envName(spec.key);
    case 'file':
      return `${spec.key} (in ${source.file})`;
  }
}

export function ruleText(spec: OptionSpec): string {
  switch (spec.kind) {
    case 'duration':
      return `a duration like 500ms, 2s or 1m${spec.min ? ` of at least ${spec.min}ms` : ''}${spec.max ? ` and at most ${formatDuration(spec.max)}` : ''}`;
    case 'enum':
      return `one of ${spec.values!.join(', ')}`;
    case 'boolean':
      return 'true or false';
    case 'string':
    case 'path':
      return 'a non-empty string';
    case 'remote':
      return 'a remote name or a URL';
    case 'url':
      return 'an http:// or https:// URL';
    case 'count':
      return 'a whole number of at least 1';
    case 'globs':
      return 'a glob relative to the repo like *.log or media/ (env: one value or a JSON list)';
    case 'extensions':
      return 'a comma-separated list of file extensions like py,html';
    case 'strings':
      return 'a non-empty string (repeatable; env: one value or a JSON list)';
    case 'listen':
      return 'PORT or HOST:PORT, e.g. 9300, 0.0.0.0:9300 or [::1]:9300';
    case 'reloads':
      return RELOAD_RULE;
    case 'rules':
      return 'a list of rules like { paths: ["requirements*.txt"], run: ["pip install -r requirements.txt"], timeout: "5m" } or { paths: ["Dockerfile"], hold: true }';
  }
}

/** A value a kind's parser refuses: the caller turns it into the one-line error with the kind's rule. */
const INVALID = Symbol('invalid');
type Parsed = unknown;

const nonEmpty = (raw: unknown): string | typeof INVALID =>
  typeof raw === 'string' && raw.trim() !== '' ? raw.trim() : INVALID;
const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/** One string or a non-empty list of them, each checked by `item` (a config file or an env JSON list). */
function listOf(raw: unknown, item: (v: unknown) => string | typeof INVALID): string[] | typeof INVALID {
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) return INVALID;
  const out = list.map(item);
  return out.includes(INVALID) ? INVALID : (out as string[]);
}

// Hand-written rather than a schema library: these few kinds are all the config has, and a library's modules
// (zod: 95 of them, 4-5 MB of a sidecar's idle RSS) would stay loaded for the life of the daemon.
function parseKind(spec: OptionSpec, raw: unknown): Parsed | typeof INVALID {
  switch (spec.kind) {
    case 'duration': {
      const ms = typeof raw === 'string' ? parseDuration(raw) : undefined;
      return ms !== undefined && ms >= (spec.min ?? 0) && (spec.max === undefined || ms <= spec.max) ? ms : INVALID;
    }
    case 'enum':
      return typeof raw === 'string' && spec.values!.includes(raw) ? raw : INVALID;
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      return typeof raw === 'string' && TRUE.has(raw)
        ? true
        : typeof raw === 'string' && FALSE.has(raw)
          ? false
          : INVALID;
    case 'string':
    case 'path':
    case 'remote':
      return nonEmpty(raw);
    case 'url':
      if (typeof raw !== 'string') return INVALID;
      try {
        return ['http:', 'https:'].includes(new URL(raw).protocol) ? raw : INVALID;
      } catch {
        return INVALID;
      }
    case 'count': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
      return Number.isInteger(n) && n >= 1 ? n : INVALID;
    }
    case 'extensions': {
      const text =
        typeof raw === 'string'
          ? raw
          : Array.isArray(raw) && raw.length > 0 && raw.every((e) => typeof e === 'string')
            ? raw.join(',')
            : undefined;
      return (text === undefined ? undefined : parseExtensions(text)) ?? INVALID;
    }
    case 'globs':
      return listOf(raw, nonEmpty);
    case 'strings':
      // Not trimmed: `-e 'GREETING= hi '` means what it says.
      return listOf(raw, (v) => (typeof v === 'string' && v !== '' ? v : INVALID));
    case 'listen':
      return (typeof raw === 'number' || typeof raw === 'string' ? parseListen(String(raw)) : undefined) ?? INVALID;
    case 'reloads':
    case 'rules':
      throw new Error(`structured option ${spec.key} is validated by its own function`);
  }
}

/** `9300` → 127.0.0.1:9300 (loopback unless a host is given); `0.0.0.0:9300`; `[::1]:9300`. */
export function parseListen(text: string): ListenAddress | undefined {
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port > 65535) return undefined;
  return { host: (match[1] ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1'), port };
}

/** `--ext` text → extensions without their dots (`.py, html` → py, html); undefined when an item is not one. */
export function parseExtensions(text: string): string[] | undefined {
  const items = text.split(',').map((e) => e.trim().replace(/^\./, ''));
  return items.every((e) => /^[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*$/.test(e)) ? items : undefined;
}

/** `--reload` values: each must parse; the error names the first bad one and why. */
export function validateReloads(spec: OptionSpec, raw: unknown, source: Source): ReloadSpec[] {
  let list: unknown = raw;
  if (typeof raw === 'string') list = source.kind === 'env' && raw.trim().startsWith('[') ? safeJson(raw) : [raw];
  if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'string')) {
    throw configError(`${optionLabel(spec, source)} must be ${RELOAD_RULE} (got ${JSON.stringify(raw)})`);
  }
  return list.map((text: string) => {
    const parsed = parseReloadSpec(text);
    if ('error' in parsed)
      throw configError(
        `${optionLabel(spec, source)} must be ${RELOAD_RULE} (got ${JSON.stringify(text)}: ${parsed.error})`,
      );
    return parsed;
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

interface RawRule {
  paths: string[];
  run?: string[];
  hold?: boolean;
  timeout?: string;
}
const RULE_KEYS = new Set(['paths', 'run', 'hold', 'timeout']);
const stringList = (raw: unknown) => listOf(raw, nonEmpty);

/** The first problem of an `onChange` list: where (a path into it) and which rule it breaks; or the rules. */
function checkRules(
  raw: unknown,
): { rules: RawRule[] } | { path: Array<string | number>; rule?: string; got?: string } {
  if (!Array.isArray(raw)) return { path: [] };
  const rules: RawRule[] = [];
  for (const [index, item] of raw.entries()) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return { path: [] };
    const rule = item as Record<string, unknown>;
    const unknown = Object.keys(rule).find((k) => !RULE_KEYS.has(k));
    if (unknown !== undefined)
      return {
        path: [index],
        rule: 'use only the keys paths, run, hold, timeout',
        got: `${JSON.stringify(unknown)}${didYouMean(unknown, [...RULE_KEYS]).replace(/^ \((.*)\)$/, '; $1')}`,
      };
    const paths = stringList(rule.paths);
    if (paths === INVALID) return { path: [index, 'paths'] };
    const run = rule.run === undefined ? undefined : stringList(rule.run);
    if (run === INVALID) return { path: [index, 'run'] };
    if (rule.hold !== undefined && typeof rule.hold !== 'boolean')
      return { path: [index, 'hold'], rule: 'be true or false' };
    if (rule.timeout !== undefined && typeof rule.timeout !== 'string')
      return { path: [index, 'timeout'], rule: 'be a duration like 30s or 5m' };
    if ((run === undefined) === (rule.hold !== true))
      return { path: [index], rule: 'have exactly one of run: [commands] or hold: true' };
    rules.push({ paths, run, hold: rule.hold as boolean | undefined, timeout: rule.timeout as string | undefined });
  }
  return { rules };
}

const DEFAULT_HOOK_TIMEOUT = 10 * 60_000;

/** `onChange` rules, config file only. */
export function validateRules(spec: OptionSpec, raw: unknown, source: Source): ChangeRule[] {
  const result = checkRules(raw);
  if ('path' in result) {
    const where = `${spec.key}${result.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('')}`;
    const got = result.path.reduce<unknown>(
      (value, key) => (value as Record<PropertyKey, unknown> | undefined)?.[key],
      raw,
    );
    const label = source.kind === 'file' ? `${where} (in ${source.file})` : where;
    const rule =
      result.rule ?? (result.path.length === 0 ? `be ${ruleText(spec)}` : 'be a string or a list of non-empty strings');
    throw configError(`${label} must ${rule} (got ${result.got ?? JSON.stringify(got)})`);
  }
  return result.rules.map((rule, index) => {
    let timeoutMs = DEFAULT_HOOK_TIMEOUT;
    if (rule.timeout !== undefined) {
      const label = `${spec.key}[${index}].timeout${source.kind === 'file' ? ` (in ${source.file})` : ''}`;
      const problem = durationProblem(rule.timeout, 'a duration like 30s or 5m', 100);
      if (problem) throw configError(`${label} must be ${problem} (got ${JSON.stringify(rule.timeout)})`);
      timeoutMs = parseDuration(rule.timeout)!;
    }
    return { paths: rule.paths, run: rule.run ?? [], hold: rule.hold === true, timeoutMs };
  });
}

/** `port 99999 is above 65535` when the authority of a URL (without its userinfo) has such a port. */
function portProblem(rest: string): string | undefined {
  const port = /^(?:\[[^\]]*\]|[^/:?#]*):(\d+)(?:[/?#]|$)/.exec(rest)?.[1];
  return port !== undefined && Number(port) > 65535 ? `port ${port} is above 65535` : undefined;
}

const BAD_ESCAPE = /%(?![0-9a-f]{2})[^]{0,2}/i;

/** Why an --health-url/--url value cannot be fetched (undefined: it can, or the general rule says it all). */
export function httpUrlProblem(text: string): string | undefined {
  const parts = splitUrl(text);
  if (parts?.userinfo !== undefined) return 'a URL to fetch cannot carry credentials';
  if (parts) {
    const port = portProblem(parts.rest);
    if (port) return port;
  }
  const escape = BAD_ESCAPE.exec(text)?.[0];
  if (escape) return `${JSON.stringify(escape)} is not a %XX escape (write a literal % as %25)`;
  return undefined;
}

/**
 * Why a --remote value is not a URL git can be given safely; undefined when it is (names and paths pass).
 * Checked at the edge because what git cannot parse, hotpull cannot take the password out of either: it would
 * reach git's command line, or make git read part of the password as a host.
 */
export function remoteUrlProblem(remote: string): string | undefined {
  if (/[\x00-\x1f\x7f]/.test(remote)) return 'it holds a control character';
  const parts = splitUrl(remote);
  if (!parts) {
    const scp = /^([^/@:]+):[^/]*@[^/:]+:/.exec(remote);
    if (!scp) return undefined;
    return `in the form user:password@host:path git reads ${JSON.stringify(scp[1])} as the host, and ssh takes no password; use an ssh:// URL and a key`;
  }
  if (parts.rest.includes('@'))
    return 'an @ after the host is ambiguous (in a path write %40; in a password write / as %2F)';
  if (parts.userinfo?.includes(':') && !/^https?:\/\/$/i.test(parts.scheme))
    return `only http:// and https:// URLs can carry a password, not ${parts.scheme}`;
  try {
    new URL(parts.scheme + parts.rest);
  } catch {
    return portProblem(parts.rest) ?? 'it does not parse as a URL';
  }
  return undefined;
}

/** A --remote value as an error message may show it: the password of a URL or of the scp-like form masked. */
export function maskedRemote(remote: string): string {
  return splitUrl(remote) ? redactUrl(remote) : remote.replace(/^([^/@:]+):[^/]*@(?=[^/:]+:)/, '$1:***@');
}

/** The problem of one text value beyond its kind's general rule: what it must be instead, why, and how to show it. */
function valueProblem(spec: OptionSpec, text: string): { rule: string; why?: string; shown: string } | undefined {
  switch (spec.kind) {
    case 'duration': {
      const rule = durationProblem(text, ruleText(spec), spec.min, spec.max);
      return rule ? { rule, shown: text } : undefined;
    }
    case 'url': {
      const why = httpUrlProblem(text);
      return why ? { rule: ruleText(spec), why, shown: redactUrl(text) } : undefined;
    }
    case 'remote': {
      const why = remoteUrlProblem(text);
      return why ? { rule: ruleText(spec), why, shown: maskedRemote(text) } : undefined;
    }
    case 'string': {
      // --touch: the same path rule as touch:FILE in --reload
      const why = spec.key === 'touch' ? touchFileProblem(text.trim()) : undefined;
      return why ? { rule: TOUCH_FILE_RULE, why, shown: text } : undefined;
    }
    default:
      return undefined;
  }
}

/** Validates one raw value; on failure throws the one-line config error: option, rule, bad value. */
export function validateOption(spec: OptionSpec, raw: unknown, source: Source): unknown {
  if (spec.kind === 'reloads') return validateReloads(spec, raw, source);
  if (spec.kind === 'rules') return validateRules(spec, raw, source);
  const problem = typeof raw === 'string' ? valueProblem(spec, raw) : undefined;
  if (problem) {
    throw configError(
      `${optionLabel(spec, source)} must be ${problem.rule} (got ${JSON.stringify(problem.shown)}${problem.why ? `: ${problem.why}` : ''})`,
    );
  }
  // Like --reload: an environment variable holds one glob or a JSON list of them.
  const listFromEnv =
    (spec.kind === 'globs' || spec.kind === 'strings') &&
    source.kind === 'env' &&
    typeof raw === 'string' &&
    raw.trim().startsWith('[');
  const value = parseKind(spec, listFromEnv ? safeJson(raw as string) : raw);
  if (value !== INVALID) return value;
  const shown = typeof raw === 'string' && (spec.kind === 'url' || spec.kind === 'remote') ? maskedRemote(raw) : raw;
  throw configError(`${optionLabel(spec, source)} must be ${ruleText(spec)} (got ${JSON.stringify(shown)})`);
}
