/**
 * The seed scenario for real, in Docker: the project Dockerfile built offline from local bases (debootstrap +
 * docker import, test/helpers/docker.ts), one container with Supervisor running uWSGI and hotpull, the code on a
 * host volume at /app whose origin is a bare repository on disk (mounted read-only at /remote.git), every
 * container on --network host (dockerd here has no bridge). A `git push` on the host is served from the container
 * within seconds; a broken push is rolled back by the health check.
 *
 * Without Docker this file is skipped locally and fails when CI=true. The first run makes the base images
 * (about 2 minutes); later runs reuse them and the build's npm ci layer.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf, makeSandbox, tmpDir, type Sandbox } from '../helpers/git.js';
import { ROOT, waitFor } from '../helpers/hotpull.js';
import { fetchText, freePort, waitForBody } from '../helpers/uwsgi.js';
import { exampleFiles, render } from '../helpers/examples.js';
import { wsgiAppSource } from '../helpers/wsgi-app.js';
import {
  BASE_PREFIX,
  CI,
  buildImage,
  docker,
  dockerProblem,
  ensureStackBases,
  PREFIX,
  removeContainers,
  removeImage,
  removeStageLeftovers,
  type StackBases,
} from '../helpers/docker.js';

const problem = await dockerProblem();
const RUN = `${PREFIX}e2e-${process.pid}-`;
const CONTAINER = `${RUN}app`;
const IMAGE = `${BASE_PREFIX}/hotpull:e2e-${process.pid}`;
const IMAGE_REBUILT = `${BASE_PREFIX}/hotpull:e2e-${process.pid}-rebuilt`;
/** the image's user; the checkout is handed to it when the tests run as root */
const APP_UID = 10001;
const SUPERVISORCTL = ['supervisorctl', '-c', '/etc/hotpull/supervisord.conf'];
/** Node lines the image may carry: supported LTS (Node 20 reached its end of life on 2026-04-30) */
const SUPPORTED_NODE_LINES = [22, 24];

interface DeployRecord {
  trigger: string;
  from: string;
  to: string;
  result: string;
  rolledBackTo?: string;
}
interface Status {
  state: string;
  deployedSha?: string;
  lastGoodSha?: string;
  rejectedSha?: string;
  deploys: DeployRecord[];
}

function uwsgiIni(port: number): string {
  return [
    '[uwsgi]',
    `http-socket = 127.0.0.1:${port}`,
    'master = true',
    'processes = 2',
    'chdir = /app',
    'wsgi-file = /app/app.py',
    '',
  ].join('\n');
}

async function logs(): Promise<string> {
  const result = await docker(['logs', CONTAINER], { reject: false });
  return `${result.stdout}\n${result.stderr}`;
}

