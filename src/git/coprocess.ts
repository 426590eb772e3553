import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { HotpullError, interruptedError } from '../errors.js';
import { redact } from '../redact.js';

/**
 * A long-lived `sh` that runs `git ls-remote` on request. The daemon asks the remote every poll; spawning git
 * from a 60 MB Node process costs a fork of its page tables each time (most of the sidecar's idle CPU, measured
 * in bench/core.mjs), while the small shell forks git for a fraction of that. Requests go in as lines on stdin
 * (read with `read -r`, passed to git as quoted arguments: nothing is ever evaluated), answers come back on
 * stdout ended by a sentinel line carrying git's exit code. A timeout or abort kills the shell's process group;
 * the next request starts a new one.
 */
const SENTINEL = '\u001eHOTPULL_EXIT ';
const SCRIPT = [
  'while IFS= read -r remote && IFS= read -r ref; do',
  // --heads or --tags by the ref's namespace (a bare name asks both); the remote never serves more than that
  '  case "$ref" in refs/heads/*) set -- --heads ;; refs/tags/*) set -- --tags ;; *) set -- ;; esac',
  '  git -c "safe.directory=$HOTPULL_SAFE_DIRECTORY" ls-remote "$@" -- "$remote" "$ref" 2>&1',
  `  printf '\\n${SENTINEL}%s\\n' "$?"`,
  'done',
].join('\n');

/** The namespace option the helper script passes for a ref (see SCRIPT), as shown in messages. */
export function lsRemoteScope(ref: string): string {
  return ref.startsWith('refs/heads/') ? '--heads ' : ref.startsWith('refs/tags/') ? '--tags ' : '';
}

export interface CoprocessRequest {
  remote: string;
  ref: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class LsRemoteCoprocess {
  private child?: ChildProcess;
  private buffer = '';
  private waiting?: (result: { code: number; output: string } | Error) => void;
  private queue: Promise<unknown> = Promise.resolve();
  /** the checkout directory the shell was started in (device:inode): a checkout deleted and cloned again is another */
  private startedIn?: string;

  constructor(
    private readonly cwd: string,
    private readonly env: Record<string, string>,
  ) {}

  /** git's output (stdout and stderr) and exit code; throws HotpullError on timeout, abort or a dead shell. */
  run(request: CoprocessRequest): Promise<{ code: number; output: string }> {
    const next = this.queue.then(() => this.runOne(request));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private directoryIdentity(): string | undefined {
    try {
      const stat = statSync(this.cwd);
      return `${stat.dev}:${stat.ino}`;
    } catch {
      return undefined;
    }
  }

  private start(): ChildProcess {
    this.startedIn = this.directoryIdentity();
    const child = spawn('sh', ['-c', SCRIPT, 'hotpull-ls-remote'], {
      cwd: this.cwd,
      env: { ...this.env, HOTPULL_SAFE_DIRECTORY: this.cwd },
      stdio: ['pipe', 'pipe', 'ignore'],
      detached: true, // its own process group, so a timeout ends git and its transport helpers too
    });
    // first: out of file descriptors the spawn fails on the next tick with no stdio at all (stdout is null), and an
    // 'error' nobody listens to would end hotpull
    child.on('error', (error) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.waiting?.(new HotpullError('GIT', `git ls-remote: cannot start sh: ${error.message}`, { cause: error }));
    });
    child.stdout?.setEncoding('utf8');
    // a shell killed on a timeout or abort may still print and exit while the next one answers: only the current
    // shell's output and exit reach the request in flight
    child.stdout?.on('data', (chunk: string) => {
      if (this.child !== child) return;
      this.buffer += chunk;
      const at = this.buffer.indexOf(SENTINEL);
      if (at < 0) return;
      const end = this.buffer.indexOf('\n', at);
      if (end < 0) return;
      const output = this.buffer.slice(0, at).replace(/\n$/, '');
      const code = Number(this.buffer.slice(at + SENTINEL.length, end));
      this.buffer = this.buffer.slice(end + 1);
      this.waiting?.({ code, output });
    });
    child.on('exit', () => {
      if (this.child !== child) return;
      this.child = undefined;
      this.waiting?.(new HotpullError('GIT', 'git ls-remote: the helper shell exited'));
    });
    child.stdin?.on('error', () => undefined);
    this.idle(child);
    return child;
  }

  /** Between requests the shell must not keep the process alive (`hotpull sync` exits when done). */
  private idle(child: ChildProcess): void {
    child.unref();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }

  private busy(child: ChildProcess): void {
    child.ref();
    (child.stdout as unknown as { ref?: () => void } | null)?.ref?.();
    (child.stdin as unknown as { ref?: () => void } | null)?.ref?.();
  }

  private kill(): void {
    const child = this.child;
    this.child = undefined;
    this.buffer = '';
    if (child?.pid) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }

  /** Ends the helper shell (tests, shutdown). */
  close(): void {
    this.kill();
  }

  private async runOne({
    remote,
    ref,
    timeoutMs,
    signal,
  }: CoprocessRequest): Promise<{ code: number; output: string }> {
    if (/[\n\r]/.test(remote) || /[\n\r]/.test(ref))
      throw new HotpullError('GIT', 'git ls-remote: remote and ref must be one line each');
    const command = redact(`git ls-remote ${lsRemoteScope(ref)}-- ${remote} ${ref}`);
    if (signal?.aborted) throw interruptedError('stopped', command, timeoutMs);
    // A shell whose working directory was deleted (the checkout removed and cloned again at the same path) would
    // fail every request with "Unable to read current working directory": start a new one there.
    if (this.child && this.directoryIdentity() !== this.startedIn) this.kill();
    const child = (this.child ??= this.start());
    this.busy(child);
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      return await new Promise<{ code: number; output: string }>((resolve, reject) => {
        this.waiting = (result) => (result instanceof Error ? reject(result) : resolve(result));
        if (timeoutMs) {
          timer = setTimeout(() => {
            this.kill();
            reject(interruptedError('timeout', command, timeoutMs));
          }, timeoutMs);
        }
        onAbort = () => {
          this.kill();
          reject(interruptedError('stopped', command, timeoutMs));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        // no stdin: the spawn failed, and its 'error' (next tick) answers this request
        child.stdin?.write(`${remote}\n${ref}\n`);
      });
    } finally {
      this.waiting = undefined;
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      if (this.child === child) this.idle(child);
    }
  }
}
