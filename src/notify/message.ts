import type { NotificationBody, NotifyEvent } from './event.js';
import { formatDuration } from '../duration.js';

/**
 * What every chat format shows, derived once from the notification body: pure. A format only lays it out in its
 * service's own schema (formats/*.ts).
 */
export type Tone = 'good' | 'bad' | 'warning' | 'info';

export interface Fact {
  name: string;
  value: string;
}

export interface Message {
  event: NotifyEvent;
  tone: Tone;
  /** `#2eb67d`: the colour of the event */
  colour: string;
  /** `live: acme/app main on web-1` */
  title: string;
  /** the body's one human line */
  text: string;
  /** revision, subject, duration, reason, impact … in that order, only those the event has */
  facts: Fact[];
  /** the commit on its forge */
  link?: string;
  at: string;
}

const TONE: Record<NotifyEvent, Tone> = {
  live: 'good',
  recovered: 'good',
  'rolled-back': 'bad',
  rejected: 'bad',
  failing: 'bad',
  blocked: 'warning',
  held: 'warning',
  paused: 'info',
  resumed: 'info',
};

export const COLOUR: Record<Tone, string> = {
  good: '#2eb67d',
  bad: '#d40e0d',
  warning: '#ecb22e',
  info: '#1d9bd1',
};

const HEADLINE: Record<NotifyEvent, string> = {
  live: 'live',
  recovered: 'recovered',
  'rolled-back': 'rolled back',
  rejected: 'rejected',
  failing: 'failing',
  blocked: 'blocked',
  held: 'held',
  paused: 'paused',
  resumed: 'resumed',
};

/** `https://git.example/acme/app.git` → `acme/app`; a path or anything else stays as it is. */
export function repoName(repo: string): string {
  const path = /^[a-z][a-z0-9+.-]*:\/\/[^/]+\/(.+)$/i.exec(repo)?.[1] ?? /^[^/:]+:(?!\/)(.+)$/.exec(repo)?.[1] ?? repo;
  return path.replace(/\/+$/, '').replace(/\.git$/, '') || repo;
}

export function messageOf(body: NotificationBody): Message {
  const tone = TONE[body.event];
  const headline = body.event === 'live' && body.result === 'reloaded' ? 'live (unverified)' : HEADLINE[body.event];
  const facts: Fact[] = [];
  if (body.new)
    facts.push({ name: 'Revision', value: body.old ? `${short(body.old)} → ${short(body.new)}` : short(body.new) });
  if (body.subject) facts.push({ name: 'Subject', value: body.subject });
  if (body.durations) facts.push({ name: 'Duration', value: formatDuration(body.durations.total) });
  if (body.rolledBackTo) facts.push({ name: 'Serving again', value: short(body.rolledBackTo) });
  if (body.reason) facts.push({ name: 'Reason', value: body.reason });
  if (body.impact) facts.push({ name: 'Impact', value: body.impact.summary });
  if (body.suppressed > 0)
    facts.push({ name: 'Suppressed', value: `${body.suppressed} like it since the last one (--notify-dedupe)` });
  facts.push({ name: 'Host', value: body.hostname });
  return {
    event: body.event,
    tone,
    colour: COLOUR[tone],
    title: `${headline}: ${repoName(body.repo)} ${body.branch} on ${body.hostname}`,
    text: body.text,
    facts,
    link: body.commitUrl ?? undefined,
    at: body.at,
  };
}

const short = (sha: string) => sha.slice(0, 8);
