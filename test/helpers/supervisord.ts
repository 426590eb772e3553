/**
 * Test fixture: a real supervisord (Debian 4.2.5) run as a normal process with its own config file, in the
 * foreground (`nodaemon=true` in the config), its socket in a temp dir, driven with the real supervisorctl.
 *
 * What Supervisor 4.2 does, observed here (test/e2e/supervisor.test.ts relies on it):
 * - a program that exits before `startsecs` is BACKOFF whatever its exit code, retried `startretries` times
 *   (waits 1 s, 2 s, 3 s …), then FATAL ("Exited too quickly");
 * - a program that exits after `startsecs` with a code not in `exitcodes` is restarted under
 *   `autorestart=unexpected`, with no retry limit: an error found late loops forever unless its code is listed;
 * - `supervisorctl status` exits 3 when some program is not RUNNING; its lines are
 *   `NAME  STATE  pid N, uptime H:MM:SS` or `NAME  STATE  description`;
 * - programs run in their own process groups (stopasgroup/killasgroup signal those), so the processes left
 *   after a test are found through /proc as descendants of supervisord, collected before it is stopped.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { descendants, isAlive, killOnExit } from './uwsgi.js';

export const SUPERVISORD_BIN = '/usr/bin/supervisord';
export const SUPERVISORCTL_BIN = '/usr/bin/supervisorctl';

/** Why supervisord cannot run here, or undefined if it can. */
export function supervisorMissing(): string | undefined {
  if (!existsSync(SUPERVISORD_BIN)) return `${SUPERVISORD_BIN} not found (apt-get install supervisor)`;
  if (!existsSync(SUPERVISORCTL_BIN)) return `${SUPERVISORCTL_BIN} not found (apt-get install supervisor)`;
  return undefined;
}

export interface ProgramStatus {
  state: string;
  pid?: number;
  description: string;
}

export interface Supervisord {
  pid: number;
  confFile: string;
  /** Everything supervisord and its programs wrote to supervisord's stdout and stderr so far (DIR/supervisord.out). */
  output(): string;
  ctl(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  status(): Promise<Map<string, ProgramStatus>>;
  /** Polls status until `name` is in one of `states`. */
  waitForState(name: string, states: string[], timeoutMs: number): Promise<ProgramStatus>;
  /** Every process below supervisord now (program processes and their children), by pid. */
  descendants(): number[];
  /** SIGTERM (supervisord stops its programs), then SIGKILL for supervisord and any process it started. */
  stop(): Promise<void>;
  /** Resolves with supervisord's exit code once it exited. */
  exited: Promise<number | null>;
}

/** `supervisorctl status` output → name → state, pid. */
export function parseStatus(text: string): Map<string, ProgramStatus> {
  const result = new Map<string, ProgramStatus>();
  for (const line of text.split('\n')) {
    const match = /^(\S+)\s+([A-Z]+)\s*(.*)$/.exec(line.trim());
    if (!match) continue;
    const pid = /pid (\d+),/.exec(match[3] ?? '');
    result.set(match[1]!, { state: match[2]!, description: match[3] ?? '', ...(pid ? { pid: Number(pid[1]) } : {}) });
  }
  return result;
}

/**
 * Writes `conf` to DIR/supervisord.conf and starts supervisord on it with exactly `env` as its environment
 * (its programs inherit it). The config must set nodaemon=true and a unix_http_server socket.
 */
export async function startSupervisord(options: {
  dir: string;
  conf: string;
  env: Record<string, string>;
  startTimeoutMs?: number;
}): Promise<Supervisord> {
  const confFile = path.join(options.dir, 'supervisord.conf');
  await writeFile(confFile, options.conf);
  // A file, not a pipe from Node: Node's pipes are socketpairs, and Supervisor's `logfile=/dev/stdout` (opened
  // again through /proc) fails on a socket with ENXIO. Opened for appending, so every writer appends.
  const logFile = path.join(options.dir, 'supervisord.out');
  const fd = openSync(logFile, 'a');
  let child;
  try {
    child = spawn(SUPERVISORD_BIN, ['-c', confFile], { env: options.env, stdio: ['ignore', fd, fd], cwd: options.dir });
  } finally {
    closeSync(fd);
  }
  const forget = killOnExit(child);
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code, signal) => {
      forget();
      resolve(code ?? (signal ? 128 : null));
    });
  });
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));

  const ctl = async (...args: string[]) => {
    const result = await execa(SUPERVISORCTL_BIN, ['-c', confFile, ...args], {
      env: options.env,
      reject: false,
      timeout: 30_000,
    });
    return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
  };
  const output = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const status = async () => parseStatus((await ctl('status')).stdout);
  const pid = child.pid!;
  let collected: number[] = [];
  const stop = async () => {
    collected = [...new Set([...collected, ...descendants(pid)])];
    if (exitCode === undefined) {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 60_000))]);
    }
    for (const p of [pid, ...collected]) {
      if (!isAlive(p)) continue;
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await exited;
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    if (exitCode !== undefined) throw new Error(`supervisord exited with ${exitCode} at start:\n${output()}`);
    const answer = await ctl('pid');
    if (answer.exitCode === 0 && /^\d+$/.test(answer.stdout.trim())) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `supervisorctl got no answer from supervisord within the start timeout; last: ${answer.stdout}${answer.stderr}\n${output()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    pid,
    confFile,
    output,
    ctl,
    status,
    async waitForState(name, states, timeoutMs) {
      const until = Date.now() + timeoutMs;
      let last: ProgramStatus | undefined;
      for (;;) {
        last = (await status()).get(name);
        if (last && states.includes(last.state)) return last;
        if (Date.now() > until) {
          throw new Error(
            `${name} did not reach ${states.join('/')} within ${timeoutMs} ms (last: ${last ? `${last.state} ${last.description}` : 'unknown'}); output:\n${output().slice(-6000)}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    descendants: () => {
      collected = [...new Set([...collected, ...descendants(pid)])];
      return descendants(pid);
    },
    stop,
    exited,
  };
}
