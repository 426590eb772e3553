import { request, requestFailure } from '../net/request.js';
import type { Peer } from './peers.js';

/**
 * Asks every peer for its /status: at most `connections` at once, each within its own time limit and byte cap
 * (net/request.ts), so a peer that hangs, drips or floods costs its own row and nothing more. What a peer answers
 * is untrusted: only the fields the view reads are kept, each of its type, text cleaned of control characters.
 */
export const MAX_STATUS_BYTES = 1024 * 1024;
export const DEFAULT_CONNECTIONS = 16;

/** What the fleet view reads of a peer's /status (see src/http/revision.ts for the revision fields). */
export interface PeerStatus {
  state: string;
  reason?: string;
  branch?: string;
  ref?: string;
  deployedSha?: string;
  remoteSha?: string;
  subject?: string;
  since?: string;
  verified?: boolean;
  lastGoodSha?: string;
  rejectedSha?: string;
  heldSha?: string;
  paused?: { reason?: string; by?: string; at?: string };
  lastError?: string;
  consecutiveFailures?: number;
  lastSuccessAt?: string;
  intervalMs?: number;
  live?: boolean;
}

export interface PeerAnswer {
  peer: Peer;
  status?: PeerStatus;
  /** why there is no status: the request failed, or the answer is not a hotpull status */
  error?: string;
  /** how long the peer took to answer (or to fail) */
  ms: number;
}

export interface AskOptions {
  timeoutMs: number;
  /** sent as Authorization: Bearer to every peer */
  secret?: string;
  connections?: number;
  maxBytes?: number;
  signal?: AbortSignal;
  clock?: () => number;
}

/** Text from a peer, fit for a terminal: control characters (escape sequences) shown as '?', at most 300 characters. */
export function cleanText(value: string): string {
  // eslint-disable-next-line no-control-regex
  const text = value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
}

const SHA = /^[0-9a-f]{4,64}$/;

/** The fields of a parsed /status body the view reads, each checked; undefined when it is not a hotpull status. */
export function peerStatus(value: unknown): PeerStatus | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.state !== 'string' || !/^[a-z-]{1,40}$/.test(v.state)) return undefined;
  const status: PeerStatus = { state: v.state };
  const text = (key: keyof PeerStatus) => {
    if (typeof v[key] === 'string') (status as unknown as Record<string, unknown>)[key] = cleanText(v[key]);
  };
  const sha = (key: keyof PeerStatus) => {
    if (typeof v[key] === 'string' && SHA.test(v[key])) (status as unknown as Record<string, unknown>)[key] = v[key];
  };
  const time = (key: keyof PeerStatus) => {
    if (typeof v[key] === 'string' && !Number.isNaN(Date.parse(v[key])))
      (status as unknown as Record<string, unknown>)[key] = v[key];
  };
  for (const key of ['reason', 'branch', 'ref', 'subject', 'lastError'] as const) text(key);
  for (const key of ['deployedSha', 'remoteSha', 'lastGoodSha', 'rejectedSha', 'heldSha'] as const) sha(key);
  for (const key of ['since', 'lastSuccessAt'] as const) time(key);
  if (typeof v.verified === 'boolean') status.verified = v.verified;
  if (typeof v.live === 'boolean') status.live = v.live;
  if (typeof v.consecutiveFailures === 'number' && Number.isInteger(v.consecutiveFailures))
    status.consecutiveFailures = v.consecutiveFailures;
  if (typeof v.intervalMs === 'number' && Number.isFinite(v.intervalMs) && v.intervalMs > 0)
    status.intervalMs = v.intervalMs;
  if (typeof v.paused === 'object' && v.paused !== null) {
    const p = v.paused as Record<string, unknown>;
    status.paused = {};
    for (const key of ['reason', 'by', 'at'] as const)
      if (typeof p[key] === 'string') status.paused[key] = cleanText(p[key]);
  }
  return status;
}

/** One peer's answer → its status or why there is none. Pure. */
export function readAnswer(
  answer: { status: number; body: string },
  maxBytes: number,
): Pick<PeerAnswer, 'status' | 'error'> {
  if (Buffer.byteLength(answer.body) >= maxBytes)
    return { error: `answered more than ${Math.round(maxBytes / 1024)} KiB (cut off there)` };
  if (answer.status < 200 || answer.status > 299)
    return {
      error: `answered ${answer.status}${answer.status === 401 ? ' (a bearer secret is needed: HOTPULL_WEBHOOK_SECRET or --webhook-secret-file)' : ''}`,
    };
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.body);
  } catch {
    return { error: `answered ${answer.status} with a body that is not JSON` };
  }
  const status = peerStatus(parsed);
  return status ? { status } : { error: `answered ${answer.status} with JSON that is not a hotpull status (no state)` };
}

export async function askPeer(peer: Peer, options: AskOptions): Promise<PeerAnswer> {
  const clock = options.clock ?? Date.now;
  const started = clock();
  const maxBytes = options.maxBytes ?? MAX_STATUS_BYTES;
  try {
    const answer = await request(peer.url, {
      timeoutMs: options.timeoutMs,
      maxBodyBytes: maxBytes,
      headers: { accept: 'application/json', ...(options.secret ? { authorization: `Bearer ${options.secret}` } : {}) },
      signal: options.signal,
      ...(peer.auth ? { auth: peer.auth } : {}),
    });
    return { peer, ...readAnswer(answer, maxBytes), ms: clock() - started };
  } catch (error) {
    // a time limit passed says so itself: 'no answer within 2s'
    return { peer, error: requestFailure(error), ms: clock() - started };
  }
}

/** Every peer asked, `connections` at a time; the answers in the order of `peers`. */
export async function askPeers(peers: readonly Peer[], options: AskOptions): Promise<PeerAnswer[]> {
  const answers: PeerAnswer[] = new Array(peers.length);
  let next = 0;
  const worker = async () => {
    while (next < peers.length) {
      const i = next++;
      answers[i] = await askPeer(peers[i]!, options);
    }
  };
  const connections = Math.max(1, Math.min(options.connections ?? DEFAULT_CONNECTIONS, peers.length));
  await Promise.all(Array.from({ length: connections }, worker));
  return answers;
}
