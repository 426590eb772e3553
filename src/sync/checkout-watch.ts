import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import type { OwnerLock } from './owner.js';

/**
 * What the engine learns when it checks, before each pass, that it still owns the checkout:
 * - `same`: the lock still guards the git directory at the checkout's path;
 * - `gone`: the checkout was deleted (a volume re-provisioned, unmounted), or is being cloned again: nothing is
 *   deployed, and nothing is created there (a `git clone` to a path that holds anything fails);
 * - `retaken`: a complete clone is at the same path now; the lock was taken on it and whatever the engine knew
 *   of the old one (journal, refs, state directory) must be read afresh.
 */
export type OwnerCheck = { kind: 'same' } | { kind: 'gone'; reason: string } | { kind: 'retaken' };

/** The owner as the engine sees it: released when it closes, checked before each pass. */
export interface CheckoutOwner {
  release(): void;
  ensure(): Promise<OwnerCheck>;
  /** Whether the lock still guards what is at the checkout's path (it is not, once the checkout was cloned again). */
  guards(): boolean;
}

const exists = (file: string) =>
  fs.stat(file).then(
    () => true,
    () => false,
  );

/**
 * Why the checkout at `dir` (git directory `gitDir`) cannot be taken over yet, or undefined when a complete clone is
 * there: its git directory, a HEAD, and an index that no checkout is still writing (`git clone` writes the index
 * last, under index.lock).
 */
export async function checkoutAbsence(
  dir: string,
  gitDir: string,
  layout: 'in-place' | 'atomic' = 'in-place',
): Promise<string | undefined> {
  const stat = await fs.stat(gitDir).catch(() => undefined);
  if (layout === 'atomic') {
    // the layout is hotpull's own making: only a start makes it again (on an empty directory), never a running daemon
    return stat?.isDirectory() && (await exists(path.join(gitDir, 'HEAD')))
      ? undefined
      : `the atomic layout ${dir} is gone (no ${gitDir}); nothing is deployed until it is there again (restart hotpull to make it anew)`;
  }
  if (!stat?.isDirectory())
    return `the checkout ${dir} is gone (no ${gitDir}); nothing is deployed until a clone is there again`;
  const complete =
    (await exists(path.join(gitDir, 'HEAD'))) &&
    (await exists(path.join(gitDir, 'index'))) &&
    !(await exists(path.join(gitDir, 'index.lock')));
  if (!complete)
    return `the checkout ${dir} is being cloned again (${gitDir} is not complete yet); nothing is deployed until the clone is done`;
  return undefined;
}

/**
 * The in-place checkout's owner: the lock on `<gitDir>/hotpull/owner`, checked before each pass against what is at
 * the checkout's path. While the checkout is gone it says so once and waits; a new clone there is taken over
 * (`reopen` readies what the process keeps about the repository, e.g. the remote's trust file in the git directory).
 */
export function watchCheckout(
  lock: OwnerLock,
  where: { dir: string; gitDir: string; layout?: 'in-place' | 'atomic' },
  logger: Logger,
  reopen: () => Promise<void>,
): CheckoutOwner {
  let told: string | undefined;
  return {
    release: () => lock.release(),
    guards: () => lock.guards(),
    async ensure() {
      if (lock.guards()) return { kind: 'same' };
      const reason = await checkoutAbsence(where.dir, where.gitDir, where.layout);
      if (reason) {
        if (reason !== told) logger.warn({ dir: where.dir }, reason);
        told = reason;
        return { kind: 'gone', reason };
      }
      await lock.retake();
      await reopen();
      told = undefined;
      logger.warn(
        { dir: where.dir },
        `a new checkout is at ${where.dir}: taking it over (owner lock taken; journal, refs and state read afresh)`,
      );
      return { kind: 'retaken' };
    },
  };
}

/** Why a pass applied nothing: the checkout was replaced under it (the next pass takes the new one over). */
export const replacedDuringPass = (dir: string) =>
  `the checkout ${dir} was deleted and cloned again during this pass: nothing applied; the next pass takes the new clone over`;
