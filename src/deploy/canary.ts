import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { HotpullError, isHotpullError, oneLine } from '../errors.js';
import { killGroup, runShell, tail } from '../proc/exec.js';
import { groupHasLiving } from '../proc/procfs.js';
import { formatDuration } from '../duration.js';
import { redact } from '../redact.js';
import { expandExpect, notHealthy, probeOnce, type Answer } from './verify.js';
import { fillTemplate, shellQuote } from './canary-auto.js';
import { judgeEnv, type JudgeContext, type JudgeVerdict } from './preflight.js';

export interface CanaryCheck {
  /** shell command template: {dir}, {port}, {tmp} */
  command: string;
  /** from starting the server to a verdict */
  timeoutMs: number;
  /** the --health-url path and query, e.g. /healthz?full=1 */
  path: string;
  /** --health-expect ({sha}, {short_sha}) */
  expect?: string;
  /** how long answers must stay good */
  settleMs: number;
  /** a free loopback port (tests pass their own to force a collision) */
  pickPort?: () => Promise<number>;
  /**
   * whether something the command started still runs: a command that exits 0 while it does has daemonized its
   * server (uwsgi --daemonize, gunicorn --daemon), which is then judged by its answers like any other
   */
  detached?: () => Promise<boolean>;
  /** told the canary's pid (= process group), port and command once it runs */
  onRun?: (run: { pid: number; port: number; command: string }) => void;
}

/** More tries only when the port was taken between picking and binding. */
const PORT_ATTEMPTS = 3;
const POLL_MS = 50;
const MIN_GOOD_ANSWERS = 3;
/** How long a killed canary's process group may take to disappear. */
const GONE_WAIT_MS = 3000;
const IN_USE = /address already in use|EADDRINUSE|connection in use|probably another instance of uWSGI/i;
/** What servers say while they start; a canary that keeps saying it times out instead of being judged broken. */
const NOT_READY = new Set([502, 503, 504]);
/** Connections taken and dropped in a row (see Failure in verify.ts) that make a verdict: one may be a start-up race. */
const RESETS_FOR_VERDICT = 3;

/** A port the kernel has just handed out on 127.0.0.1 (free now; the canary retries if someone takes it first). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A server's per-request log lines (uWSGI's `[pid: …|app: …]`, gunicorn's access log) say less than what came before. */
const withoutRequestLog = (text: string) =>
  text
    .split('\n')
    .filter((l) => !/^\[pid: \d+\|app: |"GET \/.*HTTP\/1\.[01]" \d{3} /.test(l))
    .join('\n');

/**
 * The output's last lines, and the last exception line before them when it is not among them: uWSGI logs the
 * traceback of an app that failed to import, then its start-up lines.
 */
function lastLines(text: string): string {
  const lines = withoutRequestLog(text);
  const last = tail(lines, 4);
  const exception = lines
    .split('\n')
    .filter((l) => /^[\w.]*(Error|Exception)\b.*:/.test(l.trim()))
    .at(-1)
    ?.trim();
  return exception && !last.includes(exception) ? `${exception} | … | ${last}` : last;
}

type Attempt = JudgeVerdict | { retry: string };

/**
 * Starts an app server from the staged tree on a free loopback port, waits until it answers, checks it over the
 * settle window, and stops its whole process group whatever the outcome (SIGKILL: it serves no one, so nothing
 * is drained). A stop of hotpull throws ABORTED after the group is gone.
 */
export async function runCanary(check: CanaryCheck, ctx: JudgeContext): Promise<JudgeVerdict> {
  const started = Date.now();
  let lastRetry = '';
  for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
    const result = await canaryAttempt(check, ctx, started);
    if (!('retry' in result)) return result;
    lastRetry = result.retry;
  }
  return {
    ok: false,
    ms: Date.now() - started,
    reason: `canary could not bind a port in ${PORT_ATTEMPTS} tries: ${lastRetry}`,
  };
}

