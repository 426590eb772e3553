/**
 * Each chat service's documented request body, checked field by field: what a test receiver uses to validate what
 * hotpull sends, written from the services' own documentation (cited at each check). Returns the problems found;
 * an empty list is a body the service takes.
 */
type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';

class Problems {
  readonly list: string[] = [];
  check(ok: boolean, problem: string): void {
    if (!ok) this.list.push(problem);
  }
  onlyKeys(where: string, value: Json, allowed: readonly string[]): void {
    for (const key of Object.keys(value)) this.check(allowed.includes(key), `${where}: unknown field ${key}`);
  }
  text(where: string, value: unknown, max: number, required = true): void {
    if (value === undefined && !required) return;
    this.check(isString(value) && value.length > 0 && value.length <= max, `${where}: a string of 1-${max} characters`);
  }
}

/**
 * Slack incoming webhook: https://api.slack.com/messaging/webhooks, its payload
 * https://api.slack.com/reference/messaging/payload, attachments https://api.slack.com/reference/messaging/attachments
 * and Block Kit https://api.slack.com/reference/block-kit/blocks (header: plain_text up to 150; section: text up to
 * 3000 or fields, at most 10 of up to 2000; context: up to 10 elements; at most 50 blocks).
 */
export function slackProblems(body: unknown): string[] {
  const p = new Problems();
  if (!isObject(body)) return ['the body is not an object'];
  p.onlyKeys('payload', body, [
    'text',
    'blocks',
    'attachments',
    'thread_ts',
    'mrkdwn',
    'username',
    'icon_emoji',
    'icon_url',
    'unfurl_links',
    'unfurl_media',
  ]);
  p.text('text', body.text, 40_000);
  p.check(Array.isArray(body.attachments), 'attachments: an array');
  for (const [i, a] of ((body.attachments as unknown[]) ?? []).entries()) {
    if (!isObject(a)) {
      p.check(false, `attachments[${i}]: an object`);
      continue;
    }
    p.check(
      isString(a.color) && /^(#[0-9a-f]{6}|good|warning|danger)$/i.test(a.color),
      `attachments[${i}].color: #RRGGBB, good, warning or danger`,
    );
    const blocks = a.blocks as unknown[];
    p.check(Array.isArray(blocks) && blocks.length > 0 && blocks.length <= 50, `attachments[${i}].blocks: 1-50 blocks`);
    for (const [j, b] of (blocks ?? []).entries()) {
      const where = `attachments[${i}].blocks[${j}]`;
      if (!isObject(b)) {
        p.check(false, `${where}: an object`);
        continue;
      }
      const text = b.text as Json | undefined;
      switch (b.type) {
        case 'header':
          p.check(isObject(text) && text.type === 'plain_text', `${where}.text: a plain_text object`);
          p.text(`${where}.text.text`, text?.text, 150);
          break;
        case 'section': {
          p.check(text !== undefined || b.fields !== undefined, `${where}: text or fields`);
          if (text) {
            p.check(['mrkdwn', 'plain_text'].includes(String(text.type)), `${where}.text.type: mrkdwn or plain_text`);
            p.text(`${where}.text.text`, text.text, 3000);
          }
          const fields = b.fields as Json[] | undefined;
          if (fields !== undefined) {
            p.check(Array.isArray(fields) && fields.length <= 10, `${where}.fields: at most 10`);
            for (const [k, f] of fields.entries()) {
              p.check(['mrkdwn', 'plain_text'].includes(String(f.type)), `${where}.fields[${k}].type`);
              p.text(`${where}.fields[${k}].text`, f.text, 2000);
            }
          }
          break;
        }
        case 'context': {
          const elements = b.elements as Json[];
          p.check(Array.isArray(elements) && elements.length > 0 && elements.length <= 10, `${where}.elements: 1-10`);
          for (const e of elements ?? [])
            p.check(['mrkdwn', 'plain_text', 'image'].includes(String(e.type)), `${where}: element type`);
          break;
        }
        default:
          p.check(false, `${where}.type: ${String(b.type)} is not a block this checker knows`);
      }
    }
  }
  return p.list;
}

/**
 * Discord execute webhook: https://discord.com/developers/docs/resources/webhook#execute-webhook (content, embeds,
 * username up to 80, allowed_mentions) and the embed limits
 * https://discord.com/developers/docs/resources/message#embed-object-embed-limits (title 256, description 4096, 25
 * fields of name 256 and value 1024, footer 2048, 6000 characters in all; color an integer).
 */
export function discordProblems(body: unknown): string[] {
  const p = new Problems();
  if (!isObject(body)) return ['the body is not an object'];
  p.onlyKeys('payload', body, [
    'content',
    'username',
    'avatar_url',
    'tts',
    'embeds',
    'allowed_mentions',
    'flags',
    'thread_name',
  ]);
  p.check(body.content !== undefined || Array.isArray(body.embeds), 'content or embeds is required');
  p.text('username', body.username, 80, false);
  const mentions = body.allowed_mentions as Json | undefined;
  if (mentions)
    p.check(
      Array.isArray(mentions.parse) && mentions.parse.every((m) => ['roles', 'users', 'everyone'].includes(String(m))),
      'allowed_mentions.parse',
    );
  const embeds = body.embeds as Json[];
  p.check(Array.isArray(embeds) && embeds.length <= 10, 'embeds: at most 10');
  let total = 0;
  for (const [i, e] of (embeds ?? []).entries()) {
    p.onlyKeys(`embeds[${i}]`, e, [
      'title',
      'type',
      'description',
      'url',
      'timestamp',
      'color',
      'footer',
      'image',
      'thumbnail',
      'author',
      'fields',
    ]);
    p.text(`embeds[${i}].title`, e.title, 256, false);
    p.text(`embeds[${i}].description`, e.description, 4096, false);
    if (e.url !== undefined) p.check(isString(e.url) && /^https?:\/\//.test(e.url), `embeds[${i}].url: an http(s) URL`);
    if (e.timestamp !== undefined)
      p.check(isString(e.timestamp) && !Number.isNaN(Date.parse(e.timestamp)), `embeds[${i}].timestamp: ISO8601`);
    p.check(
      e.color === undefined ||
        (Number.isInteger(e.color) && (e.color as number) >= 0 && (e.color as number) <= 0xffffff),
      `embeds[${i}].color: an integer 0-0xFFFFFF`,
    );
    const footer = e.footer as Json | undefined;
    if (footer) p.text(`embeds[${i}].footer.text`, footer.text, 2048);
    const fields = (e.fields as Json[]) ?? [];
    p.check(fields.length <= 25, `embeds[${i}].fields: at most 25`);
    for (const [k, f] of fields.entries()) {
      p.text(`embeds[${i}].fields[${k}].name`, f.name, 256);
      p.text(`embeds[${i}].fields[${k}].value`, f.value, 1024);
      p.check(f.inline === undefined || typeof f.inline === 'boolean', `embeds[${i}].fields[${k}].inline: a boolean`);
      total += String(f.name).length + String(f.value).length;
    }
    total += String(e.title ?? '').length + String(e.description ?? '').length + String(footer?.text ?? '').length;
  }
  p.check(total <= 6000, `embeds: ${total} characters, at most 6000`);
  return p.list;
}

/**
 * Teams Workflows webhook with an Adaptive Card:
 * https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook
 * (type message, one attachment of contentType application/vnd.microsoft.card.adaptive), the card per
 * https://adaptivecards.io/explorer/ (AdaptiveCard version, TextBlock text/color/weight/size, FactSet facts of
 * title and value, Action.OpenUrl url).
 */
export function teamsProblems(body: unknown): string[] {
  const p = new Problems();
  if (!isObject(body)) return ['the body is not an object'];
  p.check(body.type === 'message', 'type: message');
  const attachments = body.attachments as Json[];
  p.check(Array.isArray(attachments) && attachments.length === 1, 'attachments: one');
  const a = attachments?.[0] ?? {};
  p.check(
    a.contentType === 'application/vnd.microsoft.card.adaptive',
    'contentType: application/vnd.microsoft.card.adaptive',
  );
  const card = a.content as Json | undefined;
  if (!isObject(card)) return [...p.list, 'content: an AdaptiveCard object'];
  p.check(card.type === 'AdaptiveCard', 'content.type: AdaptiveCard');
  p.check(isString(card.version) && /^1\.[0-5]$/.test(card.version), 'content.version: 1.0-1.5 (what Teams renders)');
  const elements = card.body as Json[];
  p.check(Array.isArray(elements) && elements.length > 0, 'content.body: elements');
  for (const [i, e] of (elements ?? []).entries()) {
    const where = `content.body[${i}]`;
    if (e.type === 'TextBlock') {
      p.check(isString(e.text) && e.text.length > 0, `${where}.text: required`);
      p.check(
        e.color === undefined ||
          ['Default', 'Dark', 'Light', 'Accent', 'Good', 'Warning', 'Attention'].includes(String(e.color)),
        `${where}.color`,
      );
      p.check(e.weight === undefined || ['Default', 'Lighter', 'Bolder'].includes(String(e.weight)), `${where}.weight`);
      p.check(
        e.size === undefined || ['Default', 'Small', 'Medium', 'Large', 'ExtraLarge'].includes(String(e.size)),
        `${where}.size`,
      );
      p.check(e.wrap === undefined || typeof e.wrap === 'boolean', `${where}.wrap`);
    } else if (e.type === 'FactSet') {
      const facts = e.facts as Json[];
      p.check(Array.isArray(facts), `${where}.facts: required`);
      for (const f of facts ?? [])
        p.check(isString(f.title) && isString(f.value), `${where}.facts: title and value strings`);
    } else p.check(false, `${where}.type: ${String(e.type)} is not an element this checker knows`);
  }
  for (const action of (card.actions as Json[] | undefined) ?? [])
    p.check(
      action.type === 'Action.OpenUrl' && isString(action.url) && isString(action.title),
      'actions: Action.OpenUrl with title and url',
    );
  return p.list;
}

/** ntfy publish as JSON: https://docs.ntfy.sh/publish/#publish-as-json (topic required; priority 1-5; tags a list). */
export function ntfyProblems(body: unknown): string[] {
  const p = new Problems();
  if (!isObject(body)) return ['the body is not an object'];
  p.onlyKeys('payload', body, [
    'topic',
    'message',
    'title',
    'tags',
    'priority',
    'actions',
    'click',
    'attach',
    'markdown',
    'icon',
    'filename',
    'delay',
    'email',
    'call',
  ]);
  p.text('topic', body.topic, 64);
  p.check(
    isString(body.topic) && /^[-_A-Za-z0-9]{1,64}$/.test(body.topic),
    'topic: letters, digits, - and _ (ntfy topic names)',
  );
  p.text('message', body.message, 4096);
  p.text('title', body.title, 4096, false);
  p.check(
    body.tags === undefined || (Array.isArray(body.tags) && body.tags.every(isString)),
    'tags: a list of strings',
  );
  p.check(body.priority === undefined || [1, 2, 3, 4, 5].includes(body.priority as number), 'priority: 1-5');
  p.check(body.click === undefined || (isString(body.click) && /^https?:\/\//.test(body.click)), 'click: a URL');
  return p.list;
}

/**
 * Telegram sendMessage: https://core.telegram.org/bots/api#sendmessage (chat_id an integer or @channelusername,
 * text 1-4096 characters after entities parsing, parse_mode) and HTML style
 * https://core.telegram.org/bots/api#html-style (only these tags; <, > and & outside them as entities).
 */
export function telegramProblems(body: unknown): string[] {
  const p = new Problems();
  if (!isObject(body)) return ['the body is not an object'];
  p.onlyKeys('payload', body, [
    'chat_id',
    'message_thread_id',
    'text',
    'parse_mode',
    'entities',
    'link_preview_options',
    'disable_notification',
    'protect_content',
    'reply_parameters',
    'reply_markup',
  ]);
  p.check(
    Number.isInteger(body.chat_id) || (isString(body.chat_id) && /^@\w{5,32}$/.test(body.chat_id)),
    'chat_id: an integer or @channelusername',
  );
  p.check(['HTML', 'MarkdownV2', 'Markdown', undefined].includes(body.parse_mode as string), 'parse_mode');
  const text = String(body.text ?? '');
  const shown = text.replace(/<[^>]*>/g, '').replace(/&(lt|gt|amp|quot|#\d+);/g, 'x');
  p.check(shown.length > 0 && shown.length <= 4096, 'text: 1-4096 characters after entities parsing');
  if (body.parse_mode === 'HTML') {
    for (const tag of text.match(/<[^>]*>/g) ?? [])
      p.check(
        /^<\/?(b|strong|i|em|u|ins|s|strike|del|tg-spoiler|code|pre|blockquote)>$|^<a href="[^"<>]*">$|^<\/a>$/.test(
          tag,
        ),
        `text: the tag ${tag} is not one Telegram's HTML takes`,
      );
    p.check(!/&(?!(lt|gt|amp|quot|#\d+);)/.test(text), 'text: a raw & (write &amp;)');
  }
  const preview = body.link_preview_options as Json | undefined;
  if (preview)
    p.check(
      preview.is_disabled === undefined || typeof preview.is_disabled === 'boolean',
      'link_preview_options.is_disabled',
    );
  return p.list;
}

/**
 * Gotify createMessage: https://gotify.net/api-docs#/message/createMessage (message required, title, priority an
 * integer) with extras https://gotify.net/docs/msgextras (namespaced keys `a::b`; client::display contentType
 * text/plain or text/markdown; client::notification click.url).
 */
export function gotifyProblems(body: unknown): string[] {
  const p = new Problems();
  if (!isObject(body)) return ['the body is not an object'];
  p.onlyKeys('payload', body, ['title', 'message', 'priority', 'extras']);
  p.check(isString(body.message) && body.message.length > 0, 'message: required');
  p.check(body.title === undefined || isString(body.title), 'title: a string');
  p.check(body.priority === undefined || Number.isInteger(body.priority), 'priority: an integer');
  const extras = (body.extras as Json | undefined) ?? {};
  for (const key of Object.keys(extras))
    p.check(/^[a-z]+::[a-z]+$/.test(key), `extras: ${key} is not namespaced (a::b)`);
  const display = extras['client::display'] as Json | undefined;
  if (display)
    p.check(['text/plain', 'text/markdown'].includes(String(display.contentType)), 'client::display.contentType');
  const notification = extras['client::notification'] as Json | undefined;
  if (notification) p.check(isString((notification.click as Json | undefined)?.url), 'client::notification.click.url');
  return p.list;
}
