import { runArgv } from '../proc/exec.js';
import { GIT_OWNER_VAR, gitOwnerMark } from './leftovers.js';
import { accessSync, constants, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inSlot } from '../proc/slots.js';
import { simpleGit, GitError, type SimpleGit } from 'simple-git';
import { gitSpawnError, HotpullError, interruptedError } from '../errors.js';
import { redact } from '../redact.js';
import { locationKind } from './location.js';
import { LsRemoteCoprocess, lsRemoteScope } from './coprocess.js';
import { NativePoll, userConfigFiles } from './native-poll.js';
import { withoutRepoLocating } from './env.js';
import { RemoteAuth, type AuthOptions } from './auth.js';
import { remoteKind, scopedCredentials } from './credentials.js';
import { sshCommand } from './ssh.js';

/**
 * The one simple-git adapter. Every git command hotpull runs goes through `Git.run`, which
 * - passes `-c safe.directory=<checkout>` so a volume owned by another uid works without touching the
 *   user's global git config ("dubious ownership"),
 * - never lets git prompt (GIT_TERMINAL_PROMPT=0, ssh BatchMode) and forces C-locale messages,
 * - bounds network steps with a timeout and a shutdown signal (simple-git kills git with SIGINT, on which git
 *   removes its own lock files),
 * - turns failures into HotpullError with the command, stdout and stderr, credentials redacted.
 *
 * simple-git waits an extra 50 ms after any git process that printed nothing (its completion plugin), so
 * every command on the sync path is phrased to print something: `merge-base` instead of `--is-ancestor`,
 * `cat-file -t` instead of `-e`, `status --branch`, `fetch --verbose`, merge and reset without --quiet.
 */
const UNSAFE_ALLOWED = Object.fromEntries(
  [
    'Alias',
    'AskPass',
    'CommandBinaries',
    'ConfigEnvCount',
    'ConfigPaths',
    'CredentialHelper',
    'DiffExternal',
    'DiffTextConv',
    'Editor',
    'Exec',
    'Filter',
    'FsMonitor',
    'GitProxy',
    'GpgProgram',
    'HooksPath',
    'Include',
    'MergeDriver',
    'Pack',
    'Pager',
    'ProtocolOverride',
    'SshCommand',
    'Submodule',
    'TemplateDir',
    'UrlRewrite',
  ].map((name) => [`allowUnsafe${name}`, true]),
);

export interface RunOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** this command's environment instead of the adapter's (submodules: credentials scoped to the remote's host) */
  env?: Record<string, string>;
}

/** The lines of git's stderr that say what went wrong (fatal:/error:), else its last lines; advice dropped. */
export function gist(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const errors = lines.filter((l) => /^(fatal|error):/.test(l));
  return (errors.length > 0 ? errors : lines.slice(-3)).join(' | ');
}

function directoryState(dir: string): 'ok' | 'missing' | 'unreadable' {
  try {
    accessSync(dir, constants.R_OK | constants.X_OK);
    return 'ok';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
  }
}

export class Git {
  readonly dir: string;
  private gitDirPath?: string;
  private lsRemoteHelper?: LsRemoteCoprocess;
  private nativePoll?: NativePoll;
  private env: Record<string, string>;
  /** the environment as the user gave it (their GIT_SSH_COMMAND, GIT_CONFIG_GLOBAL) */
  private readonly userEnv: Readonly<Record<string, string>>;
  private auth?: RemoteAuth;
  /** the remote's URL, as prepareRemote read it (submodules are trusted and credentialed by it) */
  private remoteUrl?: string;
  /** told of every git command run (redacted) and how long it took, for debug logs */
  onCommand?: (command: string, ms: number, failed: boolean) => void;

  constructor(dir: string, env: Readonly<Record<string, string | undefined>> = process.env) {
    this.dir = realpathSync(dir);
    const clean = withoutRepoLocating(env);
    this.userEnv = clean;
    this.env = {
      ...clean,
      GIT_TERMINAL_PROMPT: '0',
      GIT_SSH_COMMAND: sshCommand({}, clean),
      LC_ALL: 'C',
      // found again by the next start if a kill -9 leaves it running (leftovers.ts)
      [GIT_OWNER_VAR]: gitOwnerMark(this.dir),
    };
  }

