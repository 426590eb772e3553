/** The status page's renderer (src/http/page.ts): pure, so checked by tables; the real page in Chromium is status-page.test.ts. */
import { describe, expect, it } from 'vitest';
import { escapeHtml, pageKey, renderPage } from '../src/http/page.js';
import type { DeployRecord, Status } from '../src/sync/status.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const EVIL = `<script>alert(1)</script>"'&`;

const record = (over: Partial<DeployRecord> = {}): DeployRecord => ({
  at: '2026-12-07T19:00:00.000Z',
  trigger: 'poll',
  from: A,
  to: B,
  result: 'live',
  stages: { detected: '2026-12-07T18:59:59.000Z' },
  durations: { detect: 10, fetch: 20, apply: 30, reload: 40, verify: 900, total: 1000 },
  ...over,
});

const status = (over: Partial<Status> = {}): Status => ({
  state: 'idle',
  remote: 'origin',
  branch: 'main',
  consecutiveFailures: 0,
  deploys: [],
  ...over,
});

describe('status page renderer', () => {
  it('escapes the five characters that matter in text and quoted attributes', () =>
    expect(escapeHtml(EVIL)).toBe('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;'));

  it('everything from outside is escaped: subjects, reasons, errors, labels, who and why', () => {
    const html = renderPage({
      status: status({
        state: 'paused',
        reason: EVIL,
        remote: EVIL,
        branch: EVIL,
        deployedSha: B,
        lastError: EVIL,
        consecutiveFailures: 2,
        paused: { reason: EVIL, by: EVIL, at: '2026-12-07T19:00:00.000Z' },
        deploys: [record({ error: EVIL, by: EVIL, trigger: EVIL, result: EVIL as DeployRecord['result'] })],
      }),
      subjects: new Map([[B, EVIL]]),
      since: '2026-12-07T19:00:00.000Z',
      now: Date.parse('2026-12-07T19:05:00.000Z'),
    });
    expect(html).not.toContain('<script>alert');
    expect(html.match(/<script>/g)).toHaveLength(1);
    expect(html.split('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;').length - 1).toBeGreaterThanOrEqual(9);
    // an unknown verdict gets the neutral class from the table, never its own text as a class
    expect(html).toContain('<span class="badge quiet">&lt;script&gt;');
  });

  it('shows the state, since when, what is served, and each deploy with its verdict, duration and stages', () => {
    const html = renderPage({
      status: status({
        deployedSha: B,
        lastGoodSha: B,
        deploys: [record(), record({ result: 'rolled-back', rolledBackTo: A, error: 'not healthy' })],
      }),
      subjects: new Map([[B, 'Fix the login']]),
      since: '2026-12-07T19:00:00.000Z',
      now: Date.parse('2026-12-07T19:05:00.000Z'),
    });
    expect(html).toContain('<span class="badge good">ok</span><span class="name">idle</span>');
    expect(html).toContain(
      'since 2026-12-07 19:00:00 UTC (<time datetime="2026-12-07T19:00:00.000Z" data-ago>5m ago</time>)',
    );
    expect(html).toContain(`<code title="${B}">bbbbbbb</code> <span class="subject">Fix the login</span>`);
    expect(html).toContain('<span class="badge bad">rolled-back</span> <span class="total">1s</span>');
    expect(html).toContain('detect 10ms, fetch 20ms, apply 30ms, reload 40ms, verify 900ms');
    expect(html).toContain('<span class="dim">back to</span> <code>aaaaaaa</code>');
    expect(html.match(/<rect /g)).toHaveLength(2);
  });

  it('shows what a deploy cost its users and its bake verdict when the record has them, escaped', () => {
    const impact = {
      summary: `0 failed of 1,874 requests, listen queue peak 3 ${EVIL}`,
      ms: 2000,
      requests: 1874,
      failed: 0,
    };
    const html = renderPage({
      status: status({
        deployedSha: B,
        deploys: [
          record({ impact, bake: { verdict: 'inconclusive', said: '12 requests in the bake window' } }),
          record(),
        ],
      }),
      subjects: new Map(),
      now: Date.parse('2026-12-07T19:05:00.000Z'),
    });
    expect(html).toContain(
      '<div class="traffic"><span class="impact">0 failed of 1,874 requests, listen queue peak 3 &lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;</span> <span class="dim">bake inconclusive: 12 requests in the bake window</span></div>',
    );
    expect(html.match(/class="traffic"/g)).toHaveLength(1);
  });

  it('the page key changes with what the script watches, not with the clock', () => {
    const s = status({ deployedSha: A });
    expect(pageKey(s)).toBe(pageKey({ ...s, lastSuccessAt: 'later' }));
    expect(pageKey(s)).not.toBe(pageKey({ ...s, remoteSha: B }));
    expect(pageKey(s)).not.toBe(pageKey({ ...s, state: 'paused' }));
  });
});
