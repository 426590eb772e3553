/**
 * Issue 30, item 6: the status page (GET /) of a real daemon (dist/cli.js) that has deployed, rolled back (a failed
 * verification against a real HTTP server serving the checkout) and been paused, checked as HTML and in real headless
 * Chromium at a phone's and a desktop's width (one launch for both). Commit subjects and the pause reason carry
 * markup: it must show as text and never run. Screenshots are kept under the path the test prints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect } from 'vitest';
import { commitAndPush, makeSandbox, type Sandbox } from './helpers/git.js';
import { ROOT, waitFor } from './helpers/hotpull.js';
import { SECRET, request, startDaemon, type RunningDaemon } from './helpers/listener.js';
import { chromiumMissing, groupAlive, launchChromium, pngSize, type Browser } from './helpers/chromium.js';
import { itRequires } from './helpers/requires.js';

/** Where the screenshots stay after the run (CI keeps test-artifacts/ as an artifact). */
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'status-page');

let sb: Sandbox | undefined;
let web: ChildProcess | undefined;
let daemon: RunningDaemon | undefined;
let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close();
  await daemon?.stop();
  web?.kill('SIGTERM');
  await sb?.cleanup();
});

const HOSTILE_SUBJECT = 'Add the <script>alert("subject")</script> banner & "quotes"';
const HOSTILE_REASON = '<img src=x onerror=alert("reason")> DB migration';

/** python's http.server on the checkout, on 127.0.0.1 and a port it picks: what it serves changes with the tree. */
async function serveCheckout(dir: string): Promise<string> {
  web = spawn('python3', ['-u', '-m', 'http.server', '--bind', '127.0.0.1', '0'], { cwd: dir, stdio: 'pipe' });
  let out = '';
  web.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  web.stderr!.on('data', () => undefined);
  const port = await waitFor('http.server to listen', () => /port (\d+)/.exec(out)?.[1]);
  return `http://127.0.0.1:${port}`;
}

