/**
 * The atomic layout under a real uWSGI configured on `<root>/current`: which reloads follow the switched link.
 * Measured here (uWSGI 2.0.21) and written down in docs/pipeline.md (Atomic releases):
 * - a full reload (touch-reload, FIFO `r`) re-executes the master, which chdirs to `current` again and resolves
 *   it to the new release: everything is served from the new release;
 * - a chain reload (`c`, lazy-apps) keeps the master's working directory, which is the old release's real path
 *   (chdir resolves the link once). With `--wsgi-file` and `--pythonpath` given through `current`, code is
 *   imported from the new release; only paths relative to the working directory (open("templates/…")) still
 *   read the old release, until the next full reload.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { itNeeds } from './helpers/requires.js';
import { commitAndPush, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { makePipeline } from './helpers/hotpull.js';
import { startUwsgi, workerVersions, type UwsgiServer } from './helpers/uwsgi.js';

const app = (version: string) =>
  [
    'import os',
    'from ver import VERSION as MODULE_VERSION',
    `APP_VERSION = ${JSON.stringify(version)}`,
    'def application(environ, start_response):',
    '    cwd = os.path.basename(os.getcwd())[:7]',
    '    body = ("version=%s/%s pid=%d cwd=%s" % (APP_VERSION, MODULE_VERSION, os.getpid(), cwd)).encode()',
    '    start_response("200 OK", [("Content-Type", "text/plain")])',
    '    return [body]',
    '',
  ].join('\n');
const ver = (version: string) => `VERSION = ${JSON.stringify(version)}\n`;

let sb: Sandbox | undefined;
let server: UwsgiServer | undefined;
let root: string | undefined;
afterEach(async () => {
  await server?.stop();
  await sb?.cleanup();
  if (root) await fs.rm(path.dirname(root), { recursive: true, force: true });
  server = undefined;
  sb = undefined;
  root = undefined;
});

const itUwsgi = itNeeds('uwsgi');

async function setup(lazyApps: boolean) {
  sb = await makeSandbox({ files: { 'app.py': app('v1'), 'ver.py': ver('v1') } });
  root = path.join(await tmpDir('hotpull-volume-'), 'app');
  const fifo = path.join(path.dirname(root), 'master.fifo');
  const touch = path.join(path.dirname(root), 'reload.touch');
  const first = await makePipeline(root, { layout: 'atomic', remote: sb.bare, branch: 'main', reload: ['none'] });
  await first.engine.sync('test');
  server = await startUwsgi({
    dir: path.join(root, 'current'),
    masterFifo: fifo,
    touchReload: touch,
    lazyApps,
    extraArgs: ['--pythonpath', path.join(root, 'current')],
  });
  expect([...new Set((await workerVersions(server.url, 2)).values())]).toEqual(['v1/v1']);
  expect(await (await fetch(server.url)).text()).toMatch(/cwd=[0-9a-f]{7}$/);
  return { sb, root, fifo, touch, server };
}

describe('atomic layout under uWSGI', () => {
  itUwsgi('a full reload (touch) serves the new release after each switch', async () => {
    const { sb, root, touch, server } = await setup(false);
    for (const v of ['v2', 'v3']) {
      await commitAndPush(sb, { 'app.py': app(v), 'ver.py': ver(v) });
      const { engine } = await makePipeline(root, {
        layout: 'atomic',
        reload: [`touch:${touch}`],
        healthUrl: server.url,
        healthExpect: `version=${v}/${v}`,
      });
      expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { result: 'live' } });
      expect([...new Set((await workerVersions(server.url, 2)).values())]).toEqual([`${v}/${v}`]);
    }
  });

  itUwsgi('a chain reload with lazy-apps imports the new release but keeps the old working directory', async () => {
    const { sb, root, fifo, server } = await setup(true);
    const oldSha = path.basename(await fs.readlink(path.join(root, 'current')));
    const newSha = await commitAndPush(sb, { 'app.py': app('v2'), 'ver.py': ver('v2') });
    const { engine } = await makePipeline(root, {
      layout: 'atomic',
      reload: [`uwsgi-fifo:${fifo}:c`],
      healthUrl: server.url,
      healthExpect: 'version=v2/v2',
      healthSettle: '1500ms',
    });
    expect(await engine.sync('test')).toMatchObject({ kind: 'deployed', record: { result: 'live' } });
    expect(path.basename(await fs.readlink(path.join(root, 'current')))).toBe(newSha);
    expect([...new Set((await workerVersions(server.url, 2)).values())]).toEqual([`v2/v2`]);
    const body = await (await fetch(server.url)).text();
    expect(body).toContain(`cwd=${oldSha.slice(0, 7)}`);
  });
});
