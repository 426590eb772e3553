import net from 'node:net';
import { HotpullError, interruptedError } from '../errors.js';
import { redact } from '../redact.js';
import {
  AdvertisementDecoder,
  AdvertisementError,
  DEFAULT_MAX_ADVERTISEMENT_BYTES,
  FLUSH_PKT,
  uploadPackRequest,
  type AdvertisementProblem,
} from './pkt-line.js';

/**
 * `git ls-remote` of one branch on a `git://` remote, spoken by hotpull itself: one TCP connection, the request,
 * the ref advertisement up to its flush, a flush back (we want nothing), close. The poll runs every interval, and
 * most of what `git ls-remote` costs there is git's own start-up (about 30 ms of CPU a poll, against about 1 ms
 * here). Whether a remote may be read this way (its effective URL, proxies, the escape hatch) is native-poll.ts's.
 */

/** git's port for git:// */
const DEFAULT_PORT = 9418;
/** The words every message of this path carries, so a user can tell which path failed. */
export const NATIVE_LABEL = 'native git:// ls-remote';

export interface GitUrl {
  /** to connect to (an IPv6 address without its brackets) */
  host: string;
  port: number;
  /** the `host=` git sends: the host and port as written in the URL */
  hostHeader: string;
  /** the repository path as git sends it (`/repo.git`, `~user/repo.git`) */
  path: string;
}

/**
 * The parts of a `git://host[:port]/path` URL the way git's connect.c takes them; undefined for any other URL and
 * for what git would treat differently from a plain reading (percent-escapes, which git decodes; a userinfo, which
 * git takes as part of the host name; control characters): those go through git.
 */
export function parseGitUrl(url: string): GitUrl | undefined {
  const match = /^git:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(\/.*)$/s.exec(url);
  if (!match || /[%\0-\x1f\x7f]/.test(url)) return undefined;
  const [, host, portText, rawPath] = match as unknown as [string, string, string | undefined, string];
  const port = portText === undefined ? DEFAULT_PORT : Number(portText);
  if (port < 1 || port > 65535) return undefined;
  return {
    host: host.startsWith('[') ? host.slice(1, -1) : host,
    port,
    hostHeader: portText === undefined ? host : `${host}:${portText}`,
    // git://host/~user/repo names the user's directory: git sends `~user/repo`
    path: rawPath.startsWith('/~') ? rawPath.slice(1) : rawPath,
  };
}

/** A failure of the native path that is not a timeout or a stop: the caller asks git instead. */
export class NativeLsRemoteError extends HotpullError {
  override name = 'NativeLsRemoteError';
  constructor(
    /** 'connection' (refused, reset, closed early), 'remote' (ERR), 'protocol' or 'too-large' */
    readonly problem: AdvertisementProblem | 'connection',
    message: string,
    options: { command: string; cause?: unknown },
  ) {
    super('GIT', message, options);
  }
}

export interface NativeLsRemoteOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** the cap on the advertisement (DEFAULT_MAX_ADVERTISEMENT_BYTES) */
  maxBytes?: number;
}

/** How a refused or reset connection reads in a message (git's own words where it has them). */
function connectionWords(error: NodeJS.ErrnoException): string {
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset by peer',
    EHOSTUNREACH: 'no route to host',
    ENETUNREACH: 'network is unreachable',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'temporary failure in name resolution',
    EPIPE: 'broken pipe',
  };
  return (error.code && words[error.code]) ?? error.message;
}

/** The command as messages and debug logs show it (redacted as the git path's are). */
export function nativeCommand(url: string, ref: string): string {
  return redact(`${NATIVE_LABEL} ${url} ${ref}`);
}

/**
 * The sha of refs/heads/<branch> on a git:// remote, undefined when the remote has no such branch. Throws
 * interruptedError's TIMEOUT / ABORTED as the ls-remote helper does, NativeLsRemoteError for anything else. The
 * socket is destroyed on every path.
 */
export function nativeLsRemote(
  url: string,
  branch: string,
  options: NativeLsRemoteOptions = {},
): Promise<string | undefined> {
  const ref = `refs/heads/${branch}`;
  const command = nativeCommand(url, ref);
  const { timeoutMs, signal } = options;
  const parts = parseGitUrl(url);
  if (!parts)
    return Promise.reject(
      new NativeLsRemoteError('protocol', `${command} failed: not a git://host[:port]/path URL it can read`, {
        command,
      }),
    );
  if (signal?.aborted) return Promise.reject(interruptedError('stopped', command, timeoutMs));
  const where = parts.hostHeader;
  return new Promise((resolve, reject) => {
    const decoder = new AdvertisementDecoder(options.maxBytes ?? DEFAULT_MAX_ADVERTISEMENT_BYTES);
    const socket = net.connect({ host: parts.host, port: parts.port });
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => fail(interruptedError('stopped', command, timeoutMs));
    const settle = () => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    function fail(error: Error): void {
      if (settled) return;
      settle();
      socket.destroy();
      reject(error);
    }
    const failed = (problem: NativeLsRemoteError['problem'], why: string, cause?: unknown) =>
      fail(new NativeLsRemoteError(problem, `${command} failed: ${redact(why)}`, { command, cause }));
    if (timeoutMs) timer = setTimeout(() => fail(interruptedError('timeout', command, timeoutMs)), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(uploadPackRequest(parts.path, parts.hostHeader)));
    socket.on('data', (chunk: Buffer) => {
      if (settled) return;
      let advertisement;
      try {
        advertisement = decoder.push(chunk);
      } catch (error) {
        const problem = error instanceof AdvertisementError ? error.problem : 'protocol';
        failed(problem, `${(error as Error).message} (from ${where})`, error);
        return;
      }
      if (!advertisement) return;
      settle();
      // We want nothing: a flush tells upload-pack so and it exits quietly (a bare close makes it log a hang-up).
      // Destroyed once the flush is handed to the kernel, which still sends it and the FIN.
      socket.end(FLUSH_PKT, () => socket.destroy());
      const stuck = setTimeout(() => socket.destroy(), 1000).unref();
      socket.once('close', () => clearTimeout(stuck));
      resolve(advertisement.refs.get(ref));
    });
    socket.on('error', (error: NodeJS.ErrnoException) =>
      settled ? socket.destroy() : failed('connection', `${connectionWords(error)} (${where})`, error),
    );
    socket.on('close', () =>
      failed(
        'connection',
        `${where} closed the connection before the end of the ref list (after ${decoder.bytes} bytes; is the repository exported?)`,
      ),
    );
  });
}
