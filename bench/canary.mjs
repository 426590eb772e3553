#!/usr/bin/env node
// Issue 13: how many requests a broken commit fails, per way of judging it, on a real stack: supervisord running
// uWSGI (2 workers, lazy-apps, chain reload `c` over the master FIFO) and hotpull (polling every 200 ms), a prober
// at ~50 requests/s alternating `/` and `/report` on fresh connections. Per variant, from a good live revision:
//   broken 1  app.py raises at import
//   broken 2  `/` answers 500 (the health URL is `/`)
//   broken 3  report.py, imported lazily by the /report view only, has a syntax error
//   good      a good commit: push → first answer from it, and push → live (verified)
// After each broken commit the bench watches 12 s, then pushes the good code back (not counted) if it is served.
// Variants (all but `none` verify `/` with --health-expect {sha}, --health-timeout 10s):
//   none               no verification
//   verify (today)     the build given with --today DIR (a hotpull checkout with dist/, e.g. the main branch)
//   verify             this build: fail-fast verification
//   preflight          + --preflight "python3 -m compileall -q ." --preflight "python3 -c 'import app'"
//   canary             + --canary auto (derived from the uWSGI ini)
//   preflight+canary   both
// Load: the prober, and wrk (-t1, --wrk N connections, 4 by default; 0: none) on `/` for as long as the prober runs.
// A table goes to stdout, then one JSON line.
// Run: npm run build && node bench/canary.mjs [--today /work/main] [--only canary,verify] [--wrk N]
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  benchSandbox,
  git,
  machineContext,
  makeRemote,
  cloneCheckout,
  onCleanup,
  round,
  run,
  sleep,
  spawnTracked,
  stopTracked,
  table,
} from './lib.mjs';
import { fetchText, freePort, uwsgiMissing } from './uwsgi.mjs';

const { values: argv } = parseArgs({
  options: {
    today: { type: 'string' },
    only: { type: 'string' },
    observe: { type: 'string', default: '12000' },
    wrk: { type: 'string', default: '4' },
  },
  strict: true,
});
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PYTHON = '/usr/bin/python3';
const OBSERVE_MS = Number(argv.observe);
// shorter, and a variant without verification pushes the fix while uWSGI still runs the broken commit's chain
// reload, which drops the next one
if (!(OBSERVE_MS >= 8000)) throw new Error(`--observe must be at least 8000 (ms) (got ${argv.observe})`);
const WRK_CONNECTIONS = Number(argv.wrk);
if (!Number.isInteger(WRK_CONNECTIONS) || WRK_CONNECTIONS < 0)
  throw new Error(`--wrk must be a number of connections, 0 for none (got ${argv.wrk})`);
const LOAD = `prober ~50 req/s${WRK_CONNECTIONS > 0 ? `, wrk -t1 -c${WRK_CONNECTIONS} on /` : ', no wrk'}`;
const progress = (text) => process.stderr.write(`bench: ${text}\n`);
for (const missing of [
  uwsgiMissing(),
  existsSync('/usr/bin/supervisord') ? undefined : '/usr/bin/supervisord not found (apt-get install supervisor)',
  WRK_CONNECTIONS === 0 || existsSync('/usr/bin/wrk')
    ? undefined
    : '/usr/bin/wrk not found (apt-get install wrk, or --wrk 0)',
]) {
  if (missing) throw new Error(missing);
}

// ---------------------------------------------------------------------------------------------------------
// The app and its broken commits

const shaLine =
  'SHA = subprocess.run(["git", "-c", "safe.directory=*", "rev-parse", "HEAD"], cwd=os.path.dirname(os.path.abspath(__file__)), capture_output=True, text=True).stdout.strip()';
