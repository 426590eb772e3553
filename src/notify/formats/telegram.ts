import type { Message, Tone } from '../message.js';
import { clip, JSON_HEADERS, type Outgoing } from './types.js';

/**
 * Telegram Bot API sendMessage (https://core.telegram.org/bots/api#sendmessage): `chat_id` (an integer, or
 * `@channelname`), `text` of at most 4096 characters in `parse_mode` HTML (https://core.telegram.org/bots/api#html-style:
 * only <b>, <a href>, <code> … and &lt; &gt; &amp; escaped), no link preview. An emoji stands in for the colour.
 */
const MARK: Record<Tone, string> = { good: '✅', bad: '🚨', warning: '⚠️', info: 'ℹ️' };

export function renderTelegram(url: string, chat: string, message: Message): Outgoing {
  // each part is cut before it is escaped, so a cut never splits a tag or an entity; the parts add up to < 4096
  const lines = [
    `${MARK[message.tone]} <b>${escape(clip(message.title, 200))}</b>`,
    escape(clip(message.text, 1000)),
    ...message.facts.slice(0, 12).map((f) => `<b>${escape(f.name)}</b>: ${escape(clip(f.value, 200))}`),
  ];
  if (message.link) lines.push(`<a href="${escape(message.link)}">the commit</a>`);
  return {
    url,
    headers: { ...JSON_HEADERS },
    body: JSON.stringify({
      chat_id: /^-?\d+$/.test(chat) ? Number(chat) : chat,
      text: lines.join('\n'),
      parse_mode: 'HTML',
      link_preview_options: { is_disabled: true },
    }),
  };
}

const escape = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
