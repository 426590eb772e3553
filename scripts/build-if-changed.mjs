#!/usr/bin/env node
// npm start: builds dist/ only when something it is built from changed since the last build (a full build takes
// 25 s on a small machine, the demo itself about 6). The build stamp is dist/bin.js, which every build writes.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const INPUTS = ['src', 'tsconfig.json', 'package.json', 'package-lock.json', 'scripts/latin1-dist.mjs'];

/** The newest mtime under `file` (0 when it does not exist). */
function newest(file) {
  let stat;
  try {
    stat = statSync(file);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(file).map((name) => newest(path.join(file, name))));
}

const built = newest(path.join(root, 'dist', 'bin.js'));
const changed = Math.max(...INPUTS.map((input) => newest(path.join(root, input))));
if (built === 0 || changed > built) {
  const result = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  process.exitCode = result.status ?? 1;
}
