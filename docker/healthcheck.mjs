// The image's HEALTHCHECK: healthy when everything that serves the app is up, each part checked only where it
// can be, so it stays meaningful with the listener off and outside supervisord (a Kubernetes container):
//   supervisord  every program RUNNING (the app server; hotpull, which ends FATAL or EXITED on bad
//                configuration), asked with supervisorctl when supervisord is PID 1;
//   the app      APP_HEALTH_URL, else HOTPULL_HEALTH_URL (without --health-expect: that is for deploys),
//                answers 2xx;
//   hotpull      GET /healthz at HOTPULL_LISTEN (PORT, HOST:PORT, [IPv6]:PORT; a wildcard host is asked on
//                loopback) answers 200: a sync has succeeded and the daemon is not failing.
// Prints one line per check (docker inspect shows them) and exits 0 healthy, 1 not.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';

// Each check's limit, within the HEALTHCHECK's --timeout=10s (the checks run side by side); a loaded machine
// needs it: supervisorctl is a Python start.
const TIMEOUT_MS = 8000;
const env = process.env;

async function get(url) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    const body = (await response.text()).trim().split('\n')[0].slice(0, 200);
    return { ok: response.ok, text: `${url}: ${response.status}${body ? ` ${body}` : ''}` };
  } catch (error) {
    return { ok: false, text: `${url}: ${error.cause?.code ?? error.name ?? error.message}` };
  }
}

function underSupervisord() {
  try {
    return /supervisord/.test(readFileSync('/proc/1/cmdline', 'utf8'));
  } catch {
    return false;
  }
}

async function supervisor() {
  const conf = env.SUPERVISORD_CONF || '/etc/hotpull/supervisord.conf';
  const { code, stdout, stderr } = await new Promise((resolve) => {
    execFile('supervisorctl', ['-c', conf, 'status'], { timeout: TIMEOUT_MS }, (error, out, err) =>
      resolve({ code: error ? (error.killed ? `killed after ${TIMEOUT_MS} ms` : (error.code ?? 1)) : 0, stdout: String(out), stderr: String(err) }),
    );
  });
  const programs = stdout
    .split('\n')
    .map((line) => /^(\S+)\s+([A-Z]+)\b/.exec(line))
    .filter(Boolean)
    .map(([, name, state]) => ({ name, state }));
  if (programs.length === 0) return { ok: false, text: `supervisorctl status (exit ${code}): ${(stderr || stdout).trim().split('\n')[0] || 'no output'}` };
  const down = programs.filter((p) => p.state !== 'RUNNING');
  return { ok: down.length === 0, text: `supervisord: ${programs.map((p) => `${p.name} ${p.state}`).join(', ')}` };
}

function healthzUrl(listen) {
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d{1,5})$/.exec(listen);
  if (!match) return undefined;
  const wildcard = { '0.0.0.0': '127.0.0.1', '[::]': '[::1]' };
  const host = wildcard[match[1] ?? ''] ?? match[1] ?? '127.0.0.1';
  return `http://${host}:${match[2]}/healthz`;
}

const checks = [];
if (underSupervisord()) checks.push(supervisor());
const appUrl = (env.APP_HEALTH_URL || env.HOTPULL_HEALTH_URL || '').trim();
checks.push(appUrl ? get(appUrl).then((r) => ({ ...r, text: `app ${r.text}` })) : { ok: true, text: 'app: no APP_HEALTH_URL or HOTPULL_HEALTH_URL to ask' });
const listen = (env.HOTPULL_LISTEN ?? '').trim();
if (!listen) {
  checks.push({ ok: true, text: 'hotpull: HOTPULL_LISTEN is not set, no /healthz to ask' });
} else {
  const url = healthzUrl(listen);
  checks.push(url ? get(url).then((r) => ({ ...r, text: `hotpull ${r.text}` })) : { ok: false, text: `hotpull: HOTPULL_LISTEN is not [HOST:]PORT (got ${JSON.stringify(listen)})` });
}
const results = await Promise.all(checks);
for (const result of results) console.log(`${result.ok ? 'ok' : 'FAIL'} ${result.text}`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
