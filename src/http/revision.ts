import type { RefSpec } from '../sync/ref.js';
import type { DeployRecord, Status } from '../sync/status.js';

/**
 * What /status says about the served revision beyond its sha, for `hotpull fleet` and anyone comparing replicas:
 * its subject, since when it serves, whether it was verified, what is followed and how often it is polled. Derived
 * from the status and its deploy records (the engine keeps neither a "since" nor a subject); the subject is the one
 * lookup that needs git: `subjectOf` answers from what is already known (rememberSubjects), so /status answers in the
 * same turn as its request (a client that half-closes after its request still gets it).
 */
export interface RevisionSource {
  /** the ref followed, as followedRef gives it */
  ref: string;
  /** the poll period (--interval), so a fleet view knows how long replicas may differ while one deploys */
  intervalMs?: number;
  /** the subject when it is known; asking starts the lookup when it is not */
  subjectOf?: (sha: string) => string | undefined;
}

export interface RevisionFields {
  /** the deployed revision's subject line */
  subject?: string;
  /** when the deployed revision began to serve (ISO), from the newest deploy record; absent when none says */
  since?: string;
  /** the deployed revision is the last one verified live (refs/hotpull/last-good) */
  verified: boolean;
  ref: string;
  intervalMs?: number;
}

/** The revision a deploy left serving; undefined when it left what served before (a failed deploy is undone). */
function servedAfter(record: DeployRecord): string | undefined {
  switch (record.result) {
    case 'failed':
      return undefined;
    case 'rolled-back':
      return record.rolledBackTo ?? record.from;
    default:
      // live, reloaded, and rejected with --no-rollback (left in place)
      return record.to;
  }
}

/**
 * Since when the deployed revision serves: the time of the newest deploy record that changed what serves, when
 * that record left the deployed revision; undefined when no record says (a checkout deployed before its history,
 * or changed by hand since).
 */
export function servedSince(status: Pick<Status, 'deployedSha' | 'deploys'>): string | undefined {
  if (!status.deployedSha) return undefined;
  for (const record of status.deploys) {
    const served = servedAfter(record);
    if (served === undefined) continue;
    if (served !== status.deployedSha) return undefined;
    return record.at ?? record.stages.verified ?? record.stages.reloaded ?? record.stages.applied;
  }
  return undefined;
}

/** The ref label of what is followed: refs/heads/main, refs/tags/v1, refs/tags/v* (a pattern), a pinned sha. */
export function followedRef(ref: RefSpec | undefined, branch: string): string {
  if (!ref) return `refs/heads/${branch}`;
  switch (ref.kind) {
    case 'branch':
      return `refs/heads/${ref.name}`;
    case 'tag':
      return `refs/tags/${ref.name}`;
    case 'pattern':
      return `refs/tags/${ref.glob}`;
    case 'sha':
      return ref.sha;
    case 'name':
      return ref.name;
  }
}

/** The fields a status gets; pure but for `subjectOf`. */
export function revisionFields(status: Status, source: RevisionSource): RevisionFields {
  const sha = status.deployedSha;
  const subject = sha && source.subjectOf ? source.subjectOf(sha) : undefined;
  const since = servedSince(status);
  return {
    ...(subject !== undefined ? { subject } : {}),
    ...(since !== undefined ? { since } : {}),
    verified: sha !== undefined && sha === status.lastGoodSha,
    ref: source.ref,
    ...(source.intervalMs !== undefined ? { intervalMs: source.intervalMs } : {}),
  };
}

/**
 * `lookup` remembered for the last few shas: /status asks git once per revision, not once per request. The answer is
 * what is known now; an unknown sha starts its lookup (a failed one is tried again at the next ask). The daemon asks
 * at every state change, so the deployed revision's subject is known by the time the deploy is verified.
 */
export function rememberSubjects(
  lookup: (sha: string) => Promise<string | undefined>,
  keep = 8,
): (sha: string) => string | undefined {
  const known = new Map<string, { subject?: string }>();
  return (sha) => {
    const entry = known.get(sha);
    if (entry) return entry.subject;
    const fresh: { subject?: string } = {};
    known.set(sha, fresh);
    if (known.size > keep) known.delete(known.keys().next().value!);
    lookup(sha).then(
      (subject) => void (fresh.subject = subject),
      () => void known.delete(sha),
    );
    return undefined;
  };
}
