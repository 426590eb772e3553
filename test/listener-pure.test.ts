/** The listener's pure parts, by tables: limits, the body budget, log aggregation, coalescing, pre-body checks. */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ByteBudget, bodyLimit, connectionCap, parseFdLimit } from '../src/http/limits.js';
import { LogThrottle, summaryLine } from '../src/http/throttle.js';
import { WebhookCoalescer } from '../src/http/coalesce.js';
import { authenticate, classifyEvent, precheck } from '../src/http/signature.js';
import { parsePayload } from '../src/http/payload.js';
import { listenErrorMessage } from '../src/http/bind.js';

const SECRET = 's3cret';
const hex = (body: string) => createHmac('sha256', SECRET).update(body).digest('hex');
const SHA_A = 'a'.repeat(40);
const SHA_B = 'b'.repeat(40);

describe('limits', () => {
  it.each([
    [undefined, 128],
    [1024, 128],
    [256, 64],
    [64, 16],
    [20, 8],
    [Number.POSITIVE_INFINITY, 128],
  ])('fd limit %s → at most %i connections', (fds, cap) => {
    expect(connectionCap(fds)).toBe(cap);
  });

  it('reads the soft fd limit from /proc/self/limits', () => {
    const limits =
      'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 4096                 files\n';
    expect(parseFdLimit(limits)).toBe(1024);
    expect(parseFdLimit('Max open files            unlimited            unlimited            files\n')).toBe(
      Number.POSITIVE_INFINITY,
    );
    expect(parseFdLimit('nothing here')).toBeUndefined();
  });

  it('gives each route its own body limit, none to read-only routes', () => {
    expect([bodyLimit('/webhook'), bodyLimit('/sync'), bodyLimit('/status'), bodyLimit('/nope')]).toEqual([
      1024 * 1024,
      4096,
      0,
      0,
    ]);
  });

  it('a byte budget grants what fits, refuses what does not, and takes bytes back', () => {
    const budget = new ByteBudget(100);
    expect([budget.take(60), budget.take(50), budget.take(40), budget.inUse]).toEqual([true, false, true, 100]);
    budget.give(60);
    expect([budget.inUse, budget.take(61), budget.take(60)]).toEqual([40, false, true]);
    budget.give(1000);
    expect(budget.inUse).toBe(0);
  });
});

describe('log aggregation', () => {
  it('logs the first of a spell, counts the rest by source, one summary per window, and starts over after quiet', () => {
    const throttle = new LogThrottle(60_000, 2);
    const log: string[] = [];
    const note = (t: number, source: string) => {
      const { log: full, summary } = throttle.note(t, source);
      if (summary) log.push(summaryLine('bad signatures', summary));
      if (full) log.push(`full ${source}`);
    };
    note(0, 'a');
    for (let i = 1; i <= 300; i++) note(i * 100, i % 3 === 0 ? 'c' : i % 2 === 0 ? 'b' : 'a');
    expect(log).toEqual(['full a']);
    note(60_001, 'a');
    expect(log).toEqual([
      'full a',
      '300 more bad signatures in the last 60s, from a ×100, b ×100, and 100 from other sources',
    ]);
    // The flood goes on into the next window: still no full lines; a quiet window then ends the spell.
    expect(throttle.flush(100_000)).toBeUndefined();
    expect(summaryLine('x', throttle.flush(121_000)!)).toBe('1 more x in the last 61s, from a ×1');
    expect(throttle.flush(190_000)).toBeUndefined();
    note(200_000, 'b');
    expect(log.at(-1)).toBe('full b');
    // At shutdown the current window is flushed early.
    note(200_100, 'b');
    expect(throttle.flush(200_500)).toBeUndefined();
    expect(summaryLine('x', throttle.flush(202_000, true)!)).toBe('1 more x in the last 2s, from b ×1');
  });

  it('flushes nothing when nothing was suppressed', () => {
    const throttle = new LogThrottle(1000);
    expect(throttle.note(0, 'a').log).toBe(true);
    expect(throttle.flush(5000)).toBeUndefined();
    expect(throttle.note(5001, 'a').log).toBe(true);
  });
});