  /**
   * Readies a remote (a name of the checkout's, or a URL) for the commands to come and returns it as it may
   * appear on git's command line. Reads the remote's URL once for two things:
   * - authentication (auth.ts): the ssh command with the deploy key and known_hosts file, or a credential
   *   helper in git's environment (GIT_CONFIG_COUNT) that gives git the password: command lines are
   *   world-readable (ps, /proc/<pid>/cmdline, and git hands the URL on to git-remote-http's argv), the
   *   environment is not. A password in an http(s) URL is taken out of it. Bad auth options: config error;
   * - a remote that is a directory on this machine, owned by another uid, trips "dubious ownership" in the
   *   upload-pack git starts there, which `-c safe.directory` does not reach (git clears command-line config
   *   for the other repository). Global config does: git gets a global config file of hotpull's own that
   *   includes the user's real ones and trusts that one directory. The user's files are never written.
   */
  async prepareRemote(remote: string, options: AuthOptions = {}, { trustLocal = true } = {}): Promise<string> {
    const url = (locationKind(remote) !== 'name' ? remote : await this.getConfig(`remote.${remote}.url`)) ?? remote;
    const auth = await RemoteAuth.prepare(remote, url, options, this.userEnv);
    this.lsRemoteHelper?.close(); // it would keep the environment it was started with
    this.lsRemoteHelper = undefined;
    this.nativePoll = undefined; // its route was worked out in the old environment
    const env = { ...this.env, ...auth.env };
    for (const name of auth.drop) delete env[name];
    this.env = env;
    this.auth = auth;
    this.remoteUrl = url;
    if (trustLocal && remoteKind(url) === 'local')
      await this.trustDirectory(url.startsWith('file://') ? fileURLToPath(url) : path.resolve(this.dir, url));
    return auth.remote;
  }

  /** Which authentication the remote uses, for status output (`ssh key /path`, `password file /path`); never the secret. */
  get authLabel(): string | undefined {
    return this.auth?.label;
  }

  /**
   * A network step: the auth files are checked first (a rotated Secret may be missing for a moment, a key may
   * have been made world-readable), and an authentication failure comes back as one line saying what to do.
   */
  private async network<T>(step: () => Promise<T>): Promise<T> {
    await this.auth?.preflight();
    try {
      return await step();
    } catch (error) {
      if (!this.auth || !(error instanceof HotpullError) || error.code !== 'GIT') throw error;
      const why = await this.auth.explain(error.stderr ?? error.message);
      if (!why) throw error;
      throw new HotpullError('GIT', `${error.command ?? 'git'} failed: ${redact(why)}`, {
        cause: error,
        command: error.command,
        stderr: error.stderr,
      });
    }
  }

  /** The repository's (common) git directory: `.git` or a bare repository without a spawn, else git says. */
  private async commonDir(): Promise<string> {
    const dotGit = path.join(this.dir, '.git');
    if ((await stat(dotGit).catch(() => undefined))?.isDirectory()) return dotGit;
    const isDir = async (name: string) =>
      (await stat(path.join(this.dir, name)).catch(() => undefined))?.isDirectory() === true;
    if (
      (await isDir('objects')) &&
      (await isDir('refs')) &&
      (await stat(path.join(this.dir, 'HEAD')).catch(() => undefined))
    )
      return this.dir;
    return path.resolve(this.dir, (await this.run(['rev-parse', '--git-common-dir'])).trim());
  }

  /**
   * The global config file of hotpull's own lives in the repository's git directory under a fixed name and is
   * rewritten (atomically) only when its content changes: nothing is left in $TMPDIR by any process.
   */
  private async trustDirectory(dir: string): Promise<void> {
    let real: string;
    let gitDir: string;
    try {
      real = realpathSync(dir);
      gitDir = await this.commonDir();
    } catch {
      return;
    }
    const home = this.env.HOME ?? homedir();
    const includes = this.userEnv.GIT_CONFIG_GLOBAL
      ? [this.userEnv.GIT_CONFIG_GLOBAL]
      : [
          path.join(this.env.XDG_CONFIG_HOME ?? path.join(home, '.config'), 'git', 'config'),
          path.join(home, '.gitconfig'),
        ];
    const quote = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    const text = `# written by hotpull: your global git config, plus trust in the local remote\n[include]\n${includes.map((f) => `\tpath = ${quote(f)}\n`).join('')}[safe]\n\tdirectory = ${quote(real)}\n`;
    const shim = path.join(gitDir, 'hotpull-global.gitconfig');
    if ((await readFile(shim, 'utf8').catch(() => undefined)) !== text) {
      const temp = `${shim}.${process.pid}.tmp`;
      await writeFile(temp, text, { mode: 0o600 });
      await rename(temp, shim);
    }
    this.env = { ...this.env, GIT_CONFIG_GLOBAL: shim };
  }

