import { promises as fs, constants } from 'node:fs';
import path from 'node:path';
import { shortSha as short } from '../../sha.js';
import { usesLfs } from '../../git/repo.js';
import type { Stage } from './stage-types.js';
import { refuse } from './record.js';

/**
 * A revision whose .gitattributes sends files through `filter=lfs` needs git-lfs to be served with its real contents
 * (the layouts run `git lfs pull` in the tree they stage: Git.fillTree). Without git-lfs on PATH it would serve
 * pointer files: refused before anything is staged, in one line, rejected until the branch moves.
 */
export const lfs: Stage = {
  name: 'lfs',
  async run(d, s) {
    if (d.restore || !usesLfs((await s.git.fileAt(d.to, '.gitattributes')) ?? '')) return undefined;
    if (await onPath('git-lfs', s.env.PATH ?? process.env.PATH)) return undefined;
    const error = `${short(d.to)} stores files in Git LFS (.gitattributes: filter=lfs) and git-lfs is not on PATH: not deploying pointer files (install git-lfs)`;
    return refuse(d, s, { result: 'rejected', error, said: error, fields: { old: d.local, new: d.to, err: error } });
  },
};

async function onPath(command: string, PATH = ''): Promise<boolean> {
  for (const dir of PATH.split(path.delimiter).filter(Boolean)) {
    if (
      await fs.access(path.join(dir, command), constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return true;
  }
  return false;
}
