import type { EngineChange } from '../sync/engine.js';
import type { DeployImpact, DeployRecord, Status } from '../sync/status.js';
import { commitUrl } from './forge.js';

/**
 * Which notification a change of the engine is worth, and what it says: pure functions, no I/O. The engine reports
 * every state it enters and every deploy record it writes; most are not news (syncing, a blocked poll repeating
 * itself), and some news needs memory: `failing` is sent once after N failed passes in a row, then `recovered`.
 */
export const NOTIFY_EVENTS = [
  'live',
  'rolled-back',
  'rejected',
  'held',
  'blocked',
  'failing',
  'recovered',
  'paused',
  'resumed',
] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export interface Notice {
  event: NotifyEvent;
  /** the engine's state when the notice was derived */
  state: string;
  reason?: string;
  /** the deploy the notice is about, when there is one */
  record?: DeployRecord;
  /** the revisions concerned: deployed before and the one the notice is about */
  old?: string;
  new?: string;
  /** how many notices like this one were held back by --notify-dedupe since the last one sent */
  suppressed?: number;
}

/** What a deploy cost its users (--traffic), as its record has it: figures and one line (`summary`). */
export type Impact = Readonly<DeployImpact>;

export interface Memory {
  /** the last state entered */
  readonly state: string;
  /** `failing` was sent and `recovered` is owed */
  readonly failingSent: boolean;
  /** a deploy record `failed` waits for the state that says what it was: `rejected` (a hook) or `failing` (the reload) */
  readonly failed?: DeployRecord;
}

export const INITIAL_MEMORY: Memory = Object.freeze({ state: 'starting', failingSent: false });

/** States a pass passes through; leaving `failing` for one of them is not a recovery yet. */
const TRANSIENT = new Set(['starting', 'syncing', 'reloading', 'verifying', 'failing']);

type StatusView = Pick<Status, 'consecutiveFailures' | 'deployedSha' | 'remoteSha' | 'heldSha' | 'rejectedSha'>;

export function deriveNotices(
  change: EngineChange,
  status: StatusView,
  memory: Memory,
  failingAfter: number,
): { notices: Notice[]; memory: Memory } {
  if (change.kind === 'deploy') return fromRecord(change.record, memory);
  const notices: Notice[] = [];
  const { reason, previous } = change;
  // a string: states other helpers add (paused) are compared by name
  const state: string = change.state;
  let { failingSent } = memory;
  const base = { state, reason, old: status.deployedSha };
  if (state === 'failing') {
    if (!failingSent && status.consecutiveFailures >= failingAfter) {
      notices.push({ ...base, event: 'failing', new: memory.failed?.to ?? status.remoteSha, record: memory.failed });
      failingSent = true;
    }
    return { notices, memory: { state, failingSent } };
  }
  if (failingSent && !TRANSIENT.has(state)) {
    notices.push({ ...base, event: 'recovered', new: status.deployedSha });
    failingSent = false;
  }
  // `previous` is the engine's; memory.state is what this module last saw (they differ only if a change was missed)
  const entered = state !== previous || state !== memory.state;
  // A revision rejected at an earlier start is blocked again on every start: that is no news.
  if (state === 'rejected' && memory.failed) {
    notices.push({
      ...base,
      event: 'rejected',
      old: memory.failed.from || undefined,
      new: memory.failed.to,
      record: memory.failed,
    });
  } else if (entered && state === 'held') {
    notices.push({ ...base, event: 'held', new: status.heldSha ?? status.remoteSha });
  } else if (entered && (state === 'diverged' || state === 'dirty')) {
    notices.push({ ...base, event: 'blocked', new: status.remoteSha });
  } else if (entered && state === 'paused') {
    notices.push({ ...base, event: 'paused', new: status.remoteSha });
  }
  if (entered && memory.state === 'paused' && state !== 'paused') notices.push({ ...base, event: 'resumed' });
  return { notices, memory: { state, failingSent } };
}

function fromRecord(record: DeployRecord, memory: Memory): { notices: Notice[]; memory: Memory } {
  const about = { state: memory.state, record, old: record.from || undefined, new: record.to, reason: record.error };
  switch (record.result) {
    case 'live':
    case 'reloaded':
      return { notices: [{ ...about, event: 'live' }], memory: { ...memory, failed: undefined } };
    case 'rolled-back':
      return { notices: [{ ...about, event: 'rolled-back' }], memory: { ...memory, failed: undefined } };
    case 'rejected':
      return { notices: [{ ...about, event: 'rejected' }], memory: { ...memory, failed: undefined } };
    case 'failed':
      return { notices: [], memory: { ...memory, failed: record } };
  }
}

