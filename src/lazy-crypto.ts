import type * as NodeCrypto from 'node:crypto';

let loaded: typeof NodeCrypto | undefined;

/**
 * node:crypto, loaded on first use. Importing it starts OpenSSL, about 1.3 MB of RSS, and an idle sidecar needs it
 * only when a webhook or a deploy comes (bench/idle.mjs; test/lazy-load.test.ts keeps it out of an idle daemon).
 */
export function nodeCrypto(): typeof NodeCrypto {
  return (loaded ??= process.getBuiltinModule('node:crypto'));
}
