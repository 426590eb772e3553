import { childEnv } from '../proc/child-env.js';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/load.js';
import type { Logger } from '../log.js';
import { SyncEngine } from '../sync/engine.js';
import { History } from '../sync/history.js';
import type { EngineListener } from '../sync/status-keeper.js';
import { HISTORY_LIMIT } from '../sync/status.js';
import { InPlaceWorkspace } from '../sync/layout/in-place.js';
import { resolveTarget, resolveAtomicTarget, checkBranchOnRemote, type Target } from '../sync/target.js';
import { createReloaders } from '../reload/index.js';
import { ReloadGate } from '../reload/gate.js';
import type { Reloader } from '../reload/types.js';
import { describeSpec, type ReloadSpec } from '../reload/spec.js';
import { configError, HotpullError, oneLine } from '../errors.js';
import { reloadTargetProblems } from '../reload/check.js';
import { acquireOwner, describeHolder, type OwnerLock } from '../sync/owner.js';
import { formatDuration } from '../duration.js';
import { judgeFromConfig } from '../deploy/judge.js';
import { pollTimeoutMs } from '../sync/schedule.js';
import { watchCheckout } from '../sync/checkout-watch.js';
import { authOptions } from '../git/credentials.js';
import { scopeOf } from '../sync/scope-paths.js';
import { checkSignatureTrust, type SignatureTrust } from '../git/signatures.js';
import { parseTrafficSpec } from '../traffic/spec.js';
import { openTrafficSource } from '../traffic/open.js';
import type { BakeThresholds } from '../traffic/bake.js';
import { upstream } from '../fleet/upstream.js';
import { loadSecret } from '../http/secret.js';
import type { AfterPeer } from '../sync/after-peer.js';

export interface Pipeline {
  target: Target;
  engine: SyncEngine;
  /** the reload strategies in effect, as text */
  reloads: string[];
  /** the same strategies, for `run --watch` to reload local edits with */
  reloading: Reloads;
  /** run --watch: shared by the engine and the watcher so their reloads never overlap */
  gate?: ReloadGate;
  /** adds a listener to the engine's changes (states entered, deploys recorded); the history is the first */
  listen(listener: EngineListener): void;
}

export interface Reloads {
  specs: ReloadSpec[];
  reloaders: Reloader[];
  /** absolute paths the strategies write or use (touch file, FIFO, pid file): a watcher must not react to them */
  files: string[];
}

