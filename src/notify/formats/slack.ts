import type { Message } from '../message.js';
import { clip, JSON_HEADERS, type Outgoing } from './types.js';

/**
 * Slack incoming webhook (https://api.slack.com/messaging/webhooks): `text` is the notification's fallback, one
 * attachment carries the colour bar and Block Kit blocks (https://api.slack.com/reference/block-kit/blocks): a
 * header (plain text, at most 150 characters), a section with the facts as fields (at most 10, each at most 2000
 * characters) and a context line with the link.
 */
export function renderSlack(url: string, message: Message): Outgoing {
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(message.title, 150), emoji: false } },
    { type: 'section', text: { type: 'mrkdwn', text: clip(escape(message.text), 3000) } },
  ];
  const fields = message.facts.slice(0, 10).map((f) => ({
    type: 'mrkdwn',
    text: clip(`*${f.name}*\n${escape(f.value)}`, 2000),
  }));
  if (fields.length > 0) blocks.push({ type: 'section', fields });
  if (message.link)
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `<${message.link}|the commit>` }] });
  return {
    url,
    headers: { ...JSON_HEADERS },
    body: JSON.stringify({ text: clip(message.text, 3000), attachments: [{ color: message.colour, blocks }] }),
  };
}

/** Slack's mrkdwn controls: &, < and > must be escaped (https://api.slack.com/reference/surfaces/formatting#escaping). */
const escape = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
