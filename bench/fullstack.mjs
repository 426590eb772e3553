#!/usr/bin/env node
// Full-stack push-to-served, in Docker: the time from `git push` on the host until the container serves the
// new code, for the image the project Dockerfile builds (Supervisor, uWSGI, the code on a volume at /app) and
// a bare remote on disk mounted into the container. Every scenario runs in the same image on the same machine:
//   hotpull poll       [program:hotpull] polling every --interval, touch reload (the image's default config)
//   hotpull webhook    a signed GitHub-style push webhook sent right after the push, touch reload
//   hotpull webhook+fifo  the same, reloading through uWSGI's master FIFO (`r`) instead of the touch file
//   shell loop         [program:hotpull] replaced by `git pull` + touch-on-change every second (the seed's
//                      Ansible steps as a loop)
//   rebuild + replace  no volume: `docker build` of an image with the code in it, `docker rm -f` the old
//                      container, `docker run` the new one (the seed's old pipeline without CI, registry and
//                      Ansible, all local)
// and, for scale, the seed's reported figures (Ionic: ~10 s with Ansible pull + touch, 20+ min rebuilding).
//
// Run: node bench/fullstack.mjs [--rounds N] [--interval 1s] [--no-rebuild]   (it builds the image itself from
// the working tree; `npm run bench:fullstack`). Needs root (debootstrap, the first time), a dockerd (`dockerd --bridge=none --iptables=false`; every
// container runs with --network host) and the Debian mirror + npm registry the first time.
// Base images are made by docker/offline-bases.sh under the tests' tags (hotpull-test/...) and kept; the images
// and containers made here are removed at the end. A table goes to stdout, then the figures as one JSON line;
// progress to stderr.
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchEnv, git, removeAtExit, round, run, sleep, summarize, table } from './lib.mjs';

