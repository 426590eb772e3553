import picomatch from 'picomatch';

/** The one adapter to picomatch: globs over repo-relative paths, shared by onChange rules (deploy/) and watch/. */

/**
 * gitignore-like: a glob without a slash matches the file name in any directory, one with a slash matches the
 * whole repo-relative path. (picomatch's own `basename` option also breaks globs that contain slashes.)
 */
export function pathMatcher(globs: readonly string[]): (file: string) => boolean {
  const byName = globs.filter((g) => !g.includes('/'));
  const byPath = globs.filter((g) => g.includes('/')).map((g) => g.replace(/^\//, ''));
  const name = byName.length ? picomatch(byName, { dot: true }) : () => false;
  const full = byPath.length ? picomatch(byPath, { dot: true }) : () => false;
  return (file) => full(file) || name(file.slice(file.lastIndexOf('/') + 1));
}
