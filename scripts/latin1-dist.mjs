#!/usr/bin/env node
// Post-build step (npm run build): rewrites every character above U+00FF in DIST/**/*.js as a \uXXXX escape.
// V8 keeps each module's source for the life of the process, and a script holding one such character is stored
// as a two-byte string, twice its size. With tsc's removeComments they are left only in string, template and
// regex literals (→ and … in messages), where the escape means the same character. Both together: about 0.4 MB
// less RSS for an idle sidecar (bench/idle.mjs). An escape would change meaning only inside String.raw, which is
// refused here, or in an identifier, which hotpull's source does not have (the test suite runs the built files).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = process.argv[2];
if (!root) throw new Error('usage: node scripts/latin1-dist.mjs DIST_DIR');

function* scripts(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* scripts(full);
    else if (entry.name.endsWith('.js')) yield full;
  }
}

for (const file of scripts(root)) {
  const source = readFileSync(file, 'utf8');
  const latin1 = source.replace(/[^\u0000-\u00ff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (latin1 === source) continue;
  if (source.includes('String.raw')) throw new Error(`${file}: String.raw and characters above U+00FF: escape by hand`);
  writeFileSync(file, latin1);
}
// quiet when all is well: a problem throws (and npm says so)
