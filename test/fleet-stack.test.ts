/**
 * Issue 28's first Done-when on the stack it names: three replicas, each its own real supervisord running a real
 * uWSGI (2 workers, graceful reload `r` through its master FIFO) and a real `hotpull run` (the `[program:hotpull]`
 * section `hotpull supervisor-config` prints, src/supervisor/program.ts), on checkouts of one bare repo. The canary
 * has no --after; the two followers wait for it (`--after <canary's listener> --after-bake 1s`). Every replica is
 * verified by its own app's /health (`--health-expect '{short_sha}'`: the app names the revision it imported). Loopback
 * only: the listeners on port 0 (read from each hotpull's log), uWSGI on a free ephemeral port. One stack for the
 * file: a good push, then one whose /health answers 500 (only the canary ever runs it).
 */
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { itNeeds } from './helpers/requires.js';
import { commitAndPush, git, headOf, makeSandbox, type Sandbox } from './helpers/git.js';
import { waitFor } from './helpers/hotpull.js';
import { BIN, runHotpull, startHotpull, stop, type Proc } from './helpers/procs.js';
import { startSupervisord, supervisorMissing, type Supervisord } from './helpers/supervisord.js';
import { fetchText, freePort, UWSGI_BIN, uwsgiArgs, uwsgiMissing, waitWorkersReady } from './helpers/uwsgi.js';
import { wsgiAppSource } from './helpers/wsgi-app.js';
import { programBlock, quoteCommandArg } from '../src/supervisor/program.js';

const it = itNeeds('uwsgi', 'supervisord');
const missing = uwsgiMissing() ?? supervisorMissing();
const NO_SECRET = { HOTPULL_WEBHOOK_SECRET: undefined } as unknown as NodeJS.ProcessEnv;
const BAKE_MS = 1000;
const DRIFT_AFTER_MS = 500;

interface Replica {
  name: string;
  dir: string;
  checkout: string;
  sup: Supervisord;
  /** the app (uWSGI) */
  app: string;
  /** hotpull's listener */
  url: string;
}

type Status = Record<string, any>;
interface Row {
  name: string;
  url: string;
  reachable: boolean;
  failing: boolean;
  odd: boolean;
  error?: string;
  status: Status;
}
interface View {
  at: string;
  exitCode: number;
  revision?: { sha: string };
  drift?: { revisions: Array<{ sha: string; replicas: string[] }>; forMs?: number; afterMs: number; flagged: boolean };
  failing: string[];
  unreachable: string[];
  replicas: Row[];
}

let sb: Sandbox | undefined;
const replicas: Replica[] = [];
const short = (sha: string) => sha.slice(0, 7);
const nameOf = (r: Replica) => new URL(r.url).host;
const readText = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/** One replica: its own supervisord with [program:uwsgi] and [program:hotpull]; resolves once hotpull listens. */
async function startReplica(name: string, checkout: string, after?: string): Promise<Replica> {
  const dir = path.join(sb!.root, name);
  await fs.mkdir(dir);
  const port = await freePort();
  const hotpullLog = path.join(dir, 'hotpull.log');
  const uwsgi = uwsgiArgs(
    { dir: checkout, workers: 2, masterFifo: path.join(dir, 'uwsgi.fifo') },
    port,
    path.join(dir, 'uwsgi.log'),
    path.join(dir, 'stats.sock'),
  );
  const hotpull = programBlock({
    command: [
      ...[process.execPath, BIN, 'run', '--repo', checkout, '--listen', '127.0.0.1:0', '--interval', '300ms'],
      ...['--reload', `uwsgi-fifo:${path.join(dir, 'uwsgi.fifo')}:r`],
      ...['--health-url', `http://127.0.0.1:${port}/health`, '--health-expect', '{short_sha}'],
      ...['--health-settle', '100ms', '--health-timeout', '10s'],
      ...(after ? ['--after', after, '--after-bake', `${BAKE_MS}ms`] : []),
    ],
    environment: [['HOTPULL_LOG_FORMAT', 'json']],
    withheld: [],
  });
  const sock = path.join(dir, 'supervisor.sock');
  const sup = await startSupervisord({
    dir,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: sb!.root, LANG: 'C.UTF-8', PYTHONDONTWRITEBYTECODE: '1' },
    conf: [
      '[supervisord]',
      'nodaemon=true',
      `logfile=${path.join(dir, 'supervisord.log')}`,
      `pidfile=${path.join(dir, 'supervisord.pid')}`,
      '[unix_http_server]',
      `file=${sock}`,
      '[rpcinterface:supervisor]',
      'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
      '[supervisorctl]',
      `serverurl=unix://${sock}`,
      '[program:uwsgi]',
      `command=${[UWSGI_BIN, ...uwsgi].map(quoteCommandArg).join(' ')}`,
      // SIGTERM is a brutal reload to uWSGI 2.0; INT stops it
      'stopsignal=INT',
      'stopwaitsecs=5',
      'stopasgroup=true',
      'killasgroup=true',
      'startsecs=1',
      'redirect_stderr=true',
      `stdout_logfile=${path.join(dir, 'uwsgi.out')}`,
      hotpull.trimEnd(),
      `stdout_logfile=${hotpullLog}`,
      '',
    ].join('\n'),
  });
  const replica: Replica = { name, dir, checkout, sup, app: `http://127.0.0.1:${port}`, url: '' };
  replicas.push(replica);
  const listening = await waitFor(
    `${name}'s hotpull listening`,
    () => /"url":"(http:\/\/127\.0\.0\.1:\d+)\/?"[^\n]*"msg":"listening on /.exec(readText(hotpullLog)),
    30_000,
  );
  replica.url = listening[1]!;
  return replica;
}

