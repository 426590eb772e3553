/**
 * Issue 11: a disk that fills up while a deploy writes the checkout. The checkout lives on a small tmpfs (mounted
 * by the test; CI runs as root), the pushed commit carries a file larger than the space left (it compresses to
 * almost nothing, so the fetch fits and the checkout does not). The apply must be undone, the state must say
 * why, the old code keeps its files, and once space is back the next pass deploys. A run hook or preflight that
 * fills the disk, or meets it full, is no verdict on the revision: nothing is rejected and the pass is retried.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { commitAndPush, git, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { makeDaemon, waitFor } from './helpers/hotpull.js';

let sb: Sandbox | undefined;
let mounted: string | undefined;
let stopDaemon: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stopDaemon?.();
  stopDaemon = undefined;
  if (mounted) await execa('umount', ['-l', mounted], { reject: false });
  mounted = undefined;
  await sb?.cleanup();
  sb = undefined;
});

const isRoot = process.getuid?.() === 0;
if (!isRoot && process.env.CI === 'true')
  throw new Error('the disk-full test mounts a tmpfs and needs root (CI runs as root)');
const itRoot = isRoot ? it : it.skip;

/** Every daemon here: quick polls and retries, no reload. */
const DAEMON_FLAGS = { interval: '100ms', backoffMax: '500ms', reload: 'none' };

/** A sandbox whose checkout is cloned onto a tmpfs of `size` (unmounted by afterEach). */
async function tmpfsCheckout(files: Record<string, string>, size: string) {
  sb = await makeSandbox({ files });
  const volume = path.join(sb.root, 'volume');
  await fs.mkdir(volume);
  await execa('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', volume]);
  mounted = volume;
  const checkout = path.join(volume, 'checkout');
  await git(sb.root, 'clone', '-q', '--branch', 'main', sb.bare, checkout);
  return { volume, checkout, old: await headOf(checkout) };
}

/**
 * A daemon on `checkout` (DAEMON_FLAGS and `flags`), started, once its state says no space is left.
 * `between(look)` runs `look` in the daemon's pass queue: the daemon keeps retrying (writing the tree, filling the
 * disk, undoing) every few hundred ms, and a look at the tree must not land in the middle of a pass.
 */
async function failingDaemon(checkout: string, flags: Record<string, unknown> = {}) {
  const d = await makeDaemon(checkout, { ...DAEMON_FLAGS, ...flags });
  stopDaemon = () => d.daemon.stop();
  d.daemon.start();
  await waitFor(
    'state failing: no space left',
    () => d.engine.status.state === 'failing' && /no space left/i.test(d.engine.status.reason ?? ''),
    60_000,
  );
  const between = (look: () => Promise<void>) =>
    d.daemon.exclusive(async () => {
      await look();
      return { kind: 'up-to-date', sha: '' };
    });
  return { ...d, between };
}

describe('a full disk during an in-place deploy', () => {
  itRoot(
    'undoes the apply, says "no space left", keeps the old files, and deploys once space is back',
    async () => {
      const { volume, checkout, old } = await tmpfsCheckout(
        { 'app.py': 'VERSION = 1\n', 'uwsgi.ini': '[uwsgi]\n', 'lib/util.py': 'A = 1\n' },
        '2m',
      );

      // 8 MB of text that compresses to a few KB: the fetch fits, writing the file does not
      const big = 'the same line again and again to fill the disk\n'.repeat(170_000);
      const sha = await commitAndPush(sb, {
        'app.py': 'VERSION = 2\n',
        'lib/util.py': null,
        'lib/new.py': 'B = 2\n',
        'big.txt': big,
      });

      const d = await failingDaemon(checkout);

      // the old revision, whole: nothing half-written, nothing left over, the journal kept nothing pending
      expect(d.engine.status.reason).toMatch(
        /^no space left on device while writing \w{7}; the checkout stays at \w{7} and the old code keeps serving/,
      );
      await d.between(async () => {
        expect(await headOf(checkout)).toBe(old);
        // a status that writes no index lock: the disk may be full still
        expect(await git(checkout, '--no-optional-locks', 'status', '--porcelain', '--untracked-files=all')).toBe('');
        expect(await fs.readFile(path.join(checkout, 'app.py'), 'utf8')).toBe('VERSION = 1\n');
        expect(await fs.readFile(path.join(checkout, 'lib/util.py'), 'utf8')).toBe('A = 1\n');
        await expect(fs.stat(path.join(checkout, 'big.txt'))).rejects.toThrow();
      });
      // it keeps trying (and keeps undoing) while the disk is full
      const failures = d.engine.status.consecutiveFailures;
      await waitFor('another failed pass', () => d.engine.status.consecutiveFailures > failures, 30_000);
      await d.between(async () => expect(await headOf(checkout)).toBe(old));

      await execa('mount', ['-o', 'remount,size=64m', volume]);
      await waitFor(
        'the pushed revision deployed once space is back',
        async () => (await headOf(checkout)) === sha && d.engine.status.state === 'idle',
        60_000,
      );
      expect(await git(checkout, 'status', '--porcelain', '--untracked-files=all')).toBe('');
      expect(await fs.readFile(path.join(checkout, 'app.py'), 'utf8')).toBe('VERSION = 2\n');
      expect((await fs.stat(path.join(checkout, 'big.txt'))).size).toBe(big.length);
      await expect(fs.stat(path.join(checkout, 'lib/util.py'))).rejects.toThrow();
      await expect(fs.stat(path.join(checkout, '.git', 'hotpull', 'journal.json'))).rejects.toThrow();
    },
    180_000,
  );
});

