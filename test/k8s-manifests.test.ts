/**
 * examples/kubernetes/deployment.yaml without a cluster: every object is validated with the Kubernetes models
 * (kubernetes-models: the API's OpenAPI schemas compiled to validators; types, required fields, enums), and
 * field names are checked against the same models' declarations, which the validators let pass. Then what the
 * example promises: a native sidecar with distinct probes, the "restricted" Pod Security profile, the atomic
 * layout on a shared emptyDir, git credentials from a Secret, migrations under a Lease; and that it matches the
 * image the Dockerfile builds (user, ports, paths); all of it for each Deployment, the canary and the main one. The
 * staged rollout: the main one's --after names a Service of the file selecting only the canary's pods, and the
 * headless Service of `hotpull fleet --peers dns:…` lists both. docker/k8s-lease.mjs is run for real against a minimal
 * stand-in of the Lease API (compare-and-swap on resourceVersion, as the API server does).
 */
import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { defaultLoadersSync } from 'cosmiconfig';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { loadConfig } from '../src/config/load.js';
import { tmpDir } from './helpers/git.js';
import { ROOT } from './helpers/hotpull.js';
import { leaseBody, leaseDecision, parseArgs } from '../docker/k8s-lease.mjs';
import { parsePeerSource } from '../src/fleet/peers.js';

type Doc = Record<string, any>;
const FILE = path.join(ROOT, 'examples/kubernetes/deployment.yaml');
const MODELS = { Deployment, ConfigMap, Service, ServiceAccount, Role, RoleBinding } as const;
const DECLARATIONS: Record<string, string> = {
  Deployment: 'kubernetes-models/apps/v1/Deployment.d.ts',
  ConfigMap: 'kubernetes-models/v1/ConfigMap.d.ts',
  Service: 'kubernetes-models/v1/Service.d.ts',
  ServiceAccount: 'kubernetes-models/v1/ServiceAccount.d.ts',
  Role: 'kubernetes-models/rbac.authorization.k8s.io/v1/Role.d.ts',
  RoleBinding: 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding.d.ts',
};
/** the packages' declarations are outside their `exports`: found by path (npm installs them flat) */
const NODE_MODULES = path.join(ROOT, 'node_modules');
const declaration = (kind: string) => path.join(NODE_MODULES, DECLARATIONS[kind]!);

async function manifests(): Promise<Doc[]> {
  const text = await fs.readFile(FILE, 'utf8');
  return text
    .split(/^---$/m)
    .filter((part) => part.replace(/#.*$/gm, '').trim() !== '')
    .map((part) => defaultLoadersSync['.yaml']!(FILE, part) as Doc);
}

// --- field names, from the models' declarations -------------------------------------------------------------

interface Shape {
  properties: Map<string, { type?: string; array: boolean }>;
  file: string;
}
const shapes = new Map<string, Shape>();

/** The properties of the first interface declared in a .d.ts of kubernetes-models, with the model type of each. */
async function shapeOf(file: string): Promise<Shape> {
  const cached = shapes.get(file);
  if (cached) return cached;
  const text = await fs.readFile(file, 'utf8');
  const imports = new Map([...text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)].map((m) => [m[1]!, m[2]!]));
  const body = /^export interface \w+(?: extends [\w, ]+)? \{\n([\s\S]*?)^\}/m.exec(text)?.[1] ?? '';
  const properties = new Map<string, { type?: string; array: boolean }>();
  // one property per line at the first indent; a map type ({ [key: string]: … }) spans lines and has no model
  for (const [, name, type] of body.matchAll(/^ {4}"([^"]+)"\??: (.*)$/gm)) {
    const model = /^(?:Array<)?(I\w+)>?;$/.exec(type!)?.[1];
    const target = model && imports.get(model);
    const resolved = target
      ? target.startsWith('.')
        ? path.resolve(path.dirname(file), `${target}.d.ts`)
        : path.join(NODE_MODULES, `${target}.d.ts`)
      : undefined;
    properties.set(name!, { type: resolved, array: type!.startsWith('Array<') });
  }
  const shape = { properties, file };
  shapes.set(file, shape);
  return shape;
}

