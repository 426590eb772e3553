#!/usr/bin/env node
// The installed entry point. Nothing but the SIGUSR1 guard loads before it is in place: the CLI and what it
// imports are parsed only afterwards (see early.ts).
import './early.js';

const { runAsEntry } = await import('./cli.js');
await runAsEntry();
