import { pathMatcher } from '../glob.js';

/**
 * Never worth a reload: git's own data, bytecode the app server writes as it imports, dependency trees and
 * virtualenvs, and the files editors write beside the one being edited (vim's `.swp` and its `4913` write probe,
 * Emacs's `~` backups and `.#` lock links).
 */
export const DEFAULT_IGNORES: readonly string[] = [
  '.git/',
  '__pycache__/',
  '*.pyc',
  'node_modules/',
  '.venv/',
  'venv/',
  '*.swp',
  '*~',
  '.#*',
  '4913',
];

/** What a path is; undefined when unknown (inotify reports a create or delete without saying which). */
export type PathKind = 'file' | 'dir' | undefined;

export interface IgnoreOptions {
  /** globs over repo-relative paths, gitignore-like: no slash = a name at any depth, trailing slash = a directory */
  readonly ignore: readonly string[];
  /** only files with these extensions count (no dot; empty = every file); directories always count */
  readonly ext: readonly string[];
  /** repo-relative paths that reloading itself writes (the touch file): a reload must not cause the next one */
  readonly reloadFiles: readonly string[];
  /** what else to ignore, e.g. what the checkout's .gitignore files say (gitignore.ts) */
  readonly also?: (path: string, kind: PathKind) => boolean;
}

/**
 * Builds the one decision "does a change to this repo-relative path (posix separators) matter?". A path is
 * ignored when it or any directory above it matches a glob. Pure: no file system access.
 */
export function ignoreMatcher(options: IgnoreOptions): (path: string, kind?: PathKind) => boolean {
  const dirGlobs = options.ignore.filter((g) => g.endsWith('/')).map((g) => g.replace(/\/+$/, ''));
  const anyGlobs = options.ignore.filter((g) => !g.endsWith('/'));
  const isDirMatch = dirGlobs.length ? pathMatcher(dirGlobs) : () => false;
  const isAnyMatch = anyGlobs.length ? pathMatcher(anyGlobs) : () => false;
  const exact = new Set(options.reloadFiles);
  const also = options.also ?? (() => false);
  const suffixes = options.ext.map((e) => `.${e.toLowerCase()}`);
  // Ancestors repeat for every file below them: 50,000 files sit in a few thousand directories.
  const dirCache = new Map<string, boolean>();
  const dirIgnored = (dir: string): boolean => {
    let hit = dirCache.get(dir);
    if (hit === undefined) {
      const slash = dir.lastIndexOf('/');
      hit =
        (slash > 0 && dirIgnored(dir.slice(0, slash))) ||
        isDirMatch(dir) ||
        isAnyMatch(dir) ||
        exact.has(dir) ||
        also(dir, 'dir');
      dirCache.set(dir, hit);
    }
    return hit;
  };

  return (path, kind) => {
    if (path === '' || path === '.') return false;
    const slash = path.lastIndexOf('/');
    if (slash > 0 && dirIgnored(path.slice(0, slash))) return true;
    if (exact.has(path) || isAnyMatch(path)) return true;
    // Unknown may be either: directory globs apply, and so does --ext.
    if (kind !== 'file' && isDirMatch(path)) return true;
    if (also(path, kind)) return true;
    if (kind !== 'dir' && suffixes.length > 0) {
      const lower = path.toLowerCase();
      return !suffixes.some((s) => lower.endsWith(s));
    }
    return false;
  };
}
