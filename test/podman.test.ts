/**
 * `hotpull host` with `--docker-bin podman`: Debian's podman 4.3, rootful, `--network host`, the busybox image
 * imported into podman's own store (test/helpers/docker.ts). What podman needs on this machine, where root lacks
 * CAP_SYS_RESOURCE: podman asks the OCI runtime to raise RLIMIT_NOFILE and RLIMIT_NPROC above what it may
 * ("error setting rlimit type 7: operation not permitted"), and crun refuses this host's hybrid cgroups. A
 * containers.conf (CONTAINERS_CONF) with default_ulimits at the limits podman already runs under, and runc, makes
 * containers start; hotpull passes its environment to podman, so nothing else changes.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { runCli } from './helpers/hotpull.js';
import { CI, docker, ensureImages, IMAGE, IMAGE_2, PREFIX } from './helpers/docker.js';
import { freePort } from './helpers/uwsgi.js';
import { skipUnlessCI } from './helpers/requires.js';

const PODMAN = 'podman';
const problem = await execa(PODMAN, ['version', '--format', '{{.Client.Version}}'], {
  reject: false,
  stdin: 'ignore',
}).then(
  (r) => (r.exitCode === 0 ? undefined : `podman version failed: ${r.stderr.trim().split('\n')[0]}`),
  (error: Error) => `podman could not be run (apt-get install podman): ${error.message.split('\n')[0]}`,
);
const RUN = `${PREFIX}podman-${process.pid}-`;
const FAST = ['--health-settle', '300ms', '--stop-timeout', '2s', '--docker-bin', PODMAN];

/** containers.conf for this machine: the rlimits podman itself runs with (nproc also within pid_max), and runc. */
async function containersConf(file: string): Promise<string> {
  const limits = await fs.readFile('/proc/self/limits', 'utf8');
  const hard = (name: string) => Number(new RegExp(`^${name}\\s+\\S+\\s+(\\d+)`, 'm').exec(limits)?.[1] ?? 1024);
  const pidMax = Number((await fs.readFile('/proc/sys/kernel/pid_max', 'utf8')).trim());
  const nofile = hard('Max open files');
  const nproc = Math.min(hard('Max processes'), pidMax);
  const text = `[containers]\ndefault_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]\n\n[engine]\nruntime = "runc"\n`;
  await fs.writeFile(file, text);
  return text;
}

