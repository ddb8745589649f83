// The one redaction of URLs for everything mcpwatch prints or stores (alerts, logs, `health` output,
// the state file). A configured URL may carry credentials in its userinfo (`user:pass@`) or its query
// (`?token=…`), and so may URLs that servers send back (a redirect's Location, an SSE endpoint); an
// error message that quotes one must not spread them. Pure, so every sink can apply it. Also the
// masking of known secret values (secretMasker), which probe/secrets.ts applies where a probe's
// texts leave the probe layer.

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
  if (!m) return redactSchemeless(text);
  const [, scheme, authority = '', path = '', query, fragment] = m;
  return `${scheme}${maskUserinfo(authority)}${path}${maskQuery(query)}${maskFragment(fragment)}`;
}

/**
 * A value meant as a URL that has no `scheme://` (`127.0.0.1:3000/mcp?key=…`, a mistyped
 * `htp//user:pass@host/`): it is quoted back by configuration errors, so it is masked by the same
 * rules, with the userinfo taken as what comes before an `@` since the last `/`.
 */
function redactSchemeless(text: string): string {
  const hash = text.indexOf('#');
  const beforeHash = hash < 0 ? text : text.slice(0, hash);
  const q = beforeHash.indexOf('?');
  const rest = q < 0 ? beforeHash : beforeHash.slice(0, q);
  const at = rest.lastIndexOf('@');
  const start = at < 0 ? 0 : rest.lastIndexOf('/', at) + 1;
  return `${rest.slice(0, start)}${maskUserinfo(rest.slice(start))}${maskQuery(q < 0 ? undefined : beforeHash.slice(q))}${maskFragment(hash < 0 ? undefined : text.slice(hash))}`;
}

function maskUserinfo(authority: string): string {
  const at = authority.lastIndexOf('@');
  return at < 0 ? authority : `${authority.slice(0, at).includes(':') ? `${MASK}:${MASK}` : MASK}${authority.slice(at)}`;
}

function maskQuery(query: string | undefined): string {
  return query === undefined ? '' : `?${query.slice(1).split('&').map(maskParam).join('&')}`;
}

function maskFragment(fragment: string | undefined): string {
  return fragment === undefined ? '' : fragment.length > 1 ? `#${MASK}` : '#';
}

/**
 * A URL whose path is its secret (a Slack incoming webhook's `/services/T…/B…/…`): scheme and host
 * only, as written, with `/…` where a path, query or fragment was.
 */
export function redactSecretPath(text: string): string {
  const m = /^((?:[a-z][a-z0-9+.-]*:\/\/)?)([^/?#]*)(.*)$/is.exec(text)!;
  const [, scheme = '', authority = '', rest = ''] = m;
  return `${scheme}${maskUserinfo(authority)}${rest ? '/…' : ''}`;
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

/**
 * Secrets shorter than this are never masked: a `${env:PORT}` of 8080 or a `DEBUG=true` would
 * otherwise turn every port number and every "true" in a message into `***`, and no credential worth
 * the name is this short.
 */
export const MIN_SECRET_CHARS = 6;

/**
 * A secret masked whatever its length, as a whole word only: a short value that the configuration
 * marks as a credential (a `${env:API_TOKEN}`, a reference after `--token`: config/load.ts). Masked
 * inside longer words, "ab" would spoil every message; unmasked, a short password was quoted back.
 */
export interface ShortSecret {
  readonly word: string;
}

/**
 * Masks every value of `secrets` (of MIN_SECRET_CHARS or more, or any ShortSecret) in a text, in the
 * forms a message quotes it: as it is, JSON-escaped (a tool result shown with JSON.stringify), with
 * whitespace runs collapsed (stderr and body summaries), URL-encoded; and a secret cut short by a
 * message's own truncation (`abcd1234se…`). Longer secrets first, so one that contains another is
 * masked whole; short ones last, where they stand as words.
 */
export function secretMasker(secrets: Iterable<string | ShortSecret>): (text: string) => string {
  const forms = new Set<string>();
  const words = new Set<string>();
  for (const secret of secrets) {
    const s = typeof secret === 'string' ? secret : secret.word;
    for (const f of [s, JSON.stringify(s).slice(1, -1), s.replace(/\s+/g, ' ').trim(), encodeURIComponent(s)]) {
      if (f.length >= MIN_SECRET_CHARS) forms.add(f);
      else if (typeof secret !== 'string' && f.trim() !== '') words.add(f);
    }
  }
  const sorted = [...forms].sort((a, b) => b.length - a.length);
  const alone = words.size === 0 ? undefined : new RegExp(`(?<![\\p{L}\\p{N}_])(?:${[...words].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|')})(?![\\p{L}\\p{N}_])`, 'gu');
  if (sorted.length === 0 && !alone) return (text) => text;
  return (text) => {
    let out = text;
    for (const f of sorted) if (out.includes(f)) out = out.split(f).join(MASK);
    if (alone) out = out.replace(alone, MASK);
    return out.includes('…') ? maskCutShort(out, sorted) : out;
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A secret's first MIN_SECRET_CHARS or more characters right before an ellipsis: the rest was cut off. */
function maskCutShort(text: string, secrets: readonly string[]): string {
  let out = '';
  let from = 0;
  for (let at = text.indexOf('…'); at >= 0; at = text.indexOf('…', at + 1)) {
    let head = text.slice(from, at);
    for (const s of secrets) {
      const longest = Math.min(s.length - 1, head.length);
      let cut = 0;
      for (let n = longest; n >= MIN_SECRET_CHARS && cut === 0; n--) if (head.endsWith(s.slice(0, n))) cut = n;
      if (cut > 0) {
        head = head.slice(0, -cut) + MASK;
        break;
      }
    }
    out += head + '…';
    from = at + 1;
  }
  return out + text.slice(from);
}