/** `live,rolled-back` (also repeated) → the set of events; the bad name when one is not an event. */
export function parseEventFilter(values: readonly string[]): { events: ReadonlySet<NotifyEvent> } | { bad: string } {
  const names = values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  const bad = names.find((n) => !(NOTIFY_EVENTS as readonly string[]).includes(n));
  if (bad !== undefined) return { bad };
  return { events: new Set((names.length > 0 ? names : NOTIFY_EVENTS) as NotifyEvent[]) };
}

/** Where the notice comes from: the same for every notice of a process. */
export interface Origin {
  /** the remote as shown in logs (credentials redacted) */
  repo: string;
  branch: string;
  dir: string;
  hostname: string;
  version: string;
}

const short = (sha: string | undefined) => sha?.slice(0, 8);

/** The JSON body of the https:// format, and what every chat format is rendered from. */
export interface NotificationBody {
  event: NotifyEvent;
  repo: string;
  branch: string;
  dir: string;
  old: string | null;
  new: string | null;
  subject: string | null;
  state: string;
  reason: string | null;
  result: string | null;
  trigger: string | null;
  by: string | null;
  durations: DeployRecord['durations'] | null;
  rolledBackTo: string | null;
  /** the commit on its forge (GitHub, GitLab, Bitbucket, Codeberg), when the remote is on one */
  commitUrl: string | null;
  /** impact figures, when the deploy record carries them */
  impact: Impact | null;
  /** notices like this one held back by --notify-dedupe before it (0: none) */
  suppressed: number;
  hostname: string;
  version: string;
  at: string;
  text: string;
}

/** The JSON body: fields for programs, `text` for a chat webhook (Slack, Mattermost) that shows it as it is. */
export function notificationBody(
  notice: Notice,
  origin: Origin,
  subject: string | undefined,
  at: Date,
): NotificationBody {
  const { record } = notice;
  // --traffic adds the deploy's figures to its record; older records have none
  const impact = record?.impact;
  return {
    event: notice.event,
    repo: origin.repo,
    branch: origin.branch,
    dir: origin.dir,
    old: notice.old ?? null,
    new: notice.new ?? null,
    subject: subject ?? null,
    state: notice.state,
    reason: notice.reason ?? null,
    result: record?.result ?? null,
    trigger: record?.trigger ?? null,
    by: record?.by ?? null,
    durations: record?.durations ?? null,
    rolledBackTo: record?.rolledBackTo ?? null,
    commitUrl: commitUrl(origin.repo, notice.new) ?? null,
    impact: impact ?? null,
    suppressed: notice.suppressed ?? 0,
    hostname: origin.hostname,
    version: origin.version,
    at: at.toISOString(),
    text: noticeText(notice, origin, subject),
  };
}

/** One human line, e.g. `hotpull on web-1: acme/app main live: 1a2b3c4d → 5e6f7a8b "Fix login" (2.3 s)`. */
export function noticeText(notice: Notice, origin: Origin, subject?: string): string {
  const head = `hotpull on ${origin.hostname}: ${origin.repo} ${origin.branch}`;
  const what = `${short(notice.new) ?? '?'}${subject ? ` "${subject}"` : ''}`;
  const seconds = notice.record ? ` (${(notice.record.durations.total / 1000).toFixed(1)} s)` : '';
  const why = `${notice.reason ? `: ${notice.reason}` : ''}${suppressedNote(notice.suppressed)}`;
  switch (notice.event) {
    case 'live':
      return `${head} ${notice.record?.result === 'reloaded' ? 'reloaded (unverified)' : 'live'}: ${short(notice.old) ?? 'nothing'} → ${what}${seconds}`;
    case 'rolled-back':
      return `${head} rolled back: ${what} failed verification, ${short(notice.record?.rolledBackTo) ?? 'the previous revision'} serves again${why}`;
    case 'rejected':
      return `${head} rejected ${what}, not retried until the branch moves${why}`;
    case 'held':
      return `${head} held ${what}${why}`;
    case 'blocked':
      return `${head} blocked (${notice.state}) at ${what}${why}`;
    case 'failing':
      return `${head} failing, ${short(notice.old) ?? 'the old code'} keeps serving${why}`;
    case 'recovered':
      return `${head} recovered, serving ${short(notice.new) ?? '?'}`;
    case 'paused':
      return `${head} paused${why}`;
    case 'resumed':
      return `${head} resumed`;
  }
}

/** ` (suppressed 3 times before this one)`: what --notify-dedupe held back is said once, with the next notice. */
function suppressedNote(count: number | undefined): string {
  return count ? ` (suppressed ${count} ${count === 1 ? 'time' : 'times'} before this one)` : '';
}
