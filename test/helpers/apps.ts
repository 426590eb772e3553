/**
 * A many-apps hotpull (`hotpull run --config FILE` with `apps:`) for tests: its config file written as JSON, the
 * process started from dist/bin.js with its one TCP listener on 127.0.0.1:0, and its /status read per app.
 */
import { promises as fs } from 'node:fs';
import { createHmac } from 'node:crypto';
import { waitFor } from './hotpull.js';
import { startHotpull, waitForRecord, type Proc } from './procs.js';

export type AppStatus = Record<string, unknown> & {
  app: string;
  state: string;
  reason?: string;
  deployedSha?: string;
  lastSuccessAt?: string;
};
export type AppsStatus = Record<string, unknown> & {
  apps: AppStatus[];
  lastReload?: { ok: boolean; message: string };
  problems?: { app: string; problem: string }[];
};

/** Writes a many-apps config file: the shared keys, then `apps:`. */
export async function writeAppsConfig(
  file: string,
  shared: Record<string, unknown>,
  apps: readonly Record<string, unknown>[],
): Promise<void> {
  await fs.writeFile(file, `${JSON.stringify({ ...shared, apps }, null, 2)}\n`);
}

export interface AppsDaemon {
  readonly proc: Proc;
  readonly url: string;
  status(): Promise<AppsStatus>;
  /** one app's entry in /status (undefined: not running) */
  app(name: string): Promise<AppStatus | undefined>;
  /** POST with the bearer secret */
  post(path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  /** until `name` has deployed `sha` (its /status says so, idle); the time it took from the call, in ms */
  deployed(name: string, sha: string, timeoutMs?: number): Promise<number>;
}

/** Starts `hotpull run --config FILE` and waits for its listener (every app has started by then). */
export async function startApps(file: string, secret: string, env: NodeJS.ProcessEnv = {}): Promise<AppsDaemon> {
  const proc = startHotpull(['run', '--config', file], { env });
  const listening = await waitForRecord(proc, 'the listener', (r) => String(r.msg).startsWith('listening on '), 60_000);
  const url = String(listening.url);
  const status = async () => (await (await fetch(`${url}/status`)).json()) as AppsStatus;
  const app = async (name: string) => (await status()).apps.find((a) => a.app === name);
  return {
    proc,
    url,
    status,
    app,
    async post(path, body) {
      const response = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: body === undefined ? '' : JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
    async deployed(name, sha, timeoutMs = 30_000) {
      const started = Date.now();
      await waitFor(
        `${name} to deploy ${sha.slice(0, 7)}`,
        async () => {
          const s = await app(name);
          return s?.deployedSha === sha && s.state === 'idle';
        },
        timeoutMs,
      );
      return Date.now() - started;
    },
  };
}

/** Every app's entry in /status: up once each has ended a pass. */
export async function allStarted(daemon: AppsDaemon, names: readonly string[], timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `${names.join(', ')} to end a first pass`,
    async () => {
      const { apps } = await daemon.status();
      return names.every((n) => apps.some((a) => a.app === n && a.lastSuccessAt !== undefined));
    },
    timeoutMs,
  );
}

/** A GitHub push delivery signed with `secret` (X-Hub-Signature-256). */
export function githubPush(secret: string, payload: unknown): { headers: Record<string, string>; body: string } {
  const body = JSON.stringify(payload);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': `d-${Date.now()}`,
      'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
    },
  };
}