/**
 * A checkout on a 4 MB tmpfs; `filler`, a command that fills that volume up (`dd` failing for want of space, unless
 * `tail` says otherwise) until `spaceBack`; `failingFor`, a daemon with those flags, once it says no space is left.
 */
async function fillableVolume() {
  const { volume, checkout, old } = await tmpfsCheckout({ 'app.py': 'VERSION = 1\n' }, '4m');
  const flag = path.join(sb!.root, 'fill-the-disk');
  const fill = path.join(volume, 'fill');
  await fs.writeFile(flag, '');
  const filler = (tail: string) =>
    `if [ -f '${flag}' ]; then dd if=/dev/zero of='${fill}' bs=64k 2>/dev/null${tail}; fi`;
  const failingFor = (flags: Record<string, unknown>) => failingDaemon(checkout, flags);
  /** Frees the space; with `restart`, `d` is stopped first and a new daemon (`flags`) must finish from the journal. */
  const spaceBack = async (
    given: Awaited<ReturnType<typeof makeDaemon>>,
    sha: string,
    restart?: Record<string, unknown>,
  ) => {
    let d = given;
    if (restart) {
      await d.daemon.stop();
      d = await makeDaemon(checkout, { ...DAEMON_FLAGS, ...restart });
      stopDaemon = () => d.daemon.stop();
    }
    await fs.rm(flag);
    await fs.rm(fill);
    if (restart) d.daemon.start();
    await waitFor(
      'the pushed revision deployed once space is back',
      async () => (await headOf(checkout)) === sha && d.engine.status.state === 'idle',
      60_000,
    );
  };
  return { checkout, old, filler, failingFor, spaceBack };
}

describe('a full disk while the run hooks of an in-place deploy run', () => {
  // The first hook fills the volume holding the checkout (a pip install writing its cache, say) while a flag file
  // exists. 'ends well': it succeeds anyway, so the second hook is the one that meets the full disk, when hotpull
  // writes down its pid: it must not start. 'fails': the first hook itself fails for want of space.
  // 'ends well' also restarts hotpull before the space comes back: the new process has only the journal to go by
  itRoot.each([
    ['ends well', ' || true', true],
    ['fails', '', false],
  ])(
    'a first hook that fills the disk and %s: no verdict on the revision, the tree restored, retried once space is back',
    async (_what, tail, restart) => {
      const { checkout, old, filler, failingFor, spaceBack } = await fillableVolume();
      const ran = path.join(sb.root, 'second-hook-ran');
      const config = path.join(sb.root, 'hotpull.config.json');
      await fs.writeFile(
        config,
        JSON.stringify({
          onChange: [
            {
              paths: 'app.py',
              run: filler(tail),
            },
            { paths: 'app.py', run: `echo "$HOTPULL_SHA" >> '${ran}'` },
          ],
        }),
      );
      const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });

      const d = await failingFor({ config });
      expect(d.engine.status.reason).toMatch(
        new RegExp(
          `^no space left on device while run hook "${tail ? 'echo' : 'if'} .*" ran for ${sha.slice(0, 7)}[;,] .*not a verdict on the revision, retrying: `,
        ),
      );
      if (tail) expect(d.engine.status.reason).toContain('could not start (its pid could not be written down: ENOSPC)');
      // the second hook never ran, and the revision is not rejected: a full disk says nothing about the code
      await expect(fs.stat(ran)).rejects.toThrow();
      expect(d.engine.status.rejectedSha).toBeUndefined();
      await expect(git(checkout, 'rev-parse', '--verify', '-q', 'refs/hotpull/rejected')).rejects.toThrow();
      // whatever the pass could restore, the tree on disk is one whole revision (a status that writes no index lock)
      await d.between(async () => {
        expect([old, sha]).toContain(await headOf(checkout));
        expect(await git(checkout, '--no-optional-locks', 'status', '--porcelain')).toBe('');
      });

      await spaceBack(d, sha, restart ? { config } : undefined);
      expect((await fs.readFile(ran, 'utf8')).trim()).toBe(sha);
      expect(await fs.readFile(path.join(checkout, 'app.py'), 'utf8')).toBe('VERSION = 2\n');
      expect(await git(checkout, 'status', '--porcelain')).toBe('');
      await expect(fs.stat(path.join(checkout, '.git', 'hotpull', 'journal.json'))).rejects.toThrow();
    },
    180_000,
  );
});

describe('a full disk while a preflight judges the staged revision', () => {
  itRoot(
    'a preflight that fails for want of space is no verdict: nothing rejected, retried, deployed once space is back',
    async () => {
      const { checkout, old, filler, failingFor, spaceBack } = await fillableVolume();
      const sha = await commitAndPush(sb!, { 'app.py': 'VERSION = 2\n' });

      const preflight = filler('');
      const d = await failingFor({ preflight });
      expect(d.engine.status.reason).toMatch(
        new RegExp(`^no space left on device while ${sha.slice(0, 7)} was judged before serving; not a verdict`),
      );
      expect(d.engine.status.rejectedSha).toBeUndefined();
      await d.between(async () => expect(await headOf(checkout)).toBe(old));

      await spaceBack(d, sha);
      expect(await fs.readFile(path.join(checkout, 'app.py'), 'utf8')).toBe('VERSION = 2\n');
    },
    180_000,
  );
});
