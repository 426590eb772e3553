import { createHmac, timingSafeEqual } from 'node:crypto';

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
  const da = createHmac('sha256', key).update(a).digest();
  const db = createHmac('sha256', key).update(b).digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}

export function hmacHex(secret: string, body: Buffer): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** Checks whichever scheme the request uses: GitHub, Gitea/Forgejo, GitLab, or a bearer token. */
export function authenticate(headers: Headers, body: Buffer, secret: string): AuthResult {
  const github = header(headers, 'x-hub-signature-256');
  if (github !== undefined) {
    return safeEqual(github.trim().toLowerCase(), `sha256=${hmacHex(secret, body)}`) ? { ok: true, provider: 'github' } : { ok: false, reason: 'bad X-Hub-Signature-256' };
  }
  const gitea = header(headers, 'x-gitea-signature') ?? header(headers, 'x-forgejo-signature');
  if (gitea !== undefined) {
    return safeEqual(gitea.trim().toLowerCase(), hmacHex(secret, body)) ? { ok: true, provider: 'gitea' } : { ok: false, reason: 'bad X-Gitea-Signature' };
  }
  const gitlab = header(headers, 'x-gitlab-token');
  if (gitlab !== undefined) {
    return safeEqual(gitlab, secret) ? { ok: true, provider: 'gitlab' } : { ok: false, reason: 'bad X-Gitlab-Token' };
  }
  const authorization = header(headers, 'authorization');
  if (authorization !== undefined) {
    const token = /^Bearer\s+(.+)$/i.exec(authorization.trim())?.[1] ?? '';
    return safeEqual(token, secret) ? { ok: true, provider: 'bearer' } : { ok: false, reason: 'bad bearer token' };
  }
  return { ok: false, reason: 'no signature: send X-Hub-Signature-256, X-Gitea-Signature, X-Gitlab-Token or Authorization: Bearer' };
}

/** What a webhook asks for, from the provider's event header and the payload's `ref`. */
export type WebhookEvent = { kind: 'ping' } | { kind: 'push'; ref?: string } | { kind: 'other'; name: string };

export function classifyEvent(provider: Provider, headers: Headers, payload: unknown): WebhookEvent {
  const ref = typeof (payload as { ref?: unknown })?.ref === 'string' ? ((payload as { ref: string }).ref) : undefined;
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
  if (normalized === 'push' || normalized === 'push hook') return { kind: 'push', ref };
  return { kind: 'other', name: normalized };
}
