import { credentialsOf, decodeLenient, splitUrl } from '../redact.js';
import type { NotificationBody } from './event.js';
import { messageOf } from './message.js';
import type { Outgoing } from './formats/types.js';
import { renderSlack } from './formats/slack.js';
import { renderDiscord } from './formats/discord.js';
import { renderTeams } from './formats/teams.js';
import { renderNtfy } from './formats/ntfy.js';
import { renderTelegram } from './formats/telegram.js';
import { renderGotify } from './formats/gotify.js';
import { CHAT_SCHEMES, chatScheme, type Format } from './schemes.js';

export { chatScheme, type Format };

/**
 * A --notify URL, read once at start into where and how each notification goes: pure. `https://` (and `http://`)
 * is hotpull's signed JSON; the chat schemes follow shoutrrr's URL shapes (the notification URLs of Watchtower) and
 * send the service's native message. Every chat URL holds a token somewhere (userinfo, path or the whole topic), so
 * a channel is shown only as its scheme and the host it sends to (`label`).
 *
 * Services with a fixed API host (slack, discord, telegram) take `?host=HOST[:PORT]` to send elsewhere (a
 * self-hosted Telegram Bot API server, an egress relay); every scheme takes `?scheme=http` for a server without
 * TLS (gotify also shoutrrr's `?disabletls=yes`).
 */
export interface Channel {
  format: Format;
  /** `slack://hooks.slack.com`: the scheme and the host sent to, never a token */
  label: string;
  /** the request for one notification */
  render(body: NotificationBody): Outgoing;
}

type Parsed = { channels: Channel[] } | { problem: string };

const SCHEME_LIST = `http(s)://, ${CHAT_SCHEMES.map((s) => `${s}://`).join(', ')}`;