function appSource(version, { raiseAtImport = false, fail500 = false } = {}) {
  return [
    'import os',
    'import subprocess',
    `VERSION = ${JSON.stringify(version)}`,
    shaLine,
    ...(raiseAtImport ? ['raise RuntimeError("broken at import")'] : []),
    '',
    'def application(environ, start_response):',
    '    path = environ.get("PATH_INFO", "")',
    '    status = "200 OK"',
    '    if path == "/report":',
    '        import report',
    '        body = report.render(VERSION, SHA)',
    '    else:',
    `        body = "version=%s sha=%s" % (VERSION, SHA)`,
    ...(fail500 ? ['        status = "500 Internal Server Error"'] : []),
    '    data = body.encode("utf-8")',
    '    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])',
    '    return [data]',
    '',
  ].join('\n');
}
const REPORT = 'def render(version, sha):\n    return "report %s %s" % (version, sha)\n';
const REPORT_BROKEN = 'def render(version, sha)\n    return "report %s %s" % (version, sha)\n';
const BROKEN = [
  { name: 'import error', files: (v) => ({ 'app.py': appSource(v, { raiseAtImport: true }) }) },
  { name: '500 on /', files: (v) => ({ 'app.py': appSource(v, { fail500: true }) }) },
  { name: 'lazy syntax error', files: (v) => ({ 'app.py': appSource(v), 'report.py': REPORT_BROKEN }) },
];

const ini = (dir, run) =>
  [
    '[uwsgi]',
    'plugins = python3',
    `chdir = ${dir}`,
    `wsgi-file = ${dir}/app.py`,
    'master = true',
    'processes = 2',
    'lazy-apps = true',
    `master-fifo = ${run}/uwsgi.fifo`,
    'http-socket = 127.0.0.1:%(port)',
    'die-on-term = true',
    'disable-logging = true',
    'worker-reload-mercy = 10',
    '',
  ].join('\n');

// ---------------------------------------------------------------------------------------------------------
// One variant: its own repo, checkout, supervisord, uWSGI and hotpull

const VARIANTS = [
  { name: 'none', flags: () => [] },
  { name: 'verify (today)', today: true, flags: (h) => h.verify },
  { name: 'verify', flags: (h) => h.verify },
  { name: 'preflight', flags: (h) => [...h.verify, ...h.preflight] },
  { name: 'canary', flags: (h) => [...h.verify, '--canary', 'auto'] },
  { name: 'preflight+canary', flags: (h) => [...h.verify, ...h.preflight, '--canary', 'auto'] },
].filter((v) => (!v.today || argv.today) && (!argv.only || argv.only.split(',').includes(v.name)));