const operator = (route: string, body: unknown) =>
  request(daemon!.url, {
    method: 'POST',
    path: route,
    headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('status page (GET /)', () => {
  itRequires(chromiumMissing())(
    'shows a daemon that deployed, rolled back and was paused, escaped, at phone and desktop widths, and updates itself',
    async () => {
      sb = await makeSandbox({ files: { 'health.txt': 'healthy\n', 'app.py': 'VERSION = 1\n' } });
      const site = await serveCheckout(sb.checkout);
      daemon = await startDaemon(sb.checkout, [
        '--reload',
        'none',
        '--interval',
        '200ms',
        '--health-url',
        `${site}/health.txt`,
        '--health-expect',
        'healthy',
        '--health-settle',
        '200ms',
        '--health-timeout',
        '1500ms',
      ]);
      const status = async () => JSON.parse((await request(daemon!.url, { path: '/status' })).body);
      const step = (what: string, check: () => unknown) =>
        waitFor(what, check, 30_000).catch(async (error: Error) => {
          throw new Error(`${error.message}\n${JSON.stringify(await status())}\n${daemon!.output().slice(-3000)}`);
        });

      // deployed: v2 goes live (its subject is hostile)
      const v2 = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' }, HOSTILE_SUBJECT);
      await step('v2 live', async () => (await status()).deploys[0]?.to === v2 && (await status()).state === 'idle');
      // rolled back: v3 breaks the health answer, verification fails, v2 serves again
      const v3 = await commitAndPush(sb, { 'health.txt': 'down\n' }, 'Break the health check');
      await step('v3 rolled back', async () => (await status()).deploys[0]?.result === 'rolled-back');
      // a manual rollback (it pauses following), then an operator's pause with a hostile reason
      const manual = await operator('/rollback', {});
      expect(manual.status, manual.body).toBe(200);
      const paused = await operator('/pause', { reason: HOSTILE_REASON });
      expect(paused.status, paused.body).toBe(200);
      await step('paused by the api', async () => (await status()).paused?.by === 'api');

      const reply = await fetch(`${daemon.url}/`);
      const html = await reply.text();
      const s = await status();
      expect(reply.status).toBe(200);
      expect(reply.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(reply.headers.get('content-security-policy')).toMatch(/default-src 'none'.*script-src 'sha256-/);
      // the values: state, since when, what is served, the deploys with their verdicts and durations
      expect(html).toContain('<span class="name">paused</span>');
      expect(html).toContain(`<time datetime="${s.stateSince}" data-ago>`);
      expect(html).toContain(`<code title="${s.deployedSha}">${s.deployedSha.slice(0, 7)}</code>`);
      expect(s.deploys.map((d: { result: string }) => d.result).slice(0, 3)).toEqual(['live', 'rolled-back', 'live']);
      for (const d of s.deploys.slice(0, 3) as Array<{ result: string; to: string; durations: { total: number } }>) {
        expect(html).toContain(`<code title="${d.to}">${d.to.slice(0, 7)}</code>`);
        expect(html).toContain(`<span class="badge ${d.result === 'live' ? 'good' : 'bad'}">${d.result}</span>`);
      }
      expect(html).toContain('Break the health check');
      expect(html.match(/<rect class=/g)?.length).toBe(s.deploys.length);
      expect(html).toContain('by api');
      // hostile text is text: escaped, and the page's own script is its only one
      expect(html).toContain(
        'Add the &lt;script&gt;alert(&quot;subject&quot;)&lt;/script&gt; banner &amp; &quot;quotes&quot;',
      );
      expect(html).toContain('&lt;img src=x onerror=alert(&quot;reason&quot;)&gt; DB migration');
      expect(html.match(/<script/g)?.length).toBe(1);
      expect(html).not.toMatch(/\b(?:src|href)="(?:https?:)?\/\//);
      expect(html).toContain('<noscript><meta http-equiv="refresh"');
      // the access of /status: read-only, no secret; anything but GET and HEAD is refused
      const post = await request(daemon.url, { method: 'POST', path: '/' });
      expect(post.status).toBe(405);
      expect((await request(daemon.url, { method: 'HEAD', path: '/' })).status).toBe(200);

      // Chromium: one launch, two widths, a screenshot each
      mkdirSync(ARTIFACTS, { recursive: true });
      await fs.writeFile(path.join(ARTIFACTS, 'page.html'), html);
      const launched = Date.now();
      browser = await launchChromium();
      const { page } = browser;
      const shots: string[] = [];
      for (const [name, width, height, mobile] of [
        ['phone', 390, 844, true],
        ['desktop', 1280, 800, false],
      ] as const) {
        await page.resize(width, height, mobile);
        await page.navigate(`${daemon.url}/`);
        await page.waitFor('the script to reach /status', `document.documentElement.dataset.live === 'yes'`);
        expect(await page.evaluate<string>(`document.querySelector('.state .name').textContent`)).toBe('paused');
        const subjects = await page.evaluate<string[]>(
          `[...document.querySelectorAll('.subject')].map((e) => e.textContent)`,
        );
        expect(subjects).toContain(HOSTILE_SUBJECT);
        expect(await page.evaluate<number>(`document.scripts.length`)).toBe(1);
        // sane at this width: nothing wider than the window
        expect(await page.evaluate<number>(`document.documentElement.scrollWidth`)).toBeLessThanOrEqual(width);
        const file = path.join(ARTIFACTS, `${name}-${width}x${height}.png`);
        await page.screenshot(file);
        expect(pngSize(await fs.readFile(file))).toEqual({ width, height });
        shots.push(file);
      }
      console.log(`status page screenshots: ${shots.join(' ')}`);

      // it updates itself: a push while paused changes what waits, and the page shows it without a reload
      const v4 = await commitAndPush(sb, { 'app.py': 'VERSION = 4\n' }, 'Waiting while paused');
      await page.evaluate(`window.__sameDocument = true`);
      await page.waitFor(
        'the page to show the waiting revision',
        `document.querySelector('main').textContent.includes('${v4.slice(0, 7)}')`,
      );
      expect(await page.evaluate<boolean>(`window.__sameDocument === true`)).toBe(true);
      expect(await page.evaluate<string>(`document.documentElement.dataset.updates`)).toBe('1');
      expect(page.dialogs).toEqual([]);
      expect(page.problems).toEqual([]);
      void v3;

      // without JavaScript the static page is whole: the same values, and a meta refresh instead of the script
      await page.setScriptsDisabled(true);
      await page.navigate(`${daemon.url}/`);
      expect(await page.evaluate<string>(`document.querySelector('.state .name').textContent`)).toBe('paused');
      expect(await page.evaluate<string>(`document.getElementById('live').textContent`)).toBe('refreshes every 10 s');

      const pid = browser.pid;
      await browser.close();
      browser = undefined;
      await waitFor('every chromium process to end', () => !groupAlive(pid), 10_000);
      console.log(`chromium: ${Date.now() - launched} ms from launch to the last process ended`);
    },
    120_000,
  );
});
