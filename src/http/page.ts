import { formatDuration } from '../duration.js';
import { shortSha } from '../sha.js';
import type { PollInfo } from '../sync/schedule.js';
import { PROBLEM_STATES, type DeployRecord, type Status } from '../sync/status.js';
import { describePolling } from './status-text.js';

/**
 * The status page (`GET /`): what /status and `hotpull log` tell a machine, for a person. Pure: status and records in,
 * one HTML document out, no external assets. Everything that came from outside (commit subjects, reasons, errors,
 * the remote label, a pause's reason) is escaped; class names and colours come from fixed tables, never from data.
 * The static page works without JavaScript (a meta refresh in <noscript>); PAGE_SCRIPT, allowed by its hash in the
 * Content-Security-Policy, polls /status and swaps in a fresh <main> when something changed.
 */

export interface PageInput {
  status: Status;
  poll?: PollInfo;
  /** when the daemon entered its current state (ISO) */
  since?: string;
  /** commit subjects by full sha, as far as known */
  subjects: ReadonlyMap<string, string>;
  now: number;
}

/** Seconds between refreshes of the page without JavaScript. */
export const NO_SCRIPT_REFRESH_S = 10;
/** How often the script asks /status. */
export const SCRIPT_POLL_MS = 2000;
/** Deploys listed and drawn. */
export const PAGE_DEPLOYS = 20;

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

const e = escapeHtml;

/** A verdict's or state's tone: a class from this fixed set. */
type Tone = 'good' | 'warn' | 'bad' | 'busy' | 'quiet';

const RESULT_TONE: Record<string, Tone> = {
  live: 'good',
  reloaded: 'warn',
  failed: 'bad',
  'rolled-back': 'bad',
  rejected: 'bad',
};

function stateTone(state: string): Tone {
  if (state === 'idle') return 'good';
  if (['syncing', 'reloading', 'verifying', 'starting'].includes(state)) return 'busy';
  if (state === 'paused') return 'quiet';
  if (state === 'unverified' || state === 'held') return 'warn';
  return PROBLEM_STATES.has(state as Status['state']) ? 'bad' : 'quiet';
}

const toneOf = (result: string): Tone => RESULT_TONE[result] ?? 'quiet';

/** The state's badge: what a glance needs (the state's name is beside it). */
const TONE_WORD: Record<Tone, string> = {
  good: 'ok',
  warn: 'attention',
  bad: 'problem',
  busy: 'working',
  quiet: 'on hold',
};

/** The fields whose change makes the script fetch a fresh page; PAGE_SCRIPT computes the same from /status. */
export function pageKey(status: Status, poll?: PollInfo): string {
  return JSON.stringify([
    status.state,
    status.reason ?? null,
    status.deployedSha ?? null,
    status.remoteSha ?? null,
    status.deploys[0]?.at ?? null,
    status.paused?.at ?? null,
    status.consecutiveFailures,
    poll?.mode ?? null,
  ]);
}

/** Polls /status every SCRIPT_POLL_MS; on a change (pageKey's fields) fetches the page and swaps its <main>. */
export const PAGE_SCRIPT = `(() => {
  const root = document.documentElement;
  let key = document.querySelector('main').dataset.key;
  const ago = (ms) => {
    const s = Math.max(0, Math.round(ms / 1000));
    return s < 60 ? s + 's ago' : s < 3600 ? Math.floor(s / 60) + 'm ago' : s < 86400 ? Math.floor(s / 3600) + 'h ago' : Math.floor(s / 86400) + 'd ago';
  };
  const tick = async () => {
    try {
      const res = await fetch('status', { cache: 'no-store' });
      const s = await res.json();
      const next = JSON.stringify([s.state, s.reason ?? null, s.deployedSha ?? null, s.remoteSha ?? null,
        (s.deploys[0] && s.deploys[0].at) ?? null, (s.paused && s.paused.at) ?? null, s.consecutiveFailures,
        (s.poll && s.poll.mode) ?? null]);
      if (next !== key) {
        const page = await fetch('./', { cache: 'no-store' });
        const fresh = new DOMParser().parseFromString(await page.text(), 'text/html').querySelector('main');
        if (fresh) {
          document.querySelector('main').replaceWith(document.adoptNode(fresh));
          root.dataset.updates = String(Number(root.dataset.updates || 0) + 1);
        }
        key = next;
      }
      for (const t of document.querySelectorAll('time[data-ago]')) t.textContent = ago(Date.now() - Date.parse(t.dateTime));
      root.dataset.live = 'yes';
      document.getElementById('live').textContent = 'live: updates itself every ${SCRIPT_POLL_MS / 1000} s';
    } catch {
      root.dataset.live = 'no';
      document.getElementById('live').textContent = 'not updating: the daemon does not answer';
    }
    setTimeout(tick, ${SCRIPT_POLL_MS});
  };
  tick();
})();`;

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** A moment: the UTC time, and how long ago (kept current by the script). */
function when(iso: string | undefined, now: number): string {
  if (!iso || Number.isNaN(Date.parse(iso))) return '<span class="dim">unknown</span>';
  const utc = iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
  return `${e(utc)} (<time datetime="${e(iso)}" data-ago>${ago(now - Date.parse(iso))}</time>)`;
}