export function parseChannel(url: string): Parsed {
  const parts = splitUrl(url);
  if (!parts) return { problem: `it is not a URL (schemes: ${SCHEME_LIST})` };
  // the host as written (a URL parser lowercases it, and reads a Discord webhook id as an IPv4 address)
  const authority = parts.rest.slice(0, (parts.rest.search(/[/?#]/) + 1 || parts.rest.length + 1) - 1);
  const rawHost = authority.replace(/:\d*$/, '');
  // a password holding a raw / or @ would send the request to a host that is part of it; a chat URL's query may
  // hold an @ (telegram chats=@channel)
  const beforeQuery = parts.rest.split('?')[0]!;
  if ((chatScheme(url) ? beforeQuery : parts.rest).includes('@'))
    return { problem: 'an @ after the host is ambiguous (in a password write @ as %40 and / as %2F)' };
  const scheme = parts.scheme.slice(0, -3).toLowerCase();
  let rest: URL;
  try {
    // the userinfo is split off by position (it may hold anything); the rest parses as an https URL would
    rest = new URL(`https://${parts.rest}`);
  } catch {
    return { problem: 'it does not parse as a URL' };
  }
  const userinfo = parts.userinfo === undefined ? undefined : credentialsOf(parts.userinfo);
  if (scheme === 'http' || scheme === 'https') return { channels: [jsonChannel(url)] };
  const format = chatScheme(url);
  if (!format) return { problem: `the scheme is ${scheme} (schemes: ${SCHEME_LIST})` };
  const query = new Map<string, string>();
  for (const [key, value] of rest.searchParams) query.set(key.toLowerCase(), value);
  const ownKeys = new Set([
    'scheme',
    ...(FIXED_HOST[format] ? ['host'] : []),
    ...(format === 'gotify' ? ['disabletls'] : []),
  ]);
  const plain = query.get('scheme')?.toLowerCase() === 'http' || /^(yes|true|1)$/i.test(query.get('disabletls') ?? '');
  if (query.has('scheme') && !/^https?$/i.test(query.get('scheme')!))
    return { problem: `scheme= takes http or https (got ${JSON.stringify(query.get('scheme'))})` };
  const fixedHost = FIXED_HOST[format];
  let host = rest.host;
  if (fixedHost) {
    host = query.get('host') ?? fixedHost;
    if (!/^[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/i.test(host))
      return { problem: `host= takes HOST or HOST:PORT (got ${JSON.stringify(host)})` };
  }
  const base = `${plain ? 'http' : 'https'}://${host}`;
  const label = `${format}://${host}`;
  const rendered = (render: (body: NotificationBody) => Outgoing): Channel[] => [{ format, label, render }];
  const extra = [...query.keys()].filter((k) => !ownKeys.has(k) && !(PASSED[format] ?? []).includes(k));
  if (format !== 'teams' && extra.length > 0)
    return {
      problem: `${format}:// takes no ${extra.map((k) => `${k}=`).join(', ')} (it takes ${[...ownKeys, ...(PASSED[format] ?? [])].map((k) => `${k}=`).join(', ')})`,
    };
  const segments = rest.pathname.split('/').filter(Boolean).map(decodeLenient);

  switch (format) {
    case 'slack': {
      // slack://hook:T000-B000-XXXX@webhook (shoutrrr 0.6+) or the older slack://T000/B000/XXXX
      let tokens: string[];
      if (userinfo) {
        if (userinfo.username !== 'hook')
          return {
            problem:
              'only incoming webhooks are supported: slack://hook:T…-B…-X…@webhook (the token is not a hook: token)',
          };
        tokens = userinfo.password.split('-');
        if (tokens.length > 3) tokens = [tokens[0]!, tokens[1]!, tokens.slice(2).join('-')];
      } else tokens = [decodeLenient(rawHost), ...segments];
      if (tokens.length !== 3 || tokens.some((t) => !/^[\w-]+$/.test(t)))
        return { problem: 'a Slack webhook is slack://hook:T…-B…-X…@webhook or slack://T…/B…/X… (three token parts)' };
      return { channels: rendered((b) => renderSlack(`${base}/services/${tokens.join('/')}`, messageOf(b))) };
    }
    case 'discord': {
      // discord://TOKEN@WEBHOOK_ID
      const id = rawHost;
      if (!userinfo?.username || !/^\d+$/.test(id))
        return {
          problem:
            'a Discord webhook is discord://TOKEN@WEBHOOK_ID (from https://discord.com/api/webhooks/WEBHOOK_ID/TOKEN)',
        };
      const token = encodeURIComponent(userinfo.username);
      return { channels: rendered((b) => renderDiscord(`${base}/api/webhooks/${id}/${token}`, messageOf(b))) };
    }
    case 'teams': {
      // teams://HOST/PATH?QUERY: a Workflows webhook URL with https:// written as teams://; its query (sig=) is passed on
      const passed = new URLSearchParams([...rest.searchParams].filter(([k]) => !ownKeys.has(k.toLowerCase())));
      const search = passed.size > 0 ? `?${passed}` : '';
      if (userinfo)
        return {
          problem:
            "teams:// is a Workflows webhook URL with https:// written as teams:// (shoutrrr's teams://GROUP@TENANT/… is an Office 365 connector, which Microsoft retired)",
        };
      if (rest.pathname === '/')
        return {
          problem: 'a Teams workflow webhook is teams://HOST/PATH?QUERY (its https:// URL with teams:// in front)',
        };
      const target = `${base}${rest.pathname}${search}`;
      return { channels: rendered((b) => renderTeams(target, messageOf(b))) };
    }
    case 'ntfy': {
      // ntfy://[USER:PASSWORD@]HOST[:PORT]/TOPIC; ntfy://:TOKEN@HOST/TOPIC sends the access token as a bearer
      if (segments.length !== 1)
        return { problem: 'an ntfy target is ntfy://[USER:PASSWORD@]HOST[:PORT]/TOPIC (one topic)' };
      const topic = segments[0]!;
      const bearer = userinfo && userinfo.username === '' ? userinfo.password : undefined;
      const auth = userinfo && !bearer ? `${userinfo.username}:${userinfo.password}` : undefined;
      return {
        channels: rendered((b) => {
          const out = renderNtfy(`${base}/`, topic, messageOf(b));
          if (bearer) out.headers.authorization = `Bearer ${bearer}`;
          return auth ? { ...out, auth } : out;
        }),
      };
    }
    case 'telegram': {
      // telegram://BOT_TOKEN@telegram?chats=@channel,-100123 (one queue per chat)
      const chats = (query.get('chats') ?? query.get('channels') ?? '')
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean);
      if (!userinfo?.username || rawHost !== 'telegram')
        return { problem: 'a Telegram target is telegram://BOT_TOKEN@telegram?chats=CHAT[,CHAT]' };
      if (chats.length === 0) return { problem: 'telegram:// needs chats=CHAT[,CHAT] (chat ids or @channel names)' };
      const bad = chats.find((c) => !/^(-?\d+|@\w{5,32})$/.test(c));
      if (bad) return { problem: `a Telegram chat is a chat id or @channelname (got ${JSON.stringify(bad)})` };
      const token = `${userinfo.username}${userinfo.password ? `:${userinfo.password}` : ''}`;
      return {
        channels: chats.map((chat) => ({
          format,
          label,
          render: (b: NotificationBody) => renderTelegram(`${base}/bot${token}/sendMessage`, chat, messageOf(b)),
        })),
      };
    }
    case 'gotify': {
      // gotify://HOST[:PORT][/PATH]/APP_TOKEN
      if (segments.length === 0) return { problem: 'a Gotify target is gotify://HOST[:PORT][/PATH]/APP_TOKEN' };
      const token = segments.at(-1)!;
      const path = segments.slice(0, -1).map(encodeURIComponent).join('/');
      const target = `${base}${path ? `/${path}` : ''}/message`;
      return { channels: rendered((b) => renderGotify(target, token, messageOf(b))) };
    }
  }
  return { problem: `the scheme is ${scheme}` };
}

/** The API host of the services that have one; `?host=` replaces it. */
const FIXED_HOST: Partial<Record<Format, string>> = {
  slack: 'hooks.slack.com',
  discord: 'discord.com',
  telegram: 'api.telegram.org',
};
/** Query keys a scheme reads besides its own. */
const PASSED: Partial<Record<Format, string[]>> = { telegram: ['chats', 'channels'] };

/** hotpull's own JSON, signed when a secret is set (deliver.ts adds the headers of each attempt). */
function jsonChannel(url: string): Channel {
  const parts = splitUrl(url)!;
  const auth = parts.userinfo === undefined ? undefined : credentialsOf(parts.userinfo);
  const end = parts.rest.search(/[/?#]/);
  return {
    format: 'json',
    label: `${parts.scheme}${end < 0 ? parts.rest : parts.rest.slice(0, end)}`,
    render: (body) => ({
      url: `${parts.scheme}${parts.rest}`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...(auth && (auth.username || auth.password) ? { auth: `${auth.username}:${auth.password}` } : {}),
    }),
  };
}
