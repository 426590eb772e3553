import { z } from 'zod';
import { configError } from '../errors.js';
import { parseDuration } from '../duration.js';
import { envName, flagName, type OptionSpec } from './options.js';

/** Where a value came from, so an error can name the option the way the user wrote it. */
export type Source = { kind: 'flag' } | { kind: 'env' } | { kind: 'file'; file: string };

export function optionLabel(spec: Pick<OptionSpec, 'key'>, source: Source): string {
  switch (source.kind) {
    case 'flag':
      return `--${flagName(spec.key)}`;
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
  }
}

/** Validates one raw value; on failure throws the one-line config error: option, rule, bad value. */
export function validateOption(spec: OptionSpec, raw: unknown, source: Source): unknown {
  const result = schemaFor(spec).safeParse(raw);
  if (result.success) return result.data;
  throw configError(`${optionLabel(spec, source)} must be ${ruleText(spec)} (got ${JSON.stringify(raw)})`);
}