  private client(signal?: AbortSignal, env: Record<string, string> = this.env): SimpleGit {
    return simpleGit({
      baseDir: this.dir,
      // maintenance.auto=false: fetch and merge would each start `git maintenance run --auto` and wait for it,
      // one more process on the way from push to reload (25-50 ms at load 5); housekeeping() runs it after the pass
      config: [`safe.directory=${this.dir}`, 'maintenance.auto=false'],
      abort: signal,
      maxConcurrentProcesses: 1,
      // simple-git strips or refuses GIT_* variables unless allowed; the environment we pass is the
      // operator's own (proxies, CA bundles, GIT_SSH_COMMAND), so all of it is allowed through.
      allowEnvironment: Object.keys(env),
      // simple-git refuses to run when the environment names an ssh command, askpass, editor, pager, config
      // paths… The environment is the operator's (Supervisor, Docker, CI) and must keep working; the arguments
      // are fixed by this module and never carry outside input, so its argument guards have nothing to catch.
      unsafe: UNSAFE_ALLOWED,
      // simple-git treats a non-zero exit with empty stderr as success; `merge-base --is-ancestor` and
      // `cat-file -e` answer exactly that way, so any non-zero exit is an error here.
      errors: (error, result) =>
        error ??
        (result.exitCode === 0
          ? undefined
          : Buffer.concat([
              ...result.stdErr,
              Buffer.from(
                typeof result.exitCode === 'number' && result.exitCode >= 0
                  ? `exit code ${result.exitCode}`
                  : 'git was killed by a signal',
              ),
            ])),
    }).env(env);
  }

  async run(args: string[], options: RunOptions = {}): Promise<string> {
    const signals: AbortSignal[] = [];
    if (options.signal) signals.push(options.signal);
    if (options.timeoutMs) signals.push(AbortSignal.timeout(options.timeoutMs));
    const signal = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
    const command = redact(`git ${args.join(' ')}`);
    const started = performance.now();
    let failed = true;
    try {
      // in a many-apps process, one of the shared git slots (proc/slots.ts)
      const out = await inSlot('git', this.dir, () => this.client(signal, options.env).raw(args), signal);
      failed = false;
      return out;
    } catch (error) {
      if (signal?.aborted)
        throw interruptedError(options.signal?.aborted ? 'stopped' : 'timeout', command, options.timeoutMs, {
          cause: error,
        });
      const stderr = redact(error instanceof GitError ? error.message : String(error)).trim();
      const spawnCode = /^Error: spawn \S+ (E[A-Z]+)$/m.exec(stderr)?.[1];
      if (spawnCode) throw gitSpawnError(spawnCode, this.dir, directoryState(this.dir), { cause: error, command });
      throw new HotpullError('GIT', `${command} failed: ${gist(stderr)}`, {
        cause: error,
        command,
        stderr,
      });
    } finally {
      this.onCommand?.(command, Math.round(performance.now() - started), failed);
    }
  }

  /**
   * The repository's git directory, asked of git once per instance: the path of a checkout's (or a bare
   * repository's) git directory does not change under it, and every state file, lock and ref read starts here.
   */
  async gitDir(): Promise<string> {
    return (this.gitDirPath ??= (await this.run(['rev-parse', '--absolute-git-dir'])).trim());
  }

  async topLevel(): Promise<string> {
    return (await this.run(['rev-parse', '--show-toplevel'])).trim();
  }

  async head(): Promise<string> {
    return (await this.run(['rev-parse', '--verify', 'HEAD^{commit}'])).trim();
  }

