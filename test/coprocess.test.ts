/**
 * The ls-remote helper shell after a timeout: the killed shell's late exit and output belong to it alone, never to
 * the request the next shell is answering. Real sh and git, a loopback server that accepts and never answers.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LsRemoteCoprocess } from '../src/git/coprocess.js';
import { gitEnv, headOf, makeSandbox, type Sandbox } from './helpers/git.js';

let sb: Sandbox | undefined;
let helper: LsRemoteCoprocess | undefined;
let server: net.Server | undefined;
const sockets = new Set<net.Socket>();
afterEach(async () => {
  helper?.close();
  helper = undefined;
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
  await sb?.cleanup();
  sb = undefined;
});

/** A git:// URL on loopback whose server accepts and never says a word. */
async function silentServer(): Promise<string> {
  server = net.createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `git://127.0.0.1:${(server.address() as AddressInfo).port}/hangs.git`;
}

describe('ls-remote helper shell', () => {
  it('the request right after a timeout gets its own answer, whatever the killed shell does as it dies', async () => {
    sb = await makeSandbox();
    const hangs = await silentServer();
    helper = new LsRemoteCoprocess(sb.checkout, gitEnv());
    const main = await headOf(sb.bare, 'refs/heads/main');
    for (let round = 0; round < 5; round++) {
      await expect(helper.run({ remote: hangs, ref: 'refs/heads/main', timeoutMs: 300 })).rejects.toThrow(
        /timed out|timeout/i,
      );
      // at once, while the killed shell's exit is still on its way
      const answer = await helper.run({ remote: sb.bare, ref: 'refs/heads/main', timeoutMs: 20_000 });
      expect([answer.code, answer.output.trim()]).toEqual([0, `${main}\trefs/heads/main`]);
      // and the one after that is not handed the previous answer
      const again = await helper.run({ remote: sb.bare, ref: 'refs/heads/nope', timeoutMs: 20_000 });
      expect([again.code, again.output.trim()]).toEqual([0, '']);
    }
  }, 60_000);
});