async function runVariant(variant) {
  const { root, env } = await benchSandbox('hotpull-bench-canary-');
  const runDir = path.join(root, 'run');
  await mkdir(runDir);
  const appPort = await freePort();
  const hotpullPort = await freePort();
  const { bare, author } = await makeRemote(root, env, {
    'app.py': appSource('v0'),
    'report.py': REPORT,
    'uwsgi.ini': '',
  });
  const checkout = path.join(root, 'checkout');
  // the ini names the checkout: commit it, as a repo would
  await writeFile(path.join(author, 'uwsgi.ini'), ini(checkout, runDir).replace('%(port)', String(appPort)));
  await git(author, env, 'commit', '--quiet', '-am', 'uwsgi.ini');
  await git(author, env, 'push', '--quiet', 'origin', 'main');
  await cloneCheckout(root, env, bare, 'checkout');

  const cli = variant.today ? path.join(path.resolve(argv.today), 'dist/cli.js') : path.join(ROOT, 'dist/cli.js');
  const url = `http://127.0.0.1:${appPort}`;
  const h = {
    verify: ['--health-url', `${url}/`, '--health-expect', 'sha={sha}', '--health-timeout', '10s'],
    preflight: ['--preflight', `${PYTHON} -m compileall -q .`, '--preflight', `${PYTHON} -c 'import app'`],
  };
  const hotpullArgs = [
    cli,
    'run',
    '--repo',
    checkout,
    '--interval',
    '200ms',
    '--reload',
    `uwsgi-fifo:${runDir}/uwsgi.fifo:c`,
    '--listen',
    `127.0.0.1:${hotpullPort}`,
    ...variant.flags(h),
  ];
  const quote = (s) => `'${s.replaceAll("'", `'\\''`)}'`;
  const conf = [
    '[supervisord]',
    'nodaemon=true',
    `logfile=${runDir}/supervisord.log`,
    `pidfile=${runDir}/supervisord.pid`,
    '[unix_http_server]',
    `file=${runDir}/supervisor.sock`,
    '[rpcinterface:supervisor]',
    'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
    '[supervisorctl]',
    `serverurl=unix://${runDir}/supervisor.sock`,
    '[program:uwsgi]',
    `command=/usr/bin/uwsgi --ini ${checkout}/uwsgi.ini`,
    'stopsignal=INT',
    'stopasgroup=true',
    'killasgroup=true',
    `stdout_logfile=${runDir}/uwsgi.log`,
    'redirect_stderr=true',
    '[program:hotpull]',
    `command=${process.execPath} ${hotpullArgs.map(quote).join(' ')}`,
    'stopsignal=TERM',
    'stopasgroup=true',
    'killasgroup=true',
    `stdout_logfile=${runDir}/hotpull.log`,
    'redirect_stderr=true',
    '',
  ].join('\n');
  await writeFile(path.join(runDir, 'supervisord.conf'), conf);
  const childEnv = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('UWSGI_')));
  childEnv.HOTPULL_LOG_FORMAT = 'json';
  const supervisord = spawnTracked('/usr/bin/supervisord', ['-c', path.join(runDir, 'supervisord.conf')], {
    cwd: root,
    env: childEnv,
    stdio: 'ignore',
    detached: true,
  });

  const status = async () => {
    const a = await fetchText(`http://127.0.0.1:${hotpullPort}/status`, 2000);
    try {
      return a.status === 200 ? JSON.parse(a.body) : undefined;
    } catch {
      return undefined;
    }
  };
  const waitUntil = async (what, check, timeoutMs = 60_000) => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value) return value;
      if (performance.now() > deadline)
        throw new Error(`${variant.name}: timed out waiting for ${what}; see ${runDir}`);
      await sleep(50);
    }
  };
  const served = async (sha) => {
    const [a, b] = await Promise.all([fetchText(`${url}/`, 2000), fetchText(`${url}/report`, 2000)]);
    return a.status === 200 && a.body.includes(sha) && b.status === 200 && b.body.includes(sha);
  };
  let head = await git(author, env, 'rev-parse', 'HEAD');
  await waitUntil('the stack', async () => (await served(head)) && (await status())?.state === 'idle');
  // supervisord's programs lead process groups of their own: a bench that is killed (its exit handler SIGKILLs
  // supervisord) must take them down itself
  for (const program of ['uwsgi', 'hotpull']) {
    const pid = Number(
      (
        await run('/usr/bin/supervisorctl', ['-c', path.join(runDir, 'supervisord.conf'), 'pid', program], {
          env: childEnv,
        })
      ).stdout,
    );
    if (pid > 0) onCleanup(() => process.kill(-pid, 'SIGKILL'));
  }

  // Background load on the app, for as long as the prober runs (its answers are not counted)
  const wrk =
    WRK_CONNECTIONS > 0
      ? spawnTracked('/usr/bin/wrk', ['-t1', `-c${WRK_CONNECTIONS}`, '-d3600s', `${url}/`], {
          stdio: 'ignore',
          detached: true,
        })
      : undefined;
  // The prober: ~50 requests/s, `/` and `/report` in turn, each on a fresh connection.
  const answers = [];
  let probing = true;
  const prober = (async () => {
    for (let i = 0; probing; i++) {
      const started = performance.now();
      const a = await fetchText(`${url}${i % 2 ? '/report' : '/'}`, 2000);
      answers.push({ at: started, ok: a.status === 200 });
      await sleep(Math.max(0, 20 - (performance.now() - started)));
    }
  })();

  let n = 0;
  const push = async (files, message) => {
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(author, name), text);
    await git(author, env, 'commit', '--quiet', '-am', message);
    const at = performance.now();
    await git(author, env, 'push', '--quiet', 'origin', 'main');
    head = await git(author, env, 'rev-parse', 'HEAD');
    return { sha: head, at };
  };
  const goodFiles = () => ({ 'app.py': appSource(`v${++n}`), 'report.py': REPORT });

  const results = {};
  for (const broken of BROKEN) {
    const { sha, at } = await push(broken.files(`v${++n}`), broken.name);
    let rejectedAt;
    const watchEnd = at + OBSERVE_MS;
    while (performance.now() < watchEnd) {
      const s = await status();
      if (rejectedAt === undefined && s?.rejectedSha === sha) rejectedAt = performance.now();
      await sleep(50);
    }
    const failed = answers.filter((a) => a.at >= at && a.at < watchEnd && !a.ok);
    const window = failed.length === 0 ? 0 : failed.at(-1).at - failed[0].at;
    const s = await status();
    results[broken.name] = {
      failed: failed.length,
      requests: answers.filter((a) => a.at >= at && a.at < watchEnd).length,
      errorWindowS: round(window / 1000, 1),
      pushToRejectedS: rejectedAt === undefined ? null : round((rejectedAt - at) / 1000, 2),
      endState: s?.state,
      stillServedAtEnd: failed.length > 0 && failed.at(-1).at > watchEnd - 1000,
    };
    progress(`${variant.name} / ${broken.name}: ${JSON.stringify(results[broken.name])}`);
    // back to good code (not counted)
    const fix = await push(goodFiles(), 'fix');
    await waitUntil(
      'the fix served',
      async () => (await served(fix.sha)) && ['idle'].includes((await status())?.state),
    );
    // every worker on it, the chain reload over (uWSGI drops one asked for while one runs: `none` fires blindly)
    await waitUntil('every worker on the fix', async () => {
      for (let k = 0; k < 10; k++) if (!(await served(fix.sha))) return false;
      return true;
    });
    await sleep(1500);
  }

  // Good commits: push → first answer from it (served) and push → live, three times
  const good = [];
  for (let i = 0; i < 3; i++) {
    await sleep(i === 0 ? 0 : 4000);
    const { sha, at } = await push(goodFiles(), 'good');
    let firstAnswer;
    let live;
    await waitUntil('the good commit live', async () => {
      if (firstAnswer === undefined && (await fetchText(`${url}/`, 2000)).body?.includes(sha))
        firstAnswer = performance.now();
      const s = await status();
      if (live === undefined && s?.deploys?.[0]?.to === sha && ['live', 'reloaded'].includes(s.deploys[0].result))
        live = performance.now();
      return firstAnswer !== undefined && live !== undefined;
    });
    good.push({ servedS: (firstAnswer - at) / 1000, liveS: (live - at) / 1000 });
  }
  probing = false;
  await prober;
  if (wrk) await stopTracked(wrk, 5000);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  results.good = {
    servedS: round(median(good.map((g) => g.servedS)), 2),
    liveS: round(median(good.map((g) => g.liveS)), 2),
    runs: good.map((g) => round(g.servedS, 2)),
  };
  progress(`${variant.name} / good: ${JSON.stringify(results.good)}`);
  await stopTracked(supervisord, 20_000);
  return results;
}

