/**
 * Test helpers around the real `git` binary: throwaway sandboxes made of a
 * bare "remote", a seed working clone used to author and push commits, and a
 * "checkout" clone that plays the deployed copy.
 *
 * No mocks: every operation spawns real git in real temp directories.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { REPO_LOCATING_VARS } from '../../src/git/env.js';

export interface Sandbox {
  /** mkdtemp dir under os.tmpdir(), prefix 'hotpull-test-' */
  root: string;
  /** `${root}/remote.git`, bare repo, default branch `main` */
  bare: string;
  /** `${root}/seed`, a working clone used to author commits and push */
  seed: string;
  /** `${root}/checkout`, a clone of bare with branch main tracking origin/main */
  checkout: string;
  /** rm -rf root */
  cleanup(): Promise<void>;
}

export const DEFAULT_FILES: Readonly<Record<string, string>> = Object.freeze({
  'app.py': 'VERSION = 1\n',
  'uwsgi.ini': '[uwsgi]\n',
});

const IDENTITY = {
  GIT_AUTHOR_NAME: 'hotpull test',
  GIT_AUTHOR_EMAIL: 'hotpull-test@example.invalid',
  GIT_COMMITTER_NAME: 'hotpull test',
  GIT_COMMITTER_EMAIL: 'hotpull-test@example.invalid',
} as const;

/** Variables that would point git at some *other* repository (the list hotpull itself drops). */
export const GIT_LOCAL_ENV_VARS: readonly string[] = [...REPO_LOCATING_VARS];

/** Environment for child git processes: inherited env minus repo-locating vars, plus a fixed identity. */
export function gitEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (GIT_LOCAL_ENV_VARS.includes(k) || /^GIT_CONFIG_(KEY|VALUE)_\d+$/.test(k)) continue;
    env[k] = v;
  }
  return {
    ...env,
    ...IDENTITY,
    GIT_CONFIG_NOSYSTEM: '1',
    // Never block a test on an interactive credential prompt.
    GIT_TERMINAL_PROMPT: '0',
    ...extra,
  };
}

/**
 * Run real git in `cwd` and return trimmed stdout. Throws (with the command,
 * exit code and stderr in the message) on a non-zero exit.
 */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  // `-c` beats any global config (HOME is left alone), so a user's
  // commit.gpgsign=true or missing identity never breaks the tests.
  const fullArgs = [
    '-c',
    `user.name=${IDENTITY.GIT_COMMITTER_NAME}`,
    '-c',
    `user.email=${IDENTITY.GIT_COMMITTER_EMAIL}`,
    '-c',
    'commit.gpgsign=false',
    '-c',
    'tag.gpgsign=false',
    ...args,
  ];
  const result = await execa('git', fullArgs, {
    cwd,
    env: gitEnv(),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
  });
  if (result.exitCode !== 0 || result.failed) {
    const stderr = String(result.stderr ?? '').trim();
    const stdout = String(result.stdout ?? '').trim();
    const why = result.exitCode !== undefined ? `exit code ${result.exitCode}` : (result.shortMessage ?? 'failed');
    throw new Error(`git ${args.join(' ')} (in ${cwd}) failed with ${why}: ${stderr || stdout || '(no output)'}`);
  }
  return String(result.stdout).trim();
}

export async function tmpDir(prefix = 'hotpull-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function headOf(dir: string, ref = 'HEAD'): Promise<string> {
  return git(dir, 'rev-parse', '--verify', `${ref}^{commit}`);
}

/** Write (string) or delete (null) files relative to `dir`, creating parent dirs as needed. */
async function applyFiles(dir: string, files: Record<string, string | null>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const abs = join(dir, rel);
    if (content === null) {
      await rm(abs, { force: true, recursive: true });
    } else {
      await mkdir(dirname(abs), { recursive: true });
      await writeFile(abs, content);
    }
  }
}

let commitCounter = 0;

async function commitAll(dir: string, message: string): Promise<string> {
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '--allow-empty', '--no-verify', '-q', '-m', message);
  return headOf(dir);
}

export async function makeSandbox(opts: { files?: Record<string, string> } = {}): Promise<Sandbox> {
  const root = await tmpDir('hotpull-test-');
  const bare = join(root, 'remote.git');
  const seed = join(root, 'seed');
  const checkout = join(root, 'checkout');
  const sb: Sandbox = {
    root,
    bare,
    seed,
    checkout,
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
  try {
    await git(root, 'init', '-q', '--bare', '-b', 'main', bare);
    // `git init -b main` + remote add rather than cloning the empty bare repo:
    // git 2.39 names the branch of an empty clone after init.defaultBranch,
    // not after the remote HEAD.
    await git(root, 'init', '-q', '-b', 'main', seed);
    await git(seed, 'remote', 'add', 'origin', bare);
    await applyFiles(seed, opts.files ?? DEFAULT_FILES);
    await commitAll(seed, 'initial commit');
    await git(seed, 'push', '-q', '-u', 'origin', 'main');
    await git(root, 'clone', '-q', '--branch', 'main', bare, checkout);
  } catch (err) {
    await sb.cleanup();
    throw err;
  }
  return sb;
}

export async function commitAndPush(
  sb: Sandbox,
  files: Record<string, string | null>,
  message?: string,
): Promise<string> {
  await applyFiles(sb.seed, files);
  const sha = await commitAll(sb.seed, message ?? `commit ${++commitCounter}`);
  await git(sb.seed, 'push', '-q', 'origin', 'main');
  return sha;
}

export async function forcePush(sb: Sandbox, files: Record<string, string | null>, message?: string): Promise<string> {
  const previous = await headOf(sb.seed);
  const msg = message ?? `rewritten ${++commitCounter}`;
  let hasParent = true;
  try {
    await headOf(sb.seed, 'HEAD~1');
  } catch {
    hasParent = false;
  }
  if (hasParent) {
    await git(sb.seed, 'reset', '-q', '--hard', 'HEAD~1');
  } else {
    // Root commit: make main unborn again (index and worktree are kept) so
    // the next commit starts an unrelated history.
    await git(sb.seed, 'update-ref', '-d', 'refs/heads/main');
  }
  await applyFiles(sb.seed, files);
  let sha = await commitAll(sb.seed, msg);
  if (sha === previous) {
    // Same parent, tree, message and timestamp second as the commit we
    // dropped => identical object. Make it differ so it is a real rewrite.
    await git(
      sb.seed,
      'commit',
      '--amend',
      '--allow-empty',
      '--no-verify',
      '-q',
      '-m',
      `${msg}\n\n(force-push ${++commitCounter})`,
    );
    sha = await headOf(sb.seed);
  }
  await git(sb.seed, 'push', '-q', '--force', 'origin', 'main');
  return sha;
}