describe.skipIf(problem !== undefined && !CI)(
  `the Dockerfile's image with the code on a volume${problem ? ` (skipped: ${problem})` : ''}`,
  () => {
    let bases: StackBases;
    let build: { seconds: number; output: string };
    let context: string | undefined;
    let rebuiltOutput: string | undefined;
    let sb: Sandbox;
    let appPort: number;
    let app: string;
    let hotpull: string;

    async function status(): Promise<Status> {
      const result = await fetchText(`${hotpull}/status`);
      if (!('body' in result) || result.status !== 200)
        throw new Error(`GET ${hotpull}/status: ${JSON.stringify(result)}`);
      return JSON.parse(result.body) as Status;
    }

    /** The time from the start of `git push` (commit included) until the container serves `version`. */
    async function pushAndTime(
      version: string,
      opts: { crashOnImport?: boolean } = {},
    ): Promise<{ sha: string; seconds: number }> {
      const started = performance.now();
      const sha = await commitAndPush(
        sb,
        { 'app.py': wsgiAppSource(version, { reportSha: true, ...opts }) },
        `version ${version}`,
      );
      if (opts.crashOnImport) return { sha, seconds: (performance.now() - started) / 1000 };
      await waitForBody(`${app}/`, (body) => body.startsWith(`version=${version} `), 30_000);
      return { sha, seconds: (performance.now() - started) / 1000 };
    }

    beforeAll(async () => {
      if (problem) throw new Error(`CI=true and no Docker: ${problem}`);
      await removeContainers(RUN);
      bases = await ensureStackBases();
      // A snapshot of the build context: others may edit the working tree while this runs, and the rebuild test
      // below must change exactly one file.
      context = await snapshotContext();
      build = await buildImage(IMAGE, bases, context);

      appPort = await freePort();
      const hotpullPort = await freePort();
      app = `http://127.0.0.1:${appPort}`;
      hotpull = `http://127.0.0.1:${hotpullPort}`;
      sb = await makeSandbox({
        files: { 'app.py': wsgiAppSource('1', { reportSha: true }), 'uwsgi.ini': uwsgiIni(appPort) },
      });
      await docker([
        'run',
        '--detach',
        '--name',
        CONTAINER,
        '--network',
        'host',
        ...(await volumeArgs(sb)),
        '--env',
        'HOTPULL_INTERVAL=1s',
        '--env',
        `HOTPULL_LISTEN=127.0.0.1:${hotpullPort}`,
        '--env',
        `HOTPULL_HEALTH_URL=${app}/health`,
        '--env',
        'HOTPULL_HEALTH_EXPECT={short_sha}',
        '--env',
        'HOTPULL_HEALTH_TIMEOUT=8s',
        '--env',
        'HOTPULL_HEALTH_SETTLE=1s',
        '--env',
        `HOTPULL_WEBHOOK_SECRET=${randomBytes(16).toString('hex')}`,
        // the image's HEALTHCHECK command, asked more often than its 15 s so the test need not wait
        '--health-interval',
        '2s',
        IMAGE,
      ]);
      try {
        await waitForBody(`${app}/`, (body) => body.startsWith('version=1 '), 30_000);
        await waitFor(
          'hotpull /healthz to answer 200',
          async () => {
            const result = await fetchText(`${hotpull}/healthz`);
            return 'status' in result && result.status === 200;
          },
          30_000,
        );
      } catch (error) {
        throw new Error(`${(error as Error).message}\ncontainer logs:\n${(await logs()).slice(-4000)}`);
      }
    }, 15 * 60_000);

    afterAll(async () => {
      if (problem) return;
      await removeContainers(RUN);
      await removeImage(IMAGE_REBUILT);
      await removeImage(IMAGE);
      for (const output of [rebuiltOutput, build?.output]) if (output) await removeStageLeftovers(output, 'COPY src');
      await sb?.cleanup();
      if (context) await fs.rm(context, { recursive: true, force: true });
    }, 120_000);

    it('is built offline from the local bases with the runtime shape the README promises', async () => {
      console.log(
        `docker build of the project Dockerfile (${bases.buildArgs.join(' ')}): ${build.seconds.toFixed(1)} s`,
      );
      const [config] = JSON.parse((await docker(['image', 'inspect', IMAGE])).stdout) as Array<{
        Config: {
          User: string;
          WorkingDir: string;
          ExposedPorts: Record<string, unknown>;
          Cmd: string[];
          Healthcheck?: { Test: string[] };
        };
      }>;
      expect(config?.Config.User).toBe('app');
      expect(config?.Config.WorkingDir).toBe('/app');
      expect(Object.keys(config?.Config.ExposedPorts ?? {}).sort()).toEqual(['8000/tcp', '9300/tcp']);
      expect(config?.Config.Cmd).toEqual(['supervisord', '-n', '-c', '/etc/hotpull/supervisord.conf']);
      expect(config?.Config.Healthcheck?.Test).toEqual(['CMD', '/usr/local/bin/node', '/opt/hotpull/healthcheck.mjs']);
      const labels = (config as unknown as { Config: { Labels: Record<string, string> } }).Config.Labels;
      const pkg = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
        version: string;
        license: string;
      };
      expect(labels).toMatchObject({
        'org.opencontainers.image.title': 'hotpull runtime',
        'org.opencontainers.image.version': pkg.version,
        'org.opencontainers.image.licenses': pkg.license,
      });
      // the image's node is a supported LTS line, and the one the node base was made with
      const nodeVersion = (
        await docker(['run', '--rm', '--network', 'host', IMAGE, 'node', '--version'])
      ).stdout.trim();
      expect(Number(/^v(\d+)\./.exec(nodeVersion)?.[1])).toBeOneOf(SUPPORTED_NODE_LINES);
      expect(bases.nodeBase).toContain(`:${nodeVersion}-`);
      const size = Number((await docker(['image', 'inspect', '--format', '{{.Size}}', IMAGE])).stdout.trim());
      console.log(`image ${IMAGE}: node ${nodeVersion}, ${(size / 1e6).toFixed(0)} MB (docker image inspect .Size)`);
      // Node in the runtime stage came from the build stage: APP_BASE has none.
      expect(
        (
          await docker([
            'run',
            '--rm',
            '--network',
            'host',
            '--entrypoint',
            'sh',
            bases.appBase,
            '-c',
            'command -v node || echo none',
          ])
        ).stdout.trim(),
      ).toBe('none');
      expect((await docker(['run', '--rm', '--network', 'host', IMAGE, 'hotpull', '--version'])).stdout.trim()).toMatch(
        /^\d+\.\d+\.\d+$/,
      );
    });

    it('runs uWSGI and hotpull under supervisord as the unprivileged user, serving the volume', async () => {
      // RUNNING once each has stayed up for its startsecs
      await waitFor(
        'supervisord to report both programs RUNNING',
        async () => {
          const programs = (await docker(['exec', CONTAINER, ...SUPERVISORCTL, 'status'], { reject: false })).stdout;
          return /^hotpull\s+RUNNING/m.test(programs) && /^uwsgi\s+RUNNING/m.test(programs);
        },
        15_000,
      );
      const uids = (
        await docker([
          'exec',
          CONTAINER,
          'sh',
          '-c',
          'for s in /proc/[0-9]*/status; do sed -n "s/^Uid:\\t\\([0-9]*\\).*/\\1/p" "$s"; done',
        ])
      ).stdout
        .split('\n')
        .filter(Boolean);
      const expected = String(process.getuid?.() === 0 ? APP_UID : process.getuid?.());
      expect(new Set(uids)).toEqual(new Set([expected]));
      expect(await status()).toMatchObject({ deployedSha: await headOf(sb.seed) });
    });

    it('serves each push from the container within seconds, verified live', async () => {
      const seconds: number[] = [];
      for (const version of ['2', '3', '4']) {
        const push = await pushAndTime(version);
        seconds.push(push.seconds);
        const live = await waitFor(
          `deploy of ${push.sha} reported live`,
          async () => {
            const s = await status();
            return s.deploys.some((d) => d.to === push.sha && d.result === 'live') ? s : undefined;
          },
          60_000,
        );
        expect(live.lastGoodSha).toBe(push.sha);
        // and only the new version from then on: a touch reload re-executes the master, every worker with it
        for (let i = 0; i < 6; i += 1)
          expect(await fetchText(`${app}/`)).toMatchObject({
            status: 200,
            body: expect.stringMatching(new RegExp(`^version=${version} `)),
          });
      }
      console.log(
        `git push → served from the container (poll 1 s, touch reload): ${seconds.map((s) => s.toFixed(2)).join(' s, ')} s`,
      );
      // how fast (against the seed's ~10 s Ansible pull + touch) is bench/fullstack.mjs's to measure, not a test's
    }, 120_000);

    it('rolls back a broken push: the last good revision stays served, and the next good push deploys', async () => {
      const good = await headOf(sb.seed);
      const broken = await pushAndTime('5-broken', { crashOnImport: true });
      // rolled back, then the restored revision verified again before the daemon settles
      const rolledBack = await waitFor(
        'the broken revision rolled back',
        async () => {
          const s = await status();
          return s.rejectedSha === broken.sha &&
            s.deploys.some((d) => d.to === broken.sha && d.result === 'rolled-back')
            ? s
            : undefined;
        },
        60_000,
      );
      expect(rolledBack).toMatchObject({ deployedSha: good, lastGoodSha: good, rejectedSha: broken.sha });
      await waitForBody(`${app}/`, (body) => body.startsWith('version=4 '), 60_000);
      expect(await git(sb.checkout, '-c', 'safe.directory=*', 'rev-parse', 'HEAD')).toBe(good);

      const fixed = await pushAndTime('6');
      await waitFor(
        'the fixed revision live',
        async () => (await status()).deploys.some((d) => d.to === fixed.sha && d.result === 'live'),
        60_000,
      );
    }, 120_000);

    it("reports healthy through the image's HEALTHCHECK: supervisord's programs, the app and hotpull's /healthz", async () => {
      const health = await healthy(CONTAINER);
      const output = health.Log.at(-1)?.Output ?? '';
      expect(output).toContain('ok supervisord: hotpull RUNNING, uwsgi RUNNING');
      expect(output).toContain(`ok app ${app}/health: 200 ok `);
      expect(output).toMatch(new RegExp(`ok hotpull ${hotpull}/healthz: 200 ok `));
    }, 60_000);

    it('the health check fails when the app server is down, and is sane with the listener off', async () => {
      const check = (env: string[] = []) =>
        docker(['exec', ...env, CONTAINER, '/usr/local/bin/node', '/opt/hotpull/healthcheck.mjs'], { reject: false });
      // no listener: hotpull is asked through supervisord only
      const noListener = await check(['--env', 'HOTPULL_LISTEN=']);
      expect(noListener.exitCode, noListener.stdout).toBe(0);
      expect(noListener.stdout).toContain('ok hotpull: HOTPULL_LISTEN is not set, no /healthz to ask');
      expect(noListener.stdout).toContain('ok supervisord: hotpull RUNNING, uwsgi RUNNING');
      await docker(['exec', CONTAINER, ...SUPERVISORCTL, 'stop', 'uwsgi']);
      try {
        const down = await check(['--env', 'HOTPULL_LISTEN=']);
        expect(down.exitCode).toBe(1);
        expect(down.stdout).toContain('FAIL supervisord: hotpull RUNNING, uwsgi STOPPED');
        expect(down.stdout).toMatch(new RegExp(`FAIL app ${app}/health: ECONNREFUSED`));
      } finally {
        await docker(['exec', CONTAINER, ...SUPERVISORCTL, 'start', 'uwsgi']);
      }
      await waitForBody(`${app}/`, (body) => body.startsWith('version=6 '), 60_000);
      expect((await check()).exitCode).toBe(0);
    }, 90_000);

    it(
      'rebuilds a source change from COPY src on: the npm ci and node_modules layers come from the cache',
      async () => {
        if (!context) throw new Error('no build context');
        await fs.appendFile(
          path.join(context, 'src/cli.ts'),
          `\n// rebuilt by test/e2e/docker.test.ts ${process.pid}\n`,
        );
        const rebuilt = await buildImage(IMAGE_REBUILT, bases, context);
        rebuiltOutput = rebuilt.output;
        console.log(`docker build after a source change: ${rebuilt.seconds.toFixed(1)} s`);
        const cached = (instruction: string) =>
          new RegExp(`Step \\d+/\\d+ : ${instruction}[^\\n]*\\n ---> Using cache`).test(rebuilt.output);
        expect(cached('RUN npm ci')).toBe(true);
        expect(cached('COPY --from=build /build/node_modules')).toBe(true);
        expect(cached('COPY src')).toBe(false);
      },
      10 * 60_000,
    );

    it('stops on docker stop: hotpull and uWSGI exit cleanly and the container exits 0', async () => {
      const started = performance.now();
      await docker(['stop', '--time', '30', CONTAINER], { timeout: 60_000 });
      const seconds = (performance.now() - started) / 1000;
      const text = await logs();
      expect(text).toMatch(/stopped: hotpull \(exit status 0\)/);
      expect(text).toMatch(/stopped: uwsgi \(exit status 0\)/);
      expect((await docker(['inspect', '--format', '{{.State.ExitCode}}', CONTAINER])).stdout.trim()).toBe('0');
      expect(seconds).toBeLessThan(20);
    }, 90_000);

    it('a bad hotpull option leaves hotpull FATAL (no restart loop) and uWSGI serving', async () => {
      const name = `${RUN}bad-config`;
      const user = process.getuid?.() === 0 ? [] : ['--user', `${process.getuid?.()}:${process.getgid?.()}`];
      await docker([
        'run',
        '--detach',
        '--name',
        name,
        '--network',
        'host',
        ...user,
        '--volume',
        `${sb.checkout}:/app`,
        '--env',
        'HOTPULL_INTERVAL=fast',
        IMAGE,
      ]);
      try {
        // three quick exits with code 2 inside startsecs, then supervisord gives up (FATAL); on a machine so loaded
        // that node takes longer than startsecs to exit, exit code 2 is expected (exitcodes=0,2): EXITED, no restart
        const programs = await waitFor(
          'hotpull FATAL (or EXITED)',
          async () => {
            const text = (await docker(['exec', name, ...SUPERVISORCTL, 'status'], { reject: false })).stdout;
            return /^hotpull\s+(FATAL|EXITED)/m.test(text) ? text : undefined;
          },
          90_000,
        );
        expect(programs).toMatch(/^uwsgi\s+RUNNING/m);
        await waitForBody(`${app}/`, (body) => body.startsWith('version=6 '), 10_000);
        const health = await docker(['exec', name, '/usr/local/bin/node', '/opt/hotpull/healthcheck.mjs'], {
          reject: false,
        });
        const state = /^hotpull\s+([A-Z]+)/m.exec(programs)?.[1];
        expect([health.exitCode, health.stdout]).toEqual([
          1,
          expect.stringContaining(`FAIL supervisord: hotpull ${state}, uwsgi RUNNING`),
        ]);
        const text = (await docker(['logs', name], { reject: false })).stdout;
        expect(text).toContain('hotpull: HOTPULL_INTERVAL must be a duration');
      } finally {
        await docker(['rm', '--force', name], { reject: false });
      }
    }, 150_000);
  },
);

