/**
 * A smart-HTTP git server for tests, bound to 127.0.0.1 and backed by the
 * real `git http-backend` CGI. Every request needs HTTP Basic auth.
 *
 * Repos live under `projectRoot`; a bare repo at `${projectRoot}/remote.git`
 * is served at `${url}remote.git`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { gitEnv } from './git.js';

export interface GitHttpServer {
  /** e.g. http://127.0.0.1:PORT/ (trailing slash); repo at url + 'remote.git' */
  url: string;
  port: number;
  /** count of requests served so far, including 401s (live getter) */
  requests: number;
  /** from now on require this password (a rotated token) */
  setPassword(password: string): void;
  /**
   * From now on answer `status` (429, 503 …) instead of serving: every request, or only the pack fetches (`fetch`:
   * ls-remote still works). undefined: serve again.
   */
  failWith(status: number | undefined, only?: 'fetch'): void;
  /** every request so far: when, what, and the status answered (live array) */
  hits: Array<{ at: number; method: string; path: string; status: number }>;
  close(): Promise<void>;
}

export interface GitHttpServerOptions {
  projectRoot: string;
  /** undefined: no authentication asked */
  user?: string;
  password?: string;
  /** Delay pack-negotiating upload-pack POSTs (v2 `command=fetch`, v0 `want`) by this many ms. */
  slowFetchMs?: number;
  /** answer 403 "direct route blocked" to a request without this header (one a proxy adds): the proxy is the only way in */
  onlyWithHeader?: string;
}

const BACKEND_PATH = '/usr/lib/git-core/git-http-backend';
const BACKEND: readonly [string, ...string[]] = existsSync(BACKEND_PATH) ? [BACKEND_PATH] : ['git', 'http-backend'];

/** Headers that CGI passes as dedicated meta-variables (or never passes). */
const NOT_AS_HTTP_VAR = new Set(['authorization', 'proxy-authorization', 'content-type', 'content-length']);

function checkAuth(header: string | undefined, user: string | undefined, password: string | undefined): boolean {
  if (user === undefined) return true;
  if (!header) return false;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m || m[1] === undefined) return false;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  return decoded.slice(0, colon) === user && decoded.slice(colon + 1) === password;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Does this upload-pack request body ask for objects (as opposed to ls-refs etc.)? */
export function isPackFetch(body: Buffer, contentEncoding: string | undefined): boolean {
  let raw = body;
  if (contentEncoding && /gzip/i.test(contentEncoding)) {
    try {
      raw = gunzipSync(body);
    } catch {
      return false;
    }
  }
  const text = raw.toString('latin1');
  // v2: "0012command=fetch\n"; v0: pkt-lines "0032want <sha>[ caps]\n"
  return /command=fetch/.test(text) || /(?:^|[0-9a-f]{4})want [0-9a-f]{40}/.test(text);
}

/** Split a CGI response into header block and body at the first blank line (CRLF or LF). */
function findHeaderEnd(buf: Buffer): { headerEnd: number; bodyStart: number } | null {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf < 0 && lf < 0) return null;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { headerEnd: crlf, bodyStart: crlf + 4 };
  return { headerEnd: lf, bodyStart: lf + 2 };
}