  /**
   * HEAD's sha read from the files git keeps it in, without spawning git: the daemon asks every poll, and a
   * spawn from a 70 MB process is most of its idle CPU. Anything unusual (linked worktree, reftable, a
   * symbolic ref missing from both places) falls back to `git rev-parse`.
   */
  async headFromFiles(): Promise<string> {
    const gitDir = await this.gitDir();
    try {
      const head = (await readFile(path.join(gitDir, 'HEAD'), 'utf8')).trim();
      if (/^[0-9a-f]{40}$/.test(head)) return head;
      const ref = /^ref: (refs\/[^\s]+)$/.exec(head)?.[1];
      const sha = ref ? await this.refFromFiles(ref) : undefined;
      if (sha) return sha;
    } catch {
      // fall through
    }
    return this.head();
  }

  /**
   * A branch or remote-tracking ref (refs/…) read from the loose ref file or packed-refs, without a process;
   * undefined when neither has it (git would know more: a symbolic ref, a reftable): ask `resolve` then.
   */
  async refFromFiles(ref: string): Promise<string | undefined> {
    if (!/^refs\/[^\s]+$/.test(ref) || ref.includes('..')) return undefined;
    const dir = await this.gitDir();
    const loose = (await readFile(path.join(dir, ref), 'utf8').catch(() => '')).trim();
    if (/^[0-9a-f]{40}$/.test(loose)) return loose;
    if (loose !== '') return undefined;
    const packed = await readFile(path.join(dir, 'packed-refs'), 'utf8').catch(() => '');
    const sha = packed
      .split('\n')
      .find((l) => l.endsWith(` ${ref}`))
      ?.slice(0, 40);
    return sha && /^[0-9a-f]{40}$/.test(sha) ? sha : undefined;
  }

