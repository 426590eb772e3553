import { promises as fs } from 'node:fs';
import type net from 'node:net';
import path from 'node:path';

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
