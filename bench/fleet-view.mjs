#!/usr/bin/env node
// `hotpull fleet` over 50 replicas behind --peers-file (issue 28): 50 tiny loopback HTTP servers, each answering a
// real /status shape (20 deploy records, the revision fields), listed in a peers file. For each case, the answer time:
//   - cli: `node dist/bin.js fleet --peers-file F --json`, wall time of the whole process (node's start included)
//   - round: the same round in this process (dist/fleet/round.js), the servers on their own event loop thread
// Cases: all 50 on one revision; 49 and one server that accepts and never answers (the round is bounded by
// --peer-timeout, 2 s by default). Target: <= 1 s for 50 answering replicas.
// Run: node bench/fleet-view.mjs [--peers 50] [--runs 10] (npm run build first). A table goes to stdout, then the
// same figures as one JSON object on the last line. Everything runs in one mkdtemp directory, removed at the end.
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { benchSandbox, machineContext, run, summarize, table } from './lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'dist/bin.js');
const { values } = parseArgs({
  options: { peers: { type: 'string', default: '50' }, runs: { type: 'string', default: '10' } },
});
const PEERS = Number(values.peers);
const RUNS = Number(values.runs);

/** The servers, on a worker thread so that the round measured here does not share their event loop. */
const SERVERS = `
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
const sha = 'a'.repeat(40);
const at = new Date(Date.now() - 60_000).toISOString();
const deploy = { at, trigger: 'poll', from: 'b'.repeat(40), to: sha, result: 'live',
  stages: { detected: at, fetched: at, applied: at, reloaded: at, verified: at },
  durations: { detect: 3, fetch: 20, apply: 5, reload: 1100, verify: 2100, total: 3228 } };
const body = JSON.stringify({ state: 'idle', remote: 'https://git.example/acme/app.git', branch: 'main',
  deployedSha: sha, remoteSha: sha, lastGoodSha: sha, consecutiveFailures: 0, lastSuccessAt: new Date().toISOString(),
  deploys: Array.from({ length: 20 }, () => deploy), subject: 'Fix the checkout page', since: at, verified: true,
  ref: 'refs/heads/main', intervalMs: 5000, live: true }, null, 2);
const ports = [];
for (let i = 0; i < workerData.n; i += 1) {
  const server = http.createServer((_req, res) => res.end(body));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  ports.push(server.address().port);
}
parentPort.postMessage({ ports, bytes: Buffer.byteLength(body) });
`;

const { root, env } = await benchSandbox('hotpull-bench-fleet-view-');
const worker = new Worker(SERVERS, { eval: true, workerData: { n: PEERS } });
const { ports, bytes } = await new Promise((resolve) => worker.once('message', resolve));
const hung = net.createServer(() => {});
await new Promise((resolve) => hung.listen(0, '127.0.0.1', resolve));

const allFile = path.join(root, 'peers');
await writeFile(allFile, `# ${PEERS} replicas\n${ports.map((p) => `http://127.0.0.1:${p}`).join('\n')}\n`);
const hungFile = path.join(root, 'peers-hung');
await writeFile(
  hungFile,
  `${[...ports.slice(1).map((p) => `http://127.0.0.1:${p}`), `http://127.0.0.1:${hung.address().port}`].join('\n')}\n`,
);

const { fleetRound } = await import(path.join(ROOT, 'dist/fleet/round.js'));

async function measure(file, expectCode) {
  const cli = [];
  const rounds = [];
  for (let i = 0; i < RUNS; i += 1) {
    const started = performance.now();
    const result = await run(process.execPath, [BIN, 'fleet', '--peers-file', file, '--json'], { env }).catch((e) => e);
    cli.push(performance.now() - started);
    // lib's run rejects on a non-zero exit, saying the code
    const code = result instanceof Error ? Number(/exited (\d+)/.exec(result.message)?.[1]) : 0;
    if (code !== expectCode) throw new Error(`fleet exited ${code}, not ${expectCode}: ${result.message ?? ''}`);
    const t = performance.now();
    const view = await fleetRound({ urls: [], peersFile: file, sources: [], timeoutMs: 2000 });
    rounds.push(performance.now() - t);
    if (view.exitCode !== expectCode) throw new Error(`round: exit ${view.exitCode}`);
  }
  return { cli: summarize(cli), round: summarize(rounds) };
}

/** The reference: a hotpull process that asks nothing (`hotpull fleet --help`: node's start, the CLI's imports). */
async function baseline() {
  const times = [];
  for (let i = 0; i < RUNS; i += 1) {
    const started = performance.now();
    await run(process.execPath, [BIN, 'fleet', '--help'], { env });
    times.push(performance.now() - started);
  }
  return summarize(times);
}

const start = await baseline();
const all = await measure(allFile, 0);
const oneHung = await measure(hungFile, 3);

console.log(`hotpull fleet over ${PEERS} loopback replicas (--peers-file), ${RUNS} runs each, /status ${bytes} bytes`);
console.log(
  table(
    ['case', 'cli median ms', 'cli p90', 'cli max', 'round median ms', 'round p90', 'round max', 'target'],
    [
      [
        'all answer',
        all.cli.median,
        all.cli.p90,
        all.cli.max,
        all.round.median,
        all.round.p90,
        all.round.max,
        '<= 1000',
      ],
      [
        'one hung',
        oneHung.cli.median,
        oneHung.cli.p90,
        oneHung.cli.max,
        oneHung.round.median,
        oneHung.round.p90,
        oneHung.round.max,
        '~ 2000 (--peer-timeout)',
      ],
    ],
  ),
);
console.log(
  JSON.stringify({
    peers: PEERS,
    runs: RUNS,
    statusBytes: bytes,
    reference: start,
    all,
    oneHung,
    machine: machineContext(),
  }),
);
hung.close();
await worker.terminate();
