/**
 * What the listener grants a client before it has proven anything: connections, time and buffered bytes.
 * Pure numbers and bookkeeping; the server wires them to sockets.
 */
export const LIMITS = Object.freeze({
  /** open connections at most; lowered when the fd limit is low (see connectionCap) */
  maxConnections: 128,
  /** a connection that has sent no complete request for this long may be closed to make room for a new one */
  evictIdleAfterMs: 2_000,
  /** all request headers within this; the check runs every connectionsCheckIntervalMs */
  headersTimeoutMs: 10_000,
  /** the whole request, headers and body */
  requestTimeoutMs: 20_000,
  connectionsCheckIntervalMs: 1_000,
  keepAliveTimeoutMs: 5_000,
  /** a socket with no traffic at all for this long is closed */
  idleSocketMs: 15_000,
  /** a body must arrive completely within this, counted from the end of the headers */
  bodyTimeoutMs: 10_000,
  /** bytes buffered for request bodies across all connections */
  bodyBudget: 8 * 1024 * 1024,
  /** after an accept() failure (EMFILE, ENFILE), new connections are shed for this long */
  acceptBackoffMs: 1_000,
  /** after a refusal the connection is closed; unread bytes the client still sends are discarded for this long */
  lingerMs: 1_000,
});

/** The largest body each route reads; anything else reads none. */
export const BODY_LIMITS: Readonly<Record<string, number>> = Object.freeze({
  '/webhook': 1024 * 1024,
  '/sync': 4 * 1024,
});

/** The per-route body limit: 0 for a route that takes no body. */
export function bodyLimit(path: string): number {
  return BODY_LIMITS[path] ?? 0;
}

/**
 * The connection cap for an fd limit (RLIMIT_NOFILE, soft): at most a quarter of the descriptors, so that git,
 * its pipes and the log always find some free, whatever clients do. Never below 8.
 */
export function connectionCap(fdLimit: number | undefined, max = LIMITS.maxConnections): number {
  if (fdLimit === undefined || !Number.isFinite(fdLimit)) return max;
  return Math.max(8, Math.min(max, Math.floor(fdLimit / 4)));
}

/** `Max open files  1024  4096  files` in /proc/self/limits → 1024 (the soft limit); undefined when absent. */
export function parseFdLimit(limits: string): number | undefined {
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits);
  if (!match) return undefined;
  return match[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[1]);
}

/** A shared allowance of bytes: a body takes from it while it is buffered and gives back when done. */
export class ByteBudget {
  private used = 0;

  constructor(readonly total: number) {}

  /** Takes n bytes if they fit; false (and nothing taken) when they would not. */
  take(n: number): boolean {
    if (this.used + n > this.total) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }

  get inUse(): number {
    return this.used;
  }
}
