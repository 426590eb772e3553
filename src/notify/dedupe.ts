import type { Notice } from './event.js';

/**
 * --notify-dedupe: a `failing` or `blocked` notice for the same reason as one sent less than `windowMs` ago is held
 * back, and counted; the next one that goes out says how many were (Notice.suppressed). A `recovered` that follows a
 * held-back `failing` is held back with it, so a flapping remote is not "recovered" fifty times an hour either.
 * Pure: the state goes in and comes out.
 */
export interface DedupeState {
  /** per event and reason: when the last one went out, and how many were held back since */
  readonly sent: ReadonlyMap<string, { at: number; suppressed: number }>;
  /** the last `failing` was held back: its `recovered` is too */
  readonly failingHeld: boolean;
}

export const INITIAL_DEDUPE: DedupeState = { sent: new Map(), failingHeld: false };

const keyOf = (notice: Notice) => `${notice.event}\u0000${notice.state}\u0000${notice.reason ?? ''}`;

export function dedupe(
  notice: Notice,
  now: number,
  windowMs: number,
  state: DedupeState,
): { send: Notice | undefined; state: DedupeState } {
  if (notice.event === 'recovered' && state.failingHeld)
    return { send: undefined, state: { ...state, failingHeld: false } };
  if (windowMs <= 0 || (notice.event !== 'failing' && notice.event !== 'blocked')) return { send: notice, state };
  const key = keyOf(notice);
  const last = state.sent.get(key);
  const sent = new Map(state.sent);
  // forget what is older than the window: the map stays as small as the reasons of the last minutes
  for (const [k, v] of sent) if (now - v.at >= windowMs && v.suppressed === 0) sent.delete(k);
  if (last && now - last.at < windowMs) {
    sent.set(key, { at: last.at, suppressed: last.suppressed + 1 });
    return { send: undefined, state: { sent, failingHeld: notice.event === 'failing' || state.failingHeld } };
  }
  sent.set(key, { at: now, suppressed: 0 });
  const told = last?.suppressed ? { ...notice, suppressed: last.suppressed } : notice;
  return { send: told, state: { sent, failingHeld: notice.event === 'failing' ? false : state.failingHeld } };
}
