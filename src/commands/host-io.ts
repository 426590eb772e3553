import { promises as fs } from 'node:fs';
import type { CommandContext } from './context.js';
import { configError, oneLine } from '../errors.js';
import { DockerCli } from '../host/docker.js';

/** Progress and result lines: stdout, or stderr with --json, whose one object is then all that stdout carries. */
export const print = (context: CommandContext) => (line: string) =>
  void (context.config.json ? process.stderr : context.stdout).write(`${line}\n`);
export const printJson = (context: CommandContext, value: object) =>
  void context.stdout.write(`${JSON.stringify(value)}\n`);
export const docker = ({ config, env }: CommandContext) => new DockerCli({ bin: config.dockerBin, env });

/** An env file's path and text; `option` names where it was given (--env-file, or an app's envFile). */
export async function readEnvFile(
  file: string | undefined,
  option = '--env-file',
): Promise<{ path: string; text: string } | undefined> {
  if (!file) return undefined;
  try {
    return { path: file, text: await fs.readFile(file, 'utf8') };
  } catch (error) {
    throw configError(
      `${option} must be a readable file (got ${JSON.stringify(file)}: ${(error as NodeJS.ErrnoException).code ?? oneLine(error)})`,
      error,
    );
  }
}