describe('webhook coalescing', () => {
  const options = { windowMs: 250, maxWindowMs: 2000 };

  it('the first webhook after quiet goes straight through; a burst sets one deferred trigger', () => {
    const c = new WebhookCoalescer(options);
    expect(c.offer(0, SHA_A, undefined)).toEqual({ action: 'trigger' });
    expect(c.offer(10, SHA_B, undefined)).toEqual({ action: 'defer', inMs: 240 });
    expect(c.offer(20, undefined, undefined)).toEqual({ action: 'queued' });
    expect(c.pending).toBe(true);
    c.fireDeferred(250);
    expect(c.pending).toBe(false);
    // The window doubled: a webhook 400 ms later is still inside it.
    expect(c.offer(650, SHA_A, undefined)).toEqual({ action: 'defer', inMs: 100 });
    c.fireDeferred(750);
    expect(c.offer(1000, SHA_B, undefined)).toEqual({ action: 'defer', inMs: 750 });
    c.fireDeferred(1750);
    c.passEnded(1750);
    // After a quiet window the next one goes straight through and the window is back to 250 ms.
    expect(c.offer(1750 + 2000, SHA_A, undefined)).toEqual({ action: 'trigger' });
    expect(c.offer(3750 + 260, SHA_B, undefined)).toEqual({ action: 'trigger' });
  });

  it('skips a push that is deployed, or that a webhook pass is already fetching, until that pass ends', () => {
    const c = new WebhookCoalescer(options);
    expect(c.offer(0, SHA_A, SHA_A)).toEqual({ action: 'skip', reason: 'aaaaaaa is already deployed' });
    expect(c.offer(0, SHA_B, SHA_A)).toEqual({ action: 'trigger' });
    expect(c.offer(5000, SHA_B, SHA_A)).toEqual({ action: 'skip', reason: 'bbbbbbb is already being fetched' });
    c.passEnded(-1000);
    expect(c.offer(5000, SHA_B, SHA_A).action).toBe('skip');
    c.passEnded(2);
    expect(c.offer(5000, SHA_B, SHA_A)).toEqual({ action: 'trigger' });
    expect(c.offer(5001, undefined, SHA_A)).toEqual({ action: 'defer', inMs: 249 });
  });
});

describe('checks before the body', () => {
  it.each([
    ['no header', {}, { ok: false, reason: expect.stringContaining('no signature') }],
    [
      'GitHub, well-formed',
      { 'x-hub-signature-256': `sha256=${'A'.repeat(64)}` },
      { ok: true, provider: 'github', needsBody: true },
    ],
    [
      'GitHub, short',
      { 'x-hub-signature-256': 'sha256=abc' },
      { ok: false, reason: 'malformed X-Hub-Signature-256: want sha256=<64 hex digits>' },
    ],
    [
      'GitHub, sha1',
      { 'x-hub-signature-256': `sha1=${'a'.repeat(40)}` },
      { ok: false, reason: 'malformed X-Hub-Signature-256: want sha256=<64 hex digits>' },
    ],
    ['Gitea, well-formed', { 'x-gitea-signature': 'f'.repeat(64) }, { ok: true, provider: 'gitea', needsBody: true }],
    [
      'Gitea, not hex',
      { 'x-gitea-signature': 'z'.repeat(64) },
      { ok: false, reason: 'malformed X-Gitea-Signature: want <64 hex digits>' },
    ],
    ['GitLab, right token', { 'x-gitlab-token': SECRET }, { ok: true, provider: 'gitlab', needsBody: false }],
    ['GitLab, wrong token', { 'x-gitlab-token': 'nope' }, { ok: false, reason: 'bad X-Gitlab-Token' }],
    ['GitLab, huge token', { 'x-gitlab-token': 'x'.repeat(5000) }, { ok: false, reason: 'bad X-Gitlab-Token' }],
    ['bearer, right', { authorization: `Bearer ${SECRET}` }, { ok: true, provider: 'bearer', needsBody: false }],
    ['bearer, empty', { authorization: 'Bearer ' }, { ok: false, reason: 'bad bearer token' }],
    ['basic auth', { authorization: 'Basic dTpw' }, { ok: false, reason: 'bad bearer token' }],
  ])('%s', (_name, headers, expected) => {
    expect(precheck(headers, SECRET)).toEqual(expected);
  });

  it('a signature may cover the raw body or, for a form, the JSON inside it; nothing else', () => {
    const json = '{"ref":"refs/heads/main"}';
    const form = Buffer.from(new URLSearchParams({ payload: json }).toString());
    const signed = [form, Buffer.from(json)];
    expect(authenticate({ 'x-hub-signature-256': `sha256=${hex(form.toString())}` }, form, SECRET, signed)).toEqual({
      ok: true,
      provider: 'github',
    });
    expect(authenticate({ 'x-gitea-signature': hex(json) }, form, SECRET, signed)).toEqual({
      ok: true,
      provider: 'gitea',
    });
    expect(authenticate({ 'x-gitea-signature': hex(json) }, form, SECRET)).toEqual({
      ok: false,
      reason: 'bad X-Gitea-Signature',
    });
    expect(authenticate({ 'x-hub-signature-256': `sha256=${hex('other')}` }, form, SECRET, signed)).toEqual({
      ok: false,
      reason: 'bad X-Hub-Signature-256',
    });
  });

  it('names the pushed revision only when it is a full sha and not a deletion', () => {
    const push = (after: unknown) =>
      classifyEvent('github', { 'x-github-event': 'push' }, { ref: 'refs/heads/main', after });
    expect(push(SHA_A.toUpperCase())).toEqual({ kind: 'push', ref: 'refs/heads/main', after: SHA_A });
    expect(push('c'.repeat(64))).toEqual({ kind: 'push', ref: 'refs/heads/main', after: 'c'.repeat(64) });
    for (const after of ['0'.repeat(40), 'abc', 42, undefined, `${SHA_A}\n`])
      expect(push(after)).toEqual({ kind: 'push', ref: 'refs/heads/main', after: undefined });
    expect(classifyEvent('gitlab', { 'x-gitlab-event': 'Push Hook' }, null)).toEqual({
      kind: 'push',
      ref: undefined,
      after: undefined,
    });
  });
});

