import { promises as fs } from 'node:fs';
import { configError } from '../errors.js';
import type { Config } from '../config/load.js';

/** The webhook secret: HOTPULL_WEBHOOK_SECRET, else the first line of --webhook-secret-file. */
export async function loadSecret(config: Config): Promise<string | undefined> {
  if (config.webhookSecret) return config.webhookSecret;
  return config.webhookSecretFile ? readSecretFile(config.webhookSecretFile, '--webhook-secret-file') : undefined;
}

/** The first line of a secret file; `option` names it in the error (exit 2). */
export async function readSecretFile(file: string, option: string): Promise<string> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw configError(
      `${option} must name a readable file (got ${JSON.stringify(file)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  const secret = text.split('\n')[0]!.trim();
  if (!secret)
    throw configError(
      `${option} must hold a non-empty secret on its first line (got an empty file: ${JSON.stringify(file)})`,
    );
  return secret;
}
