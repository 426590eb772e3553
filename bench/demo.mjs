#!/usr/bin/env node
// How fast `hotpull demo` serves its pushes: the demo's own push→served figures (five pushes into a bare remote,
// the daemon polling, a touch reload of the demo's app server), over several runs of it. test/demo.test.ts checks
// that the demo works; how fast it is, on a given machine, is this script's to say.
// Run: node bench/demo.mjs [--runs N] (npm run build first). Needs git. A table goes to stdout, then the same
// figures as one JSON object on the last line; each run's own output goes to stderr.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineContext, percentile, round, run, table } from './lib.mjs';

const { values: argv } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const RUNS = Number(argv.runs);
const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '../dist/cli.js');
// the demo's row: short sha, version, seconds push→served, …
const ROW = /^([0-9a-f]{7})\s+(v\d+)\s+(\d+\.\d{3}) s\s/;

const context = machineContext();
const rows = [];
const all = [];
for (let i = 1; i <= RUNS; i++) {
  const result = await run(process.execPath, [CLI, 'demo']); // rejects on a non-zero exit
  process.stderr.write(result.stdout);
  const seconds = result.stdout.split('\n').flatMap((line) => {
    const match = ROW.exec(line);
    return match ? [Number(match[3])] : [];
  });
  all.push(...seconds);
  rows.push([
    `run ${i}`,
    seconds.length,
    round(percentile(seconds, 50)),
    round(Math.min(...seconds)),
    round(Math.max(...seconds)),
  ]);
}
rows.push(['all runs', all.length, round(percentile(all, 50)), round(Math.min(...all)), round(Math.max(...all))]);
console.log(
  `hotpull demo: push→served, s (node ${context.node}, ${context.nproc} cores, load ${context.loadavgStart.join(' ')})\n`,
);
console.log(table(['', 'pushes', 'median', 'min', 'max'], rows));
console.log(JSON.stringify({ runs: RUNS, context, seconds: all }));