describe('payloads', () => {
  it.each([
    ['JSON', 'application/json', '{"ref":"x"}', { ok: true, payload: { ref: 'x' } }],
    ['JSON, no type', undefined, '{"ref":"x"}', { ok: true, payload: { ref: 'x' } }],
    ['empty', 'application/json', '', { ok: true, payload: {} }],
    ['not JSON', 'application/json', 'nope{', { ok: false, reason: 'body is not JSON' }],
    [
      'form',
      'application/x-www-form-urlencoded',
      `payload=${encodeURIComponent('{"ref":"x y+z"}')}`,
      { ok: true, payload: { ref: 'x y+z' } },
    ],
    [
      'form with charset',
      'Application/X-WWW-Form-Urlencoded; charset=utf-8',
      'a=1&payload=%7B%7D',
      { ok: true, payload: {} },
    ],
    [
      'form without payload',
      'application/x-www-form-urlencoded',
      'a=1',
      { ok: false, reason: 'form body has no payload field (application/x-www-form-urlencoded wants payload=<JSON>)' },
    ],
    [
      'form, payload not JSON',
      'application/x-www-form-urlencoded',
      'payload=nope',
      { ok: false, reason: 'form payload field is not JSON' },
    ],
  ])('%s', (_name, type, body, expected) => {
    expect(parsePayload(type, Buffer.from(body))).toEqual(expected);
  });
});

describe('--listen bind errors', () => {
  const error = (code: string) => Object.assign(new Error(code), { code });
  it.each([
    [
      'EADDRINUSE',
      { host: '127.0.0.1', port: 9300 },
      '--listen must name a free port (got "127.0.0.1:9300": another process is listening there, EADDRINUSE)',
    ],
    [
      'EADDRNOTAVAIL',
      { host: '::5', port: 9300 },
      '--listen must be an address of this machine (got "[::5]:9300": no interface has it, EADDRNOTAVAIL); 0.0.0.0 listens on all of them',
    ],
    [
      'EACCES',
      { host: '0.0.0.0', port: 80 },
      '--listen must be a port this user may bind (got "0.0.0.0:80": EACCES; ports under 1024 need privileges)',
    ],
    [
      'ENOTFOUND',
      { host: 'nowhere.invalid', port: 9300 },
      '--listen must be an IP address or a host name that resolves (got "nowhere.invalid:9300": ENOTFOUND)',
    ],
    ['EWHATEVER', { host: '127.0.0.1', port: 1 }, '--listen could not bind "127.0.0.1:1": EWHATEVER'],
  ])('%s', (code, address, message) => {
    expect(listenErrorMessage(address, error(code))).toBe(message);
  });
});
