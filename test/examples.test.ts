/**
 * The examples that no test runs for real are still checked: the Kubernetes manifests wire the shared
 * emptyDir, the probes and the Secret the way the comments say, and every hotpull config in examples/
 * passes hotpull's own validation. (examples/django-uwsgi and examples/gunicorn run under a real
 * supervisord in test/e2e/supervisor.test.ts.)
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { defaultLoadersSync } from 'cosmiconfig';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { EXAMPLES_DIR } from './helpers/examples.js';
import { tmpDir } from './helpers/git.js';

type Doc = Record<string, any>;

async function manifests(file: string): Promise<Doc[]> {
  const text = await fs.readFile(path.join(EXAMPLES_DIR, file), 'utf8');
  return text
    .split(/^---$/m)
    .filter((part) => part.replace(/#.*$/gm, '').trim() !== '')
    .map((part) => defaultLoadersSync['.yaml']!(file, part) as Doc);
}

async function validHotpullConfig(text: string): Promise<void> {
  const dir = await tmpDir('hotpull-example-config-');
  try {
    const file = path.join(dir, 'hotpull.config.yaml');
    await fs.writeFile(file, text);
    const config = await loadConfig({ flags: { config: file }, env: {}, cwd: dir, isTTY: false });
    expect(config.healthExpect).toBe('{short_sha}');
    expect(config.reload.length).toBeGreaterThan(0);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

describe('examples/kubernetes/deployment.yaml', () => {
  it('app and hotpull share the checkout on an emptyDir, cloned first by an init container', async () => {
    const docs = await manifests('kubernetes/deployment.yaml');
    const deployment = docs.find((d) => d.kind === 'Deployment')!;
    const pod = deployment.spec.template.spec;
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
    expect(pod.volumes.find((v: Doc) => v.name === 'code')).toEqual({ name: 'code', emptyDir: {} });
    const mountsCode = (c: Doc) => c.volumeMounts.some((m: Doc) => m.name === 'code' && m.mountPath === '/app');
    const [clone] = pod.initContainers;
    expect(clone.command.slice(0, 2)).toEqual(['git', 'clone']);
    expect(clone.command.at(-1)).toBe('/app');
    expect(mountsCode(clone)).toBe(true);
    const app = pod.containers.find((c: Doc) => c.name === 'app');
    const hotpull = pod.containers.find((c: Doc) => c.name === 'hotpull');
    expect(mountsCode(app) && mountsCode(hotpull)).toBe(true);
    // uwsgi.ini, the touch file, is in the shared checkout.
    expect(app.command).toEqual(['uwsgi', '--ini', '/app/uwsgi.ini']);
    expect(await fs.readFile(path.join(EXAMPLES_DIR, 'django-uwsgi/uwsgi.ini'), 'utf8')).toContain('touch-reload = /app/uwsgi.ini');
    for (const volume of pod.volumes) {
      expect(pod.containers.some((c: Doc) => c.volumeMounts.some((m: Doc) => m.name === volume.name)), volume.name).toBe(true);
    }
  });

  it('readiness on hotpull /healthz, listening on 0.0.0.0; the webhook secret from a Secret', async () => {
    const docs = await manifests('kubernetes/deployment.yaml');
    const pod = docs.find((d) => d.kind === 'Deployment')!.spec.template.spec;
    const hotpull = pod.containers.find((c: Doc) => c.name === 'hotpull');
    const listen = hotpull.command[hotpull.command.indexOf('--listen') + 1];
    expect(listen).toBe('0.0.0.0:9300');
    expect(hotpull.ports).toEqual([{ name: 'hotpull', containerPort: 9300 }]);
    expect(hotpull.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'hotpull' });
    expect(hotpull.env.find((e: Doc) => e.name === 'HOTPULL_WEBHOOK_SECRET')).toEqual({
      name: 'HOTPULL_WEBHOOK_SECRET',
      valueFrom: { secretKeyRef: { name: 'myapp-hotpull', key: 'webhook-secret' } },
    });
    // No secret value anywhere in the manifests.
    expect(JSON.stringify(docs)).not.toMatch(/"value":"[0-9a-f]{32,}"/);
    const configPath = hotpull.command[hotpull.command.indexOf('--config') + 1];
    expect(path.dirname(configPath)).toBe(hotpull.volumeMounts.find((m: Doc) => m.name === 'config').mountPath);
  });

  it("the ConfigMap's hotpull config is valid", async () => {
    const docs = await manifests('kubernetes/deployment.yaml');
    const configMap = docs.find((d) => d.kind === 'ConfigMap')!;
    await validHotpullConfig(configMap.data['hotpull.config.yaml']);
  });
});

describe('the hotpull configs of the Supervisor examples', () => {
  it.each(['django-uwsgi', 'gunicorn'])('examples/%s/hotpull.config.yaml is valid', async (name) => {
    await validHotpullConfig(await fs.readFile(path.join(EXAMPLES_DIR, name, 'hotpull.config.yaml'), 'utf8'));
  });
});
