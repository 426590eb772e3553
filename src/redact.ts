// Credentials in remote URLs (https://user:token@host/...) must never reach a log line, an error message or
// the status output. Applied to every log line at the stream level and to every message we build from git's
// output, because git itself echoes the URL in its errors.
//
// The userinfo is found by position, never by parsing: everything between `scheme://` and the last `@` before
// the host part is secret, whatever it holds. git takes a raw ", ', space, @, #, ? or % in a password, and a URL
// parser gives up on several of them (or a quote in a JSON log line ends a "URL-shaped" regex early). The host
// part starts after the last `@` that comes before the first `/` after `scheme://` (or the end of the line).
// A `user:pass@host:path` without `scheme://` is git's scp-like ssh form: ssh takes no password there, and the
// common `git@github.com:org/repo` must stay readable, so it is left alone (config validation refuses the
// password-looking form; see config/schema.ts).
const SCHEME = /\b[a-z][a-z0-9+.-]*:\/\//gi;

/**
 * Index just past the authority that starts at `from`: the first `/`, line break or the end of the text. A chat
 * scheme's tokens (--notify slack://, telegram:// …) hold no raw `?` or `#`, and its query may hold an `@`
 * (telegram://TOKEN@telegram?chats=@channel): there the query ends the authority too.
 */
function authorityEnd(text: string, from: number, scheme = ''): number {
  let end = text.length;
  const chat = /^(slack|discord|teams|ntfy|telegram|gotify):\/\/$/i.test(scheme);
  for (const stop of chat ? ['/', '?', '#', '\n', '\r'] : ['/', '\n', '\r']) {
    const at = text.indexOf(stop, from);
    if (at >= 0 && at < end) end = at;
  }
  return end;
}

/** `user:***` keeps the user name; a bare token (`https://TOKEN@host`) is the secret itself. */
function masked(userinfo: string): string {
  const colon = userinfo.indexOf(':');
  return colon < 0 ? '***' : `${userinfo.slice(0, colon)}:***`;
}

/**
 * Free text (log lines, git's stderr, messages) with the userinfo of every `scheme://` URL in it masked, and the
 * tokens notification URLs carry elsewhere (tokenPositions).
 */
export function redact(text: string): string {
  return maskTokenPositions(maskUserinfo(text));
}

function maskUserinfo(text: string): string {
  let out = '';
  let done = 0;
  for (const match of text.matchAll(SCHEME)) {
    const from = match.index + match[0].length;
    if (from <= done) continue;
    const at = text.lastIndexOf('@', authorityEnd(text, from, match[0]) - 1);
    if (at < from) continue;
    out += text.slice(done, from) + masked(text.slice(from, at));
    done = at;
  }
  return out + text.slice(done);
}

// Tokens outside the userinfo, by position too. A URL in free text ends at white space or a character no token
// holds (a quote, `<`, `>`, a backtick, the backslash of a JSON escape).
/** The chat schemes of --notify: after the host comes a token or a topic (slack://T000/B000/XXXX, gotify://h/TOKEN). */
const CHAT_URL = /\b((?:slack|discord|teams|ntfy|telegram|gotify):\/\/[^\s"'<>`\\/?]*)([/?][^\s"'<>`\\]*)?/gi;
/** Webhook hosts whose path is the token: Slack, Discord, a Telegram bot. */
const PATH_TOKEN =
  /\b(https?:\/\/(?:[^\s"'<>`\\/@]*@)?(?:hooks\.slack\.com\/services|(?:ptb\.|canary\.)?discord(?:app)?\.com\/api\/webhooks|api\.telegram\.org)\/)([^\s"'<>`\\]*)/gi;
/** Query parameters that carry a secret in any URL: ?token=, Teams' and Azure's ?sig=, ?access_token=, ?api_key= … */
const QUERY_TOKEN =
  /([?&](?:token|access_token|auth|sig|signature|key|apikey|api_key|secret|password)=)([^\s"'<>`\\&#]*)/gi;

function maskTokenPositions(text: string): string {
  return text
    .replace(CHAT_URL, (_m, head: string, tail: string | undefined) => (tail ? `${head}${tail[0]}***` : head))
    .replace(PATH_TOKEN, (_m, head: string, tail: string) => (tail ? `${head}***` : head))
    .replace(QUERY_TOKEN, (_m, key: string, value: string) => (value ? `${key}***` : key));
}

/**
 * One value known to be a single URL (an option as given), for an error message: everything between `scheme://`
 * and the last `@` anywhere in it is masked, so even a password holding a `/` (which git would misread as the
 * path, see remoteUrlProblem) stays hidden.
 */
export function redactUrl(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  if (!scheme) return url;
  const at = url.lastIndexOf('@');
  return maskTokenPositions(
    at < scheme[0].length ? url : `${scheme[0]}${masked(url.slice(scheme[0].length, at))}${url.slice(at)}`,
  );
}

export interface UrlParts {
  /** `https://` */
  scheme: string;
  /** as written, undefined when the URL has none */
  userinfo?: string;
  /** host, port, path and the rest, as written */
  rest: string;
}

/** A `scheme://` URL split by the same positions `redact` uses; undefined for anything else (names, paths, scp-like). */
export function splitUrl(url: string): UrlParts | undefined {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0];
  if (!scheme) return undefined;
  const at = url.lastIndexOf('@', authorityEnd(url, scheme.length, scheme) - 1);
  return at < scheme.length
    ? { scheme, rest: url.slice(scheme.length) }
    : { scheme, userinfo: url.slice(scheme.length, at), rest: url.slice(at + 1) };
}

/** Percent-decoding as git does it for credentials: `%XX` is that byte, any other `%` stays as written. */
export function decodeLenient(text: string): string {
  const bytes: Buffer[] = [];
  let literal = '';
  for (let i = 0; i < text.length;) {
    const hex = text[i] === '%' ? /^[0-9a-f]{2}/i.exec(text.slice(i + 1, i + 3))?.[0] : undefined;
    if (hex) {
      bytes.push(Buffer.from(literal), Buffer.from([parseInt(hex, 16)]));
      literal = '';
      i += 3;
    } else {
      literal += text[i];
      i += 1;
    }
  }
  return Buffer.concat([...bytes, Buffer.from(literal)]).toString('utf8');
}

/** The user name and password of a URL's userinfo (split at the first `:`), decoded leniently. */
export function credentialsOf(userinfo: string): { username: string; password: string } {
  const colon = userinfo.indexOf(':');
  return colon < 0
    ? { username: decodeLenient(userinfo), password: '' }
    : { username: decodeLenient(userinfo.slice(0, colon)), password: decodeLenient(userinfo.slice(colon + 1)) };
}

/** The chat schemes --notify takes: every one holds a token somewhere, so redaction and the argv check know them. */
export const CHAT_SCHEMES = ['slack', 'discord', 'teams', 'ntfy', 'telegram', 'gotify'] as const;
export type ChatScheme = (typeof CHAT_SCHEMES)[number];

/** The chat scheme of a URL, or undefined (https://, not a URL). */
export function chatScheme(url: string): ChatScheme | undefined {
  const scheme = /^([a-z]+):\/\//i.exec(url)?.[1]?.toLowerCase();
  return (CHAT_SCHEMES as readonly string[]).includes(scheme ?? '') ? (scheme as ChatScheme) : undefined;
}
