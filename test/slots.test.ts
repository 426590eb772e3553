/**
 * The shared slots of a many-apps process (src/proc/slots.ts): a freed slot goes round the waiting apps in turn,
 * no app holds more than its share, a wait can be aborted, and a slot is given back whatever the work does.
 */
import { describe, expect, it } from 'vitest';
import { enterLane, inSlot, laneOf, Slots } from '../src/proc/slots.js';

/** A piece of work that runs until `end()` is called: `started` says whether it has its slot. */
function held() {
  let end!: () => void;
  const done = new Promise<void>((resolve) => (end = resolve));
  const work = { started: false, end: () => end(), run: async () => ((work.started = true), done) };
  return work;
}

/** Lets every settled promise's callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('Slots', () => {
  it('round robin: an app with many waiters does not starve another that asked after them', async () => {
    const slots = new Slots(1, 1);
    const order: string[] = [];
    const first = held();
    const running = slots.run('a', first.run);
    const waits = [
      ...['a1', 'a2', 'a3', 'a4'].map((n) => slots.run('a', async () => void order.push(n))),
      slots.run('b', async () => void order.push('b1')),
      slots.run('c', async () => void order.push('c1')),
      slots.run('b', async () => void order.push('b2')),
    ];
    await settle();
    expect(slots.load).toEqual({ inUse: 1, waiting: 7 });
    first.end();
    await Promise.all([running, ...waits]);
    // after a's slot: b, c, a in turn (each app's own requests in the order they came)
    expect(order).toEqual(['b1', 'c1', 'a1', 'b2', 'a2', 'a3', 'a4']);
    expect(slots.load).toEqual({ inUse: 0, waiting: 0 });
  });

  it('per-app cap: an app whose work hangs holds at most perKey slots; the others still get theirs', async () => {
    const slots = new Slots(4, 2);
    const hung = [held(), held(), held(), held()];
    const hanging = hung.map((h) => slots.run('hung', h.run));
    await settle();
    expect(hung.map((h) => h.started)).toEqual([true, true, false, false]);
    // the two slots left serve the other apps at once, again and again
    for (let i = 0; i < 3; i++)
      await expect(Promise.all([slots.run('b', async () => 'b'), slots.run('c', async () => 'c')])).resolves.toEqual([
        'b',
        'c',
      ]);
    expect(slots.load).toEqual({ inUse: 2, waiting: 2 });
    hung[0]!.end();
    await settle();
    expect(hung[2]!.started).toBe(true);
    for (const h of hung) h.end();
    await Promise.all(hanging);
    expect(slots.load).toEqual({ inUse: 0, waiting: 0 });
  });

  it('a wait ends when its signal aborts (and never runs the work); one aborted before asking is refused', async () => {
    const slots = new Slots(1, 1);
    const first = held();
    const running = slots.run('a', first.run);
    const abort = new AbortController();
    let ran = false;
    const waiting = slots.run('b', async () => void (ran = true), abort.signal);
    const after = slots.run('c', async () => 'c');
    await settle();
    expect(slots.load.waiting).toBe(2);
    abort.abort(new Error('stopped'));
    await expect(waiting).rejects.toThrow('stopped');
    expect(slots.load).toEqual({ inUse: 1, waiting: 1 });
    first.end();
    await expect(after).resolves.toBe('c');
    await running;
    expect(ran).toBe(false);
    await expect(slots.run('d', async () => 'd', AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    expect(slots.load).toEqual({ inUse: 0, waiting: 0 });
  });

  it('a slot is given back when the work throws, and the next waiter gets it', async () => {
    const slots = new Slots(1, 1);
    const failing = slots.run('a', async () => {
      await settle();
      throw new Error('git failed');
    });
    const next = slots.run('b', async () => 'b');
    await expect(failing).rejects.toThrow('git failed');
    await expect(next).resolves.toBe('b');
    expect(slots.load).toEqual({ inUse: 0, waiting: 0 });
  });

  it('inSlot takes a slot of the app whose directory the work runs in (from a timer too), and none outside every app', async () => {
    const git = new Slots(1, 1);
    const lane = { app: 'a', git, canaries: new Slots(1, 1) };
    const dir = '/nonexistent/hotpull-slots-test/a';
    expect(laneOf(dir)).toBeUndefined();
    const leave = enterLane(lane, [dir]);
    try {
      const first = held();
      const holding = inSlot('git', dir, first.run);
      // work a timer starts in the app's directory is the app's: it waits for the one slot
      let later: Promise<string> | undefined;
      setTimeout(() => (later = inSlot('git', `${dir}/.git`, async () => laneOf(`${dir}/.git`)!.app)), 0);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(git.load).toEqual({ inUse: 1, waiting: 1 });
      await expect(inSlot('git', '/nonexistent/hotpull-slots-test/b', async () => 'outside')).resolves.toBe('outside');
      first.end();
      await holding;
      await expect(later).resolves.toBe('a');
    } finally {
      leave();
    }
  });
});
