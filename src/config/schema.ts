import { z } from 'zod';
import { configError } from '../errors.js';
import { parseDuration } from '../duration.js';
import { envName, flagName, type OptionSpec } from './options.js';
import { parseReloadSpec, RELOAD_RULE, type ReloadSpec } from '../reload/spec.js';
import type { ChangeRule } from '../deploy/rules.js';

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
      return `a duration like 500ms, 2s or 1m${spec.min ? ` of at least ${spec.min}ms` : ''}`;
    case 'enum':
      return `one of ${spec.values!.join(', ')}`;
    case 'boolean':
      return 'true or false';
    case 'string':
    case 'path':
      return 'a non-empty string';
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

const nonEmpty = z.string().trim().min(1);
const booleanLike = z.union([
  z.boolean(),
  z.enum(['true', '1', 'yes', 'on']).transform(() => true),
  z.enum(['false', '0', 'no', 'off']).transform(() => false),
]);

function schemaFor(spec: OptionSpec): z.ZodType<unknown> {
  switch (spec.kind) {
    case 'duration':
      return z
        .string()
        .transform((text, ctx) => parseDuration(text) ?? (ctx.addIssue({ code: 'custom', message: 'not a duration' }), z.NEVER))
        .pipe(z.number().min(spec.min ?? 0));
    case 'enum':
      return z.enum(spec.values as [string, ...string[]]);
    case 'boolean':
      return booleanLike;
    case 'string':
    case 'path':
      return nonEmpty;
    case 'url':
      return z.string().refine((text) => {
        try {
          return ['http:', 'https:'].includes(new URL(text).protocol);
        } catch {
          return false;
        }
      });
    case 'count':
      return z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).pipe(z.number().int().min(1));
    case 'extensions':
      return z
        .union([z.string(), z.array(z.string()).min(1).transform((list) => list.join(','))])
        .transform((text, ctx) => parseExtensions(text) ?? (ctx.addIssue({ code: 'custom', message: 'not extensions' }), z.NEVER));
    case 'globs':
      return z.union([nonEmpty.transform((s) => [s]), z.array(nonEmpty).min(1)]);
    case 'strings':
      // Not trimmed: `-e 'GREETING= hi '` means what it says.
      return z.union([z.string().min(1).transform((s) => [s]), z.array(z.string().min(1)).min(1)]);
    case 'listen':
      return z.union([z.number(), z.string()]).transform((raw, ctx) => parseListen(String(raw)) ?? (ctx.addIssue({ code: 'custom', message: 'bad listen' }), z.NEVER));
    case 'reloads':
    case 'rules':
      throw new Error(`structured option ${spec.key} is validated by its own function`);
  }
}

export interface ListenAddress {
  host: string;
  port: number;
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
    if ('error' in parsed) throw configError(`${optionLabel(spec, source)} must be ${RELOAD_RULE} (got ${JSON.stringify(text)}: ${parsed.error})`);
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

const stringList = z.union([nonEmpty.transform((s) => [s]), z.array(nonEmpty).min(1)]);
const ruleSchema = z
  .object({
    paths: stringList,
    run: stringList.optional(),
    hold: z.boolean().optional(),
    timeout: z.string().optional(),
  })
  .strict()
  .refine((r) => (r.run === undefined) !== (r.hold !== true), { message: 'needs exactly one of run: [commands] or hold: true' });

const DEFAULT_HOOK_TIMEOUT = 10 * 60_000;

/** `onChange` rules, config file only. */
export function validateRules(spec: OptionSpec, raw: unknown, source: Source): ChangeRule[] {
  const result = z.array(ruleSchema).safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = `${spec.key}${issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`;
    const got = issue.path.reduce<unknown>((value, key) => (value as Record<PropertyKey, unknown> | undefined)?.[key as PropertyKey], raw);
    const label = source.kind === 'file' ? `${where} (in ${source.file})` : where;
    const rule = issue.path.length === 0 ? ruleText(spec) : issue.code === 'unrecognized_keys' ? 'only paths, run, hold, timeout' : issue.message.startsWith('needs') ? issue.message.replace(/^needs/, 'have') : 'a string or a list of non-empty strings';
    throw configError(`${label} must ${rule.startsWith('have') || rule.startsWith('only') ? rule : `be ${rule}`} (got ${JSON.stringify(got)})`);
  }
  return result.data.map((rule, index) => {
    let timeoutMs = DEFAULT_HOOK_TIMEOUT;
    if (rule.timeout !== undefined) {
      const ms = parseDuration(rule.timeout);
      const label = `${spec.key}[${index}].timeout${source.kind === 'file' ? ` (in ${source.file})` : ''}`;
      if (ms === undefined || ms < 100) throw configError(`${label} must be a duration like 30s or 5m (got ${JSON.stringify(rule.timeout)})`);
      timeoutMs = ms;
    }
    return { paths: rule.paths, run: rule.run ?? [], hold: rule.hold === true, timeoutMs };
  });
}

/** Validates one raw value; on failure throws the one-line config error: option, rule, bad value. */
export function validateOption(spec: OptionSpec, raw: unknown, source: Source): unknown {
  if (spec.kind === 'reloads') return validateReloads(spec, raw, source);
  if (spec.kind === 'rules') return validateRules(spec, raw, source);
  // Like --reload: an environment variable holds one glob or a JSON list of them.
  const listFromEnv = (spec.kind === 'globs' || spec.kind === 'strings') && source.kind === 'env' && typeof raw === 'string' && raw.trim().startsWith('[');
  const result = schemaFor(spec).safeParse(listFromEnv ? safeJson(raw as string) : raw);
  if (result.success) return result.data;
  throw configError(`${optionLabel(spec, source)} must be ${ruleText(spec)} (got ${JSON.stringify(raw)})`);
}