/** A revision: short sha (full one in the title) and its subject. */
function revision(sha: string | undefined, subjects: ReadonlyMap<string, string>): string {
  if (!sha) return '<span class="dim">none</span>';
  const subject = subjects.get(sha);
  return `<code title="${e(sha)}">${e(shortSha(sha))}</code>${subject ? ` <span class="subject">${e(subject)}</span>` : ''}`;
}

function row(label: string, html: string): string {
  return `<dt>${e(label)}</dt><dd>${html}</dd>`;
}

const STAGES = ['detect', 'fetch', 'apply', 'judge', 'reload', 'verify'] as const;

/** A deploy's stage durations as one bar, each stage's width its share of the total. */
function stageBar(d: DeployRecord['durations']): string {
  const parts = STAGES.map((stage) => [stage, d[stage] ?? 0] as const).filter(([, ms]) => ms > 0);
  const sum = parts.reduce((a, [, ms]) => a + ms, 0);
  if (sum === 0) return '';
  const segments = parts
    .map(
      ([stage, ms]) =>
        `<span class="seg ${stage}" style="width:${((100 * ms) / sum).toFixed(2)}%" title="${stage} ${e(formatDuration(ms))}"></span>`,
    )
    .join('');
  const legend = parts.map(([stage, ms]) => `${stage} ${e(formatDuration(ms))}`).join(', ');
  return `<div class="bar" role="img" aria-label="${e(legend)}">${segments}</div><div class="legend">${legend}</div>`;
}

/** The deploys on a time axis, oldest left: one mark each, coloured by verdict. */
function timeline(deploys: readonly DeployRecord[], now: number): string {
  const times = deploys.map((d) => Date.parse(d.at ?? d.stages.detected)).filter((t) => !Number.isNaN(t));
  if (times.length === 0) return '';
  const start = Math.min(...times);
  const span = Math.max(now - start, 1);
  const marks = deploys
    .map((d) => {
      const at = Date.parse(d.at ?? d.stages.detected);
      if (Number.isNaN(at)) return '';
      const x = Math.min(990, Math.max(4, 4 + (986 * (at - start)) / span));
      const title = `${d.at ?? ''} ${shortSha(d.from) ?? 'none'} → ${shortSha(d.to)}: ${d.result}, ${formatDuration(d.durations.total)}`;
      return `<rect class="${toneOf(d.result)}" x="${x.toFixed(1)}" y="8" width="6" height="34" rx="2"><title>${e(title)}</title></rect>`;
    })
    .join('');
  return `<section aria-label="timeline"><h2>Timeline</h2>
<svg class="timeline" viewBox="0 0 1000 50" preserveAspectRatio="none" role="img" aria-label="${deploys.length} deploys since ${e(new Date(start).toISOString())}"><line x1="0" y1="46" x2="1000" y2="46"/>${marks}</svg>
<div class="axis"><span>${e(new Date(start).toISOString().replace('T', ' ').slice(0, 16))} UTC</span><span>now</span></div></section>`;
}

/** What the deploy cost its users (--traffic) and the bake's verdict when there was one: the record's own lines. */
function impactLine(d: DeployRecord): string {
  const impact = d.impact ? `<span class="impact">${e(d.impact.summary)}</span>` : '';
  const bake =
    d.bake && d.bake.verdict !== 'pass'
      ? ` <span class="dim">bake ${e(d.bake.verdict)}${d.bake.said ? `: ${e(d.bake.said)}` : ''}</span>`
      : '';
  return impact || bake ? `<div class="traffic">${impact}${bake}</div>` : '';
}

function deployItem(d: DeployRecord, subjects: ReadonlyMap<string, string>, now: number): string {
  const back = d.rolledBackTo ? ` <span class="dim">back to</span> <code>${e(shortSha(d.rolledBackTo))}</code>` : '';
  const by = d.by ? ` by ${e(d.by)}` : '';
  return `<li class="deploy">
<div class="head"><span class="badge ${toneOf(d.result)}">${e(d.result)}</span> <span class="total">${e(formatDuration(d.durations.total))}</span> <span class="dim">${when(d.at ?? d.stages.detected, now)}, ${e(d.trigger)}${by}</span></div>
<div class="what"><code title="${e(d.from)}">${e(shortSha(d.from) || 'none')}</code> → ${revision(d.to, subjects)}${back}</div>
${stageBar(d.durations)}${impactLine(d)}${d.error ? `<div class="error">${e(d.error)}</div>` : ''}</li>`;
}

