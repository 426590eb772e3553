import { shortSha } from '../sha.js';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { configError } from '../errors.js';
import { killGroup } from '../proc/exec.js';
import { processStartTime } from '../proc/procfs.js';
import {
  endJudgeProcesses,
  enterJudgeCgroup,
  judgeCgroup,
  judgeProcessesAlive,
  JUDGE_MARK,
  type Leftover,
} from './judge-procs.js';
import { runPreflight, type JudgeContext, type JudgeVerdict } from './preflight.js';
import { inSlot } from '../proc/slots.js';
import { runCanary, type CanaryCheck } from './canary.js';
import { deriveGunicornCanary, deriveUwsgiCanary, parseUwsgiIni, type DerivedCanary } from './canary-auto.js';

/**
 * Where `--canary auto` reads the app server's configuration: a file of the repo, read from the staged tree at
 * each deploy (a commit may change it), with the paths production uses for it.
 */
export type AutoSource =
  | { kind: 'uwsgi'; file: string; iniPath: string; checkout: string }
  | { kind: 'gunicorn'; file?: string; configPath?: string; checkout: string; app?: string };

export interface Judge {
  preflight: readonly string[];
  /** a command template, or what `auto` reads */
  canary?: { command: string } | { auto: AutoSource };
  timeoutMs: number;
  /** the --health-url path and query ('/' without one), --health-expect, --health-settle (capped) */
  path: string;
  expect?: string;
  settleMs: number;
  /** tests: force a port */
  pickPort?: CanaryCheck['pickPort'];
}

/** A canary is a throwaway single worker: a short settle window says what a long one would. */
export const CANARY_SETTLE_MAX_MS = 500;

/**
 * `--canary auto` at start: which configuration of the checkout the canary comes from. uWSGI: the ini hotpull
 * touches (--touch/--reload touch:*.ini), else uwsgi.ini, else a top-level *.ini with a [uwsgi] section;
 * gunicorn: gunicorn.conf.py, else wsgi.py (wsgi:application). Nothing found: a config error.
 */
export async function findAutoSource(checkout: string, touched: readonly string[]): Promise<AutoSource> {
  const names = await fs.readdir(checkout).catch(() => [] as string[]);
  const candidates = [
    ...touched.filter((f) => f.endsWith('.ini')).map((f) => path.relative(checkout, path.resolve(checkout, f))),
    'uwsgi.ini',
    ...names.filter((n) => n.endsWith('.ini')).sort(),
  ];
  for (const file of candidates) {
    if (file.startsWith('..')) continue;
    const text = await fs.readFile(path.join(checkout, file), 'utf8').catch(() => undefined);
    if (text !== undefined && parseUwsgiIni(text).length > 0)
      return { kind: 'uwsgi', file, iniPath: path.join(checkout, file), checkout };
  }
  if (names.includes('gunicorn.conf.py')) {
    return {
      kind: 'gunicorn',
      file: 'gunicorn.conf.py',
      configPath: path.join(checkout, 'gunicorn.conf.py'),
      checkout,
    };
  }
  if (names.includes('wsgi.py')) return { kind: 'gunicorn', checkout, app: 'wsgi:application' };
  throw configError(
    `--canary auto found no app server configuration in ${checkout} (a uWSGI ini with a [uwsgi] section, gunicorn.conf.py or wsgi.py); give --canary "CMD" with {port} and {dir}`,
  );
}

/** The canary command for one staged tree (auto: derived from the staged revision's own configuration). */
export async function canaryCommand(
  canary: NonNullable<Judge['canary']>,
  stagedDir: string,
): Promise<DerivedCanary | { error: string }> {
  if ('command' in canary) return { command: canary.command, description: canary.command };
  const source = canary.auto;
  const read = async (file: string) => fs.readFile(path.join(stagedDir, file), 'utf8').catch(() => undefined);
  if (source.kind === 'uwsgi') {
    const text = await read(source.file);
    if (text === undefined) return { error: `${source.file} is not in the staged revision` };
    return deriveUwsgiCanary({ text, iniPath: source.iniPath, checkout: source.checkout });
  }
  const configText = source.file === undefined ? undefined : await read(source.file);
  return deriveGunicornCanary({
    configText,
    configPath: source.configPath,
    checkout: source.checkout,
    app: source.app,
  });
}

