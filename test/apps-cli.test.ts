/**
 * Issue 29, the command line of a many-apps file: --app NAME, `hotpull status` for every app, reload-config. Each
 * app binds its own operator socket, as a single-app daemon does, so two real `hotpull run --repo` daemons (real
 * bare repos and checkouts) stand in for the apps of one process; one stack serves the file. reload-config is asked
 * of a listener on an app's socket path that answers as the apps process does (200 applied, 400 refused).
 */
import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { runHotpull, startHotpull, stop, waitForRecord, type Proc } from './helpers/procs.js';
import { socketPath } from '../src/net/endpoint.js';
import { waitFor } from './helpers/hotpull.js';
import { formatAppsStatus } from '../src/http/status-text.js';

/** no webhook secret anywhere: the operator sockets need none */
const NO_SECRET = { HOTPULL_WEBHOOK_SECRET: undefined } as unknown as NodeJS.ProcessEnv;

let dir: string;
let file: string;
const sandboxes: Record<'a' | 'b', Sandbox> = {} as never;
const daemons: Proc[] = [];

/** `hotpull run --repo` from flags alone, as a stand-in for one app; resolves once its first pass ended. */
async function appDaemon(checkout: string): Promise<Proc> {
  const daemon = startHotpull(['run', '--repo', checkout, '--interval', '1h', '--log-level', 'debug'], {
    env: NO_SECRET,
  });
  await waitForRecord(daemon, 'the operator socket', (r) => String(r.msg).startsWith('operator socket '));
  await waitForRecord(daemon, 'the first pass', (r) => /^pass \(start\)/.test(String(r.msg)));
  return daemon;
}

const hotpull = (args: string[], cwd = dir) => runHotpull(args, { cwd, env: NO_SECRET, timeoutMs: 30_000 });