async function canaryAttempt(check: CanaryCheck, ctx: JudgeContext, started: number): Promise<Attempt> {
  const port = await (check.pickPort ?? freePort)();
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hotpull-canary-'));
  const log = path.join(tmp, 'output.log');
  const command = fillTemplate(check.command, { dir: ctx.dir, port, tmp });
  const stop = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([stop.signal, ctx.signal]) : stop.signal;
  let pid: number | undefined;
  let exited: string | undefined;
  // The output goes to a file: the verdict quotes its last lines whether the server exited or was killed.
  const running = runShell(`exec >${shellQuote(log)} 2>&1\n${command}`, {
    cwd: ctx.dir,
    // the canary's own deadline ends it; this only bounds a group that would not die
    timeoutMs: check.timeoutMs + 10_000,
    signal,
    env: judgeEnv(ctx),
    onStart: (p) => {
      pid = p;
      check.onRun?.({ pid: p, port, command });
      return ctx.onStart?.(p);
    },
  }).then(
    async (r) => void ((await check.detached?.()) ? undefined : (exited = `exited with code ${r.exitCode}`)),
    (error: unknown) =>
      void (exited = isHotpullError(error, 'ABORTED')
        ? 'stopped'
        : isHotpullError(error, 'RELOAD') && error.childExitCode !== -1
          ? `exited with code ${error.childExitCode}`
          : `ended: ${oneLine(error)}`),
  );
  const output = async () => redact(lastLines(await fs.readFile(log, 'utf8').catch(() => '')));
  try {
    const verdict = await watch(check, ctx, port, started, () => exited);
    if (verdict === 'exited') {
      const text = await output();
      if (IN_USE.test(text)) return { retry: `port ${port}: ${text}` };
      return {
        ok: false,
        ms: Date.now() - started,
        reason: `canary "${redact(command)}" ${exited} before it was healthy${text ? `: ${text}` : ''}`,
      };
    }
    if (verdict.ok) return verdict;
    const text = await output();
    return {
      ok: false,
      ms: verdict.ms,
      reason: `canary on port ${port}: ${verdict.reason}${text ? ` (its output: ${text})` : ''}`,
    };
  } finally {
    if (pid !== undefined) killGroup(pid, 'SIGKILL');
    stop.abort();
    await running;
    if (pid !== undefined) await waitGroupDead(pid);
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    // a stop of hotpull is not a verdict on the revision
    if (ctx.signal?.aborted) throw new HotpullError('ABORTED', 'canary stopped');
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Until the killed group runs nothing (or GONE_WAIT_MS passed). Zombies do not count: their reaping is up to
 * their parent or PID 1, which can take a second or more, and waiting for it cost every deploy that long.
 */
async function waitGroupDead(pgid: number): Promise<void> {
  for (let waited = 0; waited < GONE_WAIT_MS && killGroup(pgid, 0); waited += 20) {
    if ((await groupHasLiving(pgid)) === false) return;
    await sleep(20);
  }
}

/**
 * Probes until a verdict: connection refused means "not up yet"; a good answer starts the settle window, which
 * needs at least MIN_GOOD_ANSWERS in a row; a bad answer is the verdict at once, except a server's "not ready";
 * connections taken and dropped without an answer are one after RESETS_FOR_VERDICT in a row.
 */
async function watch(
  check: CanaryCheck,
  ctx: JudgeContext,
  port: number,
  started: number,
  exited: () => string | undefined,
): Promise<JudgeVerdict | 'exited'> {
  const url = `http://127.0.0.1:${port}${check.path.startsWith('/') ? '' : '/'}${check.path}`;
  const expected = check.expect === undefined ? undefined : expandExpect(check.expect, ctx.sha);
  const deadline = started + check.timeoutMs;
  let goodSince: number | undefined;
  let good = 0;
  let last: Answer | undefined;
  let resets = 0;
  while (!ctx.signal?.aborted) {
    if (exited() !== undefined) return 'exited';
    const left = deadline - Date.now();
    if (left <= 0) break;
    last = await probeOnce(url, expected, Math.max(100, Math.min(5000, left)));
    // the answer may have come from whatever took the port before the server died on it
    if (exited() !== undefined) return 'exited';
    if (last.good) {
      goodSince ??= Date.now();
      good += 1;
      if (good >= MIN_GOOD_ANSWERS && Date.now() - goodSince >= check.settleMs)
        return { ok: true, ms: Date.now() - started };
    } else if (last.status !== undefined && !NOT_READY.has(last.status)) {
      return { ok: false, ms: Date.now() - started, reason: last.problem };
    } else if (last.failure === 'reset' && ++resets >= RESETS_FOR_VERDICT) {
      // the server took the connection and dropped it: uWSGI does this when the app raised (at import or per request)
      return {
        ok: false,
        ms: Date.now() - started,
        reason: `dropped the connection without an answer ${resets} times in a row: ${last.problem}`,
      };
    } else {
      if (last.failure !== 'reset') resets = 0;
      goodSince = undefined;
      good = 0;
    }
    await sleep(POLL_MS);
  }
  const why =
    last === undefined
      ? 'no answer'
      : last.good
        ? 'answers were good but the settle window did not pass'
        : last.problem;
  return {
    ok: false,
    ms: Date.now() - started,
    reason: notHealthy(Date.now() - started, check.timeoutMs, why),
  };
}
