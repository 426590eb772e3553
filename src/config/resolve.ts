import path from 'node:path';
import { defaultOf, OPTIONS, type OptionSpec, type OptionValues } from './options.js';
import { validateOption, type Source } from './schema.js';
import { locationKind } from '../git/location.js';

/** One place options are read from, highest precedence first in a list of layers. */
export interface Layer {
  readonly values: Readonly<Record<string, unknown>>;
  readonly source: Source;
  /** relative paths resolve against this */
  readonly base: string;
}

/** The first layer that sets each option wins; each value is validated where it came from, so an error names it there. */
export function resolveOptions(layers: readonly Layer[], at: { cwd: string; isTTY: boolean }): OptionValues {
  const values: Record<string, unknown> = {};
  for (const spec of OPTIONS as readonly OptionSpec[]) {
    for (const layer of layers) {
      const { kind } = layer.source;
      if (kind === 'flag' && spec.envOnly) continue;
      if (kind === 'env' && spec.configOnly) continue;
      if (kind === 'file' && (spec.noConfigKey || spec.envOnly)) continue;
      const raw = layer.values[spec.key];
      if (raw === undefined || (kind === 'env' && raw === '')) continue;
      const value = validateOption(spec, raw, layer.source);
      // A URL stays a URL: `host up --repo https://…` is what to clone, not a path under the working directory.
      values[spec.key] =
        spec.kind === 'path' && locationKind(value as string) !== 'url'
          ? path.resolve(layer.base, value as string)
          : value;
      break;
    }
  }
  return Object.fromEntries(
    (OPTIONS as readonly OptionSpec[]).map((spec) => [spec.key, values[spec.key] ?? defaultOf(spec, at)]),
  ) as OptionValues;
}
