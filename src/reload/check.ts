import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describeSpec, type ReloadSpec } from './spec.js';

/**
 * What a start-up look at a reload target found: nothing wrong, a warning (it may appear later: the app server
 * creates its FIFO and pid file when it starts, which may be after hotpull), or a target of the wrong kind, which
 * no later start fixes (a configuration error).
 */
export type TargetCheck = { ok: true } | { ok: false; fatal: boolean; problem: string };

const OK: TargetCheck = { ok: true };
const warn = (problem: string): TargetCheck => ({ ok: false, fatal: false, problem });
const fatal = (problem: string): TargetCheck => ({ ok: false, fatal: true, problem });

type Stat = Awaited<ReturnType<typeof fs.stat>>;
const statOf = (file: string): Promise<Stat | undefined> => fs.stat(file).catch(() => undefined);

const kindOf = (stat: Stat) =>
  stat.isDirectory()
    ? 'a directory'
    : stat.isFIFO()
      ? 'a FIFO'
      : stat.isSocket()
        ? 'a socket'
        : stat.isFile()
          ? 'a regular file'
          : 'a special file';

/** Whether process `pid` exists (EPERM: it does, it is someone else's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Looks at one strategy's target the way its reload will use it; `dir` resolves relative paths (the checkout). */
export async function checkReloadTarget(spec: ReloadSpec, dir: string): Promise<TargetCheck> {
  const label = describeSpec(spec);
  switch (spec.kind) {
    case 'touch': {
      const file = path.resolve(dir, spec.file);
      const stat = await statOf(file);
      if (stat && !stat.isFile())
        return fatal(`--reload ${label} must name a regular file (got ${file}: ${kindOf(stat)})`);
      if (stat) return OK;
      const parent = await statOf(path.dirname(file));
      if (!parent?.isDirectory())
        return warn(
          `--reload ${label}: neither ${file} nor its directory exists; hotpull creates the file, never a directory, so the reload fails until it does`,
        );
      return warn(
        `--reload ${label}: ${file} does not exist yet; the first deploy creates it (uWSGI's --touch-reload must name this same file)`,
      );
    }
    case 'uwsgi-fifo': {
      const fifo = path.resolve(dir, spec.fifo);
      const stat = await statOf(fifo);
      if (stat && !stat.isFIFO())
        return fatal(
          `--reload ${label} must name uWSGI's --master-fifo, a FIFO (got ${fifo}: ${kindOf(stat)}; uWSGI creates the FIFO itself)`,
        );
      if (!stat)
        return warn(
          `--reload ${label}: ${fifo} does not exist (yet); start uWSGI with --master-fifo ${fifo}, or reloads fail`,
        );
      return OK;
    }
    case 'signal': {
      const pidfile = path.resolve(dir, spec.pidfile);
      const stat = await statOf(pidfile);
      if (stat && !stat.isFile())
        return fatal(`--reload ${label} must name a pid file, a regular file (got ${pidfile}: ${kindOf(stat)})`);
      if (!stat)
        return warn(
          `--reload ${label}: pid file ${pidfile} does not exist (yet); reloads fail until the app writes it`,
        );
      const text = (await fs.readFile(pidfile, 'utf8').catch(() => '')).trim();
      const pid = Number(text);
      if (!Number.isInteger(pid) || pid <= 1)
        return warn(
          `--reload ${label}: pid file ${pidfile} holds no process id (${JSON.stringify(text.slice(0, 40))})`,
        );
      if (!alive(pid))
        return warn(`--reload ${label}: pid file ${pidfile} names process ${pid}, which is not running (stale)`);
      return OK;
    }
    case 'command':
    case 'none':
      return OK;
  }
}

/** What is wrong with the strategies' targets, each said once. */
export async function reloadTargetProblems(
  specs: readonly ReloadSpec[],
  dir: string,
): Promise<Array<{ fatal: boolean; problem: string }>> {
  const checks = await Promise.all(specs.map((spec) => checkReloadTarget(spec, dir)));
  return checks.flatMap((c) => (c.ok ? [] : [{ fatal: c.fatal, problem: c.problem }]));
}