/** Paths of keys the API does not know, walking the object along the models' declarations. */
async function unknownFields(value: unknown, file: string, at: string): Promise<string[]> {
  if (value === null || typeof value !== 'object') return [];
  const shape = await shapeOf(file);
  const problems: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const property = shape.properties.get(key);
    if (!property) {
      problems.push(`${at}.${key}`);
      continue;
    }
    if (!property.type) continue;
    const items =
      property.array && Array.isArray(child)
        ? child.map((c, i) => [c, `${at}.${key}[${i}]`] as const)
        : [[child, `${at}.${key}`] as const];
    for (const [item, where] of items) problems.push(...(await unknownFields(item, property.type, where)));
  }
  return problems;
}

// --- the image, from the Dockerfile ----------------------------------------------------------------------------

interface Image {
  uid: number;
  gid: number;
  ports: number[];
  files: string[];
  user: string;
}

async function image(): Promise<Image> {
  const text = await fs.readFile(path.join(ROOT, 'Dockerfile'), 'utf8');
  const runtime = text.slice(text.indexOf(' AS runtime'));
  return {
    uid: Number(/useradd [^\n]*--uid (\d+)/.exec(runtime)?.[1]),
    gid: Number(/groupadd [^\n]*--gid (\d+)/.exec(runtime)?.[1]),
    ports: (/^EXPOSE (.+)$/m.exec(runtime)?.[1] ?? '').split(/\s+/).map(Number),
    user: /^USER (\S+)$/m.exec(runtime)?.[1] ?? '',
    // what the image has at which path: COPY destinations and the hotpull shim
    files: [...runtime.matchAll(/^COPY (?:--from=\w+ )?\S+ (\S+)$/gm)]
      .map((m) => m[1]!)
      .concat(/>(\/usr\/local\/bin\/hotpull)\b/.exec(runtime)?.[1] ?? []),
  };
}

/** The Deployments of the example: the canary first in every rollout, and the main one that follows it. */
const DEPLOYMENTS = ['myapp', 'myapp-canary'] as const;

const sidecarOf = (deployment: Doc): Doc =>
  deployment.spec.template.spec.initContainers.find((c: Doc) => c.name === 'hotpull');
