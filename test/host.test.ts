/**
 * `hotpull host` against a real dockerd with a busybox image (test/helpers/docker.ts): containers run with
 * `--network host` (dockerd here has no bridge), passed after `--` like any extra docker run argument.
 * The pure parts (spec, hash, diff, docker error lines) are asserted word for word without Docker.
 */
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { CLI, runCli } from './helpers/hotpull.js';
import {
  CI,
  dockerProblem,
  ensureImages,
  IMAGE,
  IMAGE_2,
  imageId,
  inspect,
  PREFIX,
  removeContainers,
} from './helpers/docker.js';
import { classify, dockerFailureMessage, dockerGist, vmShareWarning } from '../src/host/classify.js';
import { configHash, desiredContainer, labelsOf, parsePort, runArguments, type UpInput } from '../src/host/spec.js';
import { decide, type ContainerInspect } from '../src/host/diff.js';
import { parseLogLines } from '../src/host/docker.js';
import { formatTable } from '../src/host/ls.js';
import { loadConfig, type Config } from '../src/config/load.js';
import { appContainer, selectApps } from '../src/host/apps.js';

const problem = await dockerProblem();
const RUN = `${PREFIX}host-${process.pid}-`;
/** Exits at once on `docker stop` (sh as PID 1 ignores an untrapped SIGTERM). */
const LOOP = ['sh', '-c', 'trap "exit 0" TERM; echo started; while :; do sleep 1; done'];
const FAST = ['--health-settle', '300ms', '--stop-timeout', '2s'];

