/**
 * Load generator fixture: Debian's wrk 4.1 (LuaJIT) on loopback, with a script that records every response
 * (wall-clock time received, status, the `sha=` the app printed) and prints wrk's summary as one JSON line.
 *
 * - Each wrk thread has its own Lua state and writes its own file, line-buffered: wrk never closes the
 *   states, so a fully buffered file would lose its tail.
 * - The time comes from clock_gettime(CLOCK_REALTIME) through LuaJIT's FFI: Lua's os.time() has whole
 *   seconds only. Same clock as Date.now(), so it compares with hotpull's ISO timestamps.
 * - wrk stops on SIGINT like at the end of -d, and still prints its summary and runs done().
 * - Socket errors (connect, read, write, timeout) produce no response() call: they are in the summary only.
 * - A `served=WORKER:COUNT` in the body (wsgi-app.ts's stampServed) is recorded too.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const WRK_BIN = '/usr/bin/wrk';

export function wrkMissing(): string | undefined {
  return existsSync(WRK_BIN) ? undefined : `${WRK_BIN} not found (apt-get install wrk)`;
}

const SCRIPT = String.raw`
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } hotpull_timespec;
int clock_gettime(int clk_id, hotpull_timespec *tp);
]]
local ts = ffi.new("hotpull_timespec")
local function now_ms()
  ffi.C.clock_gettime(0, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1000000
end

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

local out
function init(args)
  out = io.open(args[1] .. "/responses-" .. id .. ".log", "w")
  out:setvbuf("line")
end

function response(status, headers, body)
  out:write(string.format("%.3f %d %s %s\n", now_ms(), status, body:match("sha=(%x+)") or "-", body:match("served=(%d+:%d+)") or "-"))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'HOTPULL_WRK {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

export interface WrkSummary {
  requests: number;
  durationUs: number;
  connect: number;
  read: number;
  write: number;
  /** responses with status > 399 (wrk's "Non-2xx or 3xx responses") */
  status: number;
  timeout: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
}

export interface WrkResponse {
  /** ms since the epoch, when wrk had read the response */
  at: number;
  status: number;
  sha: string;
  /** the `served=WORKER:COUNT` the app printed (uWSGI: its worker id and that worker's requests before this one) */
  served?: string;
}

export interface WrkRun {
  pid: number;
  /**
   * Waits for the end of its duration (or, with `interrupt`, stops it now with SIGINT); resolves with the
   * summary and every recorded response, by time.
   */
  finish(options?: { interrupt?: boolean }): Promise<{ summary: WrkSummary; responses: WrkResponse[]; output: string }>;
}

/** Starts wrk against `url`; `connections` keep one request each in flight, for at most `durationS`. */
export async function startWrk(options: {
  url: string;
  dir: string;
  connections: number;
  threads?: number;
  durationS: number;
  timeoutS?: number;
}): Promise<WrkRun> {
  await mkdir(options.dir, { recursive: true });
  const script = path.join(options.dir, 'record.lua');
  await writeFile(script, SCRIPT);
  const args = [
    '-t',
    String(options.threads ?? 1),
    '-c',
    String(options.connections),
    '-d',
    `${options.durationS}s`,
    '--timeout',
    `${options.timeoutS ?? 10}s`,
    '-s',
    script,
    options.url,
    '--',
    options.dir,
  ];
  const child = spawn(WRK_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  return {
    pid: child.pid!,
    async finish({ interrupt = false } = {}) {
      if (interrupt && !done) child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), (interrupt ? 0 : options.durationS * 1000) + 30_000);
      const code = await exited;
      clearTimeout(killer);
      const line = /HOTPULL_WRK (\{.*\})/.exec(output);
      if (code !== 0 || !line) throw new Error(`wrk exited with ${code} without its summary:\n${output}`);
      const responses: WrkResponse[] = [];
      for (const file of (await readdir(options.dir)).filter((f) => f.startsWith('responses-'))) {
        for (const row of (await readFile(path.join(options.dir, file), 'utf8')).split('\n')) {
          const [at, status, sha, served] = row.split(' ');
          if (sha !== undefined)
            responses.push({
              at: Number(at),
              status: Number(status),
              sha,
              ...(served && served !== '-' ? { served } : {}),
            });
        }
      }
      responses.sort((a, b) => a.at - b.at);
      return { summary: JSON.parse(line[1]!) as WrkSummary, responses, output };
    },
  };
}

/** Nearest-rank percentile of sorted numbers. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
