/**
 * Issue 7, the host stack for real: supervisord (run as a normal process, its socket in a temp dir) running
 * uWSGI with the Django example (or gunicorn with its example) and the built hotpull (`node dist/cli.js`),
 * following a bare remote on disk. The files are examples/django-uwsgi and examples/gunicorn as written, with
 * the container's paths and ports replaced (test/helpers/examples.ts); Django is Debian's, in a virtualenv
 * made with --system-site-packages. Under load, wrk (test/helpers/wrk.ts) records every response's sha.
 *
 * No timing assertions except the ones the issue asks for (zero failed requests, nothing old served after a
 * deploy is reported live); timeouts are generous for a loaded 2-core machine.
 */
import { promises as fs, existsSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf, makeSandbox, tmpDir, type Sandbox } from '../helpers/git.js';
import { exampleFiles, iniSection, renderAll, useVariant, type Placement } from '../helpers/examples.js';
import { startSupervisord, supervisorMissing, type Supervisord } from '../helpers/supervisord.js';
import { fetchText, freePort, isAlive, uwsgiMissing } from '../helpers/uwsgi.js';
import { gunicornMissing } from '../helpers/gunicorn.js';
import { percentile, startWrk, wrkMissing, type WrkSummary } from '../helpers/wrk.js';
import { runCli } from '../helpers/hotpull.js';
import { programBlock, quoteCommandArg, quoteEnvValue } from '../../src/supervisor/program.js';
import type { DeployRecord, Status } from '../../src/sync/status.js';

const CI = process.env.CI === 'true';
const SYSTEM_PYTHON = '/usr/bin/python3';

function djangoMissing(): string | undefined {
  if (!existsSync(SYSTEM_PYTHON)) return `${SYSTEM_PYTHON} not found (apt-get install python3)`;
  if (!existsSync('/usr/lib/python3/dist-packages/django'))
    return 'Debian Django not found (apt-get install python3-django)';
  return undefined;
}

const missing = supervisorMissing() ?? uwsgiMissing() ?? djangoMissing();
const loadMissing = missing ?? wrkMissing();
const title = (name: string, why: string | undefined) => (why && !CI ? `${name} (skipped: ${why})` : name);

let venvRoot: string | undefined;
let venv: string | undefined;

/** One virtualenv for the file: Debian's Django through --system-site-packages, pip from ensurepip (offline). */
async function sharedVenv(): Promise<string> {
  if (venv) return venv;
  venvRoot = await tmpDir('hotpull-venv-');
  const dir = path.join(venvRoot, 'venv');
  const made = await execa(SYSTEM_PYTHON, ['-m', 'venv', '--system-site-packages', dir], {
    reject: false,
    timeout: 120_000,
  });
  if (made.exitCode !== 0) throw new Error(`python3 -m venv failed (apt-get install python3-venv): ${made.stderr}`);
  venv = dir;
  return dir;
}

afterAll(async () => {
  if (venvRoot) await fs.rm(venvRoot, { recursive: true, force: true });
});

interface Stack {
  sb: Sandbox;
  at: Placement;
  sup: Supervisord;
  env: Record<string, string>;
  url: string;
  hotpullUrl: string;
  conf: string;
  appProgram: string;
}

const stacks: Stack[] = [];
const sandboxes: Sandbox[] = [];
afterEach(async () => {
  for (const stack of stacks.splice(0)) await stack.sup.stop();
  for (const sb of sandboxes.splice(0)) await sb.cleanup();
});

async function status(stack: Stack): Promise<Status | undefined> {
  const answer = await fetchText(`${stack.hotpullUrl}/status`, 5000);
  return 'body' in answer && answer.status === 200 ? (JSON.parse(answer.body) as Status) : undefined;
}

