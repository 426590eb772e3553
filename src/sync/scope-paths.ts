import path from 'node:path';
import { configError } from '../errors.js';

/**
 * --path DIR: the parts of a repository a deploy is about (a monorepo's one service). Pure: tested by tables in
 * test/monorepo.test.ts.
 */

/**
 * The paths as git names them (relative to the repository's root, `/`-separated, no `./`, no trailing slash), or the
 * one line that says which value breaks which rule.
 */
export function normalizeScopePaths(raw: readonly string[]): { paths: string[] } | { problem: string } {
  const paths: string[] = [];
  for (const value of raw) {
    const normal = path.posix.normalize(value.replace(/\\/g, '/')).replace(/\/+$/, '');
    const bad = path.posix.isAbsolute(value)
      ? 'absolute'
      : normal === '..' || normal.startsWith('../')
        ? 'outside the repository'
        : normal === '.' || normal === ''
          ? 'the whole repository'
          : undefined;
    if (bad)
      return {
        problem: `--path must be a directory inside the repository, relative to its root (got ${JSON.stringify(value)}: ${bad})`,
      };
    if (!paths.includes(normal)) paths.push(normal);
  }
  return { paths };
}

/** Whether a changed file (as git's diff names it) is one of the paths or under one. */
export function underPaths(file: string, paths: readonly string[]): boolean {
  return paths.some((p) => file === p || file.startsWith(`${p}/`));
}

/** --path and --sparse, checked at start (exit 2): the normalized paths, and the sparse cone when asked for. */
export function scopeOf(config: { path: readonly string[]; sparse: boolean }): {
  paths: string[];
  sparse?: readonly string[];
} {
  const checked = normalizeScopePaths(config.path);
  if ('problem' in checked) throw configError(checked.problem);
  if (config.sparse && checked.paths.length === 0)
    throw configError('--sparse needs --path DIR: the checkout would hold nothing but the files at its root');
  return { paths: checked.paths, ...(config.sparse ? { sparse: checked.paths } : {}) };
}
