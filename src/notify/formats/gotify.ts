import type { Message } from '../message.js';
import { JSON_HEADERS, type Outgoing } from './types.js';

/**
 * Gotify createMessage (https://gotify.net/api-docs#/message/createMessage): `title`, `message` (required),
 * `priority` (8 for bad news, which Android shows as a heads-up, 5 otherwise) and `extras`
 * (https://gotify.net/docs/msgextras): markdown display and the commit as the notification's click URL. The
 * application token goes in the X-Gotify-Key header, not the URL.
 */
export function renderGotify(url: string, token: string, message: Message): Outgoing {
  const extras: Record<string, unknown> = { 'client::display': { contentType: 'text/markdown' } };
  if (message.link) extras['client::notification'] = { click: { url: message.link } };
  const lines = [message.text, '', ...message.facts.map((f) => `**${markdown(f.name)}**: ${markdown(f.value)}  `)];
  if (message.link) lines.push(`[the commit](${message.link})`);
  return {
    url,
    headers: { ...JSON_HEADERS, 'x-gotify-key': token },
    body: JSON.stringify({
      title: message.title,
      message: lines.join('\n'),
      priority: message.tone === 'bad' ? 8 : 5,
      extras,
    }),
  };
}

/** Markdown's own characters in a value (a subject with `*` or `_`) shown as written. */
const markdown = (text: string) => text.replace(/[\\`*_[\]<>]/g, (c) => `\\${c}`);