async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
  stack?: Stack,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) {
      const tail = stack
        ? `\nhotpull status: ${JSON.stringify(await status(stack))}\nsupervisord output:\n${stack.sup.output().slice(-8000)}`
        : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${tail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The deploy of `sha` once it has a final result. */
function deployOf(stack: Stack, sha: string, timeoutMs = 120_000): Promise<DeployRecord> {
  return until(
    `the deploy of ${sha.slice(0, 7)}`,
    async () =>
      (await status(stack))?.deploys.find(
        (d) => d.to === sha && ['live', 'rolled-back', 'rejected', 'failed'].includes(d.result),
      ),
    timeoutMs,
    stack,
  );
}

/** `rounds` rounds of 4 concurrent requests (2 workers): the versions and shas every answer carried. */
async function served(url: string, rounds = 8): Promise<string[]> {
  const seen = new Set<string>();
  for (let i = 0; i < rounds; i++) {
    const answers = await Promise.all(Array.from({ length: 4 }, () => fetchText(url, 10_000)));
    for (const answer of answers) {
      const match = 'body' in answer ? /version=(\S+) sha=([0-9a-f]+)/.exec(answer.body) : null;
      seen.add(
        match && 'status' in answer && answer.status === 200
          ? `${match[1]} ${match[2]}`
          : JSON.stringify(answer).slice(0, 200),
      );
    }
  }
  return [...seen];
}

/** served() equals `expected`, or an error with hotpull's status and the supervisord output. */
async function expectServed(stack: Stack, expected: string[]): Promise<void> {
  const seen = await served(stack.url);
  if (JSON.stringify(seen) === JSON.stringify(expected)) return;
  throw new Error(
    `served ${JSON.stringify(seen)}, expected ${JSON.stringify(expected)}\nhotpull status: ${JSON.stringify(await status(stack))}\nsupervisord output:\n${stack.sup.output().slice(-12_000)}`,
  );
}

const versionFile = (version: string, file = 'hello/version.py') => ({ [file]: `VERSION = "${version}"\n` });

/**
 * A bare remote whose first commit is examples/EXAMPLE rendered for this temp dir, its checkout as the
 * "volume", and supervisord running the example's supervisord.conf (or its `variant`).
 */
async function startStack(
  options: { example?: 'django-uwsgi' | 'gunicorn'; variant?: string; healthTimeout?: string } = {},
): Promise<Stack> {
  const example = options.example ?? 'django-uwsgi';
  const appProgram = example === 'gunicorn' ? 'gunicorn' : 'uwsgi';
  const sb = await makeSandbox({ files: { '.placeholder': '' } });
  sandboxes.push(sb);
  const at: Placement = {
    app: sb.checkout,
    run: path.join(sb.root, 'run'),
    ...(example === 'django-uwsgi' ? { venv: await sharedVenv() } : {}),
    appPort: await freePort(),
    hotpullPort: await freePort(),
  };
  await fs.mkdir(at.run);
  await fs.mkdir(path.join(sb.root, 'data'));
  await fs.mkdir(path.join(sb.root, 'home'));
  const files = renderAll(await exampleFiles(example), at);
  await commitAndPush(sb, { ...files, '.placeholder': null }, `the ${example} example`);
  await git(sb.checkout, 'pull', '-q', '--ff-only');

  let conf = files['supervisord.conf']!;
  if (options.variant) conf = useVariant(conf, options.variant);
  const env: Record<string, string> = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: path.join(sb.root, 'home'),
    LANG: 'C.UTF-8',
    // pip's hook finds everything installed; without this it would also ask the index for a newer pip.
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
    DJANGO_SECRET_KEY: 'hotpull-e2e-only',
    DJANGO_DB_PATH: path.join(sb.root, 'data', 'db.sqlite3'),
    // A faster poll than the examples' 2s; a longer health timeout than their 30s for a loaded machine, or a
    // shorter one where a broken deploy has to wait it out. Everything else as written.
    HOTPULL_INTERVAL: '500ms',
    HOTPULL_HEALTH_TIMEOUT: options.healthTimeout ?? '60s',
  };
  const sup = await startSupervisord({ dir: at.run, conf, env });
  const stack: Stack = {
    sb,
    at,
    sup,
    env,
    url: `http://127.0.0.1:${at.appPort}/`,
    hotpullUrl: `http://127.0.0.1:${at.hotpullPort}`,
    conf,
    appProgram,
  };
  stacks.push(stack);
  await sup.waitForState(appProgram, ['RUNNING'], 60_000);
  const first = await headOf(sb.checkout);
  // Every worker answering, not only the first: a reload asked for before a worker has entered its request
  // loop is lost for that worker (see test/helpers/uwsgi.ts), and the first deploy follows right away.
  const pids = new Set<string>();
  await until(
    'the first commit served by both workers',
    async () => {
      const answers = await Promise.all(Array.from({ length: 4 }, () => fetchText(stack.url, 10_000)));
      for (const answer of answers) {
        const match = 'body' in answer ? /^version=1 sha=([0-9a-f]+) pid=(\d+)/.exec(answer.body) : null;
        if (match?.[1] === first) pids.add(match[2]!);
      }
      return pids.size >= 2;
    },
    60_000,
    stack,
  );
  await until(
    'hotpull /healthz 200',
    async () => {
      const answer = await fetchText(`${stack.hotpullUrl}/healthz`, 5000);
      return 'status' in answer && answer.status === 200;
    },
    60_000,
    stack,
  );
  return stack;
}

/** supervisorctl stop all: both programs exit on their own (no SIGKILL) with status 0 and leave no process. */
async function stopAllCleanly(stack: Stack, minimumProcesses: number): Promise<void> {
  const pids = stack.sup.descendants();
  expect(pids.length).toBeGreaterThanOrEqual(minimumProcesses);
  const stop = await stack.sup.ctl('stop', 'all');
  expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
  const after = await stack.sup.status();
  expect([after.get(stack.appProgram)?.state, after.get('hotpull')?.state]).toEqual(['STOPPED', 'STOPPED']);
  expect(stack.sup.output()).toContain(`stopped: ${stack.appProgram} (exit status 0)`);
  expect(stack.sup.output()).toContain('stopped: hotpull (exit status 0)');
  expect(stack.sup.output()).not.toMatch(/killing '\w+' .*SIGKILL/);
  await until('every program process gone', async () => pids.every((pid) => !isAlive(pid)), 15_000, stack);
}

describe.skipIf(missing !== undefined && !CI)(
  title('Supervisor + uWSGI + Django + hotpull (examples/django-uwsgi)', missing),
  () => {
    beforeAll(() => {
      // CI installs these (.ci/run); there a missing one fails the run instead of skipping.
      if (missing) throw new Error(missing);
    });

    it('push → served (with its migrate and pip hooks); broken push → rolled back, old version served; stop all → both exit cleanly', async () => {
      const stack = await startStack({ healthTimeout: '20s' });
      const { sb } = stack;

      // A deploy that also adds a migration and touches requirements.txt: the example's onChange rules run.
      const v2 = await commitAndPush(sb, {
        ...versionFile('2'),
        'hello/migrations/0001_initial.py':
          'from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    dependencies = []\n    operations = []\n',
        'requirements.txt': `${(await fs.readFile(path.join(sb.checkout, 'requirements.txt'), 'utf8')).trimEnd()}\n# pinned again\n`,
      });
      expect(await deployOf(stack, v2)).toMatchObject({ result: 'live' });
      await expectServed(stack, [`2 ${v2}`]);
      const migrations = await execa(
        path.join(stack.at.venv!, 'bin/python'),
        ['manage.py', 'showmigrations', 'hello'],
        { cwd: sb.checkout, env: stack.env, extendEnv: false, reject: false },
      );
      expect(migrations.stdout).toContain('[X] 0001_initial');
      expect(stack.sup.output()).toContain('Requirement already satisfied: Django');

      // A commit that breaks at import: every request answers 500 after the reload, verification fails.
      const views = await fs.readFile(path.join(sb.checkout, 'hello/views.py'), 'utf8');
      const broken = await commitAndPush(sb, {
        ...versionFile('3'),
        'hello/views.py': `raise RuntimeError("a deliberately broken deploy")\n${views}`,
      });
      expect(await deployOf(stack, broken)).toMatchObject({ result: 'rolled-back', rolledBackTo: v2 });
      // The record comes first; then hotpull reloads the restored revision and verifies it again.
      await until(
        'the rollback verified',
        async () => stack.sup.output().includes(`rolled back, ${v2.slice(0, 7)} serves again`),
        90_000,
        stack,
      );
      await expectServed(stack, [`2 ${v2}`]);
      expect(await headOf(sb.checkout)).toBe(v2);
      expect(await status(stack)).toMatchObject({ state: 'rejected', rejectedSha: broken, lastGoodSha: v2 });

      await stopAllCleanly(stack, 4); // uWSGI master + 2 workers, hotpull
    }, 300_000);

    it('a hotpull configuration error ends in FATAL after its start retries, without a restart loop; uWSGI is unaffected', async () => {
      const stack = await startStack();
      const uwsgiBefore = (await stack.sup.status()).get('uwsgi');
      expect(uwsgiBefore?.state).toBe('RUNNING');

      // An operator breaks hotpull's command line and applies it: only hotpull is restarted, into exit 2.
      const bad = stack.conf.replace(/^(command=\S+ \S+ run .*)$/m, '$1 --interval fast');
      expect(bad).not.toBe(stack.conf);
      await fs.writeFile(stack.sup.confFile, bad);
      const update = await stack.sup.ctl('update');
      expect(update.stdout).toContain('hotpull');
      await stack.sup.waitForState('hotpull', ['FATAL'], 90_000);
      const spawns = () => (stack.sup.output().match(/spawned: 'hotpull'/g) ?? []).length;
      const spawned = spawns();
      expect(stack.sup.output()).toContain(
        'hotpull: --interval must be a duration like 500ms, 2s or 1m of at least 100ms (got "fast")',
      );

      // It stays FATAL: no further start.
      await new Promise((resolve) => setTimeout(resolve, 5000));
      expect(spawns()).toBe(spawned);
      const after = await stack.sup.status();
      expect(after.get('hotpull')?.state).toBe('FATAL');
      expect(after.get('uwsgi')).toMatchObject({ state: 'RUNNING', pid: uwsgiBefore?.pid });
      const first = await headOf(stack.sb.checkout);
      expect(await served(stack.url)).toEqual([`1 ${first}`]);
    }, 300_000);

    it("the example's [program:hotpull] is what supervisor-config prints for its options", async () => {
      const files = await exampleFiles('django-uwsgi');
      const printed = await runCli(['supervisor-config', '--repo', '/app', '--listen', '0.0.0.0:9300'], {
        env: { HOTPULL_LOG_FORMAT: '' },
      });
      expect(printed.exitCode, printed.stderr).toBe(0);
      const example = iniSection(files['supervisord.conf']!, 'program:hotpull');
      expect(example).toEqual([
        ...iniSection(printed.stdout, 'program:hotpull'),
        'stdout_logfile=/dev/stdout',
        'stdout_logfile_maxbytes=0',
      ]);
    });
  },
);

describe.skipIf(supervisorMissing() !== undefined && !CI)(
  title('supervisor-config quoting, read back by a real supervisord', supervisorMissing()),
  () => {
    it('command= and environment= values reach the program byte for byte; secrets are named, never printed', async () => {
      if (supervisorMissing()) throw new Error(supervisorMissing());
      const dir = await tmpDir('hotpull-svquote-');
      try {
        const args = [
          'plain',
          'two words',
          "it's",
          'say "hi"',
          'a ;not a comment',
          'b #nor this',
          '100%',
          '%(here)s',
          '',
          'tab\there',
          '$HOME',
          '*',
        ];
        const envValues = { QUOTE_A: 'x,y=z', QUOTE_B: 'say "hi" now', QUOTE_C: "it's 100%", QUOTE_D: 'a;b#c' };
        const printer = path.join(dir, 'print.py');
        await fs.writeFile(
          printer,
          `import json, os, sys\nprint("ARGS" + json.dumps(sys.argv[1:]))\nprint("ENV" + json.dumps({k: v for k, v in os.environ.items() if k.startswith("QUOTE_")}))\n`,
        );
        const block = programBlock({
          command: ['/usr/bin/python3', printer, ...args],
          environment: Object.entries(envValues),
          withheld: [],
        })
          .replace('[program:hotpull]', '[program:printer]')
          .replace('startsecs=3', 'startsecs=0')
          .replace('autorestart=unexpected', 'autorestart=false');
        const conf = [
          '[supervisord]',
          'nodaemon=true',
          `logfile=${dir}/supervisord.log`,
          `pidfile=${dir}/supervisord.pid`,
          `childlogdir=${dir}`,
          '[unix_http_server]',
          `file=${dir}/sv.sock`,
          '[rpcinterface:supervisor]',
          'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
          '[supervisorctl]',
          `serverurl=unix://${dir}/sv.sock`,
          block.replace(';stdout_logfile=/dev/stdout', `stdout_logfile=${dir}/printer.log`),
        ].join('\n');
        const sup = await startSupervisord({ dir, conf, env: { PATH: '/usr/bin:/bin' } });
        try {
          await sup.waitForState('printer', ['EXITED'], 30_000);
          const log = await fs.readFile(path.join(dir, 'printer.log'), 'utf8');
          expect(JSON.parse(/^ARGS(.*)$/m.exec(log)![1]!)).toEqual(args);
          expect(JSON.parse(/^ENV(.*)$/m.exec(log)![1]!)).toEqual(envValues);
        } finally {
          await sup.stop();
        }
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    }, 120_000);

    it('supervisor-config: flags on the command line, HOTPULL_* in environment=, the secret only named', async () => {
      const printed = await runCli(
        [
          'supervisor-config',
          '--repo',
          '/srv/app',
          '--interval',
          '2s',
          '--reload',
          'uwsgi-fifo:/run/app/uwsgi.fifo:c',
          '--reload',
          'command:kill -HUP $(cat /run/app/x.pid)',
          '--no-rollback',
        ],
        {
          env: { HOTPULL_LOG_FORMAT: '', HOTPULL_WEBHOOK_SECRET: 'never-print-me', HOTPULL_LOG_LEVEL: 'debug' },
        },
      );
      expect(printed.exitCode, printed.stderr).toBe(0);
      expect(printed.stdout).not.toContain('never-print-me');
      expect(iniSection(printed.stdout, 'program:hotpull').slice(0, 2)).toEqual([
        "command=hotpull run --repo /srv/app --interval 2s --reload uwsgi-fifo:/run/app/uwsgi.fifo:c --reload 'command:kill -HUP $(cat /run/app/x.pid)' --no-rollback",
        'environment=HOTPULL_LOG_LEVEL="debug"',
      ]);
      expect(printed.stdout).toContain('; Set where this was printed and left out on purpose: HOTPULL_WEBHOOK_SECRET.');
      expect(quoteCommandArg('50%')).toBe('50%%');
      expect(() => quoteEnvValue('X', 'a\nb')).toThrow(
        /X cannot be written to Supervisor's environment= because it holds a line break/,
      );
      // The config file is hotpull run's to read, maybe on another machine: not read here, only passed on.
      const elsewhere = await runCli(['supervisor-config', '--repo', '/app', '--config', '/app/hotpull.k8s.yaml'], {
        env: { HOTPULL_LOG_FORMAT: '' },
      });
      expect(elsewhere.exitCode, elsewhere.stderr).toBe(0);
      expect(iniSection(elsewhere.stdout, 'program:hotpull')[0]).toBe(
        'command=hotpull run --repo /app --config /app/hotpull.k8s.yaml',
      );
      const wrong = await runCli(['supervisor-config', '--image', 'app:1']);
      expect([wrong.exitCode, wrong.stderr]).toEqual([
        2,
        'hotpull: --image is not an option of hotpull run, so supervisor-config cannot pass it on (got "app:1")',
      ]);
    });
  },
);

const gunicornMissingWhy = supervisorMissing() ?? gunicornMissing();
describe.skipIf(gunicornMissingWhy !== undefined && !CI)(
  title('Supervisor + gunicorn + hotpull (examples/gunicorn)', gunicornMissingWhy),
  () => {
    beforeAll(() => {
      if (gunicornMissingWhy) throw new Error(gunicornMissingWhy);
    });

    it('push → served after a HUP; broken push → 500s, rolled back with another HUP, old version served; stop all → both exit cleanly', async () => {
      const stack = await startStack({ example: 'gunicorn', healthTimeout: '20s' });
      const { sb } = stack;
      const v2 = await commitAndPush(sb, versionFile('2', 'version.py'));
      expect(await deployOf(stack, v2)).toMatchObject({ result: 'live' });
      await expectServed(stack, [`2 ${v2}`]);
      const gunicornPid = (await stack.sup.status()).get('gunicorn')?.pid;

      const app = await fs.readFile(path.join(sb.checkout, 'app.py'), 'utf8');
      const broken = await commitAndPush(sb, {
        ...versionFile('3', 'version.py'),
        'app.py': `raise RuntimeError("a deliberately broken deploy")\n${app}`,
      });
      expect(await deployOf(stack, broken)).toMatchObject({ result: 'rolled-back', rolledBackTo: v2 });
      // The record comes first; then hotpull reloads the restored revision and verifies it again.
      await until(
        'the rollback verified',
        async () => stack.sup.output().includes(`rolled back, ${v2.slice(0, 7)} serves again`),
        90_000,
        stack,
      );
      await expectServed(stack, [`2 ${v2}`]);
      // wsgi.py kept gunicorn up: the same master throughout, never restarted by Supervisor.
      expect((await stack.sup.status()).get('gunicorn')).toMatchObject({ state: 'RUNNING', pid: gunicornPid });
      expect(stack.sup.output()).toContain('RuntimeError: a deliberately broken deploy');

      await stopAllCleanly(stack, 4); // gunicorn master + 2 workers, hotpull
    }, 300_000);

    it("the example's [program:hotpull] is what supervisor-config prints for its options", async () => {
      const files = await exampleFiles('gunicorn');
      const printed = await runCli(['supervisor-config', '--repo', '/app', '--listen', '0.0.0.0:9300'], {
        env: { HOTPULL_LOG_FORMAT: '' },
      });
      expect(iniSection(files['supervisord.conf']!, 'program:hotpull')).toEqual([
        ...iniSection(printed.stdout, 'program:hotpull'),
        'stdout_logfile=/dev/stdout',
        'stdout_logfile_maxbytes=0',
      ]);
    });
  },
);

describe.skipIf(loadMissing !== undefined && !CI)(
  title('under load: 5 deploys with lazy-apps + chain reload through the master FIFO', loadMissing),
  () => {
    beforeAll(() => {
      if (loadMissing) throw new Error(loadMissing);
    });

    // retry: 1 — in 14 runs (about 1.8 M requests) one request once got a socket read error, which looks like a
    // uWSGI 2.0 race (a worker stopped by the chain reload closing a connection it had just accepted). One retry
    // keeps CI from failing on that; every assertion still has to hold in full within a run.
    it(
      'no failed request, nothing old served once a deploy is reported live; p50/p99 steady vs during deploys',
      { retry: 1 },
      async () => {
        const stack = await startStack({ variant: 'zero-downtime' });
        const { sb } = stack;
        const dir = path.join(sb.root, 'wrk');
        const load = { url: stack.url, connections: 4, threads: 1 };

        const steady = await (await startWrk({ ...load, dir: path.join(dir, 'steady'), durationS: 8 })).finish();

        const during = await startWrk({ ...load, dir: path.join(dir, 'deploys'), durationS: 600 });
        const started = Date.now();
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const deploys: Array<{ sha: string; live: number; record: DeployRecord }> = [];
        for (let version = 2; version <= 6; version++) {
          const sha = await commitAndPush(sb, versionFile(String(version)));
          const record = await deployOf(stack, sha);
          expect(record.result, JSON.stringify(record)).toBe('live');
          deploys.push({ sha, live: Date.parse(record.stages.verified!), record });
        }
        await new Promise((resolve) => setTimeout(resolve, 2000));
        const loaded = await during.finish({ interrupt: true });
        const ended = Date.now();

        const failures = (s: WrkSummary) => s.connect + s.read + s.write + s.timeout + s.status;
        expect(failures(steady.summary), steady.output).toBe(0);
        const uwsgiLog = () =>
          stack.sup
            .output()
            .split('\n')
            .filter((l) => /worker|chain|SIG|error|Error|mercy|respawn/i.test(l) && !l.startsWith('{'))
            .slice(-80)
            .join('\n');
        expect(failures(loaded.summary), `${loaded.output}\nuWSGI:\n${uwsgiLog()}`).toBe(0);
        expect(loaded.responses.filter((r) => r.status !== 200)).toEqual([]);
        expect(loaded.responses.length).toBe(loaded.summary.requests);

        // After deploy i is reported live, every answer comes from revision i or a later one.
        const order = [await git(sb.seed, 'rev-parse', 'HEAD~5'), ...deploys.map((d) => d.sha)];
        const stale: string[] = [];
        for (const [i, deploy] of deploys.entries()) {
          const allowed = new Set(order.slice(i + 1));
          const after = loaded.responses.filter((r) => r.at > deploy.live);
          expect(after.length, `answers after deploy ${i + 1} went live`).toBeGreaterThan(0);
          for (const r of after.filter((r) => !allowed.has(r.sha)).slice(0, 5)) {
            stale.push(
              `${r.sha.slice(0, 7)} at +${(r.at - deploy.live).toFixed(1)} ms after ${deploy.sha.slice(0, 7)} went live`,
            );
          }
        }
        expect(stale).toEqual([]);
        expect(new Set(loaded.responses.map((r) => r.sha)).size).toBeGreaterThanOrEqual(5);

        const ms = (us: number) => (us / 1000).toFixed(1);
        const rps = (s: WrkSummary) => Math.round(s.requests / (s.durationUs / 1e6));
        const deployMs = deploys.map((d) => d.record.durations.total).sort((a, b) => a - b);
        const figures = [
          `load: wrk -t${load.threads} -c${load.connections} on loopback, uWSGI 2 workers (lazy-apps), Django example`,
          `steady state:      ${steady.summary.requests} requests, ${rps(steady.summary)} req/s, p50 ${ms(steady.summary.p50Us)} ms, p99 ${ms(steady.summary.p99Us)} ms, max ${ms(steady.summary.maxUs)} ms, failed 0`,
          `through 5 deploys: ${loaded.summary.requests} requests in ${((ended - started) / 1000).toFixed(1)} s, ${rps(loaded.summary)} req/s, p50 ${ms(loaded.summary.p50Us)} ms, p99 ${ms(loaded.summary.p99Us)} ms, max ${ms(loaded.summary.maxUs)} ms, failed 0, stale after live 0`,
          `push to live per deploy (poll 500 ms, chain reload, 2 s settle): median ${percentile(deployMs, 50)} ms, max ${deployMs.at(-1)} ms`,
        ];
        console.log(`\n${figures.join('\n')}\n`);
        await fs
          .writeFile(
            path.join(process.env.HOTPULL_FIGURES_DIR ?? sb.root, 'supervisor-load.txt'),
            `${figures.join('\n')}\n`,
          )
          .catch(() => undefined);
      },
      420_000,
    );
  },
);
