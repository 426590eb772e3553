import { HotpullError } from '../errors.js';
import { request, requestFailure } from '../net/request.js';
import { shortSha as short } from '../sha.js';
import type { AfterPeer, PeerView } from '../sync/after-peer.js';
import { cleanText, MAX_STATUS_BYTES, readAnswer, type PeerStatus } from './ask.js';
import { peerOf } from './peers.js';

/**
 * --after URL: the peer's /status, asked once a pass within --peer-timeout and 1 MiB (net/request.ts), read as
 * untrusted as the fleet view reads it (ask.ts), and judged for one revision by `viewOf`.
 */

/** States in which a peer serving the revision, verified, counts as serving it well (others: wait). */
const SERVING = new Set(['idle', 'held', 'rejected', 'paused', 'syncing']);

/** A deploy record of the peer's, as far as the verdict needs it. */
export interface PeerRecord {
  to: string;
  result: string;
  error?: string;
}

/** The peer's deploy records (newest first) for `sha`, each field checked; garbage is left out. */
export function recordsFor(body: unknown, sha: string): PeerRecord[] {
  const deploys = (body as { deploys?: unknown } | null)?.deploys;
  if (!Array.isArray(deploys)) return [];
  return deploys.flatMap((r: unknown) => {
    const { to, result, error } = (r ?? {}) as Record<string, unknown>;
    if (to !== sha || typeof result !== 'string') return [];
    return [{ to, result: cleanText(result), ...(typeof error === 'string' ? { error: cleanText(error) } : {}) }];
  });
}

/** What the peer's status says of `sha`. Pure. */
export function viewOf(status: PeerStatus, records: readonly PeerRecord[], sha: string): PeerView {
  const newest = records[0];
  // its record says what happened and why; the rejected mark alone, when the record has left its short history
  if (newest && (newest.result === 'rejected' || newest.result === 'rolled-back' || newest.result === 'failed'))
    return { kind: 'refused', verdict: `${newest.result} ${short(sha)}${newest.error ? ` (${newest.error})` : ''}` };
  if (status.rejectedSha === sha) {
    const why = status.state === 'rejected' && status.reason ? ` (${status.reason})` : '';
    return { kind: 'refused', verdict: `rejected ${short(sha)}${why}` };
  }
  if (status.deployedSha === sha && status.verified === true && SERVING.has(status.state)) {
    const since = status.since === undefined ? undefined : Date.parse(status.since);
    return { kind: 'live', ...(since === undefined ? {} : { since }) };
  }
  const serves = status.deployedSha ? `serves ${short(status.deployedSha)}` : 'serves nothing yet';
  const verified = status.deployedSha === sha && status.verified !== true ? ', not verified' : '';
  return { kind: 'waiting', what: `${serves}${verified}, ${status.state}` };
}

export interface UpstreamOptions {
  bakeMs: number;
  timeoutMs: number;
  failingAfter: number;
  /** the operators' bearer secret (HOTPULL_WEBHOOK_SECRET or --webhook-secret-file), when the peer needs one */
  secret?: string;
  maxBytes?: number;
}

/** The --after peer at `url` (a listener's base or its /status). Throws the one-line config error for a bad URL. */
export function upstream(url: string, options: UpstreamOptions): AfterPeer {
  const peer = peerOf(url, '--after');
  const maxBytes = options.maxBytes ?? MAX_STATUS_BYTES;
  const look = async (sha: string, signal?: AbortSignal): Promise<PeerView> => {
    try {
      const answer = await request(peer.url, {
        timeoutMs: options.timeoutMs,
        maxBodyBytes: maxBytes,
        headers: {
          accept: 'application/json',
          ...(options.secret ? { authorization: `Bearer ${options.secret}` } : {}),
        },
        signal,
        ...(peer.auth ? { auth: peer.auth } : {}),
      });
      const read = readAnswer(answer, maxBytes);
      if (!read.status) return { kind: 'unreachable', error: read.error ?? 'no status' };
      return viewOf(read.status, recordsFor(JSON.parse(answer.body), sha), sha);
    } catch (error) {
      if (signal?.aborted) throw new HotpullError('ABORTED', `asking --after ${peer.name} stopped`);
      return { kind: 'unreachable', error: requestFailure(error) };
    }
  };
  return { name: peer.name, bakeMs: options.bakeMs, failingAfter: options.failingAfter, look };
}
