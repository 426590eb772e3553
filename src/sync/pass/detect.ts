import { HotpullError } from '../../errors.js';
import { shortSha as short } from '../../sha.js';
import type { Deploy, StageEnv } from './deploy.js';
import type { Stage } from './stage-types.js';
import { enterGate } from './apply.js';
import { resume } from './recover.js';

/** A webhook announced a push: the fetch itself is the detection (no ls-remote round trip where latency is the point). */
const prefetches = (d: Deploy, s: StageEnv): boolean =>
  d.trigger === 'webhook' && d.local !== undefined && s.follower.spec.kind === 'branch';

/** Where the followed ref points now: ls-remote (a poll's with its shorter time limit), or a webhook's fetch. */
export const detect: Stage = {
  name: 'detect',
  state: (d, s) => (prefetches(d, s) ? 'syncing' : undefined),
  async run(d, s) {
    const network = { timeoutMs: s.syncTimeoutMs, signal: d.signal };
    d.prefetched = prefetches(d, s);
    if (d.prefetched) {
      // The dirty check beside the fetch, as on the poll path: on a busy machine each is a process waiting for a core.
      for (const message of await s.workspace.recover()) s.logger.warn(message);
      d.modified = s.workspace.modifiedFiles();
      d.modified.catch(() => undefined);
      await s.git.fetchBranch(s.remote, s.branch, s.fetchRef, network);
    }
    const poll = d.trigger === 'poll' && s.pollTimeoutMs ? { ...network, timeoutMs: s.pollTimeoutMs } : network;
    // After the fetch the ref is a file git just wrote: read it rather than spawn rev-parse.
    const remote = d.prefetched
      ? ((await s.git.refFromFiles(s.fetchRef)) ?? (await s.git.resolve(s.fetchRef)))
      : await s.follower.detect(poll);
    if (!remote) throw new HotpullError('GIT', `branch ${s.branch} not found on ${s.remoteLabel}`);
    d.to = remote;
    s.report.remote(remote);
    d.times.detected = d.times.fetched = d.times.applied = s.clock();
    return undefined;
  },
};

const fetches = (d: Deploy): boolean => d.to !== d.local && !d.standing && !d.prefetched;

/**
 * Gets the new commit, with the dirty check beside it (local and network side by side). Then what the old code
 * answers is asked (before the tree changes) and run --watch's gate entered. The checkout already at the remote
 * head here means a deploy on disk is owed its hooks, reload or verification: it is finished.
 */
export const fetch: Stage = {
  name: 'fetch',
  state: (d) => (fetches(d) ? 'syncing' : undefined),
  async run(d, s) {
    if (!d.prefetched) for (const message of await s.workspace.recover()) s.logger.warn(message);
    d.modified ??= d.local === undefined ? Promise.resolve([]) : s.workspace.modifiedFiles();
    d.modified.catch(() => undefined);
    if (fetches(d)) {
      s.logger.debug({ remote: short(d.to), ref: s.fetchRef }, `fetching ${s.branch} (${short(d.to)})`);
      const depth = d.local === undefined ? s.fetchDepth : undefined;
      await s.follower.fetch(d.to, { timeoutMs: s.syncTimeoutMs, signal: d.signal, depth });
      d.times.fetched = d.times.applied = s.clock();
    }
    d.dirty = await d.modified;
    if (d.to !== d.local) await s.served?.refresh(d.local, s.logger);
    await enterGate(d, s);
    const owed = d.to === d.local ? s.cursor.owed(d.local) : undefined;
    return owed ? { skipTo: resume(d, s, owed) } : undefined;
  },
};