const { values: argv } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    interval: { type: 'string', default: '1s' },
    'no-rebuild': { type: 'boolean', default: false },
  },
  strict: true,
});
const ROUNDS = Number(argv.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds must be an integer ≥ 1 (got ${argv.rounds})`);
const REBUILD_ROUNDS = Math.min(ROUNDS, 3);
const INTERVAL = argv.interval;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOCKER = process.env.HOTPULL_DOCKER_BIN || 'docker';
const PREFIX = `hotpull-bench-${process.pid}`;
const IMAGE = `hotpull-test/hotpull:bench-${process.pid}`;
const APP_UID = 10001; // the image's user
const progress = (text) => process.stderr.write(`bench: ${text}\n`);
const docker = (...args) => run(DOCKER, args).then((r) => r.stdout.trim());
const dockerQuiet = (...args) => run(DOCKER, args).catch(() => undefined);

// ---------------------------------------------------------------------------------------------------------
// Probes

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** One GET on a fresh connection; never throws. */
function get(url, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on('error', () => resolve({ status: 0, body: '' }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

/**
 * GETs `url` one after another (20 ms apart) until stopped, recording each answer, so a deploy's effect on
 * traffic is seen the same way in every scenario: when the new version is first served, and every request
 * that failed on the way (refused, reset, timed out, or not 200). A request held in the listen backlog during
 * a graceful reload is not a failure: it waits up to 5 s.
 */
function startProber(url) {
  const records = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const sent = performance.now();
      const { status, body } = await get(url, 5000);
      records.push({ sent, at: performance.now(), ok: status === 200, body });
      await sleep(20);
    }
  })();
  return {
    /** resolves with the first answer sent after `since` whose body starts with `prefix` */
    async served(since, prefix, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const hit = records.find((r) => r.sent >= since && r.ok && r.body.startsWith(prefix));
        if (hit) return hit;
        if (performance.now() > deadline) {
          const last = records.at(-1);
          throw new Error(
            `${url} did not serve ${JSON.stringify(prefix)} within ${timeoutMs} ms (last: ${JSON.stringify(last?.body?.slice(0, 80))})`,
          );
        }
        await sleep(20);
      }
    },
    /** requests sent in [from, to): how many, and how many failed */
    count(from, to) {
      const window = records.filter((r) => r.sent >= from && r.sent < to);
      return { requests: window.length, failed: window.filter((r) => !r.ok).length };
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The app, its remote and the deployed checkout

function appSource(version) {
  return [
    'import os',
    `VERSION = ${JSON.stringify(version)}`,
    'def application(environ, start_response):',
    '    body = ("version=%s pid=%d" % (VERSION, os.getpid())).encode()',
    '    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])',
    '    return [body]',
    '',
  ].join('\n');
}

function uwsgiIni(port) {
  // master-fifo is unused unless a scenario reloads through it; /tmp is the container's own
  return [
    '[uwsgi]',
    `http-socket = 127.0.0.1:${port}`,
    'master = true',
    'processes = 2',
    'chdir = /app',
    'wsgi-file = /app/app.py',
    'master-fifo = /tmp/uwsgi.fifo',
    '',
  ].join('\n');
}

/** supervisord.conf of the shell-loop scenario: the image's uWSGI program, the puller a bare shell loop. */
function loopSupervisordConf(image) {
  const loop =
    'cd /app && while :; do old=$(git rev-parse HEAD); git pull -q --ff-only && [ "$(git rev-parse HEAD)" != "$old" ] && touch uwsgi.ini; sleep 1; done';
  return image
    .replace(/\[program:hotpull\][\s\S]*$/, '')
    .concat(
      `[program:puller]\ncommand=sh -c '${loop}'\nautorestart=true\nstopasgroup=true\nkillasgroup=true\nstdout_logfile=/dev/stdout\nstdout_logfile_maxbytes=0\nredirect_stderr=true\n`,
    );
}

// ---------------------------------------------------------------------------------------------------------

function buildSteps(output) {
  return output
    .split(/^Step \d+\/\d+ : /m)
    .slice(1)
    .map((chunk) => ({
      instruction: chunk.split('\n', 1)[0],
      id: [...chunk.matchAll(/^ ---> ([0-9a-f]{12})$/gm)].at(-1)?.[1],
      cached: /^ ---> Using cache$/m.test(chunk),
    }));
}

async function main() {
  const started = performance.now();
  const loadStart = os.loadavg().map((x) => round(x));
  const work = await mkdtemp(path.join(os.tmpdir(), 'hotpull-bench-fullstack-'));
  removeAtExit(work);
  const gitconfig = path.join(work, 'gitconfig');
  await writeFile(gitconfig, '[safe]\n\tdirectory = *\n');
  const env = benchEnv(gitconfig);

  progress('base images (docker/offline-bases.sh; debootstrap the first time, about a minute)');
  const bases = (
    await run('bash', [path.join(ROOT, 'docker/offline-bases.sh')], {
      env: { ...process.env, TAG_PREFIX: 'hotpull-test', APP_BASE_TAG: 'hotpull-test/debian-app:bookworm' },
    })
  ).stdout
    .trim()
    .split(/\s+/);
  progress(`docker build ${IMAGE} (${bases.join(' ')})`);
  const buildStart = performance.now();
  const build = await run(DOCKER, ['build', '--pull=false', '--network', 'host', ...bases, '--tag', IMAGE, ROOT]);
  const buildSeconds = (performance.now() - buildStart) / 1000;

  const appPort = await freePort();
  const hotpullPort = await freePort();
  const app = `http://127.0.0.1:${appPort}/`;
  const bare = path.join(work, 'remote.git');
  const author = path.join(work, 'author');
  const checkout = path.join(work, 'checkout');
  await git(work, env, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
  await git(work, env, 'clone', '--quiet', bare, author);
  await git(author, env, 'checkout', '--quiet', '-B', 'main');
  await writeFile(path.join(author, 'app.py'), appSource('0'));
  await writeFile(path.join(author, 'uwsgi.ini'), uwsgiIni(appPort));
  await git(author, env, 'add', '-A');
  await git(author, env, 'commit', '--quiet', '-m', 'v0');
  await git(author, env, 'push', '--quiet', 'origin', 'main');
  await git(work, env, 'clone', '--quiet', '--branch', 'main', bare, checkout);
  await git(checkout, env, 'remote', 'set-url', 'origin', '/remote.git');
  const asRoot = process.getuid() === 0;
  if (asRoot) await run('chown', ['-R', `${APP_UID}:${APP_UID}`, checkout]);
  const user = asRoot ? [] : ['--user', `${process.getuid()}:${process.getgid()}`];
  // the bare repository stays ours (we push into it): the container's git must trust it, and only global or
  // system config counts for a local-path remote
  const trust = path.join(work, 'trust.gitconfig');
  await writeFile(trust, '[safe]\n\tdirectory = /remote.git\n');
  const supervisordConf = path.join(work, 'loop-supervisord.conf');
  await writeFile(
    supervisordConf,
    loopSupervisordConf(
      await docker('run', '--rm', '--network', 'host', IMAGE, 'cat', '/etc/hotpull/supervisord.conf'),
    ),
  );

  let version = 0;
  async function push() {
    version += 1;
    await writeFile(path.join(author, 'app.py'), appSource(String(version)));
    await git(author, env, 'commit', '--quiet', '-am', `v${version}`);
    await git(author, env, 'push', '--quiet', 'origin', 'main');
    return `version=${version} `;
  }

  const secret = randomBytes(16).toString('hex');
  async function webhook() {
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
    const response = await fetch(`http://127.0.0.1:${hotpullPort}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': signature },
      body,
    });
    if (response.status !== 202) throw new Error(`webhook answered ${response.status}: ${await response.text()}`);
  }

  async function startContainer(name, extra) {
    await docker(
      'run',
      '--detach',
      '--name',
      name,
      '--network',
      'host',
      ...user,
      '--volume',
      `${checkout}:/app`,
      '--volume',
      `${bare}:/remote.git:ro`,
      '--volume',
      `${trust}:/etc/hotpull-bench.gitconfig:ro`,
      '--env',
      'GIT_CONFIG_GLOBAL=/etc/hotpull-bench.gitconfig',
      '--env',
      `HOTPULL_LISTEN=127.0.0.1:${hotpullPort}`,
      '--env',
      `HOTPULL_WEBHOOK_SECRET=${secret}`,
      ...extra,
    );
    const prober = startProber(app);
    await prober.served(0, `version=${version} `, 30_000);
    await prober.stop();
    // hotpull (or the loop) has had its first look at the remote; nothing is pending
    await sleep(2000);
  }

  const results = {};
  /** `rounds` pushes, each timed from the start of `git push` until the container serves it. */
  async function measure(name, how, rounds, deploy) {
    const prober = startProber(app);
    const samples = [];
    let requests = 0;
    let failed = 0;
    try {
      for (let i = 0; i < rounds; i += 1) {
        const t0 = performance.now();
        const expected = await push();
        await deploy?.();
        const hit = await prober.served(t0, expected, 60_000);
        const seconds = (hit.at - t0) / 1000;
        samples.push(seconds);
        const window = prober.count(t0, hit.sent);
        requests += window.requests;
        failed += window.failed;
        progress(
          `  ${name} #${i + 1}: ${seconds.toFixed(2)} s, ${window.failed} of ${window.requests} requests failed on the way`,
        );
        await sleep(1500); // a touch within the same second as the last reload would be ignored by uWSGI
      }
    } finally {
      await prober.stop();
    }
    results[name] = { how, ...summarize(samples), samples: samples.map((x) => round(x)), requests, failed };
  }

  async function scenario(name, { rounds = ROUNDS, extra, trigger, how }) {
    progress(`${name}: ${how}`);
    const container = `${PREFIX}-${name.replace(/[^a-z]+/g, '-')}`;
    await startContainer(container, extra);
    try {
      await measure(name, how, rounds, trigger);
    } finally {
      await dockerQuiet('rm', '--force', container);
    }
  }

  /** The seed's old pipeline, locally: code baked into an image, the container replaced. */
  async function rebuildScenario() {
    const how =
      "no volume: git pull, docker build (code COPY'd into the image), docker rm -f, docker run; local, no CI/registry";
    progress(`rebuild + replace: ${how}`);
    const dockerfile = path.join(work, 'Dockerfile.baked');
    await writeFile(
      dockerfile,
      `FROM ${IMAGE}\nCOPY --chown=app:app . /app\nCMD ["uwsgi", "--plugin", "python3", "--ini", "/app/uwsgi.ini"]\n`,
    );
    const context = path.join(work, 'baked');
    await git(work, env, 'clone', '--quiet', '--branch', 'main', bare, context);
    await writeFile(path.join(context, '.dockerignore'), '.git\n');
    const name = `${PREFIX}-baked`;
    let image;
    const deploy = async (tag) => {
      await git(context, env, 'pull', '--quiet', '--ff-only');
      await run(DOCKER, [
        'build',
        '--quiet',
        '--pull=false',
        '--network',
        'host',
        '-f',
        dockerfile,
        '-t',
        tag,
        context,
      ]);
      await dockerQuiet('rm', '--force', name);
      await docker('run', '--detach', '--name', name, '--network', 'host', tag);
      if (image) await dockerQuiet('image', 'rm', image);
      image = tag;
    };
    await deploy(`hotpull-test/baked:${process.pid}-${version}`);
    const prober = startProber(app);
    await prober.served(0, `version=${version} `, 30_000);
    await prober.stop();
    try {
      await measure('rebuild + replace', how, REBUILD_ROUNDS, () =>
        deploy(`hotpull-test/baked:${process.pid}-${version}`),
      );
    } finally {
      await dockerQuiet('rm', '--force', name);
      if (image) await dockerQuiet('image', 'rm', image);
    }
  }

  try {
    await scenario('hotpull poll', {
      how: `[program:hotpull] polls every ${INTERVAL} (git ls-remote), fetch + ff, touch uwsgi.ini`,
      extra: ['--env', `HOTPULL_INTERVAL=${INTERVAL}`, IMAGE],
    });
    await scenario('hotpull webhook', {
      how: 'signed push webhook right after the push, fetch + ff, touch uwsgi.ini (poll every 10m)',
      extra: ['--env', 'HOTPULL_INTERVAL=10m', IMAGE],
      trigger: webhook,
    });
    await scenario('hotpull webhook+fifo', {
      how: "webhook, reload through uWSGI's master FIFO (r) instead of the touch file",
      extra: ['--env', 'HOTPULL_INTERVAL=10m', '--env', 'HOTPULL_RELOAD=uwsgi-fifo:/tmp/uwsgi.fifo:r', IMAGE],
      trigger: webhook,
    });
    await scenario('shell loop', {
      how: 'every 1 s: git pull --ff-only, touch uwsgi.ini when HEAD moved (same image, same Supervisor)',
      extra: ['--volume', `${supervisordConf}:/etc/hotpull/supervisord.conf:ro`, IMAGE],
    });
    if (!argv['no-rebuild']) await rebuildScenario();
  } finally {
    for (const name of (await docker('ps', '--all', '--format', '{{.Names}}')).split('\n')) {
      if (name.startsWith(PREFIX)) await dockerQuiet('rm', '--force', name);
    }
    await dockerQuiet('image', 'rm', '--force', IMAGE);
    // the build stage is nobody's parent: its source-dependent layers would stay as dangling images
    const steps = buildSteps(build.stdout);
    const from = steps.findIndex((s) => s.instruction.startsWith('COPY src'));
    const end = steps.findIndex((s, i) => i > from && s.instruction.startsWith('FROM '));
    if (from >= 0)
      for (const s of steps
        .slice(from, end)
        .filter((x) => !x.cached && x.id)
        .reverse())
        await dockerQuiet('image', 'rm', '--no-prune', s.id);
  }

  const rows = [
    ['Ionic, reported: rebuild on push, registry, Ansible replaces the container', '20+ min', '', '', '', 'the seed'],
    ['Ionic, reported: Ansible git pull + touch uwsgi.ini', '~10 s', '', '', '', 'the seed'],
    ...Object.entries(results).map(([name, r]) => [
      name,
      `${r.median.toFixed(2)} s`,
      r.min.toFixed(2),
      r.max.toFixed(2),
      `${r.failed} of ${r.requests}`,
      `${r.n} pushes`,
    ]),
  ];
  const loadEnd = os.loadavg().map((x) => round(x));
  console.log(
    `Push to served, from the container (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}, load ${loadStart.join(' ')} → ${loadEnd.join(' ')}); build of the image ${round(buildSeconds, 1)} s`,
  );
  console.log(table(['', 'median', 'min', 'max', 'failed requests', ''], rows));
  console.log(
    JSON.stringify({
      buildSeconds: round(buildSeconds, 1),
      interval: INTERVAL,
      loadavg: { start: loadStart, end: loadEnd },
      results,
      seconds: round((performance.now() - started) / 1000, 1),
    }),
  );
}

main().catch((error) => {
  process.stderr.write(`bench: ${error.stack ?? error}\n`);
  process.exitCode = 1;
});
