/**
 * Issue 11: a disk that fills up while a deploy writes the checkout. The checkout lives on a small tmpfs (mounted
 * by the test; CI runs as root), the pushed commit carries a file larger than the space left (it compresses to
 * almost nothing, so the fetch fits and the checkout does not). The apply must be undone, the state must say
 * why, the old code keeps its files, and once space is back the next pass deploys.
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

describe('a full disk during an in-place deploy', () => {
  itRoot(
    'undoes the apply, says "no space left", keeps the old files, and deploys once space is back',
    async () => {
      sb = await makeSandbox({
        files: { 'app.py': 'VERSION = 1\n', 'uwsgi.ini': '[uwsgi]\n', 'lib/util.py': 'A = 1\n' },
      });
      const volume = path.join(sb.root, 'volume');
      await fs.mkdir(volume);
      await execa('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', volume]);
      mounted = volume;
      const checkout = path.join(volume, 'checkout');
      await git(sb.root, 'clone', '-q', '--branch', 'main', sb.bare, checkout);
      const old = await headOf(checkout);

      // 8 MB of text that compresses to a few KB: the fetch fits, writing the file does not
      const big = 'the same line again and again to fill the disk\n'.repeat(170_000);
      const sha = await commitAndPush(sb, {
        'app.py': 'VERSION = 2\n',
        'lib/util.py': null,
        'lib/new.py': 'B = 2\n',
        'big.txt': big,
      });

      const d = await makeDaemon(checkout, { interval: '100ms', backoffMax: '500ms', reload: 'none' });
      stopDaemon = () => d.daemon.stop();
      d.daemon.start();
      await waitFor(
        'state failing: no space left',
        () => d.engine.status.state === 'failing' && /no space left/i.test(d.engine.status.reason ?? ''),
        60_000,
      );

      // the old revision, whole: nothing half-written, nothing left over, the journal kept nothing pending
      expect(d.engine.status.reason).toMatch(
        /^no space left on device while writing \w{7}; the checkout stays at \w{7} and the old code keeps serving/,
      );
      expect(await headOf(checkout)).toBe(old);
      expect(await git(checkout, 'status', '--porcelain', '--untracked-files=all')).toBe('');
      expect(await fs.readFile(path.join(checkout, 'app.py'), 'utf8')).toBe('VERSION = 1\n');
      expect(await fs.readFile(path.join(checkout, 'lib/util.py'), 'utf8')).toBe('A = 1\n');
      await expect(fs.stat(path.join(checkout, 'big.txt'))).rejects.toThrow();
      // it keeps trying (and keeps undoing) while the disk is full
      const failures = d.engine.status.consecutiveFailures;
      await waitFor('another failed pass', () => d.engine.status.consecutiveFailures > failures, 30_000);
      expect(await headOf(checkout)).toBe(old);

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