export function startGitHttpServer(opts: GitHttpServerOptions): Promise<GitHttpServer> {
  const { projectRoot, user, slowFetchMs } = opts;
  let password = opts.password;
  let requests = 0;
  let failure: { status: number; only?: 'fetch' } | undefined;
  const hits: GitHttpServer['hits'] = [];
  const children = new Set<ChildProcess>();
  const timers = new Set<NodeJS.Timeout>();
  let closing = false;

  function runCgi(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    port: number,
    body: Buffer | null,
  ): void {
    if (closing || res.destroyed) return;
    const h = req.headers;
    const env = gitEnv({
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      // Enable push regardless of REMOTE_USER (http-backend's default is
      // "enabled iff REMOTE_USER is set"; we set both).
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.receivepack',
      GIT_CONFIG_VALUE_0: 'true',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
      SERVER_SOFTWARE: 'hotpull-test-git-http',
      SERVER_NAME: '127.0.0.1',
      SERVER_PORT: String(port),
      REQUEST_METHOD: req.method ?? 'GET',
      SCRIPT_NAME: '',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.startsWith('?') ? url.search.slice(1) : url.search,
      AUTH_TYPE: 'Basic',
      REMOTE_USER: user ?? 'anonymous',
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    });
    for (const [name, value] of Object.entries(h)) {
      if (value === undefined || NOT_AS_HTTP_VAR.has(name)) continue;
      env[`HTTP_${name.toUpperCase().replace(/-/g, '_')}`] = Array.isArray(value) ? value.join(', ') : value;
    }
    // http-backend itself reads HTTP_GIT_PROTOCOL (set above from the
    // Git-Protocol header) and re-exports it; set GIT_PROTOCOL as well so
    // upload-pack sees it even with backends that don't.
    const gitProtocol = h['git-protocol'];
    if (typeof gitProtocol === 'string') env.GIT_PROTOCOL = gitProtocol;
    if (h['content-type']) env.CONTENT_TYPE = h['content-type'];
    if (body) {
      env.CONTENT_LENGTH = String(body.length);
    } else if (h['content-length'] !== undefined) {
      env.CONTENT_LENGTH = h['content-length'];
    }

    const [cmd, ...args] = BACKEND;
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    const stderr: Buffer[] = [];
    child.stderr.on('data', (c: Buffer) => stderr.push(c));
    child.stdin.on('error', () => {
      /* CGI may exit before reading everything (e.g. on errors) */
    });

    const abort = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    res.on('close', abort);

    if (body) {
      child.stdin.end(body);
    } else {
      req.pipe(child.stdin);
    }

    let head: Buffer = Buffer.alloc(0);
    let headersSent = false;
    const onData = (chunk: Buffer): void => {
      if (headersSent) return;
      head = Buffer.concat([head, chunk]);
      const split = findHeaderEnd(head);
      if (!split) return;
      headersSent = true;
      child.stdout.off('data', onData);
      const headerLines = head.subarray(0, split.headerEnd).toString('latin1').split(/\r?\n/);
      let status = 200;
      let statusMessage: string | undefined;
      const headers: Record<string, string | string[]> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') {
          const m = /^(\d{3})\s*(.*)$/.exec(value);
          if (m && m[1] !== undefined) {
            status = Number(m[1]);
            statusMessage = m[2] || undefined;
          }
          continue;
        }
        const prev = headers[name];
        headers[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
      }
      if (statusMessage !== undefined) res.statusMessage = statusMessage;
      res.writeHead(status, headers);
      const rest = head.subarray(split.bodyStart);
      if (rest.length > 0) res.write(rest);
      child.stdout.pipe(res);
    };
    child.stdout.on('data', onData);

    const fail = (why: string): void => {
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`git http-backend failed: ${why}\n${Buffer.concat(stderr).toString('utf8')}`);
    };
    child.on('error', (err) => {
      children.delete(child);
      fail(err.message);
    });
    child.on('close', (code, signal) => {
      children.delete(child);
      if (!headersSent) {
        fail(`exited with ${signal ?? code} before sending headers`);
      }
    });
  }

  const server = http.createServer((req, res) => {
    requests += 1;
    const hit = { at: Date.now(), method: req.method ?? '', path: (req.url ?? '/').split('?')[0]!, status: 200 };
    hits.push(hit);
    res.on('finish', () => (hit.status = res.statusCode));
    const refuse = () => {
      req.resume();
      res.writeHead(failure!.status, { 'Content-Type': 'text/plain' });
      res.end(`answering ${failure!.status} on demand\n`);
    };
    if (failure && !failure.only) return refuse();
    if (opts.onlyWithHeader && req.headers[opts.onlyWithHeader.toLowerCase()] === undefined) {
      req.resume();
      res.writeHead(403, { 'Content-Type': 'text/plain' });
      res.end('direct route blocked: only the proxy may connect\n');
      return;
    }
    if (!checkAuth(req.headers.authorization, user, password)) {
      req.resume();
      res.writeHead(401, {
        'WWW-Authenticate': 'Basic realm="git"',
        'Content-Type': 'text/plain',
      });
      res.end('authentication required\n');
      return;
    }
    const port = (server.address() as AddressInfo).port;
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const isUploadPackPost = req.method === 'POST' && url.pathname.endsWith('/git-upload-pack');

    if (failure?.only === 'fetch' && isUploadPackPost) {
      readBody(req).then(
        (body) => (isPackFetch(body, req.headers['content-encoding']) ? refuse() : runCgi(req, res, url, port, body)),
        () => res.destroy(),
      );
      return;
    }
    if (slowFetchMs !== undefined && slowFetchMs > 0 && isUploadPackPost) {
      readBody(req).then(
        (body) => {
          if (closing) {
            res.destroy();
            return;
          }
          const delay = isPackFetch(body, req.headers['content-encoding']) ? slowFetchMs : 0;
          if (delay === 0) {
            runCgi(req, res, url, port, body);
            return;
          }
          const t = setTimeout(() => {
            timers.delete(t);
            runCgi(req, res, url, port, body);
          }, delay);
          timers.add(t);
        },
        () => res.destroy(),
      );
      return;
    }
    runCgi(req, res, url, port, null);
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const port = (server.address() as AddressInfo).port;
      resolve({
        url: `http://127.0.0.1:${port}/`,
        port,
        get requests() {
          return requests;
        },
        setPassword: (next: string) => void (password = next),
        failWith: (status, only) => void (failure = status === undefined ? undefined : { status, only }),
        hits,
        close: () =>
          new Promise<void>((resolveClose) => {
            closing = true;
            for (const t of timers) clearTimeout(t);
            timers.clear();
            for (const c of children) c.kill('SIGKILL');
            server.close(() => resolveClose());
            server.closeAllConnections();
          }),
      });
    });
  });
}
