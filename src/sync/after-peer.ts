/**
 * The peer a --after daemon waits for, as the engine sees it: src/fleet/upstream.ts asks it (its /status), the
 * after stage (src/sync/pass/after.ts) decides.
 */

/** What the peer named by --after says of a revision (src/fleet/upstream.ts asks it and reads its /status). */
export type PeerView =
  | { kind: 'unreachable'; error: string }
  /** it rejected or rolled the revision back: never applied here */
  | { kind: 'refused'; verdict: string }
  /** it serves the revision, verified; `since`: from when (ms, its clock), when it says */
  | { kind: 'live'; since?: number }
  /** not (yet) live there: what it serves and its state */
  | { kind: 'waiting'; what: string };

/** --after URL: the peer a revision must be live on first, and for how long. */
export interface AfterPeer {
  readonly name: string;
  readonly bakeMs: number;
  /** this many failed asks in a row and the pass fails (state failing, as a failing remote does) */
  readonly failingAfter: number;
  look(sha: string, signal?: AbortSignal): Promise<PeerView>;
}

/** What the stage remembers between passes: since when each revision has been seen live there, failed asks. */
export interface AfterMemo {
  seen?: { sha: string; at: number };
  failures: number;
}
