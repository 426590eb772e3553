import type { Message } from '../message.js';

/** One request a format renders: the service's endpoint, its headers and its JSON body. */
export interface Outgoing {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** `user:password` for Basic auth, decoded */
  auth?: string;
}

/** A format: the message as its service's native message. Pure. */
export type Render = (message: Message) => Outgoing;

export const JSON_HEADERS = { 'content-type': 'application/json' } as const;

/** `text` cut to `max` characters (the service refuses longer), with an ellipsis when cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
