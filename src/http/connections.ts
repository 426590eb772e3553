import { http } from '../builtins.js';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type net from 'node:net';
import type { Logger } from '../log.js';
import { LIMITS } from './limits.js';

export interface GuardOptions {
  /** open connections at most */
  cap: number;
  logger: Logger;
  /** called for each connection or request refused here, with the metric reason */
  refuse: (reason: string) => void;
  clock?: () => number;
}

/** Seconds a refused client is asked to wait (it is the time a burst takes to clear here, well under a second). */
export const RETRY_AFTER_S = 1;
const BUSY_BODY = 'busy: too many connections; retry\n';
const BUSY =
  `HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${RETRY_AFTER_S}\r\nConnection: close\r\n` +
  `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${BUSY_BODY.length}\r\n\r\n${BUSY_BODY}`;

/** Turned-away sockets that may linger at once: a quarter of the cap, at least 8. */
const lingerCap = (cap: number) => Math.max(8, Math.floor(cap / 4));

interface Tracked {
  /** requests in progress on this connection */
  active: number;
  /** when it connected or last finished a request */
  idleSince: number;
}

/**
 * Connection accounting for the listener: a cap, with the longest-idle connection (one that has sent no
 * complete request for a while) closed to make room for a new one, so a pile of idle sockets cannot lock out
 * a real webhook; accept failures (EMFILE, ENFILE) shed new connections briefly instead of failing anything;
 * malformed requests get a short answer and a closed socket. Nothing a client does raises past this module.
 */
export class ConnectionGuard {
  private readonly sockets = new Map<net.Socket, Tracked>();
  private readonly refused = new WeakSet<net.Socket>();
  /** turned-away sockets waiting to close */
  private lingering = 0;
  private shedUntil = 0;
  private degraded = false;
  private readonly clock: () => number;

  constructor(private readonly options: GuardOptions) {
    this.clock = options.clock ?? Date.now;
  }

  get open(): number {
    return this.sockets.size;
  }

  attach(server: Server): void {
    server.on('connection', (socket: net.Socket) => this.admit(socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      req.on('error', () => undefined);
      res.on('error', () => undefined);
      const tracked = this.sockets.get(req.socket);
      if (!tracked) return;
      tracked.active += 1;
      res.once('close', () => {
        tracked.active -= 1;
        tracked.idleSince = this.clock();
      });
    });
    server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => this.clientError(error, socket));
    // After listen(), the only 'error' a server emits is a failed accept(). On EMFILE libuv usually drops the
    // pending connections itself (its reserve-fd trick) and says nothing; when it cannot, the error lands here,
    // and unhandled it would end the process.
    server.on('error', (error: NodeJS.ErrnoException) => this.acceptError(error));
  }

  private admit(socket: net.Socket): void {
    socket.on('error', () => undefined);
    const now = this.clock();
    if (now < this.shedUntil) return this.turnAway(socket, 'accept_backoff');
    if (this.degraded) {
      this.degraded = false;
      this.options.logger.info('listener: accepting connections again');
    }
    if (this.sockets.size >= this.options.cap && !this.evictIdle(now)) return this.turnAway(socket, 'connection_limit');
    this.sockets.set(socket, { active: 0, idleSince: now });
    socket.once('close', () => this.sockets.delete(socket));
  }

  /**
   * A connection beyond the cap (or while accept() is out of descriptors) gets `503` with `Retry-After` at once,
   * before anything of its request is read, so a webhook sender records a retryable failure rather than a bare
   * close. Its request is never routed (see turnedAway); what it sends is discarded until the socket goes, after
   * LIMITS.lingerMs: closing with unread bytes would reset the connection, and a reset can lose the answer.
   */
  private turnAway(socket: net.Socket, reason: string): void {
    this.options.refuse(reason);
    this.refused.add(socket);
    socket.end(BUSY);
    // each lingering socket holds a descriptor the cap is there to save: a few at a time linger, the rest close
    // at once (the answer is in the kernel's send buffer by then; only bytes still unread could turn it into a reset)
    if (this.lingering >= lingerCap(this.options.cap)) {
      socket.destroy();
      return;
    }
    this.lingering += 1;
    socket.resume();
    const timer = setTimeout(() => socket.destroy(), LIMITS.lingerMs);
    timer.unref();
    socket.once('close', () => {
      this.lingering -= 1;
      clearTimeout(timer);
    });
  }

  /** Whether a request came on a connection that was turned away (it has its answer: route nothing). */
  turnedAway(socket: net.Socket): boolean {
    return this.refused.has(socket);
  }

  /** Closes the connection idle the longest, if one has been idle long enough; false when none qualifies. */
  private evictIdle(now: number): boolean {
    let victim: net.Socket | undefined;
    let since = now - LIMITS.evictIdleAfterMs;
    for (const [socket, tracked] of this.sockets) {
      if (tracked.active === 0 && tracked.idleSince <= since) {
        victim = socket;
        since = tracked.idleSince;
      }
    }
    if (!victim) return false;
    this.options.refuse('evicted_idle');
    this.sockets.delete(victim);
    victim.destroy();
    return true;
  }

  private acceptError(error: NodeJS.ErrnoException): void {
    this.options.refuse('accept_error');
    if (error.code !== 'EMFILE' && error.code !== 'ENFILE') return;
    this.shedUntil = this.clock() + LIMITS.acceptBackoffMs;
    if (this.degraded) return;
    this.degraded = true;
    this.options.logger.warn(
      { code: error.code, connections: this.sockets.size },
      `listener: out of file descriptors (${error.code}) with ${this.sockets.size} connections open; refusing new connections for ` +
        `${LIMITS.acceptBackoffMs / 1000}s at a time until one can be accepted again (deploys go on)`,
    );
  }

  /** A request Node's parser refused (garbage, HTTP/0.9, headers too large or too slow): a short answer, then closed. */
  private clientError(error: NodeJS.ErrnoException, socket: net.Socket): void {
    this.options.refuse('bad_request');
    const pending = (socket as net.Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || pending?.headersSent) {
      socket.destroy();
      return;
    }
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    setTimeout(() => socket.destroy(), LIMITS.lingerMs).unref();
  }

  /** Ends every connection (shutdown). */
  closeAll(): void {
    for (const socket of this.sockets.keys()) socket.destroy();
    this.sockets.clear();
  }
}
