// The chat schemes --notify takes, apart from the formats that render them: cheap to import (the config checks
// keep these URLs off the command line before anything else loads).

export const CHAT_SCHEMES = ['slack', 'discord', 'teams', 'ntfy', 'telegram', 'gotify'] as const;
export type Format = 'json' | (typeof CHAT_SCHEMES)[number];

/** The chat scheme of a URL, or undefined (https://, not a URL). */
export function chatScheme(url: string): Format | undefined {
  const scheme = /^([a-z]+):\/\//i.exec(url)?.[1]?.toLowerCase();
  return (CHAT_SCHEMES as readonly string[]).includes(scheme ?? '') ? (scheme as Format) : undefined;
}
