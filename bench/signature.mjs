#!/usr/bin/env node
// How long a webhook secret check takes, by where the guess goes wrong: hotpull's check (src/http/signature.ts,
// both sides reduced to HMAC digests, then crypto.timingSafeEqual) beside a plain `===` on the same strings.
// A constant-time check takes the same time whether the guess is right, wrong in its first or its last character,
// or of another length; `===` returns at the first difference (and at once on a length mismatch), which is what a
// timing attack reads. test/http.test.ts pins that every check goes through timingSafeEqual; this measures it.
// Run: node bench/signature.mjs [--rounds N] [--iterations N] (npm run build first). No network, no children.
// A table goes to stdout, then the same figures as one JSON object on the last line.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { machineContext, percentile, round, table } from './lib.mjs';
import { authenticate } from '../dist/http/signature.js';

const { values: argv } = parseArgs({
  options: { rounds: { type: 'string', default: '20' }, iterations: { type: 'string', default: '5000' } },
});
const ROUNDS = Number(argv.rounds);
const ITERATIONS = Number(argv.iterations);

/** A guess of `secret` that differs at `at` (a negative index counts from the end). */
const differAt = (secret, at) => {
  const i = at < 0 ? secret.length + at : at;
  return secret.slice(0, i) + (secret[i] === 'x' ? 'y' : 'x') + secret.slice(i + 1);
};

const body = Buffer.from('{"ref":"refs/heads/main"}');
const checks = {
  hotpull: (secret, guess) => authenticate({ 'x-gitlab-token': guess }, body, secret).ok,
  '===': (secret, guess) => guess === secret,
};

const rows = [];
const figures = {};
for (const length of [40, 1000]) {
  const secret = 'Sx7'.repeat(Math.ceil(length / 3)).slice(0, length);
  const guesses = {
    right: secret,
    'wrong first char': differAt(secret, 0),
    'wrong last char': differAt(secret, -1),
    'half its length': secret.slice(0, length / 2),
    'one char longer': `${secret}x`,
  };
  // rounds interleave every case and check, so a burst of load on the machine hits them all alike
  const samples = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, check] of Object.entries(checks)) {
      for (const [what, guess] of Object.entries(guesses)) {
        let sink = 0;
        const start = performance.now();
        for (let i = 0; i < ITERATIONS; i++) if (check(secret, guess)) sink++;
        const ns = ((performance.now() - start) * 1e6) / ITERATIONS;
        if (sink !== (what === 'right' ? ITERATIONS : 0)) throw new Error(`${name} got ${what} wrong`);
        (samples[`${name} ${what}`] ??= []).push(ns);
      }
    }
  }
  for (const what of Object.keys(guesses)) {
    const cell = (name) => {
      const s = samples[`${name} ${what}`];
      return {
        median: round(percentile(s, 50), 1),
        p10: round(percentile(s, 10), 1),
        p90: round(percentile(s, 90), 1),
      };
    };
    const ours = cell('hotpull');
    const naive = cell('===');
    figures[`${length} ${what}`] = { hotpull: ours, '===': naive };
    rows.push([
      `${length}-char secret, ${what}`,
      ours.median,
      `${ours.p10}–${ours.p90}`,
      naive.median,
      `${naive.p10}–${naive.p90}`,
    ]);
  }
}

const context = machineContext();
console.log(
  `secret checks, ns per check (median of ${ROUNDS} rounds of ${ITERATIONS}; p10–p90 across rounds)\n` +
    `node ${context.node}, ${context.nproc} cores, ${context.cpu}, load ${context.loadavgStart.join(' ')}\n`,
);
console.log(table(['guess', 'hotpull', 'p10–p90', '===', 'p10–p90'], rows));
console.log(JSON.stringify({ rounds: ROUNDS, iterations: ITERATIONS, context, figures }));
