/**
 * How an option's key is spelled as a flag and as an environment variable (`webhookSecretFile` → `--webhook-secret-file`,
 * `HOTPULL_WEBHOOK_SECRET_FILE`). Apart from the options table so that what only needs the spelling (git credentials,
 * child environments, the schema's messages) imports nothing else of config/.
 */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function envName(key: string): string {
  return `HOTPULL_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}
