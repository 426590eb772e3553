import { execa } from 'execa';

/**
 * Runs `body` (ES module code) in a fresh node in `cwd`; returns the packages under node_modules it loaded through
 * require (pino, cosmiconfig and simple-git's dependencies are CommonJS) and its stdout.
 */
export async function packagesLoaded(body: string, cwd: string): Promise<{ packages: string[]; stdout: string }> {
  const script = `${body}
import { createRequire } from 'node:module';
const loaded = Object.keys(createRequire(import.meta.url).cache);
process.stderr.write('PACKAGES ' + JSON.stringify(loaded.map((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f)?.[1]).filter(Boolean)) + '\\n');`;
  const { stdout, stderr } = await execa(process.execPath, ['--input-type=module', '-e', script], {
    cwd,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const line = stderr.split('\n').find((l) => l.startsWith('PACKAGES '))!;
  return { packages: [...new Set(JSON.parse(line.slice('PACKAGES '.length)) as string[])], stdout };
}