const STYLE = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--dim:#5b636e;--card:#f4f6f8;--line:#d0d7de;
--good:#1a7f37;--warn:#9a6700;--bad:#cf222e;--busy:#0969da;--quiet:#6e7781}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--dim:#8d96a0;--card:#161b22;--line:#30363d}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
header,main,footer{max-width:960px;margin:0 auto;padding:12px 16px}
header h1{font-size:18px;margin:0;overflow-wrap:anywhere}
h2{font-size:15px;margin:18px 0 8px;color:var(--dim);text-transform:uppercase;letter-spacing:.04em}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace}
.dim{color:var(--dim)}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.state{display:flex;flex-wrap:wrap;align-items:baseline;gap:8px 12px}
.state .name{font-size:24px;font-weight:600}
.reason{overflow-wrap:anywhere;margin-top:4px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;margin:12px 0 0}
dt{color:var(--dim)}dd{margin:0;min-width:0;overflow-wrap:anywhere}
.badge{display:inline-block;border-radius:10px;padding:0 8px;color:#fff;font-size:13px;font-weight:600}
.badge.good,rect.good{background:var(--good);fill:var(--good)}
.badge.warn,rect.warn{background:var(--warn);fill:var(--warn)}
.badge.bad,rect.bad{background:var(--bad);fill:var(--bad)}
.badge.busy,rect.busy{background:var(--busy);fill:var(--busy)}
.badge.quiet,rect.quiet{background:var(--quiet);fill:var(--quiet)}
.timeline{width:100%;height:50px;display:block}
.timeline line{stroke:var(--line);stroke-width:2}
.axis{display:flex;justify-content:space-between;color:var(--dim);font-size:12px}
ol{list-style:none;margin:0;padding:0}
.deploy{border-bottom:1px solid var(--line);padding:10px 0}
.deploy .what{margin:2px 0 6px;overflow-wrap:anywhere}
.total{font-weight:600}
.subject{overflow-wrap:anywhere}
.bar{display:flex;height:8px;border-radius:4px;overflow:hidden;background:var(--line);max-width:480px}
.seg.detect{background:#8250df}.seg.fetch{background:#0969da}.seg.apply{background:#1a7f37}
.seg.judge{background:#bf8700}.seg.reload{background:#bc4c00}.seg.verify{background:#57606a}
.legend{font-size:12px;color:var(--dim)}
.error{color:var(--bad);overflow-wrap:anywhere;font-size:13px;margin-top:4px}
footer{color:var(--dim);font-size:12px}
footer a{color:inherit}
@media (max-width:560px){.state .name{font-size:20px}dl{grid-template-columns:1fr}dt{margin-top:6px}}
`;

/** The whole page. */
export function renderPage(input: PageInput): string {
  const { status: s, poll, since, subjects, now } = input;
  const tone = stateTone(s.state);
  const facts = [
    row('serving', revision(s.deployedSha, subjects)),
    s.remoteSha && s.remoteSha !== s.deployedSha ? row('remote at', revision(s.remoteSha, subjects)) : '',
    s.lastGoodSha ? row('last good', revision(s.lastGoodSha, subjects)) : '',
    s.rejectedSha ? row('rejected', revision(s.rejectedSha, subjects)) : '',
    s.heldSha ? row('held', revision(s.heldSha, subjects)) : '',
    s.paused
      ? row(
          'paused',
          `by ${e(s.paused.by)}, ${when(s.paused.at, now)}${s.paused.reason ? `: ${e(s.paused.reason)}` : ''}`,
        )
      : '',
    row('last sync', s.lastSuccessAt ? when(s.lastSuccessAt, now) : '<span class="dim">none yet</span>'),
    s.consecutiveFailures > 0 ? row('failures', `${s.consecutiveFailures} in a row: ${e(s.lastError ?? '')}`) : '',
    poll ? row('polling', e(describePolling(poll, now))) : '',
    s.auth ? row('auth', e(s.auth)) : '',
  ].join('');
  const deploys = s.deploys.slice(0, PAGE_DEPLOYS);
  const list =
    deploys.length > 0
      ? `<ol>${deploys.map((d) => deployItem(d, subjects, now)).join('\n')}</ol>`
      : '<p class="dim">no deploys recorded yet</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${e(`${s.state} · ${s.branch} · hotpull`)}</title>
<noscript><meta http-equiv="refresh" content="${NO_SCRIPT_REFRESH_S}"></noscript>
<style>${STYLE}</style></head>
<body>
<header><h1>hotpull · ${e(s.branch)} <span class="dim">on ${e(s.remote)}</span></h1></header>
<main data-key="${e(pageKey(s, poll))}">
<section class="card" aria-label="state">
<div class="state"><span class="badge ${tone}">${TONE_WORD[tone]}</span><span class="name">${e(s.state)}</span><span class="dim">since ${when(since, now)}</span></div>
${s.reason ? `<div class="reason">${e(s.reason)}</div>` : ''}
<dl>${facts}</dl>
</section>
${timeline(deploys, now)}
<section aria-label="deploys"><h2>Last deploys</h2>
${list}
</section>
</main>
<footer><span id="live">refreshes every ${NO_SCRIPT_REFRESH_S} s</span> · rendered ${e(new Date(now).toISOString())} · <a href="status">/status</a> · <a href="metrics">/metrics</a></footer>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}
