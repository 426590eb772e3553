import { nodeCrypto } from '../lazy-crypto.js';

/**
 * Webhook authentication, pure functions over the raw body and headers. Every comparison is constant-time:
 * both sides are first reduced to fixed-length HMAC digests so that even a length mismatch takes the same
 * path as a content mismatch.
 */
export type Provider = 'github' | 'gitlab' | 'gitea' | 'bearer';

export type AuthResult = { ok: true; provider: Provider } | { ok: false; reason: string };

type Headers = Readonly<Record<string, string | string[] | undefined>>;

const header = (headers: Headers, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** Constant-time string equality (also when lengths differ). */
export function safeEqual(a: string, b: string): boolean {
  const key = 'hotpull-compare';
  const da = nodeCrypto().createHmac('sha256', key).update(a).digest();
  const db = nodeCrypto().createHmac('sha256', key).update(b).digest();
  return nodeCrypto().timingSafeEqual(da, db) && a.length === b.length;
}

export function hmacHex(secret: string, body: Buffer): string {
  return nodeCrypto().createHmac('sha256', secret).update(body).digest('hex');
}

const NO_SIGNATURE =
  'no signature: send X-Hub-Signature-256, X-Gitea-Signature, X-Gitlab-Token or Authorization: Bearer';
/** Tokens are compared whole; anything longer than this is not a token anyone configured. */
const MAX_TOKEN = 1024;

type Scheme =
  | { provider: 'github' | 'gitea'; signature: string; name: string }
  | { provider: 'gitlab' | 'bearer'; token: string; name: string };

/** The one scheme a request uses, in a fixed order of precedence. */
function scheme(headers: Headers): Scheme | undefined {
  const github = header(headers, 'x-hub-signature-256');
  if (github !== undefined)
    return { provider: 'github', signature: github.trim().toLowerCase(), name: 'X-Hub-Signature-256' };
  const gitea = header(headers, 'x-gitea-signature') ?? header(headers, 'x-forgejo-signature');
  if (gitea !== undefined)
    return { provider: 'gitea', signature: `sha256=${gitea.trim().toLowerCase()}`, name: 'X-Gitea-Signature' };
  const gitlab = header(headers, 'x-gitlab-token');
  if (gitlab !== undefined) return { provider: 'gitlab', token: gitlab, name: 'X-Gitlab-Token' };
  const authorization = header(headers, 'authorization');
  if (authorization !== undefined)
    return {
      provider: 'bearer',
      token: /^Bearer\s+(.+)$/i.exec(authorization.trim())?.[1] ?? '',
      name: 'bearer token',
    };
  return undefined;
}

/**
 * What can be decided from the headers alone, before a byte of the body is read: a missing or malformed
 * signature is refused at once, and a token (GitLab, bearer) is checked in full. Only a well-formed HMAC
 * signature makes the body worth reading.
 */
export type Precheck = { ok: true; provider: Provider; needsBody: boolean } | { ok: false; reason: string };

export function precheck(headers: Headers, secret: string): Precheck {
  const found = scheme(headers);
  if (!found) return { ok: false, reason: NO_SIGNATURE };
  if ('signature' in found) {
    return /^sha256=[0-9a-f]{64}$/.test(found.signature)
      ? { ok: true, provider: found.provider, needsBody: true }
      : {
          ok: false,
          reason: `malformed ${found.name}: want ${found.provider === 'github' ? 'sha256=' : ''}<64 hex digits>`,
        };
  }
  if (found.token.length === 0 || found.token.length > MAX_TOKEN) return { ok: false, reason: `bad ${found.name}` };
  return safeEqual(found.token, secret)
    ? { ok: true, provider: found.provider, needsBody: false }
    : { ok: false, reason: `bad ${found.name}` };
}

/**
 * Checks whichever scheme the request uses: GitHub, Gitea/Forgejo, GitLab, or a bearer token. `signed` lists
 * what a signature may cover: the raw body, and for a form-encoded delivery also its `payload` field (GitHub
 * signs the body as sent; Gitea and Forgejo sign the JSON inside the form). Every candidate is compared, so the
 * time taken does not depend on which one matched.
 */
export function authenticate(
  headers: Headers,
  body: Buffer,
  secret: string,
  signed: readonly Buffer[] = [body],
): AuthResult {
  const found = scheme(headers);
  if (!found) return { ok: false, reason: NO_SIGNATURE };
  if ('token' in found)
    return safeEqual(found.token, secret)
      ? { ok: true, provider: found.provider }
      : { ok: false, reason: `bad ${found.name}` };
  const matches = signed.map((candidate) => safeEqual(found.signature, `sha256=${hmacHex(secret, candidate)}`));
  return matches.includes(true) ? { ok: true, provider: found.provider } : { ok: false, reason: `bad ${found.name}` };
}

/** What a webhook asks for, from the provider's event header and the payload's `ref` and `after`. */
export type WebhookEvent =
  { kind: 'ping' } | { kind: 'push'; ref?: string; after?: string } | { kind: 'other'; name: string };

const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export function classifyEvent(provider: Provider, headers: Headers, payload: unknown): WebhookEvent {
  const field = (name: string) => {
    const value = (payload as Record<string, unknown> | null | undefined)?.[name];
    return typeof value === 'string' ? value : undefined;
  };
  const ref = field('ref');
  // GitHub, GitLab and Gitea all name the pushed revision `after`; a branch deletion pushes all zeros.
  const after = field('after')?.toLowerCase();
  const name =
    provider === 'github'
      ? header(headers, 'x-github-event')
      : provider === 'gitea'
        ? (header(headers, 'x-gitea-event') ?? header(headers, 'x-forgejo-event'))
        : provider === 'gitlab'
          ? header(headers, 'x-gitlab-event')
          : 'push';
  const normalized = (name ?? 'push').toLowerCase();
  if (normalized === 'ping') return { kind: 'ping' };
  if (normalized === 'push' || normalized === 'push hook')
    return { kind: 'push', ref, after: after && SHA.test(after) && !/^0+$/.test(after) ? after : undefined };
  return { kind: 'other', name: normalized };
}