/** The values of a command-line option (every occurrence) in a container's command. */
const optionValues = (command: string[], name: string) =>
  command.flatMap((word, i) => (word === name ? [command[i + 1]!] : []));
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('examples/kubernetes/deployment.yaml', () => {
  let docs: Doc[];

  beforeAll(async () => {
    docs = await manifests();
  });

  it('every object is valid for the Kubernetes API, with no field the API does not know', async () => {
    expect(docs.map((d) => d.kind).sort()).toEqual([
      'ConfigMap',
      'Deployment',
      'Deployment',
      'Role',
      'RoleBinding',
      'Service',
      'Service',
      'Service',
      'ServiceAccount',
    ]);
    expect(docs.filter((d) => d.kind === 'Deployment').map((d) => d.metadata.name)).toEqual([...DEPLOYMENTS]);
    for (const doc of docs) {
      const Model = MODELS[doc.kind as keyof typeof MODELS];
      expect(() => new Model(doc as never).validate(), `${doc.kind} ${doc.metadata.name}`).not.toThrow();
      expect(await unknownFields(doc, declaration(doc.kind), doc.kind)).toEqual([]);
    }
  });

  it('the field check itself: a misspelt or misplaced field is found, and the validator catches a wrong type', async () => {
    // a deep copy without the YAML anchors' sharing: one container's securityContext only
    const deployment = JSON.parse(JSON.stringify(docs.find((d) => d.kind === 'Deployment')!)) as Doc;
    deployment.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
    deployment.spec.template.spec.restartPolicy2 = 'Always';
    expect((await unknownFields(deployment, declaration('Deployment'), 'Deployment')).sort()).toEqual([
      'Deployment.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem',
      'Deployment.spec.template.spec.restartPolicy2',
    ]);
    deployment.spec.template.spec.containers[0].securityContext = { runAsNonRoot: 'yes' };
    expect(() => new Deployment(deployment).validate()).toThrow(/runAsNonRoot must be boolean/);
  });

  it("staged rollout: myapp's sidecars wait --after a Service defined here that selects the canary's pods only, at its hotpull port", () => {
    const deployment = (name: string) => docs.find((d) => d.kind === 'Deployment' && d.metadata.name === name)!;
    const [main, canary] = DEPLOYMENTS.map(deployment) as [Doc, Doc];
    expect(optionValues(sidecarOf(canary).command, '--after')).toEqual([]);
    const [after] = optionValues(sidecarOf(main).command, '--after');
    expect(optionValues(sidecarOf(main).command, '--after-bake')).toEqual(['5m']);
    const url = new URL(after!);
    expect(url.protocol).toBe('http:');
    const service = docs.find((d) => d.kind === 'Service' && d.metadata.name === url.hostname);
    expect(service, `the Service ${url.hostname} of --after ${after}`).toBeDefined();
    const port = service!.spec.ports.find((p: Doc) => String(p.port) === url.port);
    expect(port?.targetPort).toBe('hotpull');
    expect(selects(service!.spec.selector, canary.spec.template.metadata.labels)).toBe(true);
    expect(selects(service!.spec.selector, main.spec.template.metadata.labels)).toBe(false);
    // the two Deployments own disjoint pods, and the app's Service sends traffic to both
    expect(selects(main.spec.selector.matchLabels, canary.spec.template.metadata.labels)).toBe(false);
    expect(selects(canary.spec.selector.matchLabels, main.spec.template.metadata.labels)).toBe(false);
    const app = docs.find((d) => d.kind === 'Service' && d.metadata.name === 'myapp')!;
    for (const d of [main, canary]) expect(selects(app.spec.selector, d.spec.template.metadata.labels)).toBe(true);
  });

  it('hotpull fleet --peers dns:… as written names the headless Service over every pod, canary and main', async () => {
    const text = await fs.readFile(FILE, 'utf8');
    const line = /^#\s+(hotpull fleet --peers dns:\S+)/m.exec(text)?.[1];
    expect(line).toBeDefined();
    const source = parsePeerSource(line!.split(' ')[3]!);
    expect(source).toMatchObject({ kind: 'dns', port: 9300 });
    const name = (source as { host: string }).host.split('.')[0];
    const headless = docs.find((d) => d.kind === 'Service' && d.metadata.name === name);
    expect(headless?.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(headless!.spec.ports).toEqual([{ name: 'hotpull', port: 9300, targetPort: 'hotpull' }]);
    for (const d of docs.filter((d) => d.kind === 'Deployment'))
      expect(selects(headless!.spec.selector, d.spec.template.metadata.labels), d.metadata.name).toBe(true);
  });
});

describe.each(DEPLOYMENTS)('examples/kubernetes/deployment.yaml, Deployment %s', (name) => {
  let docs: Doc[];
  let pod: Doc;
  let sidecar: Doc;
  let first: Doc;
  let app: Doc;
  let config: Doc;

  beforeAll(async () => {
    docs = await manifests();
    pod = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === name)!.spec.template.spec;
    sidecar = pod.initContainers.find((c: Doc) => c.name === 'hotpull');
    first = pod.initContainers.find((c: Doc) => c.name === 'first-release');
    app = pod.containers.find((c: Doc) => c.name === 'app');
    config = docs.find((d) => d.kind === 'ConfigMap')!;
  });

  it('hotpull is a native sidecar: an init container with restartPolicy Always, after the first release', () => {
    expect(pod.initContainers.map((c: Doc) => [c.name, c.restartPolicy])).toEqual([
      ['first-release', undefined],
      ['hotpull', 'Always'],
    ]);
    expect(pod.containers.map((c: Doc) => c.name)).toEqual(['app']);
    expect(first.command.slice(0, 2)).toEqual(['hotpull', 'sync']);
    expect(sidecar.command.slice(0, 2)).toEqual(['hotpull', 'run']);
  });

  it('probes with distinct meanings: startup = first sync, liveness = the daemon answers, readiness = the app serves', () => {
    expect(sidecar.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'hotpull' });
    // /status answers 200 in every state, failing included: a git outage kills nothing
    expect(sidecar.livenessProbe.httpGet).toEqual({ path: '/status', port: 'hotpull' });
    // a sidecar without a readiness probe is ready once started: hotpull's state never unreadies the pod
    expect(sidecar.readinessProbe).toBeUndefined();
    expect(app.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(app.livenessProbe.tcpSocket).toEqual({ port: 'http' });
    // the liveness window outlasts hotpull's rollback of a bad revision
    const healthTimeoutS = 60;
    expect(app.livenessProbe.periodSeconds * app.livenessProbe.failureThreshold).toBeGreaterThan(healthTimeoutS);
    const listen = sidecar.command[sidecar.command.indexOf('--listen') + 1];
    expect(listen).toBe('0.0.0.0:9300');
  });

  it('passes the "restricted" Pod Security profile', () => {
    const all = [...pod.initContainers, ...pod.containers];
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    for (const volume of pod.volumes)
      expect(
        Object.keys(volume).filter((k) => k !== 'name'),
        volume.name,
      ).toEqual([
        expect.stringMatching(
          /^(emptyDir|configMap|secret|persistentVolumeClaim|projected|downwardAPI|ephemeral|csi)$/,
        ),
      ]);
    for (const c of all) {
      expect(c.securityContext, c.name).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(c.resources.requests, c.name).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
      expect(c.resources.limits.memory, c.name).toEqual(expect.any(String));
      // a read-only root: every container has its writable /tmp (HOME) on an emptyDir
      expect(c.volumeMounts.find((m: Doc) => m.mountPath === '/tmp')?.name, c.name).toBe('tmp');
    }
  });

  it('the atomic layout on a shared emptyDir: uWSGI serves /srv/current and reloads on the touch file hotpull touches', async () => {
    expect(pod.volumes.find((v: Doc) => v.name === 'srv')).toEqual({ name: 'srv', emptyDir: {} });
    for (const c of [first, sidecar]) {
      expect(c.volumeMounts.find((m: Doc) => m.name === 'srv')).toEqual({ name: 'srv', mountPath: '/srv' });
      const flag = (name: string) => c.command[c.command.indexOf(name) + 1];
      expect([flag('--layout'), flag('--repo'), flag('--branch')]).toEqual(['atomic', '/srv', 'main']);
      expect(flag('--remote')).toBe(first.command[first.command.indexOf('--remote') + 1]);
    }
    expect(app.volumeMounts.find((m: Doc) => m.name === 'srv')).toEqual({
      name: 'srv',
      mountPath: '/srv',
      readOnly: true,
    });
    const uwsgi = app.command;
    const option = (name: string) => uwsgi[uwsgi.indexOf(name) + 1];
    expect([option('--chdir'), option('--pythonpath')]).toEqual(['/srv/current', '/srv/current']);
    const sidecarConfig = await hotpullConfig(config.data['hotpull.config.yaml']);
    expect(sidecarConfig.reload).toEqual([{ kind: 'touch', file: option('--touch-reload') }]);
    expect(sidecarConfig.healthUrl).toBe(`http://127.0.0.1:${app.ports[0].containerPort}/healthz`);
    // the touch file is outside the releases, so every release sees the same one
    expect(option('--touch-reload')).toMatch(/^\/srv\/[^/]+$/);
  });

  it('git credentials come from a Secret as files, with the option names hotpull takes; no secret value in the file', async () => {
    const secret = pod.volumes.find((v: Doc) => v.name === 'git-credentials').secret;
    expect(secret).toEqual({ secretName: 'myapp-git', defaultMode: 0o440 });
    expect(await fs.readFile(FILE, 'utf8')).toContain('defaultMode: 288 # 0440');
    for (const c of [first, sidecar]) {
      const mount = c.volumeMounts.find((m: Doc) => m.name === 'git-credentials');
      expect(mount).toEqual({ name: 'git-credentials', mountPath: '/etc/hotpull/git', readOnly: true });
      expect(c.command[c.command.indexOf('--ssh-key-file') + 1]).toBe('/etc/hotpull/git/ssh-privatekey');
      expect(c.command[c.command.indexOf('--ssh-known-hosts-file') + 1]).toBe('/etc/hotpull/git/known_hosts');
    }
    expect(sidecar.env.find((e: Doc) => e.name === 'HOTPULL_WEBHOOK_SECRET')).toEqual({
      name: 'HOTPULL_WEBHOOK_SECRET',
      valueFrom: { secretKeyRef: { name: 'myapp-hotpull', key: 'webhook-secret' } },
    });
    expect(JSON.stringify(docs)).not.toMatch(/"value":"[0-9a-f]{32,}"|BEGIN [A-Z ]*PRIVATE KEY/);
    const text = await fs.readFile(FILE, 'utf8');
    expect(text).toContain('--type=kubernetes.io/ssh-auth');
    expect(text).toContain('--from-file=ssh-privatekey=');
    expect(text).toContain('--from-file=known_hosts=');
  });

  it('migrations run under the Lease the Role allows, in both the first release and the sidecar', async () => {
    const role = docs.find((d) => d.kind === 'Role')!;
    const binding = docs.find((d) => d.kind === 'RoleBinding')!;
    expect(binding.roleRef.name).toBe(role.metadata.name);
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: pod.serviceAccountName }]);
    const allowed = (verb: string, name: string) =>
      role.rules.some(
        (r: Doc) =>
          r.apiGroups.includes('coordination.k8s.io') &&
          r.resources.includes('leases') &&
          r.verbs.includes(verb) &&
          (!r.resourceNames || r.resourceNames.includes(name)),
      );
    for (const key of ['hotpull.config.yaml', 'first-release.yaml']) {
      const loaded = await hotpullConfig(config.data[key]);
      const migrate = loaded.rules.find((r: Doc) => r.paths.includes('**/migrations/*.py'));
      expect(migrate?.run, key).toHaveLength(1);
      const words = String(migrate!.run[0]).split(' ');
      expect(words.slice(0, 2)).toEqual(['node', '/opt/hotpull/k8s-lease.mjs']);
      const lease = parseArgs(words.slice(2));
      expect(lease.command.slice(-3)).toEqual(['manage.py', 'migrate', '--noinput']);
      for (const verb of ['get', 'create', 'update'])
        expect(allowed(verb, lease.lease), `${verb} lease ${lease.lease}`).toBe(true);
    }
    const firstConfig = first.command[first.command.indexOf('--config') + 1];
    const sidecarConfig = sidecar.command[sidecar.command.indexOf('--config') + 1];
    const mount = sidecar.volumeMounts.find((m: Doc) => m.name === 'config').mountPath;
    expect([firstConfig, sidecarConfig]).toEqual([`${mount}/first-release.yaml`, `${mount}/hotpull.config.yaml`]);
  });

  it("matches the image the Dockerfile builds: user, group, ports, hotpull's paths", async () => {
    const built = await image();
    expect(built.user).toBe('app');
    expect(pod.securityContext).toMatchObject({ runAsUser: built.uid, runAsGroup: built.gid, fsGroup: built.gid });
    expect(app.ports.map((p: Doc) => p.containerPort)).toEqual([built.ports[0]]);
    expect(sidecar.ports.map((p: Doc) => p.containerPort)).toEqual([built.ports[1]]);
    expect(built.files).toEqual(expect.arrayContaining(['/usr/local/bin/hotpull', '/opt/hotpull/k8s-lease.mjs']));
    for (const c of [first, sidecar, app]) expect(c.image).toBe(first.image);
  });
});

