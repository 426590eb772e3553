#!/usr/bin/env -S node --lite-mode --no-expose-wasm
// The installed entry point. Nothing but the SIGUSR1 guard loads before it is in place: the CLI and what it
// imports are parsed only afterwards (see early.ts).
//
// V8 flags for a small long-lived process, given where V8 reads them (v8.setFlagsFromString later saves less than
// half: the heap is sized by then). --lite-mode leaves out the optimizing compiler: 9 MB less RSS at idle, CPU the
// same (bench/idle.mjs). It turns WebAssembly off, which is why HTTP goes through node:http rather than fetch();
// --no-expose-wasm says so, else V8 warns on every start. (--max-semi-space-size=1 on top saved nothing.)
// The Dockerfile's wrapper gives node the same flags (test/pure.test.ts holds them equal).
import './early.js';

const { runAsEntry } = await import('./cli.js');
await runAsEntry();
