#!/usr/bin/env node
// The entry point bin/hotpull (the installed command) runs with V8 flags for a small long-lived process; plain
// `node dist/bin.js` works too. Nothing but the SIGUSR1 guard loads before it is in place: the CLI and what it
// imports are parsed only afterwards (see early.ts).
import './early.js';

const { runAsEntry } = await import('./cli.js');
await runAsEntry();
