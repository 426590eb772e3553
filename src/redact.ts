// Credentials in remote URLs (https://user:token@host/...) must never reach a log line, an error message or
// the status output. Applied to every log line at the stream level and to every message we build from git's
// output, because git itself echoes the URL in its errors.
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^/@\s:'"]+)(:[^/@\s'"]*)?@/gi;

export function redact(text: string): string {
  return text.replace(USERINFO, (_all, scheme: string, user: string, password: string | undefined) =>
    password === undefined ? `${scheme}***@` : `${scheme}${user}:***@`,
  );
}
