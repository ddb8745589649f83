import { Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { SdkErrorCode, SdkHttpError } from '@modelcontextprotocol/client';
import type { TlsConfig } from '../config/schema.js';
import { clientTlsOptions } from '../wire/tls.js';
import type { HttpObservation } from './prober.js';
import { redactText, redactUrl } from '../pipeline/redact.js';

/**
 * An HTTP answer that is not what MCP allows: a non-2xx status, or a 2xx with a body that is neither
 * JSON nor an event stream (`status` is then the 2xx). The response itself is in the diagnostics. It
 * is the SDK's own error, so the SDK's version negotiation reads the status and body: a 2025 server's
 * 4xx to `server/discover` means "fall back to initialize", not an outage.
 */
export function httpStatusError(status: number, message: string, text = ''): SdkHttpError {
  return new SdkHttpError(SdkErrorCode.ClientHttpNotImplemented, message, { status, statusText: '', text });
}

/**
 * Idle pooled connections are closed after this long. Servers usually close theirs sooner (Node's
 * default is 5 s, nginx 75 s); this only bounds how long a connection to a vanished peer is kept.
 */
export const IDLE_SOCKET_MS = 30_000;

/**
 * How long the server keeps an idle connection, from a `Keep-Alive: timeout=N` response header (Node's
 * HTTP server sends `timeout=5`); undefined when it does not say.
 */
export function keepAliveHintMs(value: string | null): number | undefined {
  const seconds = value ? /(?:^|[\s,])timeout=(\d+)(?:$|[\s,])/i.exec(value)?.[1] : undefined;
  return seconds === undefined ? undefined : Number(seconds) * 1000;
}

const nodeAgents = new Map<string, HttpAgent>();

/**
 * One keep-alive pool per scheme and TLS setting, shared by every server that uses it: a fleet of 300
 * HTTP servers holds 300 idle sockets, not 300 pools. `reuse: false` gives the same TLS setting
 * without a pool: the request says `Connection: close` and its socket ends with the answer, whatever
 * the server answers (some send `Connection: keep-alive` on an event stream and then refuse the next
 * request on that connection).
 */
export function nodeAgentFor(url: URL, tls: TlsConfig | undefined, reuse = true): HttpAgent {
  const secure = url.protocol === 'https:';
  const key = `${secure ? 'https' : 'http'} ${reuse ? 'pool' : 'once'} ${JSON.stringify(secure ? (tls ?? {}) : {})}`;
  let agent = nodeAgents.get(key);
  if (!agent) {
    // LIFO reuses the most recently used socket, which is the least likely to have been closed by the server.
    const common = reuse ? { keepAlive: true, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' as const } : { keepAlive: false };
    agent = secure ? new HttpsAgent({ ...common, ...(tls ? clientTlsOptions('tls', tls) : {}) }) : new HttpAgent(common);
    nodeAgents.set(key, agent);
  }
  return agent;
}

/** Error bodies are shown this far: enough to say why. */
export const SNIPPET_BYTES = 300;
/** Error bodies are read this far, and no longer than BODY_WAIT_MS: a JSON-RPC error fits. */
const ERROR_BODY_BYTES = 16 * 1024;
export const BODY_WAIT_MS = 500;

/** Records a response the probe will fail on, with the headers and body start that explain it. */
export function observeResponse(res: IncomingMessage, url: URL, method: string, withSession: boolean): Promise<HttpObservation> {
  return new Promise((resolve) => {
    let body = '';
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      res.removeListener('data', onData);
      res.destroy();
      resolve({
        method,
        status: res.statusCode ?? 0,
        contentType: header(res, 'content-type'),
        wwwAuthenticate: header(res, 'www-authenticate'),
        withSession,
        bodySnippet: body.slice(0, SNIPPET_BYTES),
        body: body.slice(0, ERROR_BODY_BYTES),
        location: resolveLocation(header(res, 'location'), url),
      });
    };
    const onData = (chunk: string): void => {
      body += chunk;
      if (body.length >= ERROR_BODY_BYTES) done();
    };
    // Bounded: an error body that never ends must not hold the probe past its deadline.
    const timer = setTimeout(done, BODY_WAIT_MS);
    res.setEncoding('utf8');
    res.on('data', onData);
    res.once('end', done);
    res.once('error', done);
    res.once('close', done);
  });
}

/**
 * A redirect's target as an absolute URL: a relative Location ("/v2/mcp") means nothing in a
 * message about a server that is configured by its full URL. Resolving against that URL would carry
 * its user:password into the message, so the userinfo is left out; the Location's own query may carry
 * a token, which must not reach alerts, logs and the state file: redacted. One that does not parse is
 * shown as sent, redacted too.
 */
export function resolveLocation(location: string | null, base: URL | string): string | null {
  if (!location) return location;
  try {
    const target = new URL(location, base);
    target.username = '';
    target.password = '';
    return redactUrl(target);
  } catch {
    return redactText(location);
  }
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Where a redirect leads when mcpwatch follows it: as the MCP SDK's clients do by default
 * (`redirectPolicy: 'same-origin'`), within the origin of the request (or to its https form on the
 * default ports), never adding userinfo, and a request with a body only on a 307 or 308, which keep
 * the method. A Python server mounted at `/mcp/` answers `/mcp` so. Another origin is not followed:
 * the configured headers and credentials would go with the request.
 */
export function sameOriginRedirect(status: number, method: string, location: string | null, base: URL): URL | undefined {
  if (!REDIRECT_STATUSES.has(status) || !location || (status !== 307 && status !== 308 && method !== 'GET')) return undefined;
  let to: URL;
  try {
    to = new URL(location, base);
  } catch {
    return undefined;
  }
  const addsUserinfo = (to.username || to.password) && (to.username !== base.username || to.password !== base.password);
  const within =
    (to.protocol === base.protocol && to.hostname === base.hostname && to.port === base.port) ||
    (to.hostname === base.hostname && base.protocol === 'http:' && base.port === '' && to.protocol === 'https:' && to.port === '');
  return within && !addsUserinfo && to.href !== base.href ? to : undefined;
}

/** What a followed redirect is remembered as (TransportDiagnostics.redirected): URLs without credentials. */
export function redirectSeen(status: number, from: URL, to: URL): { status: number; from: string; to: string } {
  return { status, from: resolveLocation(from.href, from)!, to: resolveLocation(to.href, to)! };
}

export function header(res: IncomingMessage, name: string): string | null {
  const v = res.headers[name];
  return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
}

/**
 * One parameter of a `WWW-Authenticate` header (quoted or token form, unescaped), in whichever
 * challenge it is: the header may list several (`Basic realm="gateway", Bearer resource_metadata=…`,
 * or two headers, which arrive joined by a comma), and RFC 9110 allows spaces around the `=`.
 */
export function authParam(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  // Pair by pair, each quoted value consumed whole: a `scope=` written inside a quoted
  // error_description is text, not a parameter (its scope now goes into the token request).
  const pairs = new RegExp(AUTH_PAIR.source, 'g');
  for (let m = pairs.exec(header); m !== null; m = pairs.exec(header)) {
    if (m[1]!.toLowerCase() !== name.toLowerCase()) continue;
    const v = m[2] ?? m[3]!;
    return v.replace(/\\(.)/g, '$1');
  }
  return undefined;
}

/** One auth-param: a token, `=`, and a quoted string or a token (RFC 9110 §11.2). */
const AUTH_PAIR = /([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/;
