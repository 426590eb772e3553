import { oneLine } from '../../errors.js';
import { shortSha as short } from '../../sha.js';
import { verifySignature } from '../../git/signatures.js';
import type { Stage } from './stage-types.js';
import { refuse } from './record.js';

/**
 * --verify-signatures: the fetched head (or the tag followed, verified as a tag) must be signed by a key the
 * allowed-signers file or the keyring names, before anything is planned or staged. Unsigned, signed by someone else,
 * or a bad signature: rejected until the branch moves, with the line that names the commit and what signed it.
 * A verifier that could not answer (a timeout, a stop) is no verdict: the pass fails and is retried.
 */
export const trust: Stage = {
  name: 'trust',
  async run(d, s) {
    if (!s.signatures) return undefined;
    const tag = s.follower.spec.kind === 'tag' || s.follower.spec.kind === 'pattern';
    const object = tag ? { tag: s.fetchRef } : { commit: d.to };
    const check = await verifySignature(s.workspace.git.dir, object, s.signatures, {
      env: s.env,
      timeoutMs: s.syncTimeoutMs,
      signal: d.signal,
    });
    if (check.status === 'good') {
      s.logger.info({ sha: short(d.to), signer: check.signer }, check.line);
      return undefined;
    }
    const said = `${short(d.to)} refused: ${check.line}`;
    const fields = { old: d.local, new: d.to, err: oneLine(check.line) };
    return refuse(d, s, { result: 'rejected', error: check.line, said, fields });
  },
};
