// The chat schemes --notify takes; they live with the redaction that masks their tokens (redact.ts).
import { CHAT_SCHEMES, chatScheme, type ChatScheme } from '../redact.js';

export { CHAT_SCHEMES, chatScheme };
export type Format = 'json' | ChatScheme;
