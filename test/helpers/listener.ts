/**
 * Helpers for the listener tests: the real CLI daemon with --listen, raw sockets, bounded-concurrency
 * clients and /proc readings. No mocks: every client is a real TCP connection to the real daemon.
 */
import http from 'node:http';
import net from 'node:net';
import { readFileSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { createHmac } from 'node:crypto';
import { execa, type ResultPromise } from 'execa';
import { CLI, ROOT, waitFor } from './hotpull.js';
import { makeSandbox, tmpDir, type Sandbox } from './git.js';

export const SECRET = 'hook-s3cret';

export const githubSignature = (body: string | Buffer, secret = SECRET) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

export interface RunningDaemon {
  child: ResultPromise;
  url: string;
  port: number;
  pid: number;
  /** everything the daemon printed so far (JSON log lines and stderr) */
  output(): string;
  /** parsed JSON log lines */
  logs(): Array<Record<string, unknown>>;
  stop(): Promise<{ exitCode?: number; signal?: string }>;
}

/**
 * `hotpull run --listen 127.0.0.1:0 ...` from dist/, optionally under a lowered fd limit (`ulimit -n`, set by a
 * shell that then execs node, so the pid is the daemon's). Resolves once it listens and the first sync is done.
 */
export async function startDaemon(
  repo: string,
  args: string[] = [],
  options: { nofile?: number; env?: Record<string, string> } = {},
): Promise<RunningDaemon> {
  const argv = [CLI, 'run', '--repo', repo, '--listen', '127.0.0.1:0', '--log-level', 'debug', ...args];
  const env = { HOTPULL_LOG_FORMAT: 'json', HOTPULL_WEBHOOK_SECRET: SECRET, ...options.env };
  const child =
    options.nofile === undefined
      ? execa(process.execPath, argv, { cwd: ROOT, env, reject: false, buffer: false })
      : execa('sh', ['-c', `ulimit -n ${options.nofile} && exec "$0" "$@"`, process.execPath, ...argv], {
          cwd: ROOT,
          env,
          reject: false,
          buffer: false,
        });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = child.then((r) => ({ exitCode: r.exitCode, signal: r.signal }));
  let done = false;
  void exited.then(() => (done = true));
  const url = await waitFor(
    'the daemon to listen',
    () => {
      if (done) throw new Error(`the daemon exited before listening:\n${out}`);
      return /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    },
    60_000,
  );
  await waitFor(
    'the first sync (/healthz 200)',
    async () =>
      done ||
      (await request(url, { path: '/healthz' }).then(
        (r) => r.status === 200,
        () => false,
      )),
    60_000,
  );
  return {
    child,
    url,
    port: Number(new URL(url).port),
    pid: child.pid!,
    output: () => out,
    logs: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    stop: async () => {
      if (!done) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** VmRSS of a process in MiB, from /proc/<pid>/status. */
export function rssMiB(pid: number): number {
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

/** Opens n raw TCP connections and keeps them open; `closed` counts those the server ended. */
export async function openIdle(
  port: number,
  n: number,
): Promise<{ sockets: net.Socket[]; connected(): number; closed(): number; received(): string[]; destroy(): void }> {
  const sockets: net.Socket[] = [];
  const received: string[] = [];
  let connected = 0;
  let closed = 0;
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<void>((resolve) => {
          const socket = net.connect(port, '127.0.0.1');
          const index = sockets.push(socket) - 1;
          received[index] = '';
          // read what the listener says (a connection turned away gets 503, then the listener's FIN)
          socket.on('data', (d: Buffer) => (received[index] += d.toString('latin1')));
          socket.on('connect', () => {
            connected += 1;
            resolve();
          });
          socket.on('error', () => resolve());
          socket.on('close', () => {
            closed += 1;
            resolve();
          });
        }),
    ),
  );
  return {
    sockets,
    connected: () => connected,
    closed: () => closed,
    received: () => received,
    destroy: () => sockets.forEach((s) => s.destroy()),
  };
}

export interface Reply {
  status: number;
  body: string;
}

/** One request over node:http (a fresh connection unless an agent is given); resolves with status and body. */
export function request(
  url: string,
  options: {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    agent?: http.Agent;
    /** a unix socket to connect to instead of the URL's host (the operator socket) */
    socketPath?: string;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}${options.path ?? '/'}`,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: options.agent ?? false,
        ...(options.socketPath ? { socketPath: options.socketPath } : {}),
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** n POSTs (the same one, or one built per index) through at most `concurrency` keep-alive connections, as a real sender does. */
export async function postMany(
  url: string,
  n: number,
  options: {
    path?: string;
    headers: Record<string, string> | ((body: string) => Record<string, string>);
    body: string | ((i: number) => string);
    concurrency?: number;
  },
): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency ?? 16 });
  try {
    return await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const body = typeof options.body === 'function' ? options.body(i) : options.body;
        const headers = typeof options.headers === 'function' ? options.headers(body) : options.headers;
        return request(url, { method: 'POST', path: options.path ?? '/webhook', headers, body, agent }).then(
          (r) => r.status,
        );
      }),
    );
  } finally {
    agent.destroy();
  }
}

/** Sum of a Prometheus counter family's samples whose labels contain `match` (all samples without one). */
export function metricSum(text: string, name: string, match = ''): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .filter((l) => l.includes(match))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

const teardown: Array<() => unknown> = [];

/** Runs what `onTeardown` and `daemonOnSandbox` registered, newest first: pass it to afterEach. */
export async function teardownAll(): Promise<void> {
  for (const step of teardown.splice(0).reverse()) await step();
}

export function onTeardown(step: () => unknown): void {
  teardown.push(step);
}

/** A temporary directory that teardownAll removes (after anything registered later, such as a daemon writing into it). */
export async function tmpDirForTest(): Promise<string> {
  const dir = await tmpDir();
  onTeardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * `daemonOnSandbox` with an ES module (test code, not hotpull) loaded into the daemon before hotpull through
 * `--import`: `body` is its text, which may call `report(name, text)` to replace `dir/name` whole (a temporary
 * file renamed over it: the test never reads one half-written). The directory is registered before the daemon, so
 * teardownAll stops the daemon first and never races its writes (ENOTEMPTY).
 */
export async function daemonWithImport(
  body: string,
  args: string[] = [],
): Promise<{ sb: Sandbox; daemon: RunningDaemon; dir: string }> {
  const dir = await tmpDirForTest();
  const script = path.join(dir, 'import.mjs');
  const report = `import { renameSync, writeFileSync } from 'node:fs';
const report = (name, text) => {
  const file = ${JSON.stringify(dir)} + '/' + name;
  writeFileSync(file + '.tmp', text);
  renameSync(file + '.tmp', file);
};
`;
  await fs.writeFile(script, report + body);
  return { ...(await daemonOnSandbox(args, { env: { NODE_OPTIONS: `--import ${script}` } })), dir };
}

/** A fresh sandbox and `hotpull run` on its checkout, both ended by teardownAll. */
export async function daemonOnSandbox(
  args: string[] = [],
  options: { nofile?: number; env?: Record<string, string>; prepare?: (sb: Sandbox) => Promise<unknown> } = {},
): Promise<{ sb: Sandbox; daemon: RunningDaemon }> {
  const sb = await makeSandbox();
  onTeardown(() => sb.cleanup());
  await options.prepare?.(sb);
  const daemon = await startDaemon(sb.checkout, args, options);
  onTeardown(() => daemon.stop());
  return { sb, daemon };
}