beforeAll(async () => {
  dir = await tmpDir('hotpull-apps-cli-');
  [sandboxes.a, sandboxes.b] = await Promise.all([makeSandbox(), makeSandbox()]);
  daemons.push(...(await Promise.all([appDaemon(sandboxes.a.checkout), appDaemon(sandboxes.b.checkout)])));
  file = path.join(dir, 'hotpull.config.yaml');
  await fs.writeFile(
    file,
    `interval: 2s\napps:\n  - name: a\n    repo: ${sandboxes.a.checkout}\n  - name: b\n    repo: ${sandboxes.b.checkout}\n`,
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(daemons.map((d) => stop(d)));
  await Promise.all(Object.values(sandboxes).map((sb) => sb.cleanup()));
  await fs.rm(dir, { recursive: true, force: true });
});

describe('--app and status with apps:', () => {
  it('status prints one line per app; status --app b --json is the status of b', async () => {
    const [a, b] = [await headOf(sandboxes.a.checkout), await headOf(sandboxes.b.checkout)];
    const all = await hotpull(['status']);
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    const lines = all.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^a {2}idle {2}${a.slice(0, 7)} initial commit {2}live$`));
    expect(lines[1]).toMatch(new RegExp(`^b {2}idle {2}${b.slice(0, 7)} initial commit {2}live$`));

    const one = await hotpull(['status', '--app', 'b', '--json']);
    expect(one.code).toBe(0);
    const direct = await hotpull(['status', '--repo', sandboxes.b.checkout, '--json']);
    expect(JSON.parse(one.stdout)).toMatchObject({ state: 'idle', deployedSha: b });
    expect(JSON.parse(one.stdout).deployedSha).toBe(JSON.parse(direct.stdout).deployedSha);

    const json = JSON.parse((await hotpull(['status', '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(json.map((s) => [s.app, s.deployedSha])).toEqual([
      ['a', a],
      ['b', b],
    ]);
  });

  it('pause --app a pauses a only; resume --app a lifts it', async () => {
    const paused = await hotpull(['pause', '--app', 'a', '--reason', 'freeze']);
    expect(paused.stderr).toBe('');
    expect(paused.stdout).toMatch(/^paused by api at .*: freeze/);
    const pauseFile = (sb: Sandbox) => path.join(sb.checkout, '.git', 'hotpull', 'pause.json');
    await expect(fs.stat(pauseFile(sandboxes.a))).resolves.toBeTruthy();
    await expect(fs.stat(pauseFile(sandboxes.b))).rejects.toThrow();
    const lines = (await hotpull(['status'])).stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^a {2}paused/);
    expect(lines[1]).toMatch(/^b {2}idle/);

    const resumed = await hotpull(['resume', '--app', 'a']);
    expect(resumed.stdout).toMatch(/^resumed \(the pause by api: freeze is lifted\)/);
    await expect(fs.stat(pauseFile(sandboxes.a))).rejects.toThrow();
  });

  it('sync --now --wait --app b deploys b only; its line names the new revision and since when it serves', async () => {
    const a = await headOf(sandboxes.a.checkout);
    const v2 = await commitAndPush(sandboxes.b, { 'app.py': 'VERSION = 2\n' }, 'second version');
    const synced = await hotpull(['sync', '--now', '--wait', '--app', 'b']);
    expect([synced.code, synced.stderr]).toEqual([0, '']);
    expect(await headOf(sandboxes.b.checkout)).toBe(v2);
    expect(await headOf(sandboxes.a.checkout)).toBe(a);
    const lines = (await hotpull(['status'])).stdout.trimEnd().split('\n');
    expect(lines[1]).toMatch(new RegExp(`^b {2}idle {2}${v2.slice(0, 7)} second version {2}since \\S+ ago {2}live$`));
    // log reads the app's own history (no daemon needed)
    const log = JSON.parse((await hotpull(['log', '--app', 'b', '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(log.map((r) => [r.to, r.result])).toEqual([[v2, 'reloaded']]);
    expect(JSON.parse((await hotpull(['log', '--app', 'a', '--json'])).stdout)).toEqual([]);
  });

  it('an app whose daemon does not answer is named as such; the worst exit wins (3)', async () => {
    await git(dir, 'init', '-q', 'c');
    const three = path.join(dir, 'three.yaml');
    await fs.writeFile(three, `${await fs.readFile(file, 'utf8')}  - name: c\n    repo: c\n`);
    const result = await hotpull(['status', '--config', three]);
    expect(result.code).toBe(3);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe(
      `c  unreachable  no hotpull daemon answers for ${path.join(dir, 'c')} (no socket at ${path.join(dir, 'c', '.git', 'hotpull', 'control', 'daemon.sock')}): is hotpull run running there? (or pass --url http://HOST:PORT)`,
    );
    expect(lines[0]).toMatch(/^a {2}idle /);
  });

  it('refused in one line, exit 2: an unknown app, a one-app command without --app, --app without apps:, --repo beside --app', async () => {
    const cases: Array<[string[], string, string?]> = [
      [['pause', '--app', 'bb'], `--app must name an app of ${file}: a, b (got "bb"; did you mean "b"?)`],
      [['log', '--app', 'web'], `--app must name an app of ${file}: a, b (got "web")`],
      [['resume'], `resume acts on one app: ${file} has 2 (a, b); pick one with --app NAME`],
      [['sync', '--now'], `sync acts on one app: ${file} has 2 (a, b); pick one with --app NAME`],
      [['status', '--app', 'a'], '--app needs a config file with apps: (got --app "a" and no config file)', '/'],
      [
        ['status', '--app', 'a', '--repo', sandboxes.b.checkout],
        `--repo is not used with --app: app "a" has its own (${sandboxes.a.checkout}); give one of them`,
      ],
    ];
    const results = await Promise.all(cases.map(([args, , cwd]) => hotpull(args, cwd)));
    for (const [i, [args, line]] of cases.entries())
      expect([results[i]!.code, results[i]!.stderr, results[i]!.stdout], args.join(' ')).toEqual([
        2,
        `hotpull: ${line}\n`,
        '',
      ]);
  });
});

describe('formatAppsStatus', () => {
  it('one line per app, word for word: revision and subject, since, live and verified, the error or the reason', () => {
    const base = { remote: 'origin', branch: 'main', deploys: [], consecutiveFailures: 0 };
    const now = Date.parse('2026-12-07T12:00:00.000Z');
    const text = formatAppsStatus(
      [
        {
          app: 'web',
          status: {
            ...base,
            state: 'idle',
            deployedSha: 'a'.repeat(40),
            subject: 'Add login',
            since: '2026-12-07T11:55:00.000Z',
            live: true,
            verified: true,
          },
        },
        {
          app: 'api',
          status: {
            ...base,
            state: 'failing',
            deployedSha: 'b'.repeat(40),
            consecutiveFailures: 2,
            lastError: 'git fetch timed out after 2m',
            live: false,
            verified: false,
          },
        },
        { app: 'blog', status: { ...base, state: 'diverged', reason: 'the remote was force-pushed', live: false } },
        { app: 'docs-site', unreachable: 'no hotpull daemon answers for /srv/docs' },
      ],
      now,
    );
    expect(text).toBe(
      [
        'web        idle         aaaaaaa Add login  since 5m ago  live, verified',
        'api        failing      bbbbbbb  not live  error: git fetch timed out after 2m',
        'blog       diverged     -  not live  error: the remote was force-pushed',
        'docs-site  unreachable  no hotpull daemon answers for /srv/docs',
        '',
      ].join('\n'),
    );
  });
});

describe('an app over TCP', () => {
  it('--url, or the listen: of the file when no socket answers: the app is asked below /apps/NAME/', async () => {
    const asked: string[] = [];
    const server = http.createServer((req, res) => {
      asked.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`.trim());
      const body = req.url!.endsWith('/status')
        ? { state: 'idle', remote: 'origin', branch: 'main', consecutiveFailures: 0, deploys: [], live: true }
        : { ok: true, message: 'paused by api' };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      await git(dir, 'init', '-q', 'tcp');
      const tcp = path.join(dir, 'tcp.yaml');
      await fs.writeFile(tcp, `listen: 127.0.0.1:${port}\napps:\n  - name: web\n    repo: tcp\n`);
      const viaListen = await hotpull(['status', '--config', tcp, '--app', 'web']);
      expect([viaListen.code, viaListen.stderr]).toEqual([0, '']);
      expect(viaListen.stdout).toMatch(/^state {5}idle$/m);
      const viaUrl = await runHotpull(['pause', '--config', file, '--app', 'b', '--url', `http://127.0.0.1:${port}/`], {
        cwd: dir,
        env: { HOTPULL_WEBHOOK_SECRET: 'apps-cli-secret' },
      });
      expect([viaUrl.code, viaUrl.stdout]).toEqual([0, 'paused by api\n']);
      expect(asked).toEqual(['GET /apps/web/status', 'POST /apps/b/pause Bearer apps-cli-secret']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('hotpull reload-config', () => {
  it('asks the running apps process (hotpull run --config FILE): applied, an app added starts', async () => {
    const [c, d] = await Promise.all([makeSandbox(), makeSandbox()]);
    const real = path.join(dir, 'real.yaml');
    const one = `interval: 1h\napps:\n  - name: c\n    repo: ${c.checkout}\n`;
    await fs.writeFile(real, one);
    const apps = startHotpull(['run', '--config', real], { env: NO_SECRET });
    try {
      await waitForRecord(apps, 'app c idle', (r) => r.app === 'c' && r.state === 'idle');
      const same = await hotpull(['reload-config', '--config', real]);
      expect([same.code, same.stdout, same.stderr]).toEqual([
        0,
        'added none; removed none; restarted none; 1 app running\n',
        '',
      ]);
      await fs.writeFile(real, `${one}  - name: d\n    repo: ${d.checkout}\n`);
      const added = await hotpull(['reload-config', '--config', real]);
      expect([added.code, added.stdout]).toEqual([0, 'added d; removed none; restarted none; 2 apps running\n']);
      await waitFor('both apps idle in status', async () =>
        /^c {2}idle .*\nd {2}idle .*\n$/.test((await hotpull(['status', '--config', real])).stdout),
      );
    } finally {
      await stop(apps);
      await Promise.all([c.cleanup(), d.cleanup()]);
    }
  });

  it('asks the first app whose socket answers: 200 applied (exit 0), 400 refused (exit 2); single-app daemons only: exit 1', async () => {
    const alone = await hotpull(['reload-config']);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toContain(`hotpull: no hotpull daemon running the apps of ${file} answers (a: `);
    expect(alone.stderr).toContain('/reload-config answered 404');

    // an app with no daemon is passed over; the apps process answers on the second app's socket
    const stand = path.join(dir, 'stand');
    for (const repo of ['down', 'stand']) await git(dir, 'init', '-q', repo);
    const socket = socketPath(path.join(stand, '.git', 'hotpull'));
    await fs.mkdir(path.dirname(socket), { recursive: true });
    let answer = { status: 200, body: { ok: true, message: 'config reloaded: 1 app added (c), 2 unchanged' } };
    const asked: string[] = [];
    const server = http.createServer((req, res) => {
      asked.push(`${req.method} ${req.url}`);
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const two = path.join(dir, 'two.yaml');
      await fs.writeFile(two, 'apps:\n  - name: down\n    repo: down\n  - name: stand\n    repo: stand\n');
      const applied = await hotpull(['reload-config', '--config', two]);
      expect([applied.code, applied.stdout, applied.stderr]).toEqual([
        0,
        'config reloaded: 1 app added (c), 2 unchanged\n',
        '',
      ]);
      expect(asked).toEqual(['POST /reload-config']);
      answer = { status: 400, body: { ok: false, error: 'app "c": repo is required in /etc/apps.yaml' } as never };
      const refused = await hotpull(['reload-config', '--config', two]);
      expect([refused.code, refused.stdout, refused.stderr]).toEqual([
        2,
        '',
        'hotpull: app "c": repo is required in /etc/apps.yaml\n',
      ]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
