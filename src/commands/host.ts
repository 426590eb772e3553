import type { CommandContext } from './context.js';
import { buildPipeline } from './pipeline.js';
import { loadConfig } from '../config/load.js';
import { configError, HotpullError, oneLine } from '../errors.js';
import { createLogger } from '../log.js';
import { docker, print, printJson, readEnvFile } from './host-io.js';
import { upApps } from './host-apps.js';
import { desiredContainer, parseCode } from '../host/spec.js';
import { hostUp } from '../host/up.js';
import { deployedSha } from '../host/code.js';
import { formatTable, listManaged } from '../host/ls.js';
import { authOptions } from '../git/credentials.js';
import { shortSha } from '../sha.js';

const SUBCOMMANDS = ['up', 'deploy', 'ls'] as const;
type Sub = (typeof SUBCOMMANDS)[number];

/**
 * `hotpull host up|deploy|ls`: the seed's two Ansible playbooks as one command a host, a CI job or an Ansible
 * `command:` task can call. Wiring only: src/host/ holds the logic.
 */
export async function hostCommand(context: CommandContext): Promise<number> {
  const passthrough = context.passthrough ?? [];
  const own = context.args.slice(0, context.args.length - passthrough.length);
  const [sub, ...extra] = own;
  if (!sub || !(SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw configError(
      `host needs a sub-command: one of ${SUBCOMMANDS.join(', ')} (got ${sub === undefined ? 'none' : JSON.stringify(sub)})`,
    );
  }
  if (extra.length > 0)
    throw configError(
      `host ${sub} takes no further arguments; put docker run arguments after -- (got ${JSON.stringify(extra.join(' '))})`,
    );
  if (passthrough.length > 0 && sub !== 'up')
    throw configError(`host ${sub} takes no arguments after -- (got ${JSON.stringify(passthrough.join(' '))})`);
  return ({ up, deploy, ls } satisfies Record<Sub, (c: CommandContext) => Promise<number>>)[sub as Sub](context);
}

async function up(context: CommandContext): Promise<number> {
  const { config, env } = context;
  if (config.apps) return upApps(context, config.apps);
  if (config.app !== undefined)
    throw configError(
      `--app names an app of a config file with apps: (${config.configFile ? `${config.configFile} has none` : 'no config file was read'}; got ${JSON.stringify(config.app)})`,
    );
  const cwd = context.cwd ?? process.cwd();
  const spec = desiredContainer({
    name: config.name,
    image: config.image,
    code: config.code,
    publish: config.publish,
    env: config.env,
    envFile: await readEnvFile(config.envFile),
    passthrough: context.passthrough ?? [],
    // --repo defaults to the working directory for the daemon; here only a given one means "clone this".
    repo: config.repo !== cwd ? config.repo : undefined,
    branch: config.branch,
    cwd,
    processEnv: env,
  });
  const result = await hostUp({
    spec,
    docker: docker(context),
    pull: config.pull,
    stopTimeoutMs: config.stopTimeout,
    health: {
      url: config.healthUrl,
      expect: config.healthExpect,
      timeoutMs: config.healthTimeout,
      settleMs: config.healthSettle,
    },
    env,
    auth: authOptions(config),
    platform: process.platform,
    print: print(context),
  });
  if (config.json) printJson(context, result);
  return 0;
}

/**
 * The seed's 10-second path: fast-forward the checkout on the host with the daemon's own engine (its config
 * file in the checkout applies: reload strategies, health URL, onChange rules), then reload. Exit codes as
 * `hotpull sync`: 0 up to date or deployed, 1 failed or blocked.
 */
async function deploy(context: CommandContext): Promise<number> {
  const { env } = context;
  const cwd = context.cwd ?? process.cwd();
  if (!context.config.code) throw configError('host deploy needs --code HOSTDIR, the checkout to update (got none)');
  const dir = parseCode(context.config.code, cwd, false).hostDir;
  const config = await loadConfig({ flags: { ...context.flags, repo: dir }, env, cwd, isTTY: false });
  // The engine's log lines go to stderr: stdout is the one result line (a JSON object with --json), for a script
  // or an Ansible task to read.
  const pipelineLogger = await createLogger({
    level: config.logLevel,
    format: config.logFormat,
    destination: process.stderr,
  });
  const { engine, target, reloads } = await buildPipeline(config, env, pipelineLogger);
  const out = print(context);
  const json = (result: DeployResult) => {
    if (context.config.json)
      printJson(context, { ...result, dir: target.dir, branch: target.branch, remote: target.remoteLabel });
  };
  let outcome;
  const before = await deployedSha(target.dir, env);
  try {
    outcome = await engine.sync('cli');
  } catch (error) {
    // A failed reload leaves the new code on disk: the result says where the checkout is, then the error its line.
    const now = await deployedSha(target.dir, env);
    json({
      action: 'failed',
      changed: now !== before,
      sha: now,
      ...(before ? { from: before } : {}),
      error: oneLine(error),
    });
    if (error instanceof HotpullError) throw error;
    throw new HotpullError('GIT', `host deploy failed: ${oneLine(error)}`, { cause: error });
  }
  const short = shortSha;
  switch (outcome.kind) {
    case 'up-to-date':
      out(`up to date: ${target.dir} is at ${short(outcome.sha)} (${target.remoteLabel} ${target.branch})`);
      json({ action: 'up-to-date', changed: false, sha: outcome.sha });
      return 0;
    case 'deployed': {
      const { record } = outcome;
      const how = reloads.length > 0 ? reloads.join(', ') : 'no reload configured';
      out(
        `deployed ${short(record.from)} → ${short(record.to)} into ${target.dir} (${how}): ${record.result}${record.error ? `: ${record.error}` : ''}`,
      );
      const ok = record.result === 'live' || record.result === 'reloaded';
      // A rolled-back deploy leaves the code where it was.
      json({
        action: 'deployed',
        changed: engine.status.deployedSha !== record.from,
        sha: engine.status.deployedSha,
        from: record.from,
        result: record.result,
        ...(record.error ? { error: record.error } : {}),
      });
      return ok ? 0 : 1;
    }
    case 'rejected':
      out(`rejected ${short(outcome.record.to)}: ${outcome.record.error ?? outcome.record.result}`);
      // Rejected before the switch (a failed hook: checkout restored), or after it with nowhere to roll back to.
      json({
        action: 'rejected',
        changed: engine.status.deployedSha !== outcome.record.from,
        sha: engine.status.deployedSha,
        from: outcome.record.from,
        rejected: outcome.record.to,
        result: outcome.record.result,
        error: outcome.record.error ?? outcome.record.result,
      });
      return 1;
    case 'blocked':
      out(`not deployed (${outcome.state}): ${outcome.reason}`);
      json({ action: 'blocked', changed: false, state: outcome.state, error: outcome.reason });
      return 1;
  }
}

/** `host deploy --json`: what the pass did; `changed` is whether the code directory moved. */
interface DeployResult {
  action: 'up-to-date' | 'deployed' | 'rejected' | 'blocked' | 'failed';
  changed: boolean;
  /** what the code directory holds now */
  sha?: string;
  from?: string;
  rejected?: string;
  result?: string;
  state?: string;
  error?: string;
}

async function ls(context: CommandContext): Promise<number> {
  const rows = await listManaged(docker(context), context.env);
  context.stdout.write(context.config.json ? `${JSON.stringify(rows, null, 2)}\n` : formatTable(rows));
  return 0;
}
