/**
 * A real OpenSSH server for tests (Debian openssh-server), in the foreground on a free loopback port, with its
 * own host key, no system config (-f /dev/null: no PAM, no Include) and an authorized_keys file of the test's.
 * Repositories are served by absolute path: ssh://root@127.0.0.1:PORT/abs/path/remote.git. Stopped by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { freePort, killOnExit } from './uwsgi.js';

export const SSHD_BIN = '/usr/sbin/sshd';

/** Why sshd cannot run here, or undefined if it can. */
export function sshdMissing(): string | undefined {
  for (const bin of [SSHD_BIN, '/usr/bin/ssh', '/usr/bin/ssh-keygen', '/usr/bin/ssh-keyscan']) {
    if (!existsSync(bin)) return `${bin} not found (apt-get install openssh-server openssh-client)`;
  }
  if (process.getuid?.() !== 0) return 'sshd tests log in as root and need to run as root';
  return undefined;
}

/** A new ed25519 key pair at `file` and `file`.pub (mode 0600); returns the public key line. */
export async function keygen(file: string): Promise<string> {
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', path.basename(file), '-f', file]);
  return (await execa('cat', [`${file}.pub`])).stdout.trim();
}

export interface Sshd {
  port: number;
  pid: number;
  /** the host key's public line (`ssh-ed25519 AAAA… comment`) */
  hostKey: string;
  /** what sshd printed (-e: its log goes to stderr) */
  log(): string;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** a private host key file (made with keygen) */
  hostKeyFile: string;
  authorizedKeysFile: string;
  port?: number;
}

async function startOnce(options: SshdOptions, port: number): Promise<Sshd> {
  await mkdir('/run/sshd', { recursive: true }); // privilege separation directory
  const child: ChildProcess = spawn(
    SSHD_BIN,
    [
      '-D',
      '-e',
      '-f',
      '/dev/null',
      '-p',
      String(port),
      '-h',
      options.hostKeyFile,
      '-o',
      'ListenAddress=127.0.0.1',
      '-o',
      `AuthorizedKeysFile=${options.authorizedKeysFile}`,
      '-o',
      'StrictModes=no',
      '-o',
      'PidFile=none',
      '-o',
      'PermitRootLogin=prohibit-password',
      '-o',
      'PasswordAuthentication=no',
      '-o',
      'KbdInteractiveAuthentication=no',
      '-o',
      'UseDNS=no',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const forget = killOnExit(child);
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const ready = await Promise.race([
    new Promise<boolean>((resolve) => {
      const check = () => (log.includes('Server listening') ? resolve(true) : setTimeout(check, 20));
      check();
    }),
    exited.then(() => false),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 30_000)),
  ]);
  if (!ready) {
    child.kill('SIGKILL');
    forget();
    throw new Error(`sshd did not start on port ${port}: ${log.trim()}`);
  }
  const hostKey = (await execa('ssh-keygen', ['-y', '-f', options.hostKeyFile])).stdout.trim();
  return {
    port,
    pid: child.pid!,
    hostKey,
    log: () => log,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, 'SIGTERM');
        await exited;
      }
      forget();
    },
  };
}

/** Starts sshd; a port lost to another process between freePort() and bind() is retried. */
export async function startSshd(options: SshdOptions): Promise<Sshd> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options, options.port ?? (await freePort()));
    } catch (error) {
      if (attempt >= 3 || options.port !== undefined || !/Address already in use|Bind to port/.test(String(error)))
        throw error;
    }
  }
}