const statusOf = async (r: Replica): Promise<Status> => (await (await fetch(`${r.url}/status`)).json()) as Status;
const until = (what: string, r: Replica, check: (s: Status) => boolean, timeoutMs = 30_000) =>
  waitFor(
    `${r.name}: ${what}`,
    async () => {
      const status = await statusOf(r).catch(() => undefined);
      return status && check(status) ? status : undefined;
    },
    timeoutMs,
  );
const health = async (r: Replica) => {
  const answer = await fetchText(`${r.app}/health`);
  return 'body' in answer ? `${answer.status} ${answer.body}` : answer.error;
};
const peers = () => replicas.flatMap((r) => ['--peer', r.url]);
const fleet = (args: string[]) =>
  runHotpull(['fleet', ...peers(), '--drift-after', `${DRIFT_AFTER_MS}ms`, ...args], {
    env: NO_SECRET,
    timeoutMs: 30_000,
  });
const FIELDS = ['deployedSha', 'state', 'verified', 'since', 'reason', 'rejectedSha', 'lastGoodSha'];

/** `hotpull fleet --json` at rest: each row's fields equal that replica's /status before and after the call. */
async function expectJsonAgrees(): Promise<View> {
  const pick = (s: Status) => Object.fromEntries(FIELDS.map((k) => [k, s[k]]));
  const before = await Promise.all(replicas.map(statusOf));
  const result = await fleet(['--json']);
  const after = await Promise.all(replicas.map(statusOf));
  expect(after.map(pick), 'the replicas moved during the call').toEqual(before.map(pick));
  const view = JSON.parse(result.stdout) as View;
  expect(view.exitCode).toBe(result.code);
  expect(view.replicas).toHaveLength(3);
  replicas.forEach((r, i) => {
    const row = view.replicas.find((x) => x.name === nameOf(r))!;
    expect(row, r.name).toMatchObject({ url: `${r.url}/status`, reachable: true });
    for (const key of FIELDS) expect(row.status[key], `${r.name} ${key}`).toEqual(after[i]![key]);
  });
  return view;
}

beforeAll(async () => {
  if (missing) return;
  sb = await makeSandbox({ files: { 'app.py': wsgiAppSource('v1', { reportSha: true }) } });
  const clones = ['web-1', 'web-2'].map((n) => path.join(sb!.root, `${n}.checkout`));
  for (const dir of clones) await git(sb.root, 'clone', '-q', '--branch', 'main', sb.bare, dir);
  const canary = await startReplica('canary', sb.checkout);
  await Promise.all(clones.map((dir, i) => startReplica(`web-${i + 1}`, dir, canary.url)));
  // a reload sent before every worker accepts is lost for the late one (test/helpers/uwsgi.ts)
  const uwsgiOf = (r: Replica) => ({
    statsSocket: path.join(r.dir, 'stats.sock'),
    logs: async () => readText(path.join(r.dir, 'uwsgi.log')),
  });
  await Promise.all(replicas.map((r) => waitWorkersReady(uwsgiOf(r), 30_000)));
  replicas.sort((a, b) => a.name.localeCompare(b.name));
  const first = await headOf(sb.checkout);
  for (const r of replicas) {
    await until('idle', r, (s) => s.state === 'idle' && s.deployedSha === first);
    expect(await health(r)).toBe(`200 ok v1 ${first}`);
  }
}, 90_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.sup.stop()));
  await sb?.cleanup();
});

