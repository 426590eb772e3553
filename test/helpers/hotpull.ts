/** Builds the real pipeline (config → target → engine) for a sandbox, with logs captured in memory. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { buildPipeline } from '../../src/commands/pipeline.js';
import { Daemon } from '../../src/sync/daemon.js';
import type { SyncOutcome } from '../../src/sync/engine.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/cli.js');

export interface LogSink {
  lines: string[];
  records(): Array<Record<string, unknown>>;
  text(): string;
}

export function logSink(): LogSink & { write(line: string): void } {
  const lines: string[] = [];
  return {
    lines,
    write: (line: string) => void lines.push(line),
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    text: () => lines.join(''),
  };
}

export async function makePipeline(
  repo: string,
  flags: Record<string, unknown> = {},
  env: Record<string, string> = {},
) {
  const logs = logSink();
  const config = await loadConfig({ flags: { repo, ...flags }, env, cwd: repo, isTTY: false });
  const logger = await createLogger({ level: 'debug', format: 'json', destination: logs });
  const pipeline = await buildPipeline(config, { ...process.env, ...env }, logger);
  return { ...pipeline, config, logger, logs };
}

export async function makeDaemon(repo: string, flags: Record<string, unknown> = {}, env: Record<string, string> = {}) {
  const p = await makePipeline(repo, flags, env);
  const daemon = new Daemon(p.engine, {
    intervalMs: p.config.interval,
    backoffMaxMs: p.config.backoffMax,
    logger: p.logger,
  });
  const outcomes: Array<SyncOutcome | Error> = [];
  daemon.onPass((o) => outcomes.push(o));
  return { ...p, daemon, outcomes };
}

/** Polls `check` every 20 ms until it returns a truthy value, or fails after timeoutMs with `what`. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function runCli(args: string[], options: { cwd?: string; env?: Record<string, string>; timeout?: number } = {}) {
  return execa(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { HOTPULL_LOG_FORMAT: 'json', ...options.env },
    reject: false,
    timeout: options.timeout ?? 30_000,
  });
}

export function spawnCli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): ResultPromise {
  return execa(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { HOTPULL_LOG_FORMAT: 'json', ...options.env },
    reject: false,
    buffer: true,
  });
}

/** The judge's record in a git directory: a checkout's `.git`, or the atomic layout's bare `.hotpull/repo`. */
export const judgeChildFile = (gitDir: string) => path.join(gitDir, 'hotpull', 'judge-child.json');

/** Until a judge's child (staged hook, preflight, canary) is written down in `gitDir`'s judge-child.json. */
export async function waitForJudgeChild(gitDir: string): Promise<void> {
  const file = judgeChildFile(gitDir);
  // the record is written before the first command starts; its pid once one runs
  await waitFor(`${file} written with a pid`, () =>
    fs.readFile(file, 'utf8').then(
      (text) => /"pid":\d+/.test(text),
      () => false,
    ),
  );
}
