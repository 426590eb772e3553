import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandContext } from './context.js';
import { buildPipeline } from './pipeline.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../log.js';
import { Daemon } from '../sync/daemon.js';
import type { DeployRecord } from '../sync/status.js';
import { formatDuration } from '../duration.js';
import { configError, HotpullError, isHotpullError, oneLine } from '../errors.js';
import { buildFiles, FIRST_BUILD, initialFiles, PUSHES, RELOAD_FILE, versionOf } from '../demo/content.js';
import { commitAndPush, createSandbox, removeSandbox, type Sandbox } from '../demo/sandbox.js';
import { startApp, type RunningApp } from '../demo/app.js';
import { fetchServed, waitForVersion } from '../demo/probe.js';
import { notServedMessage, summary, tableHeader, tableRow, type DeployRow } from '../demo/report.js';

/** The probe's period: fine enough that it adds little to what it measures. */
const PROBE_MS = 20;
const GIVE_UP_MS = 15_000;
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
type Interrupt = keyof typeof SIGNAL_EXIT_CODES;

/** What the scenario has started so far: cleanup undoes exactly that, however far it got. */
interface Resources {
  sandbox?: Sandbox;
  app?: RunningApp;
  daemon?: Daemon;
  daemonStopped?: Promise<void>;
}

type Print = (text?: string) => void;

function parseArgs(args: readonly string[]): { keep: boolean } {
  const unknown = args.filter((a) => a !== 'keep');
  if (unknown.length > 0)
    throw configError(
      `demo takes one optional argument, "keep" (keep the sandbox); got ${JSON.stringify(unknown.join(' '))}`,
    );
  return { keep: args.includes('keep') };
}

function stopDaemon(resources: Resources): Promise<void> {
  if (!resources.daemon) return Promise.resolve();
  return (resources.daemonStopped ??= resources.daemon.stop());
}

