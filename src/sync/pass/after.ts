import { formatDuration as ms } from '../../duration.js';
import { HotpullError } from '../../errors.js';
import { shortSha as short } from '../../sha.js';
import type { Stage } from './stage-types.js';
import { wait } from './admit.js';

/**
 * --after: a new revision is applied only once the peer serves it verified and has for --after-bake (from the peer's
 * `since`, else from when this daemon first saw it live there). One the peer rejected or rolled back is held; a peer
 * that cannot be asked holds it too (the pass fails after the usual count: state failing). Waiting is no failure:
 * the pass ends `held` and the next poll looks again. `hotpull rollback` starts at apply and never comes here.
 */
export const after: Stage = {
  name: 'after',
  async run(d, s) {
    const peer = s.after;
    if (!peer || d.restore || d.rollback || d.resumed) return undefined;
    const memo = (s.memo.after ??= { failures: 0 });
    const view = await peer.look(d.to, d.signal);
    const sha = short(d.to)!;
    if (view.kind === 'unreachable') {
      memo.failures += 1;
      const why = `--after ${peer.name} could not be asked (${view.error})`;
      if (memo.failures >= peer.failingAfter)
        throw new HotpullError('UNREACHABLE', `${why}, ${memo.failures} times in a row; ${sha} waits`);
      return wait(d, s, `${why}; ${sha} waits until it answers`, false);
    }
    memo.failures = 0;
    if (view.kind !== 'live') memo.seen = undefined;
    if (view.kind === 'refused') return wait(d, s, `--after ${peer.name} ${view.verdict}: ${sha} is not applied here`);
    if (view.kind === 'waiting')
      return wait(d, s, `waiting for ${sha} to be live on --after ${peer.name} (it ${view.what})`);
    const now = s.clock();
    if (memo.seen?.sha !== d.to) memo.seen = { sha: d.to, at: now };
    // a peer's clock ahead of ours never makes us wait longer than the bake from when we first saw it live
    const liveFor = Math.max(now - memo.seen.at, view.since === undefined ? 0 : now - view.since);
    if (liveFor < peer.bakeMs) {
      const left = ms(peer.bakeMs - liveFor);
      return wait(
        d,
        s,
        `${sha} is live on --after ${peer.name}, applied here in ${left} (--after-bake ${ms(peer.bakeMs)})`,
      );
    }
    s.memo.blocked = undefined;
    s.logger.info(
      { sha, peer: peer.name, liveMs: liveFor },
      `${sha} has been live on ${peer.name} for ${ms(liveFor)} (--after-bake ${ms(peer.bakeMs)}): applying it here`,
    );
    s.memo.waitSaid = undefined;
    return undefined;
  },
};