describe.skipIf(problem !== undefined && !CI)(
  `examples/python-slim: an app on a python:3.x-slim-style base${problem ? ` (skipped: ${problem})` : ''}`,
  () => {
    // The stand-in base (docker/offline-bases.sh python-slim): Debian's python3 and venv only, pip offline from a
    // wheelhouse of gunicorn and Supervisor. The example's Dockerfile pip-installs both into /venv and copies
    // hotpull from the project image; the checkout is examples/gunicorn's app on the volume.
    const IMAGE_HOTPULL = `${BASE_PREFIX}/hotpull:e2e-slim-${process.pid}`;
    const IMAGE_APP = `${BASE_PREFIX}/hotpull:e2e-slim-app-${process.pid}`;
    const NAME = `${RUN}slim`;
    let sb: Sandbox;
    let app: string;
    let hotpull: string;
    let built: { seconds: number; output: string } | undefined;
    let hotpullBuild: { seconds: number; output: string } | undefined;

    beforeAll(async () => {
      if (problem) throw new Error(`CI=true and no Docker: ${problem}`);
      await removeContainers(NAME);
      const bases = await ensureStackBases('python-slim');
      hotpullBuild = await buildImage(IMAGE_HOTPULL, bases);
      built = await buildImage(IMAGE_APP, bases, path.join(ROOT, 'examples/python-slim'), [
        '--build-arg',
        `HOTPULL_IMAGE=${IMAGE_HOTPULL}`,
        '--build-arg',
        `PYTHON_BASE=${bases.pythonBase}`,
      ]);
      const appPort = await freePort();
      const hotpullPort = await freePort();
      app = `http://127.0.0.1:${appPort}`;
      hotpull = `http://127.0.0.1:${hotpullPort}`;
      // examples/gunicorn's app as the checkout, its ports made free loopback ones (paths stay the container's)
      const files = await exampleFiles('gunicorn');
      const at = { app: '/app', run: '/run/app', appPort, hotpullPort };
      const checkout = Object.fromEntries(
        ['app.py', 'version.py', 'wsgi.py', 'gunicorn.conf.py', 'hotpull.config.yaml'].map((f) => [
          f,
          render(files[f]!, at),
        ]),
      );
      sb = await makeSandbox({ files: checkout });
      await docker([
        'run',
        '--detach',
        '--name',
        NAME,
        '--network',
        'host',
        ...(await volumeArgs(sb)),
        '--env',
        'HOTPULL_INTERVAL=1s',
        '--env',
        `HOTPULL_LISTEN=127.0.0.1:${hotpullPort}`,
        '--env',
        `APP_HEALTH_URL=${app}/healthz`,
        '--health-interval',
        '2s',
        IMAGE_APP,
      ]);
      await waitForBody(`${app}/`, (body) => body.startsWith('version=1 '), 60_000).catch(async (error: Error) => {
        const logs = await docker(['logs', NAME], { reject: false });
        throw new Error(`${error.message}\n${logs.stdout}\n${logs.stderr}`);
      });
    }, 15 * 60_000);

    afterAll(async () => {
      if (problem) return;
      await removeContainers(NAME);
      await removeImage(IMAGE_APP);
      await removeImage(IMAGE_HOTPULL);
      if (hotpullBuild) await removeStageLeftovers(hotpullBuild.output, 'COPY src');
      await sb?.cleanup();
    }, 120_000);

    it('has one Python, no uWSGI plugin and no Debian Supervisor or gunicorn: they are pip-installed in /venv', async () => {
      console.log(`docker build of examples/python-slim: ${built?.seconds.toFixed(1)} s`);
      const sh = (script: string) => docker(['exec', NAME, 'sh', '-c', script]).then((r) => r.stdout.trim());
      expect(await sh('for c in supervisord gunicorn hotpull node; do command -v "$c"; done')).toBe(
        '/venv/bin/supervisord\n/venv/bin/gunicorn\n/usr/local/bin/hotpull\n/usr/local/bin/node',
      );
      expect(
        await sh(
          "dpkg-query -W -f '${Package}\\n' | grep -E '^(uwsgi|supervisor|gunicorn|python3-gunicorn|python3-supervisor)' || echo none",
        ),
      ).toBe('none');
      expect(await sh('ls /usr/lib/uwsgi 2>/dev/null || echo none')).toBe('none');
      // the Dockerfile's apt-get added git and nothing Python
      expect(await sh("dpkg-query -W -f '${Package}\\n' | grep -c '^python3\\.[0-9]*$'")).toBe('1');
      expect(await sh('/venv/bin/pip list --format freeze | grep -iE "^(gunicorn|supervisor)=="')).toMatch(
        /^gunicorn==[\d.]+\nsupervisor==[\d.]+$/i,
      );
    });

    it('serves a push from the volume: hotpull HUPs the pip-installed gunicorn and verifies it', async () => {
      const sha = await commitAndPush(sb, { 'version.py': 'VERSION = "2"\n' }, 'version 2');
      await waitForBody(`${app}/`, (body) => body.startsWith(`version=2 sha=${sha}`), 30_000);
      await waitFor(
        'the deploy reported live',
        async () => {
          const result = await fetchText(`${hotpull}/status`);
          return (
            'body' in result &&
            (JSON.parse(result.body) as Status).deploys.some((d) => d.to === sha && d.result === 'live')
          );
        },
        30_000,
      );
    }, 90_000);

    it('is healthy by its HEALTHCHECK (gunicorn and hotpull under supervisord, the app, /healthz) and stops cleanly', async () => {
      // checks run every 15 s: wait for one made after the deploy of version 2
      const health = await waitFor(
        'a health check after the deploy',
        async () => {
          const h = await healthy(NAME);
          return h.Log.at(-1)?.Output.includes('ok version=2') ? h : undefined;
        },
        90_000,
      );
      expect(health.Log.at(-1)?.Output).toContain('ok supervisord: gunicorn RUNNING, hotpull RUNNING');
      expect(health.Log.at(-1)?.Output).toContain(`ok app ${app}/healthz: 200 ok version=2`);
      await docker(['stop', '--time', '30', NAME], { timeout: 60_000 });
      const text = (await docker(['logs', NAME], { reject: false })).stdout;
      expect(text).toMatch(/stopped: hotpull \(exit status 0\)/);
      expect(text).toMatch(/stopped: gunicorn \(exit status 0\)/);
      expect((await docker(['inspect', '--format', '{{.State.ExitCode}}', NAME])).stdout.trim()).toBe('0');
    }, 90_000);
  },
);

