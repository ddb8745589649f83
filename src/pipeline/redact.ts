// The one redaction of URLs for everything mcpwatch prints or stores (alerts, logs, `health` output,
// the state file). A configured URL may carry credentials in its userinfo (`user:pass@`) or its query
// (`?token=…`), and so may URLs that servers send back (a redirect's Location, an SSE endpoint); an
// error message that quotes one must not spread them. Pure, so every sink can apply it.

const MASK = '***';

/** A URL with a scheme inside free text: up to whitespace, a quote or an angle bracket. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;
/** Sentence punctuation after a URL in a message ("redirect to https://x/?a=b; …"), kept as is. */
const TRAILING = /[.,;:!?)\]}]+$/;

/**
 * `scheme://user:pass@host/path?a=1&b#frag` → `scheme://***:***@host/path?a=***&b=***#***`: the
 * userinfo, every query value and the fragment are masked; scheme, host, port, path and the query
 * parameter names stay, so a message still says where. Works on the text as written (no URL
 * parsing, which would normalise it or reject it), so a malformed URL is masked too.
 */
export function redactUrl(url: string | URL): string {
  const text = String(url);
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/is.exec(text);
  if (!m) return text;
  const [, scheme, authority = '', path = '', query, fragment] = m;
  const at = authority.lastIndexOf('@');
  const host = at < 0 ? authority : `${authority.slice(0, at).includes(':') ? `${MASK}:${MASK}` : MASK}${authority.slice(at)}`;
  const q = query === undefined ? '' : `?${query.slice(1).split('&').map(maskParam).join('&')}`;
  const f = fragment === undefined ? '' : fragment.length > 1 ? `#${MASK}` : '#';
  return `${scheme}${host}${path}${q}${f}`;
}

function maskParam(param: string): string {
  if (param === '') return param;
  const eq = param.indexOf('=');
  // A bare `?abc123` is as likely a key as a flag: masked whole.
  if (eq < 0) return MASK;
  return `${param.slice(0, eq)}=${MASK}`;
}

/** Every URL inside `text` redacted (see `redactUrl`); the rest of the text unchanged. */
export function redactText(text: string): string {
  if (!text.includes('://')) return text;
  return text.replace(URL_IN_TEXT, (found) => {
    const tail = TRAILING.exec(found)?.[0] ?? '';
    return redactUrl(tail ? found.slice(0, -tail.length) : found) + tail;
  });
}

/**
 * A copy of a log record or alert payload with `redactText` applied to every string in it. Errors
 * become `{ type, message, stack, code }` (what a log would show of them), so their messages are
 * redacted too; depth is bounded because the values come from anywhere.
 */
export function redactDeep<T>(value: T, depth = 8): T {
  return redactValue(value, depth) as T;
}

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object' || depth <= 0) return value;
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown };
    return redactValue({ type: e.name, message: e.message, stack: e.stack, ...(e.code !== undefined ? { code: e.code } : {}) }, depth - 1);
  }
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth - 1));
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, depth - 1);
  return out;
}
