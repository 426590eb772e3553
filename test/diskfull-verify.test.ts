/**
 * Issue 24.8a: a health check that fails because the disk is full says nothing about the revision, as a hook or a
 * judge that fails on a full disk does not: nothing is rolled back or rejected, the pass fails and says why, and
 * the next pass verifies the deploy again (live once space is back). The checkout is on a small tmpfs (mounted by
 * the test; CI runs as root); the app is a real HTTP server process that writes a session file per request and
 * answers 500 when it cannot; the reload command fills the disk once.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { commitAndPush, git, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { makePipeline, waitFor } from './helpers/hotpull.js';
import { freePort } from './helpers/uwsgi.js';
import { itAsRoot } from './helpers/requires.js';

let sb: Sandbox | undefined;
let mounted: string | undefined;
let app: ResultPromise | undefined;
afterEach(async () => {
  app?.kill('SIGKILL');
  await app?.catch(() => undefined);
  app = undefined;
  if (mounted) await execa('umount', ['-l', mounted], { reject: false });
  mounted = undefined;
  await sb?.cleanup();
  sb = undefined;
});

const itRoot = itAsRoot('the disk-full test mounts a tmpfs');

/** An app that needs the disk: each request writes (and removes) a 64 KiB session file on the volume. */
const APP = `
import http.server, os, sys, tempfile
port, volume = int(sys.argv[1]), sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            with tempfile.NamedTemporaryFile(dir=volume) as f:
                f.write(b"x" * 65536)
                f.flush()
                os.fsync(f.fileno())
            code, body = 200, b"ok"
        except OSError as error:
            code, body = 500, str(error).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
`;

describe('a full disk during verification', () => {
  itRoot(
    'is no verdict: nothing rolled back or rejected, the pass fails saying why, and the deploy goes live once space is back',
    async () => {
      sb = await makeSandbox({ files: { 'app.py': 'VERSION = 1\n' } });
      const volume = path.join(sb.root, 'volume');
      await fs.mkdir(volume);
      await execa('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', volume]);
      mounted = volume;
      const checkout = path.join(volume, 'checkout');
      await git(sb.root, 'clone', '-q', '--branch', 'main', sb.bare, checkout);
      const port = await freePort();
      app = execa('python3', ['-c', APP, String(port), volume], { reject: false });
      const url = `http://127.0.0.1:${port}/health`;
      await waitFor('the app answers', () =>
        fetch(url).then(
          (r) => r.ok,
          () => false,
        ),
      );

      // the reload fills the disk once (when the marker is there), as a log or cache filling up would
      const fill = `if [ -e ${volume}/fill-once ]; then rm ${volume}/fill-once; head -c 8M /dev/zero > ${volume}/filler 2>/dev/null; fi; true`;
      const { engine } = await makePipeline(checkout, {
        reload: [`command:${fill}`],
        healthUrl: url,
        healthTimeout: '10s',
        healthSettle: '300ms',
      });
      const old = await headOf(checkout);
      expect(await engine.sync('start')).toMatchObject({ kind: 'up-to-date' });
      expect(engine.status.state).toBe('idle');

      const next = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
      await fs.writeFile(path.join(volume, 'fill-once'), '');
      const error = await engine.sync('test').catch((e: unknown) => e as Error);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(
        new RegExp(
          `^no space left on device while ${next.slice(0, 7)} was verified; not a verdict on the revision, retrying: .*answered 500`,
        ),
      );
      // before: rolled back to the old revision and rejected until the branch moves
      expect(engine.status.rejectedSha).toBeUndefined();
      await expect(git(checkout, 'rev-parse', '--verify', '-q', 'refs/hotpull/rejected')).rejects.toThrow();
      expect(await headOf(checkout)).toBe(next);
      expect(old).not.toBe(next);

      // space is back: the next pass verifies the same deploy again, and it goes live
      await fs.rm(path.join(volume, 'filler'));
      expect(await engine.sync('poll')).toMatchObject({ kind: 'deployed', record: { to: next, result: 'live' } });
      expect(engine.status).toMatchObject({ state: 'idle', lastGoodSha: next });
      engine.close();
    },
    60_000,
  );
});
