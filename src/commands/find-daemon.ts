import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Config } from '../config/load.js';
import { Git } from '../git/repo.js';
import { AtomicWorkspace } from '../sync/layout/atomic.js';
import { readEndpoint, socketPath } from '../net/endpoint.js';
import { UNIX } from '../net/daemon-client.js';

/** The checkout's state directory (.git/hotpull; the atomic layout's .hotpull/repo/hotpull), or why there is none. */
export async function stateDirOf(
  config: Pick<Config, 'repo' | 'layout'>,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string> {
  const atomicRepo = AtomicWorkspace.repoDir(config.repo);
  const atomic =
    config.layout === 'atomic' ||
    (await fs.stat(atomicRepo).then(
      (s) => s.isDirectory(),
      () => false,
    ));
  return path.join(await new Git(atomic ? atomicRepo : config.repo, env).gitDir(), 'hotpull');
}

/** Whether something accepts a connection on the socket: 'ok', or the error code (ENOENT, ECONNREFUSED, EACCES). */
export function probeSocket(socket: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const connection = net.connect(socket);
    const done = (result: string) => {
      clearTimeout(timer);
      connection.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done('ETIMEDOUT'), timeoutMs);
    connection.once('connect', () => done('ok'));
    connection.once('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
  });
}

export interface Found {
  /** an http URL, or unix:PATH (the operator socket) */
  base: string;
  /** the socket did not answer: why, for the message when nothing else is found either */
  socketFailure?: string;
}

/**
 * The daemon that owns the checkout (--repo, else the working directory), found through what it recorded in the
 * checkout's state directory: its operator socket when this user can connect to it, else the URL it listens on.
 * Undefined when the checkout has no daemon answering (`why` says what was looked at).
 */
export async function daemonOfCheckout(
  config: Pick<Config, 'repo' | 'layout'>,
  env: Readonly<Record<string, string | undefined>>,
): Promise<{ base?: string; why: string; noCheckout?: boolean; denied?: boolean }> {
  let stateDir: string;
  try {
    stateDir = await stateDirOf(config, env);
  } catch {
    return { why: `${JSON.stringify(config.repo)}: not a git checkout`, noCheckout: true };
  }
  const endpoint = await readEndpoint(stateDir);
  const socket = endpoint?.socket ?? socketPath(stateDir);
  const probe = await probeSocket(socket);
  if (probe === 'ok') return { base: `${UNIX}${socket}`, why: '' };
  // another user's daemon: its socket is closed to us, its TCP listener (with the secret) is not
  if (endpoint?.url && (probe === 'EACCES' || probe === 'EPERM')) return { base: endpoint.url, why: '' };
  if (probe === 'EACCES' || probe === 'EPERM')
    return {
      why: `the daemon of ${config.repo} answers only its own user on ${socket} (${probe}): run this as that user`,
      denied: true,
    };
  return {
    why: `no hotpull daemon answers for ${config.repo} (${probe === 'ENOENT' ? `no socket at ${socket}` : `${socket}: ${probe}`})`,
  };
}
