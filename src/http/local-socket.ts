import { promises as fs } from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { oneLine } from '../errors.js';
import type { Logger } from '../log.js';
import { removeEndpoint, socketPath, writeEndpoint } from '../net/endpoint.js';

/**
 * The operator socket's directory, owner-only: made 0700 (or narrowed to it), and refused when it is not a
 * directory this user owns (someone else's directory under /tmp could be watched or replaced). Whatever socket
 * is left in it belongs to a daemon that is gone: the caller holds the checkout's owner lock, so no live daemon
 * answers there.
 */
export async function prepareSocket(socket: string): Promise<void> {
  const dir = path.dirname(socket);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const stat = await fs.lstat(dir);
  const uid = process.getuid?.();
  if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid))
    throw new Error(`${dir} is not a directory of this user`);
  if ((stat.mode & 0o077) !== 0) await fs.chmod(dir, 0o700);
  await fs.rm(socket, { force: true });
}

/** Listens on the socket, then makes it 0600 (the 0700 directory already keeps others out meanwhile). */
export function listenOnSocket(server: net.Server, socket: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => {
      server.off('error', reject);
      fs.chmod(socket, 0o600).then(resolve, reject);
    });
  });
}

/** The operator socket's path for a state directory, ready to listen on; undefined (and said) when it cannot be. */
export async function operatorSocket(stateDir: string, logger: Logger): Promise<string | undefined> {
  const socket = socketPath(stateDir);
  try {
    await prepareSocket(socket);
    return socket;
  } catch (error) {
    logger.warn(
      { err: oneLine(error) },
      `no operator socket (${socket}): ${oneLine(error)}; --url is needed to reach this daemon`,
    );
    return undefined;
  }
}

/** Writes down with the checkout where this daemon listens (see net/endpoint.ts); a failure is said, not fatal. */
export async function recordEndpoint(
  stateDir: string,
  socket: string,
  url: string | undefined,
  logger: Logger,
): Promise<void> {
  await writeEndpoint(stateDir, { pid: process.pid, socket, ...(url ? { url } : {}) }).catch((error: unknown) =>
    logger.warn({ err: oneLine(error) }, `could not record where this daemon listens: ${oneLine(error)}`),
  );
  logger.debug({ socket }, `operator socket ${socket}`);
}

/** After the listeners closed: the socket file and the record of where this daemon listened go. */
export async function closeOperatorSocket(stateDir: string, socket: string | undefined): Promise<void> {
  if (!socket) return;
  await Promise.all([fs.rm(socket, { force: true }), removeEndpoint(stateDir)]).catch(() => undefined);
}
