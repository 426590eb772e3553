import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runArgv } from '../proc/exec.js';
import { withoutRepoLocating } from '../git/env.js';
import { HotpullError } from '../errors.js';

/**
 * The demo's repositories, made with the real git binary in a fresh temp dir: a bare remote, a developer
 * clone that authors and pushes commits, and the deployed checkout that hotpull follows.
 */
export interface Sandbox {
  /** the temp dir holding everything; removing it removes the whole demo */
  root: string;
  /** bare repository, branch main */
  remote: string;
  /** the developer's clone */
  dev: string;
  /** the deployed checkout, main tracking origin/main */
  app: string;
  /** environment for every git the demo runs, hotpull's included */
  env: Record<string, string>;
}

export const SANDBOX_PREFIX = 'hotpull-demo-';

const IDENTITY = {
  GIT_AUTHOR_NAME: 'hotpull demo',
  GIT_AUTHOR_EMAIL: 'demo@hotpull.invalid',
  GIT_COMMITTER_NAME: 'hotpull demo',
  GIT_COMMITTER_EMAIL: 'demo@hotpull.invalid',
};

/** The caller's environment made safe for sandbox git: nothing aims it elsewhere, an identity is set. */
export function sandboxGitEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const clean = withoutRepoLocating(env);
  return { ...clean, ...IDENTITY, GIT_TERMINAL_PROMPT: '0' };
}

// `-c` beats the user's global config, so a commit.gpgsign=true or a hooks path elsewhere cannot break the demo.
const OVERRIDES = ['-c', 'commit.gpgsign=false', '-c', 'core.hooksPath=/dev/null', '-c', 'advice.detachedHead=false'];

async function git(cwd: string, args: string[], env: Record<string, string>, signal?: AbortSignal): Promise<string> {
  const result = await runArgv('git', [...OVERRIDES, ...args], {
    cwd,
    env,
    replaceEnv: true,
    signal,
    timeoutMs: 60_000,
  });
  signal?.throwIfAborted();
  const command = `git ${args.join(' ')}`;
  // A Ctrl-C in the terminal reaches git too, possibly before the demo's own handler has run.
  if (result.exitCode === 128 + 2 || result.exitCode === 128 + 15)
    throw new HotpullError('ABORTED', `demo: ${command} was stopped by a signal`, { command });
  if (result.exitCode !== 0) {
    const stderr = result.stderr.trim();
    const why =
      stderr.split('\n').filter(Boolean).slice(-3).join(' | ') || result.startError || `exit code ${result.exitCode}`;
    throw new HotpullError('GIT', `demo: ${command} (in ${cwd}) failed: ${why}`, {
      command,
      stdout: result.stdout,
      stderr,
    });
  }
  return result.stdout.trim();
}

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
}

async function commitAll(
  dir: string,
  message: string,
  env: Record<string, string>,
  signal?: AbortSignal,
): Promise<string> {
  await git(dir, ['add', '-A'], env, signal);
  await git(dir, ['commit', '-q', '--no-verify', '-m', message], env, signal);
  return git(dir, ['rev-parse', 'HEAD'], env, signal);
}

/**
 * Makes the temp dir and the three repositories, the first commit pushed and checked out. On failure or
 * abort the temp dir is removed before the error is rethrown, so a half-made sandbox is never left behind.
 */
export async function createSandbox(options: {
  files: Record<string, string>;
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
}): Promise<Sandbox> {
  const { signal } = options;
  signal?.throwIfAborted();
  const root = await mkdtemp(path.join(tmpdir(), SANDBOX_PREFIX));
  const sandbox: Sandbox = {
    root,
    remote: path.join(root, 'remote.git'),
    dev: path.join(root, 'dev'),
    app: path.join(root, 'app'),
    env: sandboxGitEnv(options.env),
  };
  const { env } = sandbox;
  try {
    await git(root, ['init', '-q', '--bare', '-b', 'main', sandbox.remote], env, signal);
    // init + remote add, not a clone of the empty remote: git 2.39 names an empty clone's branch after
    // init.defaultBranch, not after the remote's HEAD.
    await git(root, ['init', '-q', '-b', 'main', sandbox.dev], env, signal);
    await git(sandbox.dev, ['remote', 'add', 'origin', sandbox.remote], env, signal);
    await writeFiles(sandbox.dev, options.files);
    await commitAll(sandbox.dev, 'first build', env, signal);
    await git(sandbox.dev, ['push', '-q', '--no-verify', '-u', 'origin', 'main'], env, signal);
    await git(root, ['clone', '-q', '--branch', 'main', sandbox.remote, sandbox.app], env, signal);
  } catch (error) {
    await removeSandbox(root);
    throw error;
  }
  return sandbox;
}

/** Writes `files` in the developer clone, commits and pushes; returns the pushed sha once the push is done. */
export async function commitAndPush(
  sandbox: Sandbox,
  files: Record<string, string>,
  message: string,
  signal?: AbortSignal,
): Promise<string> {
  await writeFiles(sandbox.dev, files);
  const sha = await commitAll(sandbox.dev, message, sandbox.env, signal);
  await git(sandbox.dev, ['push', '-q', '--no-verify', 'origin', 'main'], sandbox.env, signal);
  return sha;
}

export async function removeSandbox(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true, maxRetries: 3 });
}
