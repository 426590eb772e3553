/**
 * A webhook body as delivered: JSON, or the form encoding GitHub uses by default and Gitea/Forgejo offer
 * (`payload=<url-encoded JSON>`). Pure, so each shape is tested by a table.
 */
export type Payload = { ok: true; payload: unknown } | { ok: false; reason: string };

const FORM = 'application/x-www-form-urlencoded';

export function isForm(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === FORM;
}

/** The `payload` field of a form-encoded body (what Gitea signs), or undefined when there is none. */
export function formPayload(body: Buffer): Buffer | undefined {
  const value = new URLSearchParams(body.toString('utf8')).get('payload');
  return value === null ? undefined : Buffer.from(value, 'utf8');
}

export function parsePayload(contentType: string | undefined, body: Buffer): Payload {
  let json = body;
  if (isForm(contentType)) {
    const field = formPayload(body);
    if (field === undefined)
      return { ok: false, reason: `form body has no payload field (${FORM} wants payload=<JSON>)` };
    json = field;
  }
  if (json.length === 0) return { ok: true, payload: {} };
  try {
    return { ok: true, payload: JSON.parse(json.toString('utf8')) as unknown };
  } catch {
    return { ok: false, reason: isForm(contentType) ? 'form payload field is not JSON' : 'body is not JSON' };
  }
}