// ---------------------------------------------------------------------------------------------------------

const context = machineContext({ uwsgi: ['/usr/bin/uwsgi', ['--version']] });
const all = {};
for (const variant of VARIANTS) {
  progress(`variant ${variant.name}`);
  all[variant.name] = await runVariant(variant);
}
const names = Object.keys(all);
const cell = (r) => `${r.failed}/${r.requests} in ${r.errorWindowS}s${r.stillServedAtEnd ? ' (still broken)' : ''}`;
const rows = [];
for (const broken of BROKEN) {
  rows.push([`${broken.name}: failed/requests, window`, ...names.map((v) => cell(all[v][broken.name]))]);
  rows.push([
    `${broken.name}: push → rejected`,
    ...names.map((v) =>
      all[v][broken.name].pushToRejectedS === null ? '—' : `${all[v][broken.name].pushToRejectedS}s`,
    ),
  ]);
}
const base = all.verify?.good.servedS;
rows.push(['good: push → first answer (median of 3)', ...names.map((v) => `${all[v].good.servedS}s`)]);
rows.push(['good: push → live', ...names.map((v) => `${all[v].good.liveS}s`)]);
if (base !== undefined)
  rows.push(['good: served, over verify', ...names.map((v) => `${round(all[v].good.servedS - base, 2)}s`)]);
console.log(
  `load: ${LOAD}; load average ${context.loadavgStart.join(' ')} at the start, ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} at the end`,
);
console.log(table(['', ...names], rows));
console.log(JSON.stringify({ context: { ...context, observeMs: OBSERVE_MS, load: LOAD }, results: all }));