/**
 * `docker run` arguments for the sandbox's checkout at /app with its bare remote at /remote.git. The bare
 * repository stays the host user's (it receives the pushes), so the container's git must trust it: for a
 * local-path remote only global or system config counts (git drops -c and GIT_CONFIG_* for the upload-pack it
 * runs), hence a global config file. The volume must be writable by the container's user: the checkout is handed
 * to the image's user (as root), or the container runs as ourselves.
 */
async function volumeArgs(sb: Sandbox): Promise<string[]> {
  await git(sb.checkout, 'remote', 'set-url', 'origin', '/remote.git');
  const trust = path.join(sb.root, 'trust.gitconfig');
  await fs.writeFile(trust, '[safe]\n\tdirectory = /remote.git\n');
  const uid = process.getuid?.() ?? 0;
  const user: string[] = [];
  if (uid === 0) await execa('chown', ['-R', `${APP_UID}:${APP_UID}`, sb.checkout]);
  else user.push('--user', `${uid}:${process.getgid?.() ?? uid}`);
  return [
    ...user,
    '--volume',
    `${sb.checkout}:/app`,
    '--volume',
    `${sb.bare}:/remote.git:ro`,
    '--volume',
    `${trust}:/etc/hotpull-e2e.gitconfig:ro`,
    '--env',
    'GIT_CONFIG_GLOBAL=/etc/hotpull-e2e.gitconfig',
  ];
}

/** Docker's health state once the container is healthy and its last check passed (one failure keeps it healthy). */
async function healthy(name: string): Promise<{ Status: string; Log: Array<{ ExitCode: number; Output: string }> }> {
  return waitFor(
    `Docker to report ${name} healthy`,
    async () => {
      const state = JSON.parse((await docker(['inspect', '--format', '{{json .State.Health}}', name])).stdout) as {
        Status: string;
        Log: Array<{ ExitCode: number; Output: string }>;
      };
      return state.Status === 'healthy' && state.Log.at(-1)?.ExitCode === 0 ? state : undefined;
    },
    60_000,
  );
}

/** The project directory minus what .dockerignore leaves out, copied to a temp dir. */
async function snapshotContext(): Promise<string> {
  const ignored = (await fs.readFile(path.join(ROOT, '.dockerignore'), 'utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const skip = (name: string) =>
    ignored.some((pattern) => (pattern.startsWith('*') ? name.endsWith(pattern.slice(1)) : name === pattern));
  const dir = await tmpDir('hotpull-test-context-');
  for (const entry of await fs.readdir(ROOT)) {
    if (!skip(entry)) await fs.cp(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  return dir;
}
