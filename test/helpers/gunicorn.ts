/**
 * Test fixture: a real gunicorn (Debian 20.1.0, sync workers) serving the app
 * written by ./wsgi-app.ts. Same interface as ./uwsgi.ts; reuse its probes
 * (fetchText, waitForBody, sampleVersions, workerVersions).
 *
 * - No `--preload`: the master never imports the app, so SIGHUP (new workers
 *   re-import app.py, old ones finish gracefully) serves new code within
 *   0.04–0.12 s for 2 workers here.
 * - Crash at import after a HUP (observed): the new worker exits with
 *   WORKER_BOOT_ERROR and the arbiter halts ("Worker failed to boot"): the
 *   WHOLE gunicorn exits, unlike uWSGI. A rollback then needs a restart by a
 *   supervisor, not another HUP.
 * - PYTHONDONTWRITEBYTECODE=1 (set by startAppServer): gunicorn imports
 *   `app` normally, and a .pyc is trusted if the source's mtime (whole
 *   seconds) and size match, which a same-second, same-length rewrite does.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { startAppServer, type UwsgiServer } from './uwsgi.js';

export const GUNICORN_BIN = '/usr/bin/gunicorn';

export interface GunicornOptions {
  /** Checkout containing app.py. */
  dir: string;
  /** Default 2. */
  workers?: number;
  pidfile: string;
  extraArgs?: string[];
}

export type GunicornServer = UwsgiServer;

/** Why gunicorn cannot run here, or undefined if it can. */
export function gunicornMissing(): string | undefined {
  if (!existsSync(GUNICORN_BIN)) return `${GUNICORN_BIN} not found (apt-get install gunicorn)`;
  return undefined;
}

export function gunicornArgs(opts: GunicornOptions, port: number): string[] {
  return [
    '--bind',
    `127.0.0.1:${port}`,
    '--workers',
    String(opts.workers ?? 2),
    '--pid',
    opts.pidfile,
    '--chdir',
    resolve(opts.dir),
    // stdout/stderr are the log file (see startAppServer).
    '--access-logfile',
    '-',
    '--error-logfile',
    '-',
    ...(opts.extraArgs ?? []),
    'app:application',
  ];
}

export async function startGunicorn(opts: GunicornOptions): Promise<GunicornServer> {
  return startAppServer({
    name: 'gunicorn',
    bin: GUNICORN_BIN,
    args: (port) => gunicornArgs(opts, port),
    // GUNICORN_CMD_ARGS would add options behind our back.
    dropEnv: (key) => key === 'GUNICORN_CMD_ARGS',
    stopSignal: 'SIGINT', // quick shutdown; SIGTERM waits for the graceful timeout
  });
}
