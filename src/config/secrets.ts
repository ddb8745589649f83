// What makes a configuration value a credential: by its shape alone (init's discovery replaces such
// values with ${env:} references; the scorecard marks a configuration down for holding them), by the
// name it is given under (a header, a variable, a flag), and, for one configured server, every value
// it holds that mcpwatch must never repeat (probe/secrets.ts masks them in what the server says).
// Pure.
import { MIN_SECRET_CHARS, type ShortSecret } from '../pipeline/redact.js';
import type { ServerConfig } from './schema.js';

/** An HTTP auth scheme and the space after it (`Bearer `), as the start of a value. */
export const AUTH_SCHEME = /^(bearer|basic|token|bot)(\s+)/i;
/** Prefixes of widely used API tokens (OpenAI/Stripe, GitHub, GitLab, Slack, AWS, Google, Notion, Linear, JWT). */
export const TOKEN_PREFIX = /^(?:sk-|sk_|pk_|rk_|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|AKIA[0-9A-Z]|ASIA[0-9A-Z]|AIza|eyJ[A-Za-z0-9_-]{8,}|ntn_|secret_|lin_api_)/;

/** A value that is a credential by its shape: an auth scheme, a known token prefix, or a long opaque string. */
export function looksLikeSecret(value: string, opaqueMin = 20): boolean {
  const v = value.trim();
  if (AUTH_SCHEME.test(v) && v.split(/\s+/).length === 2) return true;
  if (TOKEN_PREFIX.test(v)) return true;
  return v.length >= opaqueMin && /^[A-Za-z0-9._~+/=-]+$/.test(v) && /[A-Za-z]/.test(v) && /[0-9]/.test(v) && !/^[./~]/.test(v);
}

const SECRET_WORDS: ReadonlySet<string> = new Set([
  'AUTHORIZATION', 'AUTH', 'TOKEN', 'SECRET', 'KEY', 'APIKEY', 'PASSWORD', 'PASSWD', 'PWD', 'PASS', 'PW',
  'PASSPHRASE', 'PASSCODE', 'CREDENTIAL', 'CREDENTIALS', 'CREDS', 'COOKIE', 'BEARER', 'PAT', 'SIGNATURE',
]);

/**
 * Whether a header, variable, query or flag name holds a credential. Judged word by word (split on
 * punctuation and camelCase), so `OPENAI_API_KEY` and `X-Auth-Token` are secrets and `KEYBOARD` is not.
 */
export function isSecretName(name: string): boolean {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .split(/[^A-Za-z0-9]+/)
    .map((w) => w.toUpperCase());
  // A name that ends by saying what else it holds (API_KEY_FILE, AUTH_MODE, OAUTH_TOKEN_URL) names a
  // path, a kind or an address, as for flags: masked, `AUTH_MODE: server` made "the *** exited".
  return words.some((w) => SECRET_WORDS.has(w)) && !NOT_SECRET_FLAG.test(name);
}

/** Flag names whose value is a credential, excluding flags that name a file, variable or kind instead. */
const SECRET_FLAG = /token|secret|passw(?:or)?d|api[-_]?key|access[-_]?key|private[-_]?key|^key$|auth|credential|bearer/i;
const NOT_SECRET_FLAG = /(?:file|path|dir|directory|id|name|env|var|url|type|header|method|mode|scheme|provider|server)$/i;

/** Whether a command-line flag (`--api-key`, `--token`) takes a credential as its value. */
export function isSecretFlag(flag: string): boolean {
  const name = flag.replace(/^-+/, '');
  return SECRET_FLAG.test(name) && !NOT_SECRET_FLAG.test(name);
}

export interface UrlCredential {
  /** Where, for findings: `url password`, `url query api_key`. */
  where: string;
  /** The name the value is judged under. */
  name: string;
  value: string;
}

