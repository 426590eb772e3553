import type { Message, Tone } from '../message.js';
import { clip, JSON_HEADERS, type Outgoing } from './types.js';

/**
 * ntfy, published as JSON to the server's root URL (https://docs.ntfy.sh/publish/#publish-as-json): `topic`,
 * `title`, `message`, `tags` (emoji short codes stand in for the colour), `priority` 1-5 (4 for bad news) and
 * `click`, the commit. Markdown off: a subject is shown as written.
 */
const TAG: Record<Tone, string> = {
  good: 'white_check_mark',
  bad: 'rotating_light',
  warning: 'warning',
  info: 'information_source',
};

export function renderNtfy(url: string, topic: string, message: Message): Outgoing {
  const body: Record<string, unknown> = {
    topic,
    title: message.title,
    // beyond 4096 bytes ntfy turns the message into an attachment (https://docs.ntfy.sh/publish/#limitations)
    message: clipBytes(
      [message.text, ...message.facts.map((f) => `${f.name}: ${clip(f.value, 500)}`)].join('\n'),
      4096,
    ),
    tags: [TAG[message.tone], message.event],
    priority: message.tone === 'bad' ? 4 : 3,
  };
  if (message.link) body.click = message.link;
  return { url, headers: { ...JSON_HEADERS }, body: JSON.stringify(body) };
}

/** At most `max` UTF-8 bytes, cut at a character. */
function clipBytes(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  let out = clip(text, max);
  while (Buffer.byteLength(out) > max) out = clip(out, out.length - 1);
  return out;
}
