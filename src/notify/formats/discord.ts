import type { Message } from '../message.js';
import { clip, JSON_HEADERS, type Outgoing } from './types.js';

/**
 * Discord execute-webhook (https://discord.com/developers/docs/resources/webhook#execute-webhook): one embed with
 * the event's colour as an integer, the facts as inline fields, the commit link as the title's url. The embed
 * limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits): title 256, description
 * 4096, 25 fields of name 256 and value 1024, 6000 characters in all. No mentions: a commit subject saying
 * "@everyone" pings no one.
 */
export function renderDiscord(url: string, message: Message): Outgoing {
  const embed: Record<string, unknown> = {
    title: clip(message.title, 256),
    description: clip(message.text, 4096),
    color: parseInt(message.colour.slice(1), 16),
    fields: message.facts.slice(0, 25).map((f) => ({
      name: clip(f.name, 256),
      value: clip(f.value, 1024),
      inline: f.value.length <= 40,
    })),
    timestamp: message.at,
    footer: { text: 'hotpull' },
  };
  if (message.link) embed.url = message.link;
  return {
    url,
    headers: { ...JSON_HEADERS },
    body: JSON.stringify({ username: 'hotpull', embeds: [embed], allowed_mentions: { parse: [] } }),
  };
}
