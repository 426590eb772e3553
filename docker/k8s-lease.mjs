// Runs a command while holding a Kubernetes Lease (coordination.k8s.io/v1), so that across the replicas of a
// Deployment one runs it at a time: the hotpull sidecar's onChange hook for migrations
// (examples/kubernetes/deployment.yaml). Each replica's hook waits for the lease, runs `manage.py migrate`,
// releases: the first applies the revision's migrations, the others find nothing left to apply.
//
//   node /opt/hotpull/k8s-lease.mjs --lease NAME [--duration 60] [--wait 600] -- COMMAND [ARG…]
//
// The lease is renewed every duration/3 while the command runs; a holder that died is taken over once its
// renewTime is older than its leaseDurationSeconds. Exit code: the command's; 1 when the lease was not had within
// --wait seconds or the API refused. In a pod it uses the service account (token, CA and namespace under
// /var/run/secrets/kubernetes.io/serviceaccount, KUBERNETES_SERVICE_HOST/PORT); the identity is HOSTNAME, the
// pod's name. RBAC: get, create and update on leases in the namespace.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';

const SA = '/var/run/secrets/kubernetes.io/serviceaccount';
const RETRY_MS = 2000;

/** What to do with the lease as read (undefined: none yet) at `nowMs`: create it, take it, or wait. Pure. */
export function leaseDecision(lease, identity, nowMs) {
  if (!lease) return 'create';
  const spec = lease.spec ?? {};
  if (!spec.holderIdentity || spec.holderIdentity === identity) return 'take';
  const renewed = Date.parse(spec.renewTime ?? spec.acquireTime ?? '');
  const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
  if (!Number.isFinite(renewed) || renewed + durationMs < nowMs) return 'take';
  return 'wait';
}

/** The lease object to write for holding (or, with identity null, releasing) it. Pure. */
export function leaseBody(name, previous, identity, durationSeconds, now) {
  const stamp = new Date(now).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  const keep = previous?.spec?.holderIdentity === identity && identity !== null;
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, ...(previous ? { resourceVersion: previous.metadata.resourceVersion } : {}) },
    spec: {
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: keep ? previous.spec.acquireTime : stamp,
      renewTime: stamp,
      leaseTransitions: (previous?.spec?.leaseTransitions ?? 0) + (previous && !keep && identity !== null ? 1 : 0),
    },
  };
}

export function parseArgs(argv) {
  const split = argv.indexOf('--');
  const own = split < 0 ? argv : argv.slice(0, split);
  const command = split < 0 ? [] : argv.slice(split + 1);
  const options = { duration: 60, wait: 600 };
  for (let i = 0; i < own.length; i += 2) {
    const [flag, value] = [own[i], own[i + 1]];
    if (flag === '--lease' && value && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(value)) options.lease = value;
    else if ((flag === '--duration' || flag === '--wait') && /^\d+$/.test(value ?? '') && Number(value) > 0) options[flag.slice(2)] = Number(value);
    else throw new Error(`k8s-lease: ${flag} ${value ?? ''}: expected --lease NAME (a DNS subdomain), --duration SECONDS, --wait SECONDS`);
  }
  if (!options.lease) throw new Error('k8s-lease: --lease NAME is required');
  if (command.length === 0) throw new Error('k8s-lease: give the command after --');
  return { ...options, command };
}

function apiFromEnv(env) {
  const base = env.K8S_LEASE_API ?? `https://${env.KUBERNETES_SERVICE_HOST}:${env.KUBERNETES_SERVICE_PORT ?? 443}`;
  const read = (file) => readFileSync(file, 'utf8').trim();
  return {
    base,
    token: read(env.K8S_LEASE_TOKEN_FILE ?? `${SA}/token`),
    namespace: env.K8S_LEASE_NAMESPACE ?? read(`${SA}/namespace`),
    ca: base.startsWith('https:') ? readFileSync(env.K8S_LEASE_CA_FILE ?? `${SA}/ca.crt`) : undefined,
  };
}

function request(api, method, path, body) {
  const url = new URL(path, api.base);
  const client = url.protocol === 'https:' ? https : http;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = client.request(url, {
      method,
      ca: api.ca,
      timeout: 10_000,
      headers: { authorization: `Bearer ${api.token}`, accept: 'application/json', ...(payload ? { 'content-type': 'application/json' } : {}) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function withLease(options, env = process.env, log = (line) => console.error(`k8s-lease: ${line}`)) {
  const api = apiFromEnv(env);
  const identity = env.HOSTNAME || `pid-${process.pid}`;
  const path = `/apis/coordination.k8s.io/v1/namespaces/${api.namespace}/leases`;
  const deadline = Date.now() + options.wait * 1000;
  let held;
  let waiting = false;
  while (!held) {
    const got = await request(api, 'GET', `${path}/${options.lease}`);
    if (got.status !== 200 && got.status !== 404) throw new Error(`GET lease ${options.lease}: ${got.status} ${got.body?.message ?? ''}`);
    const current = got.status === 200 ? got.body : undefined;
    const decision = leaseDecision(current, identity, Date.now());
    if (decision !== 'wait') {
      const body = leaseBody(options.lease, current, identity, options.duration, Date.now());
      const put = decision === 'create' ? await request(api, 'POST', path, body) : await request(api, 'PUT', `${path}/${options.lease}`, body);
      if (put.status === 200 || put.status === 201) held = put.body;
      else if (put.status !== 409) throw new Error(`${decision} lease ${options.lease}: ${put.status} ${put.body?.message ?? ''}`);
      continue;
    }
    if (!waiting) log(`waiting for lease ${options.lease}, held by ${current.spec.holderIdentity}`);
    waiting = true;
    if (Date.now() > deadline) throw new Error(`lease ${options.lease} still held by ${current.spec.holderIdentity} after ${options.wait} s`);
    await sleep(RETRY_MS);
  }
  log(`holding lease ${options.lease} as ${identity}: ${options.command.join(' ')}`);

  const child = spawn(options.command[0], options.command.slice(1), { stdio: 'inherit' });
  const renew = setInterval(async () => {
    const put = await request(api, 'PUT', `${path}/${options.lease}`, leaseBody(options.lease, held, identity, options.duration, Date.now())).catch((e) => ({ status: 0, body: { message: e.message } }));
    if (put.status === 200) held = put.body;
    else log(`renewing lease ${options.lease} failed: ${put.status} ${put.body?.message ?? ''}`);
  }, (options.duration * 1000) / 3);
  const code = await new Promise((resolve) => {
    child.on('error', (error) => { log(`${options.command[0]}: ${error.message}`); resolve(127); });
    child.on('exit', (status, signal) => resolve(status ?? (signal ? 128 : 1)));
  });
  clearInterval(renew);
  const released = await request(api, 'PUT', `${path}/${options.lease}`, leaseBody(options.lease, held, null, options.duration, Date.now())).catch((e) => ({ status: 0, body: { message: e.message } }));
  if (released.status !== 200) log(`releasing lease ${options.lease} failed (${released.status}); it expires in ${options.duration} s`);
  return code;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    process.exitCode = await withLease(parseArgs(process.argv.slice(2)));
  } catch (error) {
    console.error(error.message.startsWith('k8s-lease:') ? error.message : `k8s-lease: ${error.message}`);
    process.exitCode = error.message.startsWith('k8s-lease: --') || error.message.includes('required') || error.message.includes('after --') ? 2 : 1;
  }
}
