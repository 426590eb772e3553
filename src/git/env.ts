/**
 * Variables that point git at some other repository than the one it runs in (set, for instance, inside a git
 * hook, or left in a Supervisor or Docker environment): `git rev-parse --local-env-vars` on git 2.39. Every git
 * hotpull runs is aimed at a directory of its own choosing, so these are dropped from the environment it gets.
 */
export const REPO_LOCATING_VARS: ReadonlySet<string> = new Set([
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_CONFIG',
  'GIT_CONFIG_PARAMETERS',
  'GIT_CONFIG_COUNT',
  'GIT_OBJECT_DIRECTORY',
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_IMPLICIT_WORK_TREE',
  'GIT_GRAFT_FILE',
  'GIT_INDEX_FILE',
  'GIT_NO_REPLACE_OBJECTS',
  'GIT_REPLACE_REF_BASE',
  'GIT_PREFIX',
  'GIT_INTERNAL_SUPER_PREFIX',
  'GIT_SHALLOW_FILE',
  'GIT_COMMON_DIR',
]);

/** The environment without repo-locating variables (GIT_CONFIG_KEY_n/VALUE_n go with GIT_CONFIG_COUNT). */
export function withoutRepoLocating(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const clean: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || REPO_LOCATING_VARS.has(key) || /^GIT_CONFIG_(KEY|VALUE)_\d+$/.test(key)) continue;
    clean[key] = value;
  }
  return clean;
}