describe(
  'a three-replica fleet on supervisord + uWSGI: canary first, the others after the bake',
  { timeout: 90_000 },
  () => {
    it('a good push: the canary live first, the followers held through the bake, then live; fleet --watch shows each step and flags the drift while it lasts; --json agrees with each /status', async () => {
      const [canary, web1, web2] = [replicas[0]!, replicas[1]!, replicas[2]!];
      const old = await headOf(sb!.checkout);
      const watchArgs = ['fleet', ...peers(), '--drift-after', `${DRIFT_AFTER_MS}ms`, '--watch', '--interval', '200ms'];
      const watchers: Proc[] = [
        startHotpull([...watchArgs, '--json'], { env: NO_SECRET }),
        startHotpull(watchArgs, { env: NO_SECRET }),
      ];
      const [json, text] = watchers as [Proc, Proc];
      try {
        await waitFor(
          'both watchers on their first round',
          () => json.stdout().includes('\n') && text.stdout().includes('all 3 replicas on'),
          20_000,
        );
        const sha = await commitAndPush(sb!, { 'app.py': wsgiAppSource('v2', { reportSha: true }) }, 'v2: a good push');
        const live = await until('live on v2', canary, (s) => s.deployedSha === sha && s.verified === true);
        for (const f of [web1, web2]) {
          const held = await until('held, baking', f, (s) => String(s.reason).includes(' is live on '));
          expect(held).toMatchObject({ state: 'held', deployedSha: old });
          expect(held.reason).toMatch(
            new RegExp(`^${short(sha)} is live on --after ${nameOf(canary).replaceAll('.', '\\.')}, applied here in`),
          );
        }
        for (const f of [web1, web2]) {
          const done = await until('live on v2', f, (s) => s.deployedSha === sha && s.verified === true);
          expect(Date.parse(done.deploys[0].at) - Date.parse(live.since)).toBeGreaterThanOrEqual(BAKE_MS);
          expect(await headOf(f.checkout)).toBe(sha);
        }
        for (const r of replicas) expect(await health(r)).toBe(`200 ok v2 ${sha}`);
        await waitFor(
          'a watch round with all three on v2',
          () => json.stdout().includes(`"exitCode":0,"revision":{"sha":"${sha}"`),
          20_000,
        );
        await waitFor(
          'the text view says so',
          () => text.stdout().includes(`all 3 replicas on ${short(sha)} v2: a good push`),
          20_000,
        );
        expect((await stop(json, 'SIGINT')).code).toBe(0);
        expect((await stop(text, 'SIGINT')).code).toBe(0);

        const rounds = json
          .stdout()
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as View);
        const row = (v: View, r: Replica) => v.replicas.find((x) => x.name === nameOf(r))!;
        // the step, for each follower: the canary verified on v2, the follower still on v1, held baking, not failing
        const baking = (v: View, f: Replica) =>
          row(v, canary).status.deployedSha === sha &&
          row(v, canary).status.verified === true &&
          row(v, f).status.deployedSha === old &&
          / is live on --after /.test(String(row(v, f).error));
        const steps = [web1, web2].map((f) => rounds.findIndex((v) => baking(v, f)));
        for (const [i, f] of [web1, web2].entries()) {
          expect(steps[i], `a round with the canary verified on v2 and ${f.name} baking on v1`).toBeGreaterThanOrEqual(
            0,
          );
          expect(row(rounds[steps[i]!]!, f)).toMatchObject({
            failing: false,
            status: { state: 'held' },
            error: expect.stringMatching(
              new RegExp(
                `^${short(sha)} is live on --after ${nameOf(canary)}, applied here in [\\d.]+m?s \\(--after-bake 1s\\)$`,
              ),
            ),
          });
        }
        // while the canary still verified, the followers already held, waiting for it: no round has them failing
        for (const v of rounds) expect(v.failing, v.at).toEqual([]);
        // drift: said from the first round the replicas differ, flagged exactly while it has lasted over --drift-after
        const drifting = rounds.filter((v) => v.drift);
        expect(drifting.length).toBeGreaterThan(0);
        for (const v of drifting) {
          expect(v.drift!.flagged, JSON.stringify(v.drift)).toBe(v.drift!.forMs! > DRIFT_AFTER_MS);
          expect(v.exitCode).toBe(v.drift!.flagged ? 1 : 0);
          expect(v.unreachable).toEqual([]);
        }
        const flagged = rounds.find((v) => v.drift?.flagged);
        expect(flagged, 'a round flagging the drift').toBeDefined();
        expect(flagged!.drift!.revisions).toEqual(
          expect.arrayContaining([expect.objectContaining({ sha, replicas: [nameOf(canary)] })]),
        );
        // in order: nothing reaches a follower before the canary verified it; the last round all on v2, exit 0
        const firstOnV2 = (r: Replica) => rounds.findIndex((v) => row(v, r).status.deployedSha === sha);
        for (const [i, f] of [web1, web2].entries()) {
          expect(firstOnV2(canary)).toBeLessThanOrEqual(steps[i]!);
          expect(firstOnV2(f)).toBeGreaterThan(steps[i]!);
        }
        expect(rounds.at(-1)).toMatchObject({ exitCode: 0, revision: { sha }, failing: [], unreachable: [] });
        expect(rounds.at(-1)!.drift).toBeUndefined();
        // the text view, a line per change: the held followers, the drift flagged, then all on v2
        const lines = text.stdout();
        for (const f of [web1, web2])
          expect(lines).toMatch(
            new RegExp(
              `^\\S+Z  ${nameOf(f)}  ${short(old)} initial commit  held  .*  ${short(sha)} is live on --after`,
              'm',
            ),
          );
        const followers = [web1, web2].map(nameOf).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
        expect(lines).toContain(
          `  2 revisions (drift: longer than 500ms): ${short(old)} on ${followers.join(', ')}; ${short(sha)} on ${nameOf(canary)}\n`,
        );

        const rest = await expectJsonAgrees();
        expect(rest).toMatchObject({ exitCode: 0, revision: { sha }, failing: [], unreachable: [] });
      } finally {
        await Promise.all(watchers.filter((w) => w.alive()).map((w) => stop(w, 'SIGKILL')));
      }
    });

    it('a push that fails only the canary verification never reaches the followers: held naming its verdict, checkout and served revision unchanged; the fleet view says so', async () => {
      const [canary, web1, web2] = [replicas[0]!, replicas[1]!, replicas[2]!];
      const good = await headOf(sb!.checkout);
      const bad = await commitAndPush(
        sb!,
        { 'app.py': wsgiAppSource('v3', { reportSha: true, failHealth: true }) },
        'v3: health 500',
      );
      const rolled = await until(
        'rolled v3 back',
        canary,
        (s) => s.rejectedSha === bad && s.deployedSha === good && s.state !== 'verifying',
      );
      expect(rolled.deploys[0]).toMatchObject({ to: bad, result: 'rolled-back' });
      expect(await health(canary)).toBe(`200 ok v2 ${good}`);
      const verdict = new RegExp(
        `^--after ${nameOf(canary).replaceAll('.', '\\.')} rolled-back ${short(bad)} \\(answered 5xx on every probe for .*\\): ${short(bad)} is not applied here$`,
      );
      for (const f of [web1, web2]) {
        const held = await until('held on the verdict', f, (s) =>
          String(s.reason).includes(`rolled-back ${short(bad)}`),
        );
        expect(held).toMatchObject({ state: 'held', deployedSha: good });
        expect(held.reason).toMatch(verdict);
      }
      // over three more polls of each: still held, the checkout and what uWSGI serves unchanged
      for (let i = 0; i < 3; i++)
        for (const f of [web1, web2]) {
          const polled = (await statusOf(f)).lastSuccessAt;
          const s = await until('another poll', f, (x) => x.lastSuccessAt !== polled);
          expect(s).toMatchObject({ state: 'held', deployedSha: good });
          expect(await headOf(f.checkout)).toBe(good);
          expect(await health(f)).toBe(`200 ok v2 ${good}`);
        }

      const view = await expectJsonAgrees();
      expect(view.revision).toMatchObject({ sha: good });
      expect(view.drift).toBeUndefined();
      for (const f of [web1, web2])
        expect(view.replicas.find((x) => x.name === nameOf(f))).toMatchObject({
          failing: false,
          error: expect.stringMatching(verdict),
        });
      const table = await fleet([]);
      for (const f of [web1, web2])
        expect(table.stdout).toMatch(
          new RegExp(`^ {2}${nameOf(f)}\\s+${short(good)} v2: a good push\\s+held\\s+.*rolled-back ${short(bad)}`, 'm'),
        );
      // the canary says its own verdict: rejected (a problem state), back on v2, verified; the only one failing
      expect(view.replicas.find((x) => x.name === nameOf(canary))).toMatchObject({
        failing: true,
        status: { state: 'rejected', deployedSha: good, rejectedSha: bad, verified: true },
        error: expect.stringMatching(new RegExp(`^${short(bad)} failed verification \\(answered 5xx on every probe`)),
      });
      expect(view).toMatchObject({ exitCode: 1, failing: [nameOf(canary)], unreachable: [] });
      expect(table.stdout).toMatch(
        new RegExp(`^! ${nameOf(canary)}\\s+${short(good)} v2: a good push\\s+rejected\\s`, 'm'),
      );
      expect(table.stdout).toContain(`all 3 replicas on ${short(good)} v2: a good push\nfailing: ${nameOf(canary)}\n`);
      expect(table.code).toBe(1);
    });
  },
);