  async resolve(ref: string): Promise<string | undefined> {
    try {
      return (await this.run(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])).trim() || undefined;
    } catch {
      return undefined;
    }
  }

  async currentBranch(): Promise<string | undefined> {
    const out = await this.run(['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => '');
    return out.trim() || undefined;
  }

  /** The upstream of the current branch as { remote, branch }, if one is configured. */
  async upstream(): Promise<{ remote: string; branch: string } | undefined> {
    const branch = await this.currentBranch();
    if (!branch) return undefined;
    const remote = (await this.run(['config', '--get', `branch.${branch}.remote`]).catch(() => '')).trim();
    const merge = (await this.run(['config', '--get', `branch.${branch}.merge`]).catch(() => '')).trim();
    if (!remote || !merge.startsWith('refs/heads/')) return undefined;
    return { remote, branch: merge.slice('refs/heads/'.length) };
  }

  async remotes(): Promise<string[]> {
    return (await this.run(['remote']))
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
  }

  /**
   * The remote's sha for refs/heads/<branch>, without fetching anything; undefined when the branch is absent.
   * Runs through a long-lived helper shell (see coprocess.ts): this is the call made on every poll. A git://
   * remote is read by hotpull itself when that is safe (native-poll.ts); on a failure that is not a timeout or a
   * stop, git answers that poll.
   */
  async lsRemote(remote: string, branch: string, options: RunOptions): Promise<string | undefined> {
    this.nativePoll ??= new NativePoll({
      env: () => this.env,
      run: (args) => this.run(args),
      configFiles: async () => [
        path.join(await this.commonDir(), 'config'),
        ...userConfigFiles([this.env, this.userEnv]),
      ],
    });
    const native = await this.nativePoll.poll(remote, branch, options, this.onCommand);
    if (native) return native.sha;
    const output = await this.lsRemoteRaw(remote, `refs/heads/${branch}`, options);
    for (const line of output.split('\n')) {
      const [sha, ref] = line.split('\t');
      if (ref === `refs/heads/${branch}` && sha) return sha.trim();
    }
    return undefined;
  }

  /**
   * git ls-remote's lines for a pattern (refs/heads/X, refs/tags/GLOB, or a bare name for both), through the same
   * helper shell as lsRemote; --ref's resolution reads them (sync/ref.ts).
   */
  async lsRemoteRaw(remote: string, pattern: string, options: RunOptions): Promise<string> {
    const { output } = await this.network(async () => {
      this.lsRemoteHelper ??= new LsRemoteCoprocess(this.dir, this.env);
      const command = redact(`git ls-remote ${lsRemoteScope(pattern)}-- ${remote} ${pattern}`);
      const started = performance.now();
      const took = () => Math.round(performance.now() - started);
      const result = await this.lsRemoteHelper.run({ remote, ref: pattern, ...options }).catch((error: unknown) => {
        this.onCommand?.(command, took(), true);
        throw error;
      });
      this.onCommand?.(command, took(), result.code !== 0);
      if (result.code !== 0) {
        throw new HotpullError('GIT', `${command} failed: ${gist(redact(result.output))}`, {
          command,
          stderr: redact(result.output),
        });
      }
      return result;
    });
    return output;
  }

  /** objects came in (fetch, merge) since git's housekeeping last ran */
  private wroteObjects = false;

  /**
   * `git maintenance run --auto` (packs loose objects past gc.auto, as fetch and merge would have done) once objects
   * came in: after a pass, off the way from push to reload. Housekeeping never fails a deploy: its errors are only
   * told to onCommand's debug log.
   */
  async housekeeping(options: RunOptions = {}): Promise<void> {
    if (!this.wroteObjects) return;
    this.wroteObjects = false;
    // in a process group of its own: a stop (a deploy it yields to) ends the gc or repack it started too. Git's
    // repack is safe to end at any point (new packs are complete before old ones go); an ended run is owed again.
    const args = ['-c', `safe.directory=${this.dir}`, 'maintenance', 'run', '--auto', '--quiet'];
    const started = performance.now();
    const result = await runArgv('git', args, {
      cwd: this.dir,
      env: this.env,
      replaceEnv: true,
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? 60_000,
    }).catch(() => undefined);
    if (options.signal?.aborted) this.wroteObjects = true;
    this.onCommand?.(`git ${args.join(' ')}`, Math.round(performance.now() - started), result?.exitCode !== 0);
  }

  /** Ends helper processes this adapter keeps (the ls-remote shell). */
  close(): void {
    this.lsRemoteHelper?.close();
  }

  /** Fetches the one branch into `destRef` (no tags, no submodules). */
  async fetchBranch(
    remote: string,
    branch: string,
    destRef: string,
    options: RunOptions & { depth?: number },
  ): Promise<void> {
    await this.fetchRef(remote, `refs/heads/${branch}`, destRef, options);
  }

  /** Fetches one remote ref (a branch, a tag) or one commit by its full sha into `destRef` (no tags, no submodules). */
  async fetchRef(
    remote: string,
    source: string,
    destRef: string,
    options: RunOptions & { depth?: number },
  ): Promise<void> {
    this.wroteObjects = true;
    await this.network(() =>
      this.run(
        [
          'fetch',
          '--verbose',
          '--no-tags',
          '--no-recurse-submodules',
          '--no-write-fetch-head',
          ...(options.depth ? [`--depth=${options.depth}`] : []),
          '--',
          remote,
          `+${source}:${destRef}`,
        ],
        options,
      ),
    );
  }

  /** A first clone into this (empty) directory; `url` as prepareRemote returned it. */
  async clone(url: string, branch: string | undefined, options: RunOptions): Promise<void> {
    await this.network(() => this.run(['clone', ...(branch ? ['--branch', branch] : []), '--', url, '.'], options));
  }

  async hasCommit(sha: string): Promise<boolean> {
    try {
      return (await this.run(['cat-file', '-t', sha])).trim() === 'commit';
    } catch (error) {
      if (error instanceof HotpullError && error.code === 'GIT') return false;
      throw error;
    }
  }

  /** The best common ancestor of two commits; undefined when they share no history. */
  async mergeBase(a: string, b: string): Promise<string | undefined> {
    try {
      return (await this.run(['merge-base', a, b])).trim() || undefined;
    } catch (error) {
      if (error instanceof HotpullError && error.code === 'GIT') return undefined;
      throw error;
    }
  }

  /**
   * Tracked files that differ from HEAD (staged or not); untracked files do not count. Without git's optional lock:
   * a status that refreshes the index writes it, which on a full disk is fatal (`index.lock write error`), and the
   * undo of an apply that filled the disk asks this before it removes what makes room.
   */
  async modifiedFiles(): Promise<string[]> {
    const out = await this.run([
      '--no-optional-locks',
      'status',
      '--porcelain=v2',
      '--branch',
      '--untracked-files=no',
      '--ignore-submodules=dirty',
    ]);
    // v2 lines: "1 XY sub mH mI mW hH hI path" for changes, "2 ... path\torig" for renames, "u ..." for conflicts
    return out
      .split('\n')
      .filter((l) => /^[12u] /.test(l))
      .map((l) => {
        const fields = l.split(' ');
        const pathPart = fields.slice(l.startsWith('1 ') ? 8 : l.startsWith('2 ') ? 9 : 10).join(' ');
        return pathPart.split('\t')[0]!;
      });
  }

  /** Fast-forwards; refuses (like for untracked files) when an ignored file is in the way: nothing is overwritten silently. */
  async fastForward(sha: string): Promise<void> {
    this.wroteObjects = true;
    await this.run(['merge', '--ff-only', '--no-overwrite-ignore', '--no-edit', '--no-stat', sha]);
  }

  /** Whether a path in the working tree is unknown to the index. */
  async isUntracked(file: string): Promise<boolean> {
    return (await this.run(['--literal-pathspecs', 'ls-files', '-z', '--', file])).length === 0;
  }

  /** Paths a commit range adds (absent in `from`, present in `to`). */
  async addedPaths(from: string, to: string): Promise<string[]> {
    // Every change, filtered here: `--diff-filter=A` prints nothing for a deploy that adds no file, and simple-git
    // waits 50 ms more after a git that printed nothing. -z --name-status: status NUL path NUL, per path.
    const fields = (await this.run(['diff', '--name-status', '--no-renames', '-z', from, to])).split('\0');
    const added: string[] = [];
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'A') added.push(fields[i + 1]!);
    return added;
  }

  /**
   * Sets `paths` in the index and working tree to their state in `sha` (removing those it lacks) and, with
   * `unstage`, puts the index back to HEAD for them. Paths are literal (no glob magic) and go through a file, so
   * any number of them and any name works.
   */
  async checkoutPaths(sha: string, paths: readonly string[], specFile: string, unstage = false): Promise<void> {
    if (paths.length === 0) return;
    const { writeFile: write } = await import('node:fs/promises');
    await write(specFile, `${paths.join('\0')}\0`);
    const spec = [`--pathspec-from-file=${specFile}`, '--pathspec-file-nul'];
    await this.run(['--literal-pathspecs', 'checkout', '--no-overlay', sha, ...spec]);
    if (unstage) await this.run(['--literal-pathspecs', 'reset', 'HEAD', ...spec]).catch(() => undefined);
  }

  async resetHard(sha: string): Promise<void> {
    await this.run(['reset', '--hard', sha]);
  }

  async updateRef(ref: string, sha: string, reason: string): Promise<void> {
    await this.run(['update-ref', '-m', reason, ref, sha]);
  }

  async deleteRef(ref: string): Promise<void> {
    await this.run(['update-ref', '-d', ref]);
  }

  /** A commit holding the working tree's tracked changes (git stash create), without touching the tree. */
  async stashCreate(message: string): Promise<string | undefined> {
    return (await this.run(['stash', 'create', message])).trim() || undefined;
  }

  /** Creates an empty bare repository at `dir` (made if missing) and returns its adapter. */
  static async initBare(dir: string, env: Readonly<Record<string, string | undefined>>): Promise<Git> {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    const git = new Git(dir, env);
    await git.run(['init', '--bare', '--quiet', '.']).catch(async () => git.run(['init', '--bare', '.']));
    return git;
  }

  async setConfig(key: string, value: string): Promise<void> {
    await this.run(['config', key, value]);
  }

  async getConfig(key: string): Promise<string | undefined> {
    return (await this.run(['config', '--get', key]).catch(() => '')).trim() || undefined;
  }

  async setRemote(name: string, url: string): Promise<void> {
    const current = await this.getConfig(`remote.${name}.url`);
    if (current === url) return;
    await this.run(current === undefined ? ['remote', 'add', name, url] : ['remote', 'set-url', name, url]);
  }

  /** The branch a remote's HEAD points to (its default branch), without fetching. */
  async remoteDefaultBranch(remote: string, options: RunOptions): Promise<string | undefined> {
    const out = await this.network(() => this.run(['ls-remote', '--symref', '--', remote, 'HEAD'], options));
    return /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec(out)?.[1];
  }

  /** A complete checkout of `sha` at `dir` (detached), registered as a linked worktree of this repository. */
  /** `sparse`: the worktree holds only these directories (and the root's files): cone mode, set before the checkout */
  async worktreeAdd(dir: string, sha: string, sparse?: readonly string[]): Promise<void> {
    if (!sparse) {
      await this.run(['worktree', 'add', '--detach', '--force', dir, sha]);
      return;
    }
    await this.run(['worktree', 'add', '--detach', '--force', '--no-checkout', dir, sha]);
    const tree = new Git(dir, this.userEnv);
    await tree.sparseCheckout(sparse);
    await tree.run(['checkout', '--detach', '--force', sha]);
  }

  /**
   * The submodules of the tree at `dir` (this repository's worktree or one linked to it) at the commits the tree
   * records: `submodule update --init --recursive`, shallow (`--depth 1`) when this repository is. A tree without
   * .gitmodules runs nothing. Credentials apply as to the remote, to the remote's own host only (see
   * scopedCredentials); a submodule on this machine (file://, a path) is allowed only when the remote is too.
   */
  async updateSubmodules(dir: string, options: RunOptions = {}): Promise<void> {
    if (!(await stat(path.join(dir, '.gitmodules')).catch(() => undefined))) return;
    const shallow = (await this.run(['rev-parse', '--is-shallow-repository'])).trim() === 'true';
    const local = this.remoteUrl !== undefined && remoteKind(this.remoteUrl) === 'local';
    const git = [...(local ? ['-c', 'protocol.file.allow=always'] : []), '-C', dir, 'submodule'];
    const env = this.remoteUrl ? scopedCredentials(this.env, this.remoteUrl) : this.env;
    // the URLs the revision's .gitmodules names, not those of the revision before it
    await this.run([...git, 'sync', '--recursive'], options);
    const update = ['update', '--init', '--recursive', ...(shallow ? ['--depth', '1'] : [])];
    await this.network(() => this.run([...git, ...update], { ...options, env }));
  }

  /**
   * The tree at `dir` as it is served: its submodules (updateSubmodules), then the real contents of its LFS files
   * (`git lfs pull`, when the root's .gitattributes uses filter=lfs; the lfs step refuses a revision like that when
   * git-lfs is missing, before anything is put on disk).
   */
  async fillTree(dir: string, options: RunOptions = {}): Promise<void> {
    await this.updateSubmodules(dir, options);
    const attributes = await readFile(path.join(dir, '.gitattributes'), 'utf8').catch(() => '');
    if (!usesLfs(attributes)) return;
    // the filter in the repository's own config (no hooks): without it git compares the real file with the pointer
    // it stores and calls the tree modified, and the next deploy would stop as `dirty`
    await this.run(['-C', dir, 'lfs', 'install', '--local', '--skip-repo'], options);
    await this.network(() => this.run(['-C', dir, 'lfs', 'pull'], options));
  }

  /** A file of a commit, or undefined when the commit has no such file. */
  async fileAt(commit: string, file: string): Promise<string | undefined> {
    return this.run(['cat-file', '-p', `${commit}:${file}`]).catch(() => undefined);
  }

  /** The checkout holds only `paths` and the root's files from now on (git sparse-checkout, cone mode, per worktree). */
  async sparseCheckout(paths: readonly string[]): Promise<void> {
    await this.run(['sparse-checkout', 'set', '--cone', '--', ...paths]);
  }

  async worktreeMove(from: string, to: string): Promise<void> {
    await this.run(['worktree', 'move', from, to]);
  }

  async worktreePrune(): Promise<void> {
    await this.run(['worktree', 'prune', '--verbose']);
  }

  async worktreeRepair(dirs: string[]): Promise<void> {
    if (dirs.length > 0) await this.run(['worktree', 'repair', ...dirs]).catch(() => undefined);
  }

  /** Throws when objects reachable from refs are missing (a repository damaged by a crash or a full disk). */
  async fsckConnectivity(): Promise<void> {
    await this.run(['fsck', '--connectivity-only', '--no-dangling', '--no-progress']);
  }

  async listFiles(commit: string): Promise<string[]> {
    const out = await this.run(['ls-tree', '-r', '--name-only', '-z', commit]);
    return out.split('\0').filter(Boolean);
  }

  async changedPaths(from: string, to: string): Promise<string[]> {
    const out = await this.run(['diff', '--name-only', '--no-renames', '-z', from, to]);
    return out.split('\0').filter(Boolean);
  }
}

/** Whether a .gitattributes text sends files through the LFS filter. */
export function usesLfs(attributes: string): boolean {
  return attributes
    .split('\n')
    .some((line) => !line.trimStart().startsWith('#') && /(^|\s)filter=lfs(\s|$)/.test(line));
}
