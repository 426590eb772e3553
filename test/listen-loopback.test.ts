/**
 * "Servers bind to 127.0.0.1 by default": `--listen PORT` (no host) listens on loopback only. Checked twice, from
 * what the daemon says (its `listening on` line) and from what the kernel holds (the listening socket of the
 * daemon's pid in /proc/net/tcp and tcp6), so a default of 0.0.0.0 or :: fails even if the line lied.
 */
import { promises as fs } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from './helpers/git.js';
import { spawnCli, waitFor } from './helpers/hotpull.js';

let sb: Sandbox | undefined;
afterEach(async () => {
  await sb?.cleanup();
  sb = undefined;
});

interface ListeningSocket {
  /** `127.0.0.1`, `0.0.0.0`, `::`, … */
  address: string;
  port: number;
}

/** `0100007F` → 127.0.0.1; a tcp6 address (4 little-endian words) → its hex groups, `::` for all zeros. */
function procAddress(hex: string): string {
  if (hex.length === 8) return Buffer.from(hex, 'hex').reverse().join('.');
  const words = hex.match(/.{8}/g)!.map((w) => Buffer.from(w, 'hex').reverse().toString('hex'));
  const groups = words
    .join('')
    .match(/.{4}/g)!
    .map((g) => g.replace(/^0+(?=.)/, ''));
  const text = groups.join(':');
  return text === '0:0:0:0:0:0:0:0' ? '::' : text;
}

/** Every TCP socket in LISTEN state (0A) that `pid` holds open, read from /proc: no ss, no netstat. */
async function listeningSockets(pid: number): Promise<ListeningSocket[]> {
  const inodes = new Set<string>();
  for (const fd of await fs.readdir(`/proc/${pid}/fd`)) {
    const link = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
    if (inode) inodes.add(inode);
  }
  const found: ListeningSocket[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const rows = (await fs.readFile(table, 'utf8')).trim().split('\n').slice(1);
    for (const row of rows) {
      const cols = row.trim().split(/\s+/);
      const [local, state, inode] = [cols[1]!, cols[3]!, cols[9]!];
      if (state !== '0A' || !inodes.has(inode)) continue;
      const [address, port] = local.split(':');
      found.push({ address: procAddress(address!), port: parseInt(port!, 16) });
    }
  }
  return found;
}

describe('--listen PORT binds to loopback', () => {
  it('reads its /proc addresses as the kernel writes them', () => {
    expect(procAddress('0100007F')).toBe('127.0.0.1');
    expect(procAddress('00000000')).toBe('0.0.0.0');
    expect(procAddress('00000000000000000000000000000000')).toBe('::');
    expect(procAddress('00000000000000000000000001000000')).toBe('0:0:0:0:0:0:0:1');
  });

  it('a daemon started with --listen <port> only says 127.0.0.1 and holds one socket, on 127.0.0.1', async () => {
    sb = await makeSandbox();
    // port 0: the kernel picks a free one; no host, which is what this pins
    const child = spawnCli(['run', '--repo', sb.checkout, '--interval', '10m', '--listen', '0']);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const line = await waitFor('the listening line', () => /"msg":"listening on ([^"]+)"/.exec(out)?.[1], 60_000);
      const url = new URL(line);
      const port = Number(url.port);
      expect(port).toBeGreaterThan(0);
      // the kernel's word first: a line that said 127.0.0.1 over a 0.0.0.0 socket would still fail here
      expect(await listeningSockets(child.pid!)).toEqual([{ address: '127.0.0.1', port }]);
      expect(url.hostname).toBe('127.0.0.1');
      // and it answers there
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBeGreaterThan(0);
    } finally {
      child.kill('SIGTERM');
      await child;
    }
  }, 90_000);
});