export { JUDGE_MARK } from './judge-procs.js';

interface ChildRecord {
  pid?: number;
  start?: string;
  /** the judge's cgroup, where one could be made */
  cgroup?: string;
}

/**
 * What an interrupted judge left running (a hotpull killed with -9 cannot end it) is ended by the next judge,
 * before the stage is prepared again (it may still be writing there), and at start. The record is written before
 * the first command starts, with the judge's cgroup where there is one, and names the running command's process
 * group (pid and start time) once it has one; while the record is there, every process whose environment carries
 * JUDGE_MARK for it, and everything in that cgroup, is also ended, with its process group. That covers what a
 * command moved to a group or session of its own (setsid, a daemonizing server); a kill between a command's spawn
 * and its pid being written leaves nothing, since the command waits for the record (runShell's gate). Nothing is
 * served from the stage, so only the processes matter.
 */
export async function endInterruptedJudge(file: string, logger: Logger): Promise<void> {
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  await removeTemporaries(file);
  if (text === undefined) return;
  const groups = new Set<number>();
  let cgroup: string | undefined;
  try {
    const record = JSON.parse(text) as ChildRecord;
    cgroup = record.cgroup;
    const { pid, start } = record;
    if (pid !== undefined && start !== undefined && (await processStartTime(pid)) === start) groups.add(pid);
  } catch {
    // a record torn by the kill: what it named is still found by its mark below
  }
  for (const pgid of groups) killGroup(pgid, 'SIGKILL');
  for (const { pgid } of await endJudgeProcesses(file, cgroup)) groups.add(pgid);
  for (const pgid of groups)
    logger.warn(
      { pid: pgid },
      `ended the staged hook, preflight or canary an interrupted hotpull left running (process group ${pgid})`,
    );
  await fs.rm(file, { force: true });
}

/** A temporary record a kill left between its write and its rename. */
async function removeTemporaries(file: string): Promise<void> {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names)
    if (name.startsWith(prefix) && name.endsWith('.tmp')) await fs.rm(path.join(dir, name), { force: true });
}

/** Written whole or not at all (a rename): a kill -9 mid-write must not leave a record that cannot be read. */
async function writeRecord(file: string, record: ChildRecord): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    // the atomic layout's repository has no state directory of its own until something is written there
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(temp, JSON.stringify(record));
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

function recordChild(file: string, cgroup: string | undefined, ctx: JudgeContext): JudgeContext {
  let writes = Promise.resolve();
  return {
    ...ctx,
    env: { ...ctx.env, [JUDGE_MARK]: file },
    onStart: (pid) => {
      const outer = ctx.onStart?.(pid);
      const write = writes
        .then(() => enterJudgeCgroup(cgroup, pid))
        .then(() => processStartTime(pid))
        .then((start) => writeRecord(file, { pid, start, cgroup }));
      writes = write.catch(() => undefined);
      // the command starts once both are written down (runShell's gate), and not at all when either write fails
      return Promise.all([outer, write]).then(() => undefined);
    },
  };
}

/**
 * `prepare` (the staged hooks), then preflight commands, then the canary, on the staged tree. The first failure
 * is the verdict. `childFile`: where the running command's process group is written down; the caller ends what an
 * interrupted hotpull left there (endInterruptedJudge) before it prepares the stage. `prepare` gets the context
 * whose onStart writes it down and whose env marks what it runs.
 */
export async function judgeStaged(
  judge: Judge,
  given: JudgeContext,
  logger: Logger,
  childFile?: string,
  prepare?: (ctx: JudgeContext) => Promise<JudgeVerdict | undefined>,
): Promise<JudgeVerdict> {
  const cgroup = childFile ? await judgeCgroup(childFile) : undefined;
  const ctx = childFile ? recordChild(childFile, cgroup, given) : given;
  if (childFile) {
    // before anything starts: a kill between a command's start and its pid's record still leaves this behind
    await writeRecord(childFile, { cgroup }).catch((error: Error) =>
      logger.warn(
        { err: error.message },
        `cannot write ${childFile} (${error.message}): a hotpull killed while judging could leave its commands running`,
      ),
    );
  }
  const alive = childFile ? () => judgeProcessesAlive(childFile, cgroup) : undefined;
  try {
    return (await prepare?.(ctx)) ?? (await judgeSteps(judge, ctx, logger, alive));
  } finally {
    if (childFile) {
      // what a command detached (a daemonizing server, a setsid) outlives it: the judge is over, so is all of it
      const left = await endJudgeProcesses(childFile, cgroup).catch(() => []);
      if (left.length > 0)
        logger.warn(
          { sha: ctx.sha, pids: left.map((p) => p.pid) },
          `ended ${left.length} process${left.length === 1 ? '' : 'es'} the judge of ${shortSha(ctx.sha)} left running: ${commands(left)}`,
        );
      await fs.rm(childFile, { force: true }).catch(() => undefined);
    }
  }
}

