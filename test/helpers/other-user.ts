/**
 * The CLI as another user can run it. A clone in a private directory (mode 700, like root's home) keeps uid 65534
 * out of dist/ and node_modules/, so tests that run hotpull as that user get a world-readable copy of what it loads:
 * package.json (the module type), dist/ and the production packages the lockfile lists, under the temp dir.
 */
import { execa } from 'execa';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { tmpDir } from './git.js';
import { CLI, ROOT } from './hotpull.js';

export const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

async function reaches(cli: string): Promise<boolean> {
  const probe = await execa(
    'setpriv',
    [...NOBODY, process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(cli)})`],
    {
      reject: false,
    },
  );
  return probe.exitCode === 0;
}

/** The production packages of the lockfile, top level (a nested one comes with its parent). */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([key, entry]) => key.startsWith('node_modules/') && !entry.dev)
    .map(([key]) => key)
    .filter((key) => !key.slice('node_modules/'.length).includes('node_modules/'));
}

let copy: { cli: string; dir?: string } | undefined;

/** dist/cli.js where uid 65534 can run it: the clone's own when it can, else a copy (made once, see removeCopy). */
export async function cliForOtherUser(): Promise<string> {
  if (copy) return copy.cli;
  if (await reaches(CLI)) return (copy = { cli: CLI }).cli;
  const dir = await tmpDir('hotpull-cli-');
  await fs.chmod(dir, 0o755);
  await fs.copyFile(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  for (const part of ['dist', ...productionPackages()]) {
    const from = path.join(ROOT, part);
    if (await fs.stat(from).catch(() => undefined))
      await fs.cp(from, path.join(dir, part), { recursive: true, verbatimSymlinks: true });
  }
  // directories made on the way (node_modules/@scope) get the umask's mode: open them up
  await execa('chmod', ['-R', 'a+rX', dir]);
  copy = { cli: path.join(dir, 'dist', 'cli.js'), dir };
  return copy.cli;
}

export async function removeCopy(): Promise<void> {
  if (copy?.dir) await fs.rm(copy.dir, { recursive: true, force: true });
  copy = undefined;
}