function input(overrides: Partial<UpInput> = {}): UpInput {
  return {
    name: 'web',
    image: 'app:1',
    code: './code:/app',
    publish: [],
    env: [],
    passthrough: [],
    cwd: '/srv',
    processEnv: {},
    ...overrides,
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe('host: the desired container, its hash and labels (pure)', () => {
  it('resolves HOSTDIR, merges the env file under -e, sorts env, splits docker args from the command', () => {
    const spec = desiredContainer(
      input({
        env: ['B=from-flag', 'C= spaced ', 'HOME'],
        envFile: { path: 'app.env', text: '# comment\n\nA=1\nB=from-file\n' },
        passthrough: ['--network', 'host', '--', 'sh', '-c', 'run'],
        processEnv: { HOME: '/root' },
      }),
    );
    expect(spec.code).toEqual({ hostDir: '/srv/code', containerDir: '/app' });
    expect(spec.env).toEqual([
      ['A', '1'],
      ['B', 'from-flag'],
      ['C', ' spaced '],
      ['HOME', '/root'],
    ]);
    expect(spec.runArgs).toEqual(['--network', 'host']);
    expect(spec.command).toEqual(['sh', '-c', 'run']);
    expect(runArguments(spec, '/tmp/env')).toEqual([
      'run',
      '--detach',
      '--name',
      'web',
      '--label',
      'hotpull.code=/srv/code',
      '--label',
      `hotpull.config-hash=${configHash(spec)}`,
      '--volume',
      '/srv/code:/app',
      '--env-file',
      '/tmp/env',
      '--network',
      'host',
      'app:1',
      'sh',
      '-c',
      'run',
    ]);
  });

  it('hashes what decides a replacement, not the image tag nor the clone URL', () => {
    const base = configHash(desiredContainer(input({ env: ['A=1'] })));
    expect(
      configHash(desiredContainer(input({ env: ['A=1'], image: 'app:2', repo: 'https://example.invalid/x.git' }))),
    ).toBe(base);
    for (const changed of [
      { env: ['A=2'] },
      { env: [] },
      { publish: ['8000:8000'] },
      { code: './other:/app' },
      { passthrough: ['--init'] },
    ]) {
      expect(configHash(desiredContainer(input({ env: ['A=1'], ...changed })))).not.toBe(base);
    }
  });

  it('labels: code, repo without credentials, branch, hash', () => {
    const labels = labelsOf(
      desiredContainer(input({ repo: 'https://bot:s3cret@example.invalid/app.git', branch: 'main' })),
    );
    expect(labels).toMatchObject({
      'hotpull.code': '/srv/code',
      'hotpull.repo': 'https://bot:***@example.invalid/app.git',
      'hotpull.branch': 'main',
    });
  });

  it.each([
    ['8000:8000', { hostIp: '', hostPort: 8000, containerPort: 8000, protocol: 'tcp' }],
    ['127.0.0.1:8080:80/udp', { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'udp' }],
    ['[::1]:8080:80', { hostIp: '::1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
  ])('port %s', (text, expected) => {
    expect(parsePort(text)).toEqual(expected);
  });

  it.each([
    [{ name: undefined }, 'host up needs --name NAME (the container name) (got none)'],
    [
      { name: 'my app' },
      '--name must be a container name: two or more letters, digits and _.-, starting with a letter or digit (got "my app")',
    ],
    [{ image: undefined }, 'host up needs --image IMAGE (got none)'],
    [
      { code: './code' },
      '--code must be HOSTDIR:CONTAINERDIR with an absolute CONTAINERDIR, e.g. ./app:/app (got "./code")',
    ],
    [
      { publish: ['80'] },
      '-p/--publish must be [IP:]HOSTPORT:PORT[/udp] with ports 1-65535, e.g. 8000:8000 or 127.0.0.1:8000:80 (got "80")',
    ],
    [{ env: ['=x'] }, '-e/--env must be NAME=VALUE (got "=…")'],
    [{ env: ['TOKEN'] }, '-e/--env names TOKEN without a value, and TOKEN is not set in the environment (got "TOKEN")'],
    [
      { envFile: { path: 'app.env', text: 'A=1\nexport B=2\n' } },
      '--env-file app.env line 2 must be NAME=VALUE (got "export B=…")',
    ],
  ])('bad input %j', (overrides, message) => {
    expect(() => desiredContainer(input(overrides as Partial<UpInput>))).toThrow(message);
  });
});

describe('host: options', () => {
  it('-p and -e from the environment (one value or a JSON list), --repo URL kept as a URL', async () => {
    const dir = await tmpDir();
    try {
      const config = await loadConfig({
        flags: { repo: 'https://example.invalid/app.git' },
        env: { HOTPULL_ENV: '["A=1", "B= two "]', HOTPULL_PUBLISH: '8000:80', HOTPULL_STOP_TIMEOUT: '0s' },
        cwd: dir,
        isTTY: false,
      });
      expect([config.repo, config.env, config.publish, config.stopTimeout, config.dockerBin]).toEqual([
        'https://example.invalid/app.git',
        ['A=1', 'B= two '],
        ['8000:80'],
        0,
        'docker',
      ]);
      const scp = await loadConfig({
        flags: { repo: 'git@example.invalid:acme/app.git' },
        env: {},
        cwd: dir,
        isTTY: false,
      });
      expect(scp.repo).toBe('git@example.invalid:acme/app.git');
      const local = await loadConfig({ flags: { repo: 'remote.git' }, env: {}, cwd: dir, isTTY: false });
      expect(local.repo).toBe(path.join(dir, 'remote.git'));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

/** The apps of a many-apps file as loadConfig resolves them, the file written in a temp dir. */
async function appsOf(yaml: string): Promise<{ dir: string; file: string; apps: NonNullable<Config['apps']> }> {
  const dir = await tmpDir();
  const file = path.join(dir, 'apps.yaml');
  await fs.writeFile(file, yaml);
  const config = await loadConfig({ flags: { config: file }, env: {}, cwd: dir, isTTY: false });
  return { dir, file, apps: config.apps! };
}

describe('host up over the apps of a config file (pure)', () => {
  const YAML = [
    'image: app:1',
    'code: /app',
    'branch: main',
    'apps:',
    '  - name: shop',
    '    repo: shop',
    '    remote: https://example.invalid/shop.git',
    '    publish: ["127.0.0.1:8001:8000"]',
    '    env: [MODE=shop]',
    '  - name: blog',
    '    repo: /srv/apps/blog',
    '    image: blog:2',
    '    code: /srv/apps/blog:/srv/app/',
    '    branch: production',
    '  - name: docs',
    '    repo: /srv/apps/docs',
    '    remote: https://example.invalid/docs.git',
    '    layout: atomic',
  ].join('\n');

  it('one container an app: its name, image, checkout as the code volume, ports, env, clone URL and branch', async () => {
    const { dir, apps } = await appsOf(YAML);
    try {
      const [shop, blog, docs] = apps.map((app) =>
        appContainer(app, { passthrough: ['--restart', 'unless-stopped'], processEnv: {} }),
      );
      expect(shop).toEqual({
        name: 'shop',
        image: 'app:1',
        code: { hostDir: path.join(dir, 'shop'), containerDir: '/app' },
        ports: [{ hostIp: '127.0.0.1', hostPort: 8001, containerPort: 8000, protocol: 'tcp' }],
        env: [['MODE', 'shop']],
        runArgs: ['--restart', 'unless-stopped'],
        command: [],
        repo: 'https://example.invalid/shop.git',
        branch: 'main',
      });
      // the remote is the checkout's own origin: nothing to clone from
      expect(blog).toMatchObject({
        name: 'blog',
        image: 'blog:2',
        code: { hostDir: '/srv/apps/blog', containerDir: '/srv/app' },
        repo: undefined,
        branch: 'production',
      });
      // the atomic layout's root is made by the daemon on an empty directory: host up leaves it empty
      expect([docs!.code.hostDir, docs!.repo]).toEqual(['/srv/apps/docs', undefined]);
      expect(selectApps(apps, 'blog', 'apps.yaml')).toEqual([apps[1]]);
      expect(() => selectApps(apps, 'shp', 'apps.yaml')).toThrow(
        '--app must name an app of apps.yaml (did you mean "shop"?); its apps: shop, blog, docs (got "shp")',
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('an app without image or code, mounting another directory, or with a bad port: one line naming it', async () => {
    const cases = [
      ['code: /app', 'apps:', '  - {name: a1, repo: /srv/a1}'],
      ['image: app:1', 'apps:', '  - {name: a1, repo: /srv/a1}'],
      ['image: app:1', 'apps:', '  - {name: a1, repo: /srv/a1, code: "/srv/other:/app"}'],
      ['image: app:1', 'code: /app', 'apps:', '  - {name: a1, repo: /srv/a1, publish: ["80"]}'],
    ];
    const said: string[] = [];
    for (const lines of cases) {
      const { dir, file, apps } = await appsOf(lines.join('\n'));
      try {
        appContainer(apps[0]!, { passthrough: [], processEnv: {} });
        said.push('accepted');
      } catch (error) {
        said.push((error as Error).message.replaceAll(file, 'FILE'));
      }
      await fs.rm(dir, { recursive: true, force: true });
    }
    expect(said).toEqual([
      'app "a1": host up needs image in FILE, the image its container runs (above apps: for every app) (got none)',
      'app "a1": host up needs code: CONTAINERDIR in FILE, where its container mounts its checkout, e.g. /app (got none)',
      'app "a1": code in FILE mounts /srv/other, not the app\'s checkout (repo /srv/a1); give the container directory alone, e.g. /app (got "/srv/other:/app")',
      'app "a1" in FILE: -p/--publish must be [IP:]HOSTPORT:PORT[/udp] with ports 1-65535, e.g. 8000:8000 or 127.0.0.1:8000:80 (got "80")',
    ]);
  });

  it('the command line: per-app flags refused, --app needs apps:, exit 2 before Docker is asked', async () => {
    const { dir, file } = await appsOf(YAML);
    try {
      const noDocker = { HOTPULL_DOCKER_BIN: 'hotpull-no-such-docker' };
      const flag = await runCli(['host', 'up', '--config', file, '--image', 'x:1'], { env: noDocker });
      expect([flag.exitCode, flag.stderr]).toEqual([
        2,
        `hotpull: --image is an app's own setting: host up over the apps of ${file} takes image from each app's entry (or above apps: for every app), not from the command line`,
      ]);
      const unknown = await runCli(['host', 'up', '--config', file, '--app', 'nope'], { env: noDocker });
      expect([unknown.exitCode, unknown.stderr]).toEqual([
        2,
        `hotpull: --app must name an app of ${file}; its apps: shop, blog, docs (got "nope")`,
      ]);
      const single = path.join(dir, 'single.yaml');
      await fs.writeFile(single, 'interval: 2s\n');
      const none = await runCli(['host', 'up', '--config', single, '--app', 'shop'], { env: noDocker });
      expect([none.exitCode, none.stderr]).toEqual([
        2,
        `hotpull: --app names an app of a config file with apps: (${single} has none; got "shop")`,
      ]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('host: running container vs desired spec (pure)', () => {
  const spec = desiredContainer(input({ env: ['A=1'], publish: ['8000:80'], passthrough: ['--', 'serve'] }));
  const running = (): ContainerInspect => ({
    Id: 'c1',
    Name: '/web',
    Image: 'sha256:aaaaaaaaaaaaaaaa',
    State: { Status: 'running', Running: true },
    // the image's own variables come along in inspect output
    Config: { Env: ['PATH=/bin', 'A=1'], Cmd: ['serve'], Labels: labelsOf(spec) },
    HostConfig: { Binds: ['/srv/code:/app'], PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8000' }] } },
  });

  it('no container: create; same everything: keep', () => {
    expect(decide(spec, 'sha256:aaaaaaaaaaaaaaaa', undefined)).toEqual({ action: 'create' });
    expect(decide(spec, 'sha256:aaaaaaaaaaaaaaaa', running())).toEqual({ action: 'keep' });
  });

  it('names every difference, env by name only', () => {
    const c = running();
    c.State = { Status: 'exited', Running: false, ExitCode: 137 };
    c.Config.Env = ['PATH=/bin', 'A=secret-old'];
    c.Config.Cmd = ['other'];
    c.HostConfig = { Binds: ['/old:/app'], PortBindings: {} };
    expect(decide(spec, 'sha256:bbbbbbbbbbbbbbbb', c)).toEqual({
      action: 'replace',
      reasons: [
        'it is exited (137)',
        'image changed (aaaaaaaaaaaa → bbbbbbbbbbbb)',
        'code mount changed (now /srv/code:/app)',
        'ports changed (0.0.0.0:8000->80/tcp)',
        'env changed (A)',
        'command changed',
      ],
    });
  });

  it('a removed variable or docker argument shows through the hash; a foreign container is replaced', () => {
    const c = running();
    c.Config.Labels = { ...labelsOf(spec), 'hotpull.config-hash': 'old' };
    expect(decide(spec, 'sha256:aaaaaaaaaaaaaaaa', c)).toEqual({
      action: 'replace',
      reasons: [`options changed (hotpull.config-hash old → ${configHash(spec)})`],
    });
    c.Config.Labels = null;
    expect(decide(spec, 'sha256:aaaaaaaaaaaaaaaa', c)).toEqual({
      action: 'replace',
      reasons: ['it was not started by hotpull (no hotpull.config-hash label)'],
    });
  });
});

describe("host: docker's errors as one line (pure)", () => {
  it.each([
    [
      'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
      { action: 'ps' },
      'cannot reach the Docker daemon: is dockerd (or the Podman service) running, and is DOCKER_HOST right?',
    ],
    [
      'error during connect: Get "http://192.168.99.100:2376/v1.24/containers/json": dial tcp 192.168.99.100:2376: connect: connection refused',
      { action: 'ps', dockerHost: 'tcp://192.168.99.100:2376' },
      'cannot reach the Docker daemon at DOCKER_HOST=tcp://192.168.99.100:2376: is dockerd (or the Podman service) running, and is DOCKER_HOST right?',
    ],
    [
      'permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.24/info": dial unix /var/run/docker.sock: connect: permission denied',
      { action: 'ps' },
      'permission denied on the Docker socket: run as root or as a member of the docker group',
    ],
    [
      'Error response from daemon: No such image: app:1',
      { action: 'run', image: 'app:1' },
      'image app:1 is not on this Docker host: build or pull it first, or add --pull',
    ],
    [
      "Error response from daemon: pull access denied for app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
      { action: 'pull', image: 'app:1' },
      "image app:1 could not be pulled: pull access denied for app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
    ],
    [
      'docker: Error response from daemon: driver failed programming external connectivity on endpoint web (3f2a): Bind for 0.0.0.0:8000 failed: port is already allocated.',
      { action: 'run' },
      'host port 8000 is already in use: stop what listens there or publish another host port with -p',
    ],
    [
      'Error starting userland proxy: listen tcp4 0.0.0.0:8080: bind: address already in use.',
      { action: 'run' },
      'host port 8080 is already in use: stop what listens there or publish another host port with -p',
    ],
    [
      'docker: Error response from daemon: Mounts denied: \nThe path /opt/app is not shared from the host and is not known to Docker.\nYou can configure shared paths from Docker -> Preferences... -> Resources -> File Sharing.',
      { action: 'run', hostDir: '/opt/app' },
      '/opt/app is not shared with the Docker VM: Docker Desktop and docker-machine can mount only folders shared with their VM; move it under a shared folder such as /Users on macOS, or add it under Settings → Resources → File sharing',
    ],
    [
      'WARNING: Published ports are discarded when using host network mode\ndocker: Error response from daemon: Conflict. The container name "/web" is already in use.\nSee \'docker run --help\'.',
      { action: 'run' },
      'docker run failed: Conflict. The container name "/web" is already in use.',
    ],
  ])('%s', (stderr, context, message) => {
    expect(dockerFailureMessage(stderr, context)).toBe(message);
  });

  it('classifies podman too', () => {
    expect(
      classify(
        'Error: unable to connect to Podman socket: Get "http://d/v5.0.0/libpod/_ping": dial unix /run/podman/podman.sock: connect: no such file or directory',
      ),
    ).toBe('daemon-unreachable');
    expect(classify('Error: app:1: image not known')).toBe('image-missing');
    expect(dockerGist('Error: something broke\n')).toBe('Error: something broke');
  });

  it('warns when docker-machine cannot see the code directory', () => {
    expect(vmShareWarning('/opt/app', { DOCKER_MACHINE_NAME: 'default' }, 'darwin')).toBe(
      '/opt/app is outside the folders docker-machine default shares with its VM (/Users/): the container would see an empty directory; move the code under /Users/',
    );
    expect(vmShareWarning('/Users/me/app', { DOCKER_MACHINE_NAME: 'default' }, 'darwin')).toBeUndefined();
    expect(vmShareWarning('/opt/app', {}, 'darwin')).toBeUndefined();
  });

  it('orders log lines of both streams by their timestamps', () => {
    const lines = [
      ...parseLogLines('2026-01-01T00:00:00.5Z second\n2026-01-01T00:00:01Z third\n'),
      ...parseLogLines('2026-01-01T00:00:00.123456789Z first\n'),
    ];
    expect(lines.sort((a, b) => (a.at < b.at ? -1 : 1)).map((l) => l.text)).toEqual(['first', 'second', 'third']);
  });

  it('ls without containers says so', () => {
    expect(formatTable([])).toBe('no containers managed by hotpull (none has the hotpull.config-hash label)\n');
  });
});

describe('host: bad docker setups, one line each', () => {
  it('daemon unreachable: exit 3', async () => {
    const result = await runCli(['host', 'ls'], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
    expect([result.exitCode, result.stderr]).toEqual([
      3,
      'hotpull: cannot reach the Docker daemon at DOCKER_HOST=unix:///nonexistent/docker.sock: is dockerd (or the Podman service) running, and is DOCKER_HOST right?',
    ]);
  });

  it('no docker CLI: exit 2', async () => {
    const result = await runCli(['host', 'ls', '--docker-bin', 'hotpull-no-such-docker']);
    expect([result.exitCode, result.stderr]).toEqual([
      2,
      'hotpull: --docker-bin must name a docker-compatible CLI: "hotpull-no-such-docker" could not be started (ENOENT); install Docker or Podman, or set --docker-bin / HOTPULL_DOCKER_BIN',
    ]);
  });

  it('sub-commands and arguments', async () => {
    expect((await runCli(['host'])).stderr).toBe('hotpull: host needs a sub-command: one of up, deploy, ls (got none)');
    expect((await runCli(['host', 'ls', '--', '-a'])).stderr).toBe(
      'hotpull: host ls takes no arguments after -- (got "-a")',
    );
  });
});

describe.skipIf(problem !== undefined && !CI)(
  `host, against a real dockerd${problem ? ` (skipped: ${problem})` : ''}`,
  () => {
    let sb: Sandbox;
    let code: string;
    let port: number;
    const web = `${RUN}web`;

    beforeAll(async () => {
      if (problem) throw new Error(`CI=true and no Docker: ${problem}`);
      await expect(fs.stat(CLI), 'npm test builds dist/ first').resolves.toBeTruthy();
      await ensureImages();
      await removeContainers(RUN);
      sb = await makeSandbox({ files: { 'index.html': 'version 1\n', 'uwsgi.ini': '[uwsgi]\n' } });
      code = path.join(sb.root, 'hostdir', 'code');
      port = await freePort();
    }, 120_000);

    afterAll(async () => {
      if (!problem) await removeContainers(RUN);
      await sb?.cleanup();
    });

    /** busybox httpd serving the code volume on a loopback port, like uWSGI serving the app. */
    const httpd = () => ['sh', '-c', `trap "exit 0" TERM; echo serving; httpd -f -p 127.0.0.1:${port} -h /app & wait`];
    const up = (args: string[], command = httpd()) =>
      runCli([
        'host',
        'up',
        '--name',
        web,
        '--image',
        IMAGE,
        '--code',
        `${code}:/app`,
        '--repo',
        sb.bare,
        '--branch',
        'main',
        '-p',
        `${port}:${port}`,
        ...FAST,
        ...args,
        '--',
        '--network',
        'host',
        '--',
        ...command,
      ]);

    it('first up clones the code, creates the container with labels and waits for --health-url', async () => {
      const result = await up([
        '-e',
        'GREETING=hello',
        '--health-url',
        `http://127.0.0.1:${port}/index.html`,
        '--health-expect',
        'version 1',
      ]);
      expect(result.stderr).toBe('');
      expect(result.exitCode).toBe(0);
      const sha = await headOf(code);
      const id = await imageId(IMAGE);
      expect(result.stdout.split('\n')).toEqual([
        `cloned ${sb.bare} (main) into ${code} at ${sha.slice(0, 7)}`,
        `created ${web}: ${IMAGE} (${id.slice(7, 19)}), ${code} → /app, healthy (http://127.0.0.1:${port}/index.html)`,
      ]);
      const c = (await inspect(web))!;
      expect(c.State.Running).toBe(true);
      expect(c.Config.Env).toContain('GREETING=hello');
      expect(c.HostConfig.Binds).toEqual([`${code}:/app`]);
      expect(c.Config.Labels).toMatchObject({
        'hotpull.code': code,
        'hotpull.repo': sb.bare,
        'hotpull.branch': 'main',
      });
      expect(c.Config.Labels?.['hotpull.config-hash']).toMatch(/^[0-9a-f]{24}$/);
      expect(await (await fetch(`http://127.0.0.1:${port}/index.html`)).text()).toBe('version 1\n');
    });

    it('second up with the same options is a no-op', async () => {
      const before = (await inspect(web))!.Id;
      const result = await up(['-e', 'GREETING=hello']);
      expect([result.exitCode, result.stderr]).toEqual([0, '']);
      expect(result.stdout).toBe(
        `ok: ${web} already runs ${IMAGE} (${(await imageId(IMAGE)).slice(7, 19)}) with the same mounts, ports, env and args; nothing to do`,
      );
      expect((await inspect(web))!.Id).toBe(before);
    });

    it('changed env replaces the container', async () => {
      const before = (await inspect(web))!.Id;
      const result = await up(['-e', 'GREETING=bonjour']);
      expect([result.exitCode, result.stderr]).toEqual([0, '']);
      expect(result.stdout).toContain(`replacing ${web}: env changed (GREETING)\nreplaced ${web}: `);
      const c = (await inspect(web))!;
      expect(c.Id).not.toBe(before);
      expect(c.Config.Env).toContain('GREETING=bonjour');
    });

    it('a removed variable replaces it too (through the config hash)', async () => {
      const result = await up([]);
      expect([result.exitCode, result.stderr]).toEqual([0, '']);
      expect(result.stdout).toMatch(
        new RegExp(`^replacing ${web}: options changed \\(hotpull.config-hash [0-9a-f]{24} → [0-9a-f]{24}\\)$`, 'm'),
      );
      expect((await inspect(web))!.Config.Env ?? []).not.toContain('GREETING=bonjour');
    });

    it('changed image replaces the container', async () => {
      const [one, two] = [await imageId(IMAGE), await imageId(IMAGE_2)];
      expect(one).not.toBe(two);
      const result = await runCli([
        'host',
        'up',
        '--name',
        web,
        '--image',
        IMAGE_2,
        '--code',
        `${code}:/app`,
        ...FAST,
        '--',
        '--network',
        'host',
        '--',
        ...httpd(),
      ]);
      expect([result.exitCode, result.stderr]).toEqual([0, '']);
      expect(result.stdout).toContain(`replacing ${web}: image changed (${one.slice(7, 19)} → ${two.slice(7, 19)})\n`);
      expect((await inspect(web))!.Image).toBe(two);
    });

    it('ls lists the managed containers with image, status and deployed sha', async () => {
      const sha = await headOf(code);
      const result = await runCli(['host', 'ls']);
      expect([result.exitCode, result.stderr]).toEqual([0, '']);
      const row = result.stdout.split('\n').find((l) => l.startsWith(`${web} `));
      expect(row?.split(/\s+/)).toEqual([web, IMAGE_2, 'running', sha.slice(0, 7), 'main', code]);
      const json = await runCli(['host', 'ls', '--json']);
      expect((JSON.parse(json.stdout) as Array<Record<string, unknown>>).find((r) => r.name === web)).toMatchObject({
        image: IMAGE_2,
        status: 'running',
        sha,
        code,
        branch: 'main',
      });
    });

    it('host deploy fast-forwards the checkout with the engine and touches the reload file', async () => {
      const old = await headOf(code);
      const touchFile = path.join(code, 'uwsgi.ini');
      await fs.utimes(touchFile, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
      const mtimeBefore = (await fs.stat(touchFile)).mtimeMs;
      const pushed = await commitAndPush(sb, { 'index.html': 'version 2\n' });
      const result = await runCli(['host', 'deploy', '--code', code, '--touch', 'uwsgi.ini', '--log-level', 'warn']);
      expect([result.exitCode, result.stderr]).toEqual([0, '']);
      expect(result.stdout).toContain(
        `deployed ${old.slice(0, 7)} → ${pushed.slice(0, 7)} into ${code} (touch:uwsgi.ini): reloaded`,
      );
      expect(await headOf(code)).toBe(pushed);
      expect((await fs.stat(touchFile)).mtimeMs).toBeGreaterThan(mtimeBefore);
      // the container sees the new code through the volume
      expect(await (await fetch(`http://127.0.0.1:${port}/index.html`)).text()).toBe('version 2\n');
      const again = await runCli(['host', 'deploy', '--code', code, '--log-level', 'warn']);
      expect([again.exitCode, again.stdout]).toEqual([
        0,
        `up to date: ${code} is at ${pushed.slice(0, 7)} (origin main)`,
      ]);
    });

    it('a failed start reports the exit code and the last log lines', async () => {
      const name = `${RUN}broken`;
      const dir = await tmpDir();
      try {
        const result = await runCli([
          'host',
          'up',
          '--name',
          name,
          '--image',
          IMAGE,
          '--code',
          `${dir}:/app`,
          ...FAST,
          '--',
          '--network',
          'host',
          '--',
          'sh',
          '-c',
          'echo loading settings; sleep 0.2; echo "ImproperlyConfigured: DATABASE_URL is not set" >&2; exit 3',
        ]);
        expect(result.exitCode).toBe(1);
        expect(result.stderr).toBe(
          `hotpull: container ${name} exited with code 3 while starting (left for \`docker logs ${name}\`); its last log lines:\n  loading settings\n  ImproperlyConfigured: DATABASE_URL is not set`,
        );
        // the next up replaces what failed
        const fixed = await runCli([
          'host',
          'up',
          '--name',
          name,
          '--image',
          IMAGE,
          '--code',
          `${dir}:/app`,
          ...FAST,
          '--',
          '--network',
          'host',
          '--',
          ...LOOP,
        ]);
        expect([fixed.exitCode, fixed.stderr]).toEqual([0, '']);
        expect(fixed.stdout).toContain(`replacing ${name}: it is exited (3); command changed\n`);
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    });

    it('waits for the health check, and reports an unhealthy one with its output', async () => {
      const name = `${RUN}checked`;
      const dir = await tmpDir();
      const upChecked = (check: string) =>
        runCli([
          'host',
          'up',
          '--name',
          name,
          '--image',
          IMAGE,
          '--code',
          `${dir}:/app`,
          ...FAST,
          '--health-timeout',
          '20s',
          '--',
          '--network',
          'host',
          '--health-cmd',
          check,
          '--health-interval',
          '500ms',
          '--health-retries',
          '1',
          '--',
          ...LOOP,
        ]);
      try {
        const healthy = await upChecked('test -d /app');
        expect([healthy.exitCode, healthy.stderr]).toEqual([0, '']);
        expect(healthy.stdout).toMatch(new RegExp(`^created ${name}: .*, healthy$`, 'm'));
        const unhealthy = await upChecked('echo database unreachable; exit 1');
        expect(unhealthy.exitCode).toBe(1);
        expect(unhealthy.stderr).toBe(
          `hotpull: container ${name} is unhealthy (last check: database unreachable) while starting (left for \`docker logs ${name}\`); its last log lines:\n  started`,
        );
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    });

    it('an image that is not there: one line, nothing touched', async () => {
      const result = await runCli([
        'host',
        'up',
        '--name',
        `${RUN}missing`,
        '--image',
        'hotpull-test/missing:1',
        '--code',
        `${code}:/app`,
      ]);
      expect([result.exitCode, result.stderr]).toEqual([
        1,
        'hotpull: image hotpull-test/missing:1 is not on this Docker host: build or pull it first, or add --pull',
      ]);
      expect(await inspect(`${RUN}missing`)).toBeUndefined();
    });

    it('up over the apps of a config file: one container an app, cloned on first run, one failing app said and the next one still up; again: every one kept', async () => {
      const [shop, gone, blog] = [`${RUN}shop`, `${RUN}gone`, `${RUN}blog`];
      const file = path.join(sb.root, 'apps.yaml');
      const entry = (name: string) => [
        `  - name: ${name}`,
        `    repo: ${path.join(sb.root, 'apps', name)}`,
        `    remote: ${sb.bare}`,
        `    env: [APP=${name}]`,
        ...(name === gone ? ['    image: hotpull-test/missing:1'] : []),
      ];
      const write = (names: string[]) =>
        fs.writeFile(
          file,
          [
            `image: ${IMAGE}`,
            'code: /app',
            'branch: main',
            'healthSettle: 300ms',
            'apps:',
            ...names.flatMap(entry),
          ].join('\n'),
        );
      await write([shop, gone, blog]);
      const up = (...args: string[]) =>
        runCli([
          'host',
          'up',
          '--config',
          file,
          '--stop-timeout',
          '2s',
          '--json',
          ...args,
          '--',
          '--network',
          'host',
          '--',
          ...LOOP,
        ]);
      const first = await up();
      expect(first.exitCode, first.stderr).toBe(1);
      const missing = 'image hotpull-test/missing:1 is not on this Docker host: build or pull it first, or add --pull';
      expect(first.stderr.split('\n')).toContain(`failed ${gone}: ${missing}`);
      expect(first.stderr.trim().split('\n').at(-1)).toBe(`hotpull: 1 of 3 apps did not come up: ${gone}`);
      const sha = await headOf(sb.bare, 'main');
      const results = (JSON.parse(first.stdout) as { apps: Array<Record<string, unknown>> }).apps;
      expect(results.map((r) => [r.app, r.name, r.action, r.sha, r.state ?? r.error])).toEqual([
        [shop, shop, 'created', sha, 'running'],
        [gone, undefined, 'failed', undefined, missing],
        [blog, blog, 'created', sha, 'running'],
      ]);
      expect(await inspect(gone)).toBeUndefined();
      for (const name of [shop, blog]) {
        const c = (await inspect(name))!;
        expect([c.State.Running, c.HostConfig.Binds, c.Config.Labels?.['hotpull.repo']]).toEqual([
          true,
          [`${path.join(sb.root, 'apps', name)}:/app`],
          sb.bare,
        ]);
        expect(c.Config.Env).toContain(`APP=${name}`);
      }
      await write([shop, blog]);
      const again = await up();
      expect(again.exitCode, again.stderr).toBe(0);
      expect((JSON.parse(again.stdout) as { apps: Array<{ action: string }> }).apps.map((r) => r.action)).toEqual([
        'kept',
        'kept',
      ]);
      const one = await up('--app', blog);
      expect([one.exitCode, (JSON.parse(one.stdout) as { name: string; action: string }).action]).toEqual([0, 'kept']);
      expect(one.stderr).toContain(`ok: ${blog} already runs ${IMAGE}`);
    });
  },
);
