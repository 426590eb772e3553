/**
 * Every hotpull config in examples/ passes hotpull's own validation. (examples/django-uwsgi and examples/gunicorn
 * run under a real supervisord in test/e2e/supervisor.test.ts; examples/kubernetes is checked by
 * test/k8s-manifests.test.ts.)
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

describe('the hotpull configs of the Supervisor examples', () => {
  it.each(['django-uwsgi', 'gunicorn'])('examples/%s/hotpull.config.yaml is valid', async (name) => {
    await validHotpullConfig(await fs.readFile(path.join(EXAMPLES_DIR, name, 'hotpull.config.yaml'), 'utf8'));
  });
});
