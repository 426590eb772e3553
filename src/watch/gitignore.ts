import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import type { PathKind } from './ignore.js';

/** Reads a file's text; undefined when there is none (or it cannot be read: then it cannot ignore anything). */
export type ReadText = (file: string) => string | undefined;

const readOrUndefined: ReadText = (file) => {
  // Most directories have no .gitignore: a stat that does not throw is several times cheaper than a failed read.
  if (!statSync(file, { throwIfNoEntry: false })) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

export interface GitIgnored {
  /** Is this repo-relative path (posix separators) ignored by the checkout's .gitignore files or .git/info/exclude? */
  (rel: string, kind: PathKind): boolean;
  /** Forgets the rules read from the .gitignore in this repo-relative directory: the file changed. */
  forget(dir: string): void;
  /** A directory's names as just listed: one without a .gitignore needs no look for it. */
  listed(dir: string, names: readonly string[]): void;
}

/**
 * The one adapter of `ignore` (git's own matching rules, negation and anchoring included): what git would leave
 * untracked is no reason to reload. Each directory's .gitignore is read the first time a path below it is asked
 * about; a deeper file's verdict wins over a shallower one's, and .git/info/exclude comes last, as in git.
 * A directory git ignores is not entered at all, so a `!` rule cannot bring back a file below it (git alike).
 * The user's global excludes file (core.excludesFile) is not read: it is about their editor, not the project.
 */
export function gitIgnored(root: string, read: ReadText = readOrUndefined): GitIgnored {
  const rules = new Map<string, Ignore | null>();
  const rulesOf = (dir: string): Ignore | null => {
    let found = rules.get(dir);
    if (found === undefined) {
      const text = read(path.join(root, dir, '.gitignore'));
      found = text === undefined ? null : ignore().add(text);
      rules.set(dir, found);
    }
    return found;
  };
  const exclude = read(path.join(root, '.git', 'info', 'exclude'));
  const excluded = exclude === undefined ? null : ignore().add(exclude);

  /** `rel` relative to `dir`, with a trailing slash for a directory (how `ignore` tells a `build/` rule applies). */
  const verdict = (rel: string, asDir: boolean): boolean => {
    const parts = rel.split('/');
    for (let depth = parts.length - 1; depth >= 0; depth--) {
      const dirRules = rulesOf(parts.slice(0, depth).join('/'));
      if (!dirRules) continue;
      const result = dirRules.test(parts.slice(depth).join('/') + (asDir ? '/' : ''));
      if (result.ignored) return true;
      if (result.unignored) return false;
    }
    return excluded?.ignores(rel + (asDir ? '/' : '')) ?? false;
  };

  const matcher = (rel: string, kind: PathKind) => {
    if (rel === '' || rel === '.') return false;
    // Unknown (inotify did not say): a rule for either applies.
    return kind === 'dir'
      ? verdict(rel, true)
      : kind === 'file'
        ? verdict(rel, false)
        : verdict(rel, true) || verdict(rel, false);
  };
  return Object.assign(matcher, {
    forget: (dir: string) => void rules.delete(dir),
    listed: (dir: string, names: readonly string[]) => {
      if (!rules.has(dir) && !names.includes('.gitignore')) rules.set(dir, null);
    },
  });
}
