/**
 * Which app's share of the shared slots a piece of work takes in a many-apps process (src/proc/slots.ts): the app
 * whose directories hold the directory it runs in (its checkout or atomic root, its git directory), however the work
 * was started (a poll timer, a webhook's request); none outside every app, and none once the app has stopped.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { enterLane, inSlot, laneOf, Slots } from '../src/proc/slots.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'hotpull-lanes-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs inSlot('git', dir) with work that holds its slot until released; says whether it got one at once. */
async function holds(git: Slots, dir: string): Promise<{ slot: boolean; release: () => Promise<void> }> {
  let end!: () => void;
  const done = inSlot('git', dir, () => new Promise<void>((resolve) => (end = resolve)));
  await new Promise((resolve) => setImmediate(resolve));
  const slot = git.load.inUse === 1;
  return {
    slot,
    release: async () => {
      end();
      await done;
    },
  };
}

describe('lanes by directory', () => {
  it("work below an app's checkout takes that app's slot, a sibling with the same prefix and the outside none", async () => {
    const git = new Slots(4, 1);
    const lane = { app: 'app1', git, canaries: new Slots(1, 1) };
    const checkout = path.join(root, 'app1');
    mkdirSync(checkout);
    const leave = enterLane(lane, [checkout]);
    try {
      // the stage tree of the in-place layout, not made yet
      expect(laneOf(path.join(checkout, '.git', 'hotpull', 'stage'))?.app).toBe('app1');
      const inside = await holds(git, path.join(checkout, '.git', 'hotpull', 'stage'));
      expect(inside.slot).toBe(true);
      // app1's one slot is taken: a second git of app1 waits for it
      const second = inSlot('git', checkout, async () => 'second');
      await new Promise((resolve) => setImmediate(resolve));
      expect(git.load).toEqual({ inUse: 1, waiting: 1 });
      // app10 is another directory, and the root above the apps is no app's: both run at once
      expect(laneOf(path.join(root, 'app10'))).toBeUndefined();
      await expect(inSlot('git', path.join(root, 'app10'), async () => 'sibling')).resolves.toBe('sibling');
      await expect(inSlot('git', root, async () => 'outside')).resolves.toBe('outside');
      await inside.release();
      await expect(second).resolves.toBe('second');
      expect(git.load).toEqual({ inUse: 0, waiting: 0 });
    } finally {
      leave();
    }
    expect(laneOf(checkout)).toBeUndefined();
  });

  it('a checkout named through a symlink is found by its real path (as Git.dir gives it), and its git directory elsewhere too', () => {
    const lane = { app: 'linked', git: new Slots(1, 1), canaries: new Slots(1, 1) };
    const real = path.join(root, 'real-checkout');
    const gitDir = path.join(root, 'elsewhere.git');
    mkdirSync(real);
    symlinkSync(real, path.join(root, 'link'));
    const leave = enterLane(lane, [path.join(root, 'link'), gitDir]);
    try {
      expect(laneOf(real)?.app).toBe('linked');
      expect(laneOf(path.join(root, 'link', 'sub'))?.app).toBe('linked');
      expect(laneOf(path.join(gitDir, 'hotpull', 'stage'))?.app).toBe('linked');
    } finally {
      leave();
    }
    expect(laneOf(real)).toBeUndefined();
  });

  it("an app restarted on the same checkout keeps it when the old entry's leave comes late", () => {
    const dir = path.join(root, 'restarted');
    const old = enterLane({ app: 'a', git: new Slots(1, 1), canaries: new Slots(1, 1) }, [dir]);
    const renewed = enterLane({ app: 'a2', git: new Slots(1, 1), canaries: new Slots(1, 1) }, [dir]);
    old();
    expect(laneOf(dir)?.app).toBe('a2');
    renewed();
    expect(laneOf(dir)).toBeUndefined();
  });
});
