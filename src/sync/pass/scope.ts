import { shortSha as short } from '../../sha.js';
import { underPaths } from '../scope-paths.js';
import type { Deploy, StageEnv, SyncOutcome } from './deploy.js';
import type { Stage } from './stage-types.js';

/**
 * --path: a change that touches nothing under the paths is nothing to deploy. The tree still goes to the revision
 * (apply's fast-forward in-place, a release and the `current` switch in atomic), so the next poll finds it up to date;
 * but no hook runs, nothing is judged, reloaded or verified, and no deploy is recorded or notified: the pass ends
 * after activate (quietEnd), counted in the status. The first deploy of an empty volume, a resumed deploy and a
 * rollback always deploy.
 */
export const scope: Stage = {
  name: 'scope',
  async run(d, s) {
    const paths = s.paths ?? [];
    if (paths.length === 0 || d.local === undefined || d.restore) return undefined;
    const changed = await s.git.changedPaths(d.local, d.to);
    if (changed.some((file) => underPaths(file, paths))) return undefined;
    d.quiet = true;
    d.run = [];
    return undefined;
  },
};

/** After the tree moved: the journal cleared, last-good carried over (nothing served changed), counted, said once. */
export async function quietEnd(d: Deploy, s: StageEnv): Promise<SyncOutcome> {
  await s.cursor.clear();
  await s.marks.carried(d.from, d.to);
  s.report.skipped(d.from, d.to);
  const paths = (s.paths ?? []).join(', ');
  s.logger.info(
    { old: d.from, new: d.to, paths: s.paths },
    `${short(d.from)} → ${short(d.to)}: nothing to deploy (no change under --path ${paths}); the tree moved without hooks or a reload`,
  );
  s.report.setState('idle');
  s.report.succeeded();
  return { kind: 'up-to-date', sha: d.to, skipped: true };
}