/** Credentials carried by a URL: the userinfo password (or lone token) and secret query values. */
export function urlCredentials(text: string | undefined): UrlCredential[] {
  if (!text) return [];
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:([^/?#@]*)@)?[^/?#]*[^?#]*(?:\?([^#]*))?/.exec(text);
  if (!m) return [];
  const out: UrlCredential[] = [];
  const info = m[1];
  if (info) {
    const colon = info.indexOf(':');
    const pass = colon >= 0 ? info.slice(colon + 1) : info;
    if (pass) out.push({ where: 'url password', name: 'password', value: pass });
  }
  for (const pair of (m[2] ?? '').split('&')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    let name = pair.slice(0, eq);
    try {
      name = decodeURIComponent(name);
    } catch {
      // A malformed escape is still a name to judge as written.
    }
    const value = pair.slice(eq + 1);
    if (value && (isSecretName(name) || looksLikeSecret(value))) out.push({ where: `url query ${name}`, name, value });
  }
  return out;
}

/** The settings of a server whose values are credentials, and what config/load.ts saw come from references. */
export type SecretBearing = Partial<Pick<ServerConfig, 'headers' | 'env' | 'args' | 'url' | 'auth' | 'referenced_secrets'>>;

/**
 * Every value of one server's configuration that is a credential, in the forms a server may quote it
 * back: what a `${env:…}` reference put into its env, headers, args, URL, auth or check arguments
 * (config/load.ts); a header, variable, flag or URL query value whose name says credential or whose
 * shape is a token's; the credential part of an `Authorization` value (and a Basic one decoded); the
 * URL's password; `auth`'s client secret and bearer token. Not filtered by length: the masker is,
 * except for what references put (config/load.ts keeps only credentials there), masked as words at
 * any length.
 */
export function configuredSecrets(server: SecretBearing): Array<string | ShortSecret> {
  const referenced = server.referenced_secrets ?? [];
  const short = referenced.filter((v) => v.trim() !== '' && v.length < MIN_SECRET_CHARS).map((word): ShortSecret => ({ word }));
  const out: string[] = referenced.filter((v) => v.length >= MIN_SECRET_CHARS);
  for (const [name, value] of Object.entries(server.headers ?? {})) out.push(...namedSecret(name, value));
  for (const [name, value] of Object.entries(server.env ?? {})) out.push(...namedSecret(name, value));
  out.push(...argSecrets(server.args ?? []), ...urlSecrets(server.url));
  if (server.auth?.type === 'oauth2_client_credentials') out.push(server.auth.client_secret);
  if (server.auth?.type === 'bearer' && server.auth.token !== undefined) out.push(server.auth.token);
  return [...new Set(out.filter((v) => v.trim() !== '')), ...short];
}

/**
 * A value given under a name (a header, a variable): itself, its credential without an auth scheme, a
 * Basic pair decoded, a cookie's values; and, whatever the name, the credentials of a URL it is
 * (`DATABASE_URL: postgres://app:pw@db/app`), which the server may quote in part.
 */
function namedSecret(name: string, value: string): string[] {
  const inUrl = urlSecrets(value);
  if (!isSecretName(name) && !looksLikeSecret(value)) return inUrl;
  const out = [value, ...inUrl];
  const scheme = AUTH_SCHEME.exec(value.trim());
  if (scheme) {
    const credential = value.trim().slice(scheme[0].length);
    out.push(credential);
    if (scheme[1]!.toLowerCase() === 'basic') {
      const pair = Buffer.from(credential, 'base64').toString('utf8');
      const colon = pair.indexOf(':');
      // Only what decodes to a user:password pair: anything else is not Basic credentials.
      if (colon > 0 && /^[\x20-\x7e]+$/.test(pair)) out.push(pair, pair.slice(colon + 1));
    }
  }
  if (/cookie/i.test(name)) for (const c of value.split(';')) out.push(c.slice(c.indexOf('=') + 1).trim());
  return out;
}

/** `--api-key X`, `--token=X`, `NAME=value`, `Authorization: Bearer X` (mcp-remote's --header), a URL's credentials, a token by its shape. */
function argSecrets(args: readonly string[]): string[] {
  const out: string[] = [];
  const FLAG = /^--?([A-Za-z0-9][\w-]*)$/;
  args.forEach((arg, i) => {
    const withValue = /^(--?[A-Za-z0-9][\w-]*)=([\s\S]*)$/.exec(arg);
    const header = /^([A-Za-z][\w-]*):\s*(\S[\s\S]*)$/.exec(arg);
    const assign = /^([A-Za-z_][A-Za-z0-9_]*)=([\s\S]+)$/.exec(arg);
    if (withValue) {
      if (isSecretFlag(withValue[1]!) || looksLikeSecret(withValue[2]!)) out.push(withValue[2]!);
      out.push(...urlSecrets(withValue[2]!));
    } else if (FLAG.test(arg)) {
      // A flag alone: its value is the next argument.
    } else if (i > 0 && FLAG.test(args[i - 1]!) && isSecretFlag(args[i - 1]!)) {
      out.push(arg);
    } else if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(arg)) {
      out.push(...urlSecrets(arg));
    } else if (header) {
      out.push(...namedSecret(header[1]!, header[2]!));
    } else if (assign) {
      out.push(...namedSecret(assign[1]!, assign[2]!));
    } else if (looksLikeSecret(arg)) {
      out.push(arg);
    }
  });
  return out;
}

/** A URL's password and secret query values, as written and decoded. */
function urlSecrets(url: string | undefined): string[] {
  return urlCredentials(url).flatMap((c) => {
    try {
      const decoded = decodeURIComponent(c.value);
      return decoded === c.value ? [c.value] : [c.value, decoded];
    } catch {
      return [c.value];
    }
  });
}
