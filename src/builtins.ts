import type * as Http from 'node:http';

/**
 * Node builtins whose ES-module import costs what their CommonJS object does not. To build the namespace of an
 * `import … from 'node:http'`, Node reads every export, and on Node 22 and later some are getters that load
 * undici, node:crypto, web streams, http2 and worker_threads (76 more builtins, 11.5 MB of RSS on Node 24 with
 * --lite-mode; node:util's getters 9 more on Node 20, 36 on Node 24). process.getBuiltinModule hands over the
 * CommonJS object without reading them. test/lazy-load.test.ts keeps these imports out of src. node:util is taken
 * the same way where it is used (cli.ts), so that `hotpull --version` does not load node:http through this module.
 */
export const http: typeof Http = process.getBuiltinModule('node:http');