/** The reload strategies for a checkout, shared by run, sync and watch: --touch and --reload, else uwsgi.ini. */
export async function resolveReloads(
  config: Config,
  dir: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Reloads> {
  const specs = await reloadSpecs(config, dir);
  const files = specs.flatMap((s) =>
    s.kind === 'touch' ? [s.file] : s.kind === 'uwsgi-fifo' ? [s.fifo] : s.kind === 'signal' ? [s.pidfile] : [],
  );
  return {
    specs,
    reloaders: createReloaders(specs, { dir, commandTimeoutMs: config.reloadTimeout, env }),
    files: files.map((f) => path.resolve(dir, f)),
  };
}

/** --touch is shorthand for a first touch: strategy; with neither, uwsgi.ini is touched when the repo has one. */
async function reloadSpecs(config: Config, dir: string): Promise<ReloadSpec[]> {
  const specs: ReloadSpec[] = [
    ...(config.touch ? [{ kind: 'touch' as const, file: config.touch }] : []),
    ...config.reload,
  ];
  if (specs.length > 0) return specs.filter((s) => s.kind !== 'none');
  const ini = path.join(dir, 'uwsgi.ini');
  return (await fs.stat(ini).catch(() => undefined)) ? [{ kind: 'touch', file: 'uwsgi.ini' }] : [];
}

/**
 * One process owns a checkout: `run` refuses to start beside another owner (exit 2); `sync` and `host deploy`
 * wait for it (up to --sync-timeout) and say so. The atomic layout's lock is taken before its repository is
 * opened, which may set a damaged one aside and clone again.
 */
async function takeOwnership(
  file: string,
  what: string,
  role: 'run' | 'sync',
  config: Config,
  logger: Logger,
): Promise<OwnerLock> {
  return acquireOwner(file, {
    role,
    what,
    waitMs: config.syncTimeout,
    onWait: (holder) =>
      logger.warn(
        { holder },
        `${describeHolder(holder)} owns ${what}; waiting up to ${formatDuration(config.syncTimeout)} for it (or ask the daemon: hotpull sync --now)`,
      ),
  });
}

async function atomicLockFile(root: string): Promise<string | undefined> {
  const stat = await fs.stat(root).catch(() => undefined);
  if (stat && !stat.isDirectory()) return undefined; // resolveAtomicTarget says what is wrong
  return path.join(root, '.hotpull', 'owner');
}

/**
 * The options' own checks, nothing touched: what a many-apps process asks of every app before it starts any, so a
 * mistake in one app's entry leaves the others' checkouts as they were. The checkout itself must be there
 * (in-place; the atomic layout makes its root).
 */
export async function checkApp(config: Config, env: Readonly<Record<string, string | undefined>>): Promise<void> {
  if (config.traffic !== undefined) parseTrafficSpec(config.traffic);
  bakeOptions(config);
  scopeOf(config);
  signatureTrust(config);
  if (config.layout !== 'atomic') await resolveTarget(config, env);
}

/** Wires config → target → reloaders → engine; shared by `run` and `sync`. Throws config errors (exit 2). */
export async function buildPipeline(
  config: Config,
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
  role: 'run' | 'sync' = 'sync',
): Promise<Pipeline> {
  // a bad --traffic is said before anything is touched
  const traffic = config.traffic === undefined ? undefined : parseTrafficSpec(config.traffic);
  const bake = bakeOptions(config);
  const scope = scopeOf(config);
  let owner: OwnerLock | undefined;
  if (config.layout === 'atomic') {
    const file = await atomicLockFile(config.repo);
    try {
      if (file) owner = await takeOwnership(file, `the atomic layout ${config.repo}`, role, config, logger);
    } catch (error) {
      // a root that cannot be written (permissions): resolveAtomicTarget says so in its own words
      if (error instanceof HotpullError) throw error;
      await resolveAtomicTarget(config, env, logger);
      throw error;
    }
  }
  const atomic = config.layout === 'atomic' ? await resolveAtomicTarget(config, env, logger) : undefined;
  const target = atomic ?? (await resolveTarget(config, env));
  if (logger.isLevelEnabled('debug')) {
    target.git.onCommand = (command, ms, failed) =>
      logger.debug({ command, ms, failed }, `${command}: ${failed ? 'failed after ' : ''}${ms} ms`);
  }
  owner ??= await takeOwnership(
    path.join(await target.git.gitDir(), 'hotpull', 'owner'),
    `the checkout ${target.dir}`,
    role,
    config,
    logger,
  );
  const reachable = await checkBranchOnRemote(target, config.syncTimeout);
  if (reachable !== 'ok') {
    logger.warn(
      { err: oneLine(reachable) },
      `remote not reachable at start, will keep retrying: ${oneLine(reachable)}`,
    );
  }
  // what the commands hotpull runs get: hooks, reloads, the judge (secrets withheld)
  const commandEnv = childEnv(env);
  const reloading = await resolveReloads(config, target.dir, commandEnv);
  const { specs } = reloading;
  // before the first pass: a target of the wrong kind stops here (exit 2), a missing one is said once
  const problems = await reloadTargetProblems(specs, target.dir);
  const wrongKind = problems.find((p) => p.fatal);
  if (wrongKind) throw configError(wrongKind.problem);
  for (const { problem } of problems) logger.warn(problem);
  const gate = config.watch ? new ReloadGate() : undefined;
  if (specs.length === 0 && !config.reload.some((s) => s.kind === 'none')) {
    logger.warn(
      'no reload strategy: the repo has no uwsgi.ini and neither --touch nor --reload is set; deploys will update files only',
    );
  }
  const source = traffic && (await openTrafficSource(traffic));
  if (source) logger.info({ traffic: source.source.name }, `traffic: ${source.said}`);
  const workspace = atomic?.workspace ?? new InPlaceWorkspace(target.git, logger, Date.now, env, scope.sparse);
  // --sparse in-place: the checkout itself is narrowed (git leaves modified files outside the cone where they are)
  if (!atomic && scope.sparse) await target.git.sparseCheckout(scope.sparse);
  const listeners: EngineListener[] = [];
  // The deploys of earlier runs, so `hotpull log` and /status show them after a restart.
  const history = History.in(await workspace.stateDir());
  const engine = new SyncEngine({
    auth: target.git.authLabel,
    history: await history.read(HISTORY_LIMIT).catch(() => []),
    workspace,
    git: workspace.git,
    // a listener that throws is a bug of its own: logged, never a failed deploy
    onEvent: (change, status) => {
      for (const listener of listeners) {
        try {
          listener(change, status);
        } catch (error) {
          logger.error({ err: oneLine(error) }, `internal error in an event listener: ${oneLine(error)}`);
        }
      }
    },
    fetchDepth: config.depth,
    remote: target.remote,
    remoteLabel: target.remoteLabel,
    branch: target.branch,
    ref: target.ref,
    fetchRef: target.fetchRef,
    reloaders: reloading.reloaders,
    gate,
    health: config.healthUrl
      ? {
          url: config.healthUrl,
          expect: config.healthExpect,
          timeoutMs: config.healthTimeout,
          settleMs: config.healthSettle,
        }
      : undefined,
    judge: await judgeFromConfig(config, target.dir, reloading.files, logger),
    rollback: config.rollback,
    signatures: signatureTrust(config),
    traffic: source && { source: source.source, everyMs: config.trafficEvery },
    bake,
    after: await afterPeer(config),
    requireApproval: config.requireApproval,
    rules: config.onChange,
    paths: scope.paths,
    imageRevision: config.imageRevision,
    onDiverged: config.onDiverged,
    onDirty: config.onDirty,
    syncTimeoutMs: config.syncTimeout,
    pollTimeoutMs: pollTimeoutMs(config.interval, config.syncTimeout),
    env: commandEnv,
    logger,
    // a checkout deleted (and cloned again) at its path is waited for and taken over (checkout-watch.ts)
    owner:
      owner &&
      watchCheckout(
        owner,
        { dir: target.dir, gitDir: await target.git.gitDir(), layout: atomic ? 'atomic' : 'in-place' },
        logger,
        async () => {
          // the remote's trust file lived in the old git directory
          await target.git.prepareRemote(config.remote, authOptions(config));
        },
      ),
  });
  listeners.push((change) => {
    if (change.kind !== 'deploy') return;
    try {
      history.append(change.record);
    } catch (error) {
      logger.warn({ err: oneLine(error) }, `could not record the deploy in ${history.file}: ${oneLine(error)}`);
    }
  });
  return {
    target,
    engine,
    reloads: specs.map(describeSpec),
    reloading,
    gate,
    listen: (listener) => void listeners.push(listener),
  };
}

/** --verify-signatures and who may sign, checked at start; the trust options alone say nothing and are refused. */
function signatureTrust(config: Config): SignatureTrust | undefined {
  const trust = { allowedSigners: config.allowedSigners, gpgKeyring: config.gpgKeyring };
  if (!config.verifySignatures) {
    const given = trust.allowedSigners ? '--allowed-signers' : trust.gpgKeyring ? '--gpg-keyring' : undefined;
    if (given) throw configError(`${given} needs --verify-signatures (got ${given} without it)`);
    return undefined;
  }
  checkSignatureTrust(trust);
  return trust;
}

/** --bake and its thresholds, checked at start: it judges a verified deploy on --traffic, so it needs both. */
function bakeOptions(config: Config): (BakeThresholds & { ms: number }) | undefined {
  if (config.bake === undefined) return undefined;
  const needs =
    config.traffic === undefined ? '--traffic' : config.healthUrl === undefined ? '--health-url' : undefined;
  if (needs) throw configError(`--bake needs ${needs} (got --bake ${formatDuration(config.bake)} without it)`);
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(config.bakeMaxErrors.trim());
  const ratio = percent ? Number(percent[1]) / 100 : NaN;
  if (!(ratio >= 0 && ratio <= 1))
    throw configError(
      `--bake-max-errors must be a percentage from 0% to 100% like 1% or 0.5% (got ${JSON.stringify(config.bakeMaxErrors)})`,
    );
  return {
    ms: config.bake,
    maxErrorRatio: ratio,
    ...(config.bakeMaxLatency === undefined ? {} : { maxLatencyMs: config.bakeMaxLatency }),
    minRequests: config.bakeMinRequests,
    inconclusive: config.bakeInconclusive,
  };
}

/** --after URL: the peer asked before a revision is applied; --after-bake alone says nothing and is refused. */
async function afterPeer(config: Config): Promise<AfterPeer | undefined> {
  if (!config.after) {
    if (config.afterBake !== undefined)
      throw configError('--after-bake needs --after URL (got --after-bake without it)');
    return undefined;
  }
  return upstream(config.after, {
    bakeMs: config.afterBake ?? 60_000,
    timeoutMs: config.peerTimeout,
    failingAfter: config.notifyFailingAfter ?? 3,
    secret: await loadSecret(config),
  });
}