/** Each command line once, with how many ran it: a daemonized server is a master and its workers. */
function commands(left: readonly Leftover[]): string {
  const counts = new Map<string, number>();
  for (const { command } of left) counts.set(command, (counts.get(command) ?? 0) + 1);
  return [...counts].map(([command, n]) => (n > 1 ? `${command} (×${n})` : command)).join('; ');
}

async function judgeSteps(
  judge: Judge,
  ctx: JudgeContext,
  logger: Logger,
  alive?: () => Promise<boolean>,
): Promise<JudgeVerdict> {
  const started = Date.now();
  const short = shortSha(ctx.sha);
  if (judge.preflight.length > 0) {
    const verdict = await runPreflight(judge.preflight, judge.timeoutMs, ctx);
    if (!verdict.ok) return verdict;
    logger.info({ sha: ctx.sha, ms: verdict.ms }, `preflight passed for ${short} in ${verdict.ms}ms`);
  }
  if (judge.canary) {
    const derived = await canaryCommand(judge.canary, ctx.dir);
    if ('error' in derived) return { ok: false, ms: Date.now() - started, reason: `canary auto: ${derived.error}` };
    // in a many-apps process, one of the shared canary slots (a canary is a whole app server for a while)
    const verdict = await inSlot(
      'canaries',
      ctx.dir,
      () =>
        runCanary(
          {
            command: derived.command,
            timeoutMs: judge.timeoutMs,
            path: judge.path,
            expect: judge.expect,
            settleMs: Math.min(judge.settleMs, CANARY_SETTLE_MAX_MS),
            pickPort: judge.pickPort,
            detached: alive,
            onRun: ({ pid, port }) =>
              logger.info(
                { sha: ctx.sha, pid, port },
                `canary for ${short} started on 127.0.0.1:${port} (process group ${pid})`,
              ),
          },
          ctx,
        ),
      ctx.signal,
    );
    if (!verdict.ok) return verdict;
    logger.info({ sha: ctx.sha, ms: verdict.ms }, `canary for ${short} healthy in ${verdict.ms}ms`);
  }
  return { ok: true, ms: Date.now() - started };
}

export interface JudgeConfig {
  preflight: readonly string[];
  canary?: string;
  canaryTimeout: number;
  healthUrl?: string;
  healthExpect?: string;
  healthSettle: number;
}

/** The judge the options ask for (undefined: none); `--canary auto` is resolved here and said in one line. */
export async function judgeFromConfig(
  config: JudgeConfig,
  checkout: string,
  touched: readonly string[],
  logger: Logger,
): Promise<Judge | undefined> {
  if (config.preflight.length === 0 && config.canary === undefined) return undefined;
  let canary: Judge['canary'];
  if (config.canary === 'auto') {
    const source = await findAutoSource(checkout, touched);
    canary = { auto: source };
    const derived = await canaryCommand(canary, checkout);
    if ('error' in derived)
      throw configError(`--canary auto: ${derived.error}; give --canary "CMD" with {port} and {dir}`);
    logger.info({ canary: derived.command }, `--canary auto: ${derived.description}; will run: ${derived.command}`);
  } else if (config.canary !== undefined) {
    if (!config.canary.includes('{port}'))
      throw configError(
        `--canary must be a command with {port} (the canary's port) or auto (got ${JSON.stringify(config.canary)})`,
      );
    canary = { command: config.canary };
  }
  const url = config.healthUrl ? new URL(config.healthUrl) : undefined;
  return {
    preflight: config.preflight,
    canary,
    timeoutMs: config.canaryTimeout,
    path: url ? `${url.pathname}${url.search}` : '/',
    expect: config.healthExpect,
    settleMs: config.healthSettle,
  };
}
