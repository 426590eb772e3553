/**
 * examples/ansible as written, run by Debian's ansible-core against localhost (`-i localhost, -c local`) and the
 * local dockerd: container.yml starts the app container with `hotpull host up --json` (first run changed, second
 * changed=0), code.yml deploys a push with `hotpull host deploy --json`, and a revision that fails the health check
 * fails the play with hotpull's reason while the last good one stays served. The app is busybox httpd serving the
 * checkout on the volume (test/helpers/docker.ts), so a deploy is served the moment the checkout moves.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { CLI, ROOT } from './helpers/hotpull.js';
import { CI, dockerProblem, ensureImages, IMAGE, inspect, PREFIX, removeContainers } from './helpers/docker.js';
import { fetchText, freePort, waitForBody } from './helpers/uwsgi.js';

const EXAMPLE = path.join(ROOT, 'examples/ansible');
const dockerMissing = await dockerProblem();
const ansibleMissing = await execa('ansible-playbook', ['--version'], { reject: false, stdin: 'ignore' }).then(
  (r) => (r.exitCode === 0 ? undefined : `ansible-playbook --version failed: ${r.stderr.trim()}`),
  (error: Error) => `ansible-playbook could not be run (apt-get install ansible-core): ${error.message.split('\n')[0]}`,
);
const problem = dockerMissing ?? ansibleMissing;
const RUN = `${PREFIX}ansible-${process.pid}-`;
const NAME = `${RUN}web`;

interface Recap {
  ok: number;
  changed: number;
  failed: number;
}

function recap(output: string): Recap {
  const match = /localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)/.exec(output);
  if (!match) throw new Error(`no PLAY RECAP for localhost in:\n${output.slice(-3000)}`);
  return { ok: Number(match[1]), changed: Number(match[2]), failed: Number(match[3]) };
}

describe.skipIf(problem !== undefined && !CI)(
  `examples/ansible with ansible-core and a real dockerd${problem ? ` (skipped: ${problem})` : ''}`,
  () => {
    let sb: Sandbox;
    let work: string;
    let port: number;
    let varsFile: string;

    async function play(playbook: string): Promise<{ exitCode: number; output: string; recap: Recap }> {
      const result = await execa(
        'ansible-playbook',
        ['-i', 'localhost,', '-c', 'local', path.join(EXAMPLE, playbook), '-e', `@${varsFile}`],
        {
          reject: false,
          all: true,
          stdin: 'ignore',
          timeout: 180_000,
          env: {
            ANSIBLE_NOCOLOR: '1',
            ANSIBLE_FORCE_COLOR: '0',
            ANSIBLE_LOCAL_TEMP: path.join(work, 'ansible-tmp'),
            ANSIBLE_RETRY_FILES_ENABLED: '0',
          },
        },
      );
      const output = String(result.all);
      return { exitCode: result.exitCode ?? -1, output, recap: recap(output) };
    }

    beforeAll(async () => {
      if (problem) throw new Error(`CI=true and ${problem}`);
      await ensureImages();
      await removeContainers(RUN);
      port = await freePort();
      sb = await makeSandbox({
        files: {
          'index.html': 'version=1\n',
          // The app's own hotpull settings, as code.yml expects them in the checkout: httpd serves files as they
          // are, so no reload; the health URL comes from the playbook (app_health_url).
          'hotpull.config.yaml': 'reload: [none]\nhealthTimeout: 4s\nhealthSettle: 500ms\n',
        },
      });
      work = await tmpDir('hotpull-test-ansible-');
      varsFile = path.join(work, 'vars.json');
      await fs.writeFile(
        varsFile,
        JSON.stringify({
          app_hosts: 'localhost',
          ansible_python_interpreter: '/usr/bin/python3',
          app_name: NAME,
          app_image: IMAGE,
          app_pull: false,
          app_code_dir: path.join(work, 'code'),
          app_repo: sb.bare,
          app_branch: 'main',
          app_health_url: `http://127.0.0.1:${port}/index.html`,
          // dockerd here has no bridge: host networking, and busybox httpd serving the volume as the app
          app_docker_args: ['--network', 'host', '--', 'httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', '/app'],
          hotpull_command: [process.execPath, CLI],
        }),
      );
    }, 120_000);

    afterAll(async () => {
      if (problem) return;
      await removeContainers(RUN);
      await sb?.cleanup();
      if (work) await fs.rm(work, { recursive: true, force: true });
    }, 60_000);

    it('container.yml: the first run clones and starts the container (changed), the second changes nothing', async () => {
      const first = await play('container.yml');
      expect(first.exitCode, first.output).toBe(0);
      expect(first.recap).toMatchObject({ changed: 1, failed: 0 });
      expect(first.output).toMatch(
        new RegExp(`created ${NAME}: ${IMAGE} \\([0-9a-f]{12}\\), code at ${await headOf(sb.seed)}, healthy`),
      );
      expect((await inspect(NAME))?.State.Running).toBe(true);
      expect(await fetchText(`http://127.0.0.1:${port}/index.html`)).toEqual({ status: 200, body: 'version=1\n' });

      const second = await play('container.yml');
      expect(second.exitCode, second.output).toBe(0);
      expect(second.recap).toMatchObject({ changed: 0, failed: 0 });
      expect(second.output).toContain(`kept ${NAME}`);
    }, 240_000);

    it('code.yml deploys a push (changed), then reports nothing to do (changed=0)', async () => {
      const sha = await commitAndPush(sb, { 'index.html': 'version=2\n' }, 'version 2');
      const deploy = await play('code.yml');
      expect(deploy.exitCode, deploy.output).toBe(0);
      expect(deploy.recap).toMatchObject({ changed: 1, failed: 0 });
      expect(deploy.output).toContain(`deployed: ${path.join(work, 'code')} at ${sha}`);
      await waitForBody(`http://127.0.0.1:${port}/index.html`, (body) => body === 'version=2\n', 10_000);

      const again = await play('code.yml');
      expect(again.exitCode, again.output).toBe(0);
      expect(again.recap).toMatchObject({ changed: 0, failed: 0 });
      expect(again.output).toContain(`up-to-date: ${path.join(work, 'code')} at ${sha}`);
    }, 240_000);

    it("a revision that fails the health check fails the play with hotpull's reason; the last good one stays served", async () => {
      const good = await headOf(sb.seed);
      const bad = await commitAndPush(sb, { 'index.html': null, 'other.html': 'moved\n' }, 'break the health URL');
      const deploy = await play('code.yml');
      expect(deploy.exitCode).not.toBe(0);
      expect(deploy.recap).toMatchObject({ failed: 1 });
      // the fail task's message is hotpull's own verdict on the revision
      expect(deploy.output).toMatch(
        new RegExp(`"msg": "[^"]*${`http://127.0.0.1:${port}/index.html`.replace(/[.]/g, '\\.')}[^"]*404`),
      );
      expect(deploy.output).not.toContain(`deployed: ${path.join(work, 'code')} at ${bad}`);
      expect(await headOf(path.join(work, 'code'))).toBe(good);
      expect(await fetchText(`http://127.0.0.1:${port}/index.html`)).toEqual({ status: 200, body: 'version=2\n' });
    }, 240_000);
  },
);