/** The next pass the daemon finishes, whatever its outcome. */
function nextPass(daemon: Daemon, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const off = daemon.onPass(() => {
      off();
      resolve();
    });
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

async function scenario(
  context: CommandContext,
  resources: Resources,
  signal: AbortSignal,
  print: Print,
): Promise<number> {
  const sandbox = (resources.sandbox = await createSandbox({ files: initialFiles(), env: context.env, signal }));
  print(`hotpull demo: push a commit, time until the app serves it (everything in one temp dir)`);
  print(`  sandbox  ${sandbox.root}  (remote.git, dev/ pushes, app/ is deployed)`);

  const app = (resources.app = await startApp({
    dir: sandbox.root,
    checkout: sandbox.app,
    reloadFile: RELOAD_FILE,
    env: context.env,
    signal,
  }));
  const first = await fetchServed(app.url, signal);
  print(
    `  app      ${app.url}  pid ${app.pid}, serves ${first.version} ("${first.says}"), loads new code only when app/${RELOAD_FILE} is touched`,
  );

  // Flags only and an empty env: no HOTPULL_* variable or config file of the caller's may change the demo.
  const config = await loadConfig({
    flags: { repo: sandbox.app, interval: '500ms', touch: RELOAD_FILE, logLevel: 'warn' },
    env: {},
    cwd: sandbox.root,
    isTTY: false,
  });
  const logger = await createLogger({ level: config.logLevel, format: config.logFormat });
  const { target, engine } = await buildPipeline(config, sandbox.env, logger);
  signal.throwIfAborted();
  const daemon = (resources.daemon = new Daemon(engine, {
    intervalMs: config.interval,
    backoffMaxMs: config.backoffMax,
    logger,
  }));
  const passes = new Map<string, DeployRecord>();
  daemon.onPass((outcome) => {
    if (!(outcome instanceof Error) && outcome.kind === 'deployed') passes.set(outcome.record.to, outcome.record);
  });
  // Timing starts from a daemon that has already looked once, as a long-running sidecar would have.
  const settled = nextPass(daemon, signal);
  daemon.start();
  await settled;
  print(
    `  hotpull  follows ${target.remote}/${target.branch} into app/, polls every ${formatDuration(config.interval)}, touches ${RELOAD_FILE}`,
  );
  print();
  print(tableHeader());

  const rows: DeployRow[] = [];
  for (let build = FIRST_BUILD + 1; build <= FIRST_BUILD + PUSHES; build += 1) {
    const version = versionOf(build);
    // Pushing right after the previous deploy would lock every push to the same point of the poll cycle;
    // a real push lands anywhere in it.
    await sleep(Math.random() * config.interval, undefined, { signal });
    const sha = await commitAndPush(sandbox, buildFiles(build), `build ${build}`, signal);
    const pushedAt = performance.now();
    const result = await waitForVersion(app.url, version, {
      sinceMs: pushedAt,
      pollMs: PROBE_MS,
      timeoutMs: GIVE_UP_MS,
      signal,
    });
    const row: DeployRow = result.served
      ? {
          sha,
          version,
          servedAfterMs: result.afterMs,
          passMs: passes.get(sha)?.durations.total,
          says: result.answer.says,
        }
      : { sha, version, passMs: passes.get(sha)?.durations.total };
    rows.push(row);
    print(tableRow(row));
    if (!result.served) {
      // Later pushes would only wait out the same cause: stop at the first one that is not served.
      const { status } = engine;
      print();
      print(
        notServedMessage({
          version,
          sha,
          timeoutMs: GIVE_UP_MS,
          servedVersion: result.last?.version,
          probeError: result.lastError?.message,
          state: status.state,
          reason: status.reason,
          deployedSha: status.deployedSha,
        }),
      );
      break;
    }
  }
  print();
  print(summary(rows, config.interval));
  return rows.length === PUSHES && rows.every((r) => r.servedAfterMs !== undefined) ? 0 : 1;
}

/** Stops what was started, newest first; reports a step that failed instead of throwing over the result. */
async function cleanUp(resources: Resources, keep: boolean, print: Print): Promise<boolean> {
  let ok = true;
  const attempt = async (what: string, step: () => Promise<unknown>) => {
    try {
      await step();
    } catch (error) {
      ok = false;
      print(`demo cleanup: could not ${what}: ${oneLine(error)}`);
    }
  };
  await attempt('stop hotpull', () => stopDaemon(resources));
  await attempt('stop the app', async () => resources.app?.stop());
  const root = resources.sandbox?.root;
  if (root && keep) print(`kept ${root}`);
  if (root && !keep) {
    await attempt(`remove ${root}`, () => removeSandbox(root));
    if (ok) print(`removed ${root}`);
  }
  return ok;
}

/**
 * `hotpull demo [keep]`: a remote, a deployed checkout, an app server and the daemon, all in a temp dir;
 * five pushes, each timed from the end of `git push` to the app serving it. 0 = all served, 1 = not,
 * 130/143 = interrupted (everything is stopped and removed all the same).
 */
export async function demoCommand(context: CommandContext): Promise<number> {
  const { keep } = parseArgs(context.args);
  const print: Print = (text = '') => void context.stdout.write(`${text}\n`);
  const resources: Resources = {};
  const interrupt = new AbortController();
  let interruptedBy: Interrupt | undefined;
  let finished = false;
  const onSignal = (name: Interrupt) => () => {
    if (finished || interruptedBy) return;
    interruptedBy = name;
    interrupt.abort(new HotpullError('ABORTED', `demo interrupted by ${name}`));
    // At once, not after the scenario unwinds: Ctrl-C also kills hotpull's git, which must read as a stop,
    // not as a failed sync.
    void stopDaemon(resources).catch(() => undefined);
  };
  // `on`, not `once`: a second Ctrl-C during the cleanup must find a listener, or Node's default action would
  // kill the demo mid-cleanup.
  context.signals.on('SIGINT', onSignal('SIGINT'));
  context.signals.on('SIGTERM', onSignal('SIGTERM'));

  let outcome: { code: number } | { error: unknown };
  try {
    outcome = { code: await scenario(context, resources, interrupt.signal, print) };
  } catch (error) {
    // ABORTED without a signal seen yet: a terminal's Ctrl-C killed a git child before our handler ran.
    if (interruptedBy || isHotpullError(error, 'ABORTED')) {
      const name = interruptedBy ?? 'SIGINT';
      print();
      print(`${name}: stopping hotpull and the app${keep ? '' : ', removing the sandbox'}`);
      outcome = { code: SIGNAL_EXIT_CODES[name] };
    } else {
      outcome = { error };
    }
  }
  finished = true;
  const clean = await cleanUp(resources, keep, print);
  if ('error' in outcome) throw outcome.error;
  return outcome.code === 0 && !clean ? 1 : outcome.code;
}
