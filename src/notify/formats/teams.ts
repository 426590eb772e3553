import type { Message, Tone } from '../message.js';
import { JSON_HEADERS, type Outgoing } from './types.js';

/**
 * Microsoft Teams through a Workflows (Power Automate) webhook, "Post to a channel when a webhook request is
 * received": a message whose one attachment is an Adaptive Card
 * (https://learn.microsoft.com/en-us/power-automate/create-adaptive-cards, card schema
 * https://adaptivecards.io/explorer/AdaptiveCard.html, version 1.4 as Teams renders it). The colour is the title
 * TextBlock's `color` (Good, Attention, Warning, Accent: the card has no free colours); the facts are a FactSet and
 * the commit an Action.OpenUrl.
 */
const COLOR: Record<Tone, string> = { good: 'Good', bad: 'Attention', warning: 'Warning', info: 'Accent' };

export function renderTeams(url: string, message: Message): Outgoing {
  const card: Record<string, unknown> = {
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    type: 'AdaptiveCard',
    version: '1.4',
    body: [
      {
        type: 'TextBlock',
        text: message.title,
        weight: 'Bolder',
        size: 'Medium',
        color: COLOR[message.tone],
        wrap: true,
      },
      { type: 'TextBlock', text: message.text, wrap: true },
      { type: 'FactSet', facts: message.facts.map((f) => ({ title: f.name, value: f.value })) },
    ],
  };
  if (message.link) card.actions = [{ type: 'Action.OpenUrl', title: 'The commit', url: message.link }];
  return {
    url,
    headers: { ...JSON_HEADERS },
    body: JSON.stringify({
      type: 'message',
      attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card }],
    }),
  };
}
