import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Where a daemon can be reached, written down with the checkout (its state directory: .git/hotpull, or the atomic
 * layout's .hotpull/repo/hotpull) so that operator commands run in the checkout, or with --repo, find it without
 * --url: a unix socket, owner-only, which needs no secret, and the --listen URL when there is one (which does).
 */
export interface Endpoint {
  pid: number;
  /** the daemon's unix socket */
  socket: string;
  /** its --listen address as a URL, when it listens on TCP too */
  url?: string;
}

export const ENDPOINT_FILE = 'daemon.json';

/** sun_path holds 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH = 107;

/** FNV-1a, 32 bits twice (two offsets): a short stable name for a long path, without loading node:crypto. */
function shortHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (const byte of Buffer.from(text)) {
    a = Math.imul(a ^ byte, 0x01000193) >>> 0;
    b = Math.imul(b ^ byte, 0x01000193) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

/**
 * The daemon's socket for a state directory: in it (control/daemon.sock, the directory mode 0700) when the path
 * fits in a socket address, else in a per-user directory under the temp dir named after a hash of the state
 * directory. Pure: daemon and clients compute the same path.
 */
export function socketPath(stateDir: string, uid: number = process.getuid?.() ?? 0, tmp: string = os.tmpdir()): string {
  const inState = path.join(stateDir, 'control', 'daemon.sock');
  if (Buffer.byteLength(inState) <= MAX_SOCKET_PATH) return inState;
  return path.join(tmp, `hotpull-${uid}`, `${shortHash(stateDir)}.sock`);
}

export async function readEndpoint(stateDir: string): Promise<Endpoint | undefined> {
  try {
    const value = JSON.parse(await fs.readFile(path.join(stateDir, ENDPOINT_FILE), 'utf8')) as Partial<Endpoint>;
    if (typeof value.pid !== 'number' || typeof value.socket !== 'string') return undefined;
    return { pid: value.pid, socket: value.socket, ...(typeof value.url === 'string' ? { url: value.url } : {}) };
  } catch {
    return undefined;
  }
}

/** Replaces the record whole (a temporary file renamed over it): a reader never sees half of one. */
export async function writeEndpoint(stateDir: string, endpoint: Endpoint): Promise<void> {
  const file = path.join(stateDir, ENDPOINT_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  try {
    // readable by all: nothing secret, and another user's operator command reads the URL from it
    await fs.writeFile(temp, `${JSON.stringify(endpoint)}\n`, { mode: 0o644 });
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

/** Removes the record if it is still this process's (a daemon started after it may have replaced it). */
export async function removeEndpoint(stateDir: string, pid: number = process.pid): Promise<void> {
  const endpoint = await readEndpoint(stateDir);
  if (endpoint?.pid === pid) await fs.rm(path.join(stateDir, ENDPOINT_FILE), { force: true });
}