async function hotpullConfig(text: string): Promise<Doc> {
  const dir = await tmpDir('hotpull-k8s-config-');
  try {
    const file = path.join(dir, 'hotpull.config.yaml');
    await fs.writeFile(file, text);
    const loaded = (await loadConfig({ flags: { config: file }, env: {}, cwd: dir, isTTY: false })) as unknown as Doc;
    return { ...loaded, rules: loaded.onChange };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

describe('docker/k8s-lease.mjs', () => {
  it.each([
    ['no lease yet', undefined, 'create'],
    [
      'released',
      { spec: { holderIdentity: null, renewTime: '2026-01-01T00:00:00.000000Z', leaseDurationSeconds: 60 } },
      'take',
    ],
    [
      'held by us',
      { spec: { holderIdentity: 'pod-a', renewTime: '2026-01-01T00:00:00.000000Z', leaseDurationSeconds: 60 } },
      'take',
    ],
    [
      'held by another, fresh',
      { spec: { holderIdentity: 'pod-b', renewTime: '2026-01-01T00:00:30.000000Z', leaseDurationSeconds: 60 } },
      'wait',
    ],
    [
      'held by another, expired',
      { spec: { holderIdentity: 'pod-b', renewTime: '2025-12-31T23:58:00.000000Z', leaseDurationSeconds: 60 } },
      'take',
    ],
  ])('%s: %s', (_what, lease, decision) => {
    expect(leaseDecision(lease, 'pod-a', Date.parse('2026-01-01T00:01:00Z'))).toBe(decision);
  });

  it('bad arguments: one line, exit 2', async () => {
    const result = await execa(
      process.execPath,
      [path.join(ROOT, 'docker/k8s-lease.mjs'), '--lease', 'Bad_Name', '--', 'true'],
      { reject: false },
    );
    expect([result.exitCode, result.stderr]).toEqual([
      2,
      'k8s-lease: --lease Bad_Name: expected --lease NAME (a DNS subdomain), --duration SECONDS, --wait SECONDS',
    ]);
    expect(leaseBody('m', undefined, 'pod-a', 60, Date.parse('2026-01-01T00:00:00Z')).spec).toEqual({
      holderIdentity: 'pod-a',
      leaseDurationSeconds: 60,
      acquireTime: '2026-01-01T00:00:00.000000Z',
      renewTime: '2026-01-01T00:00:00.000000Z',
      leaseTransitions: 0,
    });
  });

  describe('two replicas at once against the Lease API', () => {
    let server: http.Server;
    let base: string;
    let dir: string;
    const requests: string[] = [];

    beforeAll(async () => {
      // What the API server does for a Lease: create once (409 after), update only at the current resourceVersion.
      let lease: Doc | undefined;
      let version = 0;
      server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          requests.push(`${req.method} ${req.url} ${req.headers.authorization}`);
          const reply = (status: number, value: unknown) =>
            res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
          if (
            req.url !== '/apis/coordination.k8s.io/v1/namespaces/ns/leases' &&
            req.url !== '/apis/coordination.k8s.io/v1/namespaces/ns/leases/migrate'
          )
            return reply(404, { message: 'no route' });
          if (req.method === 'GET') return lease ? reply(200, lease) : reply(404, { message: 'not found' });
          const sent = JSON.parse(body) as Doc;
          if (req.method === 'POST') {
            if (lease) return reply(409, { message: 'already exists' });
          } else if (!lease || sent.metadata.resourceVersion !== lease.metadata.resourceVersion) {
            return reply(409, { message: 'the object has been modified' });
          }
          version += 1;
          lease = { ...sent, metadata: { ...sent.metadata, resourceVersion: String(version) } };
          return reply(req.method === 'POST' ? 201 : 200, lease);
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      dir = await tmpDir('hotpull-k8s-lease-');
      await fs.writeFile(path.join(dir, 'token'), 'sa-token\n');
    });

    afterAll(async () => {
      server?.close();
      if (dir) await fs.rm(dir, { recursive: true, force: true });
    });

    it('run the command one after the other, never together, and release the lease', async () => {
      const log = path.join(dir, 'log');
      const run = (pod: string) =>
        execa(
          process.execPath,
          [
            path.join(ROOT, 'docker/k8s-lease.mjs'),
            '--lease',
            'migrate',
            '--duration',
            '30',
            '--wait',
            '60',
            '--',
            'sh',
            '-c',
            `echo "start ${pod}" >> ${log}; sleep 1; echo "end ${pod}" >> ${log}`,
          ],
          {
            reject: false,
            env: {
              K8S_LEASE_API: base,
              K8S_LEASE_TOKEN_FILE: path.join(dir, 'token'),
              K8S_LEASE_NAMESPACE: 'ns',
              HOSTNAME: pod,
            },
          },
        );
      const results = await Promise.all([run('pod-a'), run('pod-b')]);
      expect(results.map((r) => r.exitCode)).toEqual([0, 0]);
      const lines = (await fs.readFile(log, 'utf8')).trim().split('\n');
      expect(lines).toHaveLength(4);
      // each start is followed by its own end
      expect(lines[1]).toBe(lines[0]!.replace('start', 'end'));
      expect(lines[3]).toBe(lines[2]!.replace('start', 'end'));
      expect(results.map((r) => r.stderr).join('\n')).toMatch(/waiting for lease migrate, held by pod-[ab]/);
      const last = JSON.parse(
        await fetch(`${base}/apis/coordination.k8s.io/v1/namespaces/ns/leases/migrate`).then((r) => r.text()),
      ) as Doc;
      expect(last.spec.holderIdentity).toBeNull();
      expect(requests.every((r) => r.endsWith('Bearer sa-token') || r.endsWith('undefined'))).toBe(true);
    }, 60_000);
  });
});
