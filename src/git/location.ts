/**
 * What a --remote (or host up --repo) text names: a URL git fetches from (scheme://… or scp-like host:path, a
 * colon before any slash), a path on this machine, or the name of a remote of the checkout. A remote's name
 * holds no '/', ':' or '\' and does not start with '.' (git refuses such names in refs). The one check
 * config loading, target resolution and the git adapter share.
 */
export function locationKind(text: string): 'url' | 'path' | 'name' {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) || /^[^/\\]+:/.test(text)) return 'url';
  if (/[/\\]/.test(text) || text.startsWith('.')) return 'path';
  return 'name';
}

/** Why `name` cannot be a branch name git accepts; undefined when it can. Checked at the edge, before git sees it. */
export function branchNameProblem(name: string): string | undefined {
  if (name.startsWith('-')) return 'it starts with "-"';
  if (/[\s~^:?*[\\]|\.\.|@\{/.test(name)) return 'it holds a space, ~ ^ : ? * [ \\, ".." or "@{"';
  return undefined;
}
