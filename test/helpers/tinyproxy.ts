/**
 * A real tinyproxy (Debian package `tinyproxy`) on 127.0.0.1, in the foreground with its own config: its log (every
 * request line, CONNECT included) is its stdout. `auth` requires proxy credentials; `deny` filters every host
 * (FilterDefaultDeny with a list that matches nothing), so the proxy answers 403 "Filtered"; `addHeader` marks every
 * request it forwards.
 */
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { tmpDir } from './git.js';
import { waitFor } from './hotpull.js';
import { freePort, killOnExit } from './uwsgi.js';

export const TINYPROXY_BIN = process.env.TINYPROXY_BIN ?? '/usr/bin/tinyproxy';

/** Why tinyproxy cannot run here, or undefined. */
export function tinyproxyMissing(): string | undefined {
  const probe = spawnSync(TINYPROXY_BIN, ['-v'], { encoding: 'utf8' });
  return probe.status === 0 ? undefined : `tinyproxy is not installed (${TINYPROXY_BIN}; apt-get install tinyproxy)`;
}

export interface Tinyproxy {
  port: number;
  /** http://127.0.0.1:PORT, without credentials */
  url: string;
  log(): string;
  stop(): Promise<void>;
}

export async function startTinyproxy(
  options: { auth?: [string, string]; deny?: boolean; addHeader?: [string, string] } = {},
): Promise<Tinyproxy> {
  for (let attempt = 1; ; attempt++) {
    const dir = await tmpDir('hotpull-tinyproxy-');
    const port = await freePort();
    const lines = [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 30',
      'LogLevel Info',
      'MaxClients 20',
      'Allow 127.0.0.1',
      'DisableViaHeader Yes',
    ];
    if (options.auth) lines.push(`BasicAuth ${options.auth[0]} ${options.auth[1]}`);
    // a header on every request it forwards (not on CONNECT tunnels): how a server tells proxied requests apart
    if (options.addHeader) lines.push(`AddHeader "${options.addHeader[0]}" "${options.addHeader[1]}"`);
    if (options.deny) {
      await fs.writeFile(path.join(dir, 'filter'), 'nothing\\.invalid\n');
      lines.push(`Filter "${path.join(dir, 'filter')}"`, 'FilterDefaultDeny Yes');
    }
    await fs.writeFile(path.join(dir, 'tinyproxy.conf'), `${lines.join('\n')}\n`);
    const child = spawn(TINYPROXY_BIN, ['-d', '-c', path.join(dir, 'tinyproxy.conf')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const forget = killOnExit(child);
    let log = '';
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, 'SIGTERM');
        await exited;
      }
      forget();
      await fs.rm(dir, { recursive: true, force: true });
    };
    try {
      await waitFor(
        'tinyproxy accepting connections',
        () => log.includes('Accepting connections') || child.exitCode !== null,
        10_000,
      );
      if (child.exitCode !== null) throw new Error(`tinyproxy exited: ${log.slice(-500)}`);
      return { port, url: `http://127.0.0.1:${port}`, log: () => log, stop };
    } catch (error) {
      await stop();
      if (attempt >= 3) throw error;
    }
  }
}