describe.skipIf(problem !== undefined && !CI)(
  `host with --docker-bin podman${problem ? ` (skipped: ${problem})` : ''}`,
  () => {
    let sb: Sandbox;
    let dir: string;
    let env: Record<string, string>;
    let port: number;
    const web = `${RUN}web`;
    const podman = (args: string[]) => docker(args, { bin: PODMAN, env, reject: false, timeout: 120_000 });
    const up = (args: string[] = [], image = IMAGE) =>
      runCli(
        [
          'host',
          'up',
          '--json',
          '--name',
          web,
          '--image',
          image,
          '--code',
          `${path.join(dir, 'code')}:/app`,
          '--repo',
          sb.bare,
          '--branch',
          'main',
          '--health-url',
          `http://127.0.0.1:${port}/index.html`,
          ...FAST,
          ...args,
          '--',
          '--network',
          'host',
          '--',
          'httpd',
          '-f',
          '-p',
          `127.0.0.1:${port}`,
          '-h',
          '/app',
        ],
        { env, timeout: 180_000 },
      );

    beforeAll(async () => {
      if (problem) throw new Error(`CI=true and ${problem}`);
      dir = await tmpDir('hotpull-test-podman-');
      env = { CONTAINERS_CONF: path.join(dir, 'containers.conf') };
      console.log(`podman with CONTAINERS_CONF:\n${await containersConf(env.CONTAINERS_CONF!)}`);
      await ensureImages(PODMAN);
      port = await freePort();
      sb = await makeSandbox({ files: { 'index.html': 'version=1\n' } });
    }, 180_000);

    afterAll(async () => {
      if (problem) return;
      const names = (await podman(['ps', '--all', '--format', '{{.Names}}'])).stdout
        .split('\n')
        .filter((n) => n.startsWith(RUN));
      if (names.length > 0) await podman(['rm', '--force', ...names]);
      await sb?.cleanup();
      if (dir) await fs.rm(dir, { recursive: true, force: true });
    }, 120_000);

    it('without the containers.conf, podman cannot start a container here (the rlimit failure), and says so in one line', async (ctx) => {
      const result = await runCli(
        [
          'host',
          'up',
          '--name',
          `${RUN}plain`,
          '--image',
          IMAGE,
          '--code',
          `${path.join(dir, 'plain')}:/app`,
          ...FAST,
          '--',
          '--network',
          'host',
          '--',
          'true',
        ],
        { env: {}, timeout: 120_000 },
      );
      // a machine where root may raise its rlimits starts it: then this says nothing about podman (CI's does not)
      if (result.exitCode === 0) {
        await podman(['rm', '--force', `${RUN}plain`]);
        skipUnlessCI(ctx, 'root may raise its rlimits here: podman starts a container without the containers.conf');
      }
      expect(result.exitCode).toBe(1);
      expect(result.stderr.split('\n')[0]).toMatch(/^hotpull: docker run failed: .*(setrlimit|rlimit)/);
      await podman(['rm', '--force', `${RUN}plain`]);
    }, 180_000);

    it('up creates the container (clone, run, health URL), with labels podman inspect returns', async () => {
      const result = await up();
      expect(result.exitCode, result.stderr).toBe(0);
      const created = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(created).toMatchObject({
        action: 'created',
        changed: true,
        name: web,
        image: IMAGE,
        sha: await headOf(sb.seed),
        state: `healthy (http://127.0.0.1:${port}/index.html)`,
      });
      const [inspect] = JSON.parse((await podman(['container', 'inspect', web])).stdout) as Array<{
        Id: string;
        Config: { Labels: Record<string, string> };
      }>;
      expect(inspect?.Id).toBe(created.containerId);
      expect(inspect?.Config.Labels).toMatchObject({
        'hotpull.code': path.join(dir, 'code'),
        'hotpull.repo': sb.bare,
        'hotpull.branch': 'main',
        'hotpull.config-hash': expect.any(String),
      });
      expect(await fetch(`http://127.0.0.1:${port}/index.html`).then((r) => r.text())).toBe('version=1\n');
    }, 240_000);

    it('up again is a no-op; a changed env or image replaces it', async () => {
      const again = await up();
      expect(again.exitCode, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ action: 'kept', changed: false });
      expect(again.stderr).toContain('nothing to do');

      const env2 = await up(['-e', 'GREETING=hi']);
      expect(env2.exitCode, env2.stderr).toBe(0);
      expect(JSON.parse(env2.stdout)).toMatchObject({
        action: 'replaced',
        changed: true,
        reasons: ['env changed (GREETING)'],
      });

      const image2 = await up(['-e', 'GREETING=hi'], IMAGE_2);
      expect(image2.exitCode, image2.stderr).toBe(0);
      expect((JSON.parse(image2.stdout) as { reasons: string[] }).reasons).toEqual([
        expect.stringMatching(/^image changed \([0-9a-f]{12} → [0-9a-f]{12}\)$/),
      ]);
    }, 360_000);

    it('ls lists it from podman ps and inspect', async () => {
      const result = await runCli(['host', 'ls', '--docker-bin', PODMAN], { env });
      expect(result.exitCode, result.stderr).toBe(0);
      const row = result.stdout.split('\n').find((l) => l.startsWith(`${web} `));
      // podman names a local image localhost/NAME
      expect(row?.split(/\s+/)).toEqual([
        web,
        `localhost/${IMAGE_2}`,
        'running',
        (await headOf(sb.seed)).slice(0, 7),
        'main',
        path.join(dir, 'code'),
      ]);
    }, 60_000);

    it("podman's errors are one line each: an image not in its store", async () => {
      const result = await runCli(
        [
          'host',
          'up',
          '--name',
          `${RUN}missing`,
          '--image',
          'hotpull-test/missing:1',
          '--code',
          `${path.join(dir, 'code')}:/app`,
          '--docker-bin',
          PODMAN,
        ],
        { env },
      );
      expect([result.exitCode, result.stderr]).toEqual([
        1,
        'hotpull: image hotpull-test/missing:1 is not on this Docker host: build or pull it first, or add --pull',
      ]);
    }, 60_000);
  },
);
