import { promises as fs } from 'node:fs';
import { configError } from '../errors.js';
import type { Config } from '../config/load.js';

/** The webhook secret: HOTPULL_WEBHOOK_SECRET, else the first line of --webhook-secret-file. */
export async function loadSecret(config: Config): Promise<string | undefined> {
  if (config.webhookSecret) return config.webhookSecret;
  if (!config.webhookSecretFile) return undefined;
  let text: string;
  try {
    text = await fs.readFile(config.webhookSecretFile, 'utf8');
  } catch (error) {
    throw configError(`--webhook-secret-file must name a readable file (got ${JSON.stringify(config.webhookSecretFile)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const secret = text.split('\n')[0]!.trim();
  if (!secret) throw configError(`--webhook-secret-file must hold a non-empty secret on its first line (got an empty file: ${JSON.stringify(config.webhookSecretFile)})`);
  return secret;
}
