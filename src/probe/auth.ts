import { readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import {
  ClientCredentialsProvider,
  discoverOAuthServerInfo,
  extractWWWAuthenticateParams,
  fetchToken,
  OAuthError,
  PrivateKeyJwtProvider,
  type AuthorizationServerMetadata,
  type FetchLike,
  type OAuthClientProvider,
  type OAuthTokens,
} from '@modelcontextprotocol/client';
import type { AuthConfig, ServerConfig } from '../config/schema.js';
import type { TransportDiagnostics } from './prober.js';

/**
 * The credential a probe presents to a server behind OAuth (the MCP authorization spec: the server is
 * an OAuth resource server). One `Credentials` per configured server holds the current token, shared
 * by kept sessions and one-shot probes alike, so a fleet asks its authorization server for a token
 * once per token lifetime, not once per check. The OAuth wire work (metadata discovery, the
 * client_credentials request, private_key_jwt assertions) is the MCP SDK's; this file decides when
 * to ask, caches, and says why it could not.
 *
 * The token endpoint, when not configured, is found the way the spec says a client finds it: the
 * server's 401 names its protected-resource metadata (RFC 9728), which names the authorization
 * server, whose metadata (RFC 8414 / OIDC discovery) names the endpoint.
 */

/** Why no credential could be had: the authorization server refused (`auth_failed`) or was not reachable / not OAuth (`auth_unavailable`). */
export class AuthFailure extends Error {
  override name = 'AuthFailure';
  constructor(
    readonly type: 'auth_failed' | 'auth_unavailable',
    message: string,
  ) {
    super(message);
  }
}

/** What a transport asks of a server's credentials, per connection. */
export interface RequestAuth {
  /** The Authorization header value for the next request (undefined: none yet, the server's 401 will say where to get one). */
  authorization(): Promise<string | undefined>;
  /**
   * A request sent with `sent` was answered 401: whether one retry with the (new) credential is worth
   * it. Fetches or re-reads the credential on the way; throws AuthFailure when none can be had.
   */
  retryAfter401(sent: string | undefined, wwwAuthenticate: string | null): Promise<boolean>;
}

interface Token {
  value: string;
  /** Epoch ms; undefined when neither `expires_in` nor a JWT `exp` says. */
  expiresAt: number | undefined;
  /** Epoch ms when it was obtained, to refresh at a share of its lifetime. */
  obtainedAt: number;
}

interface Endpoint {
  url: string;
  issuer: string;
  metadata: AuthorizationServerMetadata;
  /** The RFC 8707 resource indicator: configured, else the protected-resource metadata's, else the server URL. */
  resource: string;
}

export interface CredentialOptions {
  now?: () => number;
  fetch?: FetchLike;
}

/** A token is renewed this far before it expires: a fifth of its lifetime, at most a minute. */
const REFRESH_SHARE = 0.2;
const REFRESH_MAX_MS = 60_000;

/**
 * One server's credential source: the cached token, at most one token request in flight, its
 * expiry, and the 401 retry decision.
 */
export class Credentials {
  private token: Token | undefined;
  private inflight: Promise<Token> | undefined;
  private endpoint: Endpoint | undefined;
  private discovering: Promise<Endpoint> | undefined;
  private provider: OAuthClientProvider | undefined;
  /** token_file: what was read, and the file's identity when it was read. */
  private fileStamp = '';
  private readonly now: () => number;

  constructor(
    private readonly auth: AuthConfig,
    private readonly server: Pick<ServerConfig, 'url' | 'timeout'>,
    private readonly opts: CredentialOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    if (auth.type === 'oauth2_client_credentials' || auth.type === 'private_key_jwt') {
      if (auth.token_url) this.endpoint = configuredEndpoint(auth.token_url, auth.resource ?? server.url!);
    }
  }

  /**
   * When the credential in use expires (epoch ms), where mcpwatch cannot renew it itself: a bearer
   * token (or token file) that is a JWT with `exp`. OAuth tokens are renewed, so their expiry is not a
   * finding.
   */
  expiresAt(): number | undefined {
    if (this.auth.type !== 'bearer') return undefined;
    try {
      return this.bearer().expiresAt;
    } catch {
      return undefined;
    }
  }

  /** A per-connection view that adds the time spent waiting for token requests to the connection's diagnostics. */
  forConnection(diag: TransportDiagnostics): RequestAuth {
    return {
      authorization: () => this.authorization(diag),
      retryAfter401: (sent, www) => this.retryAfter401(sent, www, diag),
    };
  }

  private async authorization(diag: TransportDiagnostics): Promise<string | undefined> {
    if (this.auth.type === 'bearer') return `Bearer ${this.bearer().value}`;
    const t = this.token;
    if (t && !this.dueForRenewal(t)) return `Bearer ${t.value}`;
    // Nothing to renew with yet: the first request goes without, and its 401 says where tokens come from.
    if (!this.endpoint) return undefined;
    return `Bearer ${(await this.timed(diag, () => this.renew())).value}`;
  }

  private async retryAfter401(sent: string | undefined, www: string | null, diag: TransportDiagnostics): Promise<boolean> {
    if (this.auth.type === 'bearer') {
      if (this.auth.token === undefined) this.fileStamp = ''; // the file may have been rotated since it was last looked at
      return `Bearer ${this.bearer().value}` !== sent;
    }
    if (this.renewedSince(sent)) return true;
    if (!this.endpoint) await this.timed(diag, () => this.discoverOnce(www));
    // Probes that met the 401 together share the discovery and the token that follows it.
    if (this.renewedSince(sent)) return true;
    if (!this.inflight) this.token = undefined;
    await this.timed(diag, () => this.renew());
    return true;
  }

  /** Another request renewed the token since `sent` went out: a retry with that one is enough. */
  private renewedSince(sent: string | undefined): boolean {
    return this.token !== undefined && `Bearer ${this.token.value}` !== sent;
  }

  /** One discovery per server at a time; a failed one is tried again by the next probe. */
  private discoverOnce(www: string | null): Promise<Endpoint> {
    this.discovering ??= this.discover(www).then(
      (endpoint) => (this.endpoint = endpoint),
      (err: unknown) => {
        this.discovering = undefined;
        throw err;
      },
    );
    return this.discovering;
  }

  private dueForRenewal(t: Token): boolean {
    if (t.expiresAt === undefined) return false;
    const margin = Math.min(REFRESH_MAX_MS, (t.expiresAt - t.obtainedAt) * REFRESH_SHARE);
    return this.now() >= t.expiresAt - margin;
  }

  private async timed<T>(diag: TransportDiagnostics, work: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await work();
    } finally {
      diag.tokenMs = Math.round(((diag.tokenMs ?? 0) + performance.now() - start) * 1000) / 1000;
    }
  }

  /** One token request per server at a time: every caller waiting meanwhile gets its answer. */
  private renew(): Promise<Token> {
    this.inflight ??= this.requestToken().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async requestToken(): Promise<Token> {
    const endpoint = this.endpoint!;
    this.provider ??= this.newProvider(endpoint.issuer);
    let tokens: OAuthTokens;
    try {
      tokens = await fetchToken(this.provider, endpoint.url, { metadata: endpoint.metadata, resource: endpoint.resource, fetchFn: this.fetchFn() });
    } catch (err) {
      throw tokenFailure(err, endpoint.url);
    }
    const obtainedAt = this.now();
    // A JWT's own `exp` is what the server checks; `expires_in` is rounded to whole seconds and counts
    // from when the authorization server answered: the sooner of the two is kept.
    const expiresAt = earliest(typeof tokens.expires_in === 'number' ? obtainedAt + tokens.expires_in * 1000 : undefined, jwtExpiry(tokens.access_token));
    this.token = { value: tokens.access_token, expiresAt, obtainedAt };
    return this.token;
  }

  private newProvider(issuer: string): OAuthClientProvider {
    const auth = this.auth as Exclude<AuthConfig, { type: 'bearer' }>;
    const scope = auth.scopes.length ? auth.scopes.join(' ') : undefined;
    let provider: OAuthClientProvider;
    if (auth.type === 'private_key_jwt') {
      provider = new PrivateKeyJwtProvider({ clientId: auth.client_id, privateKey: readKey(auth.private_key_file), algorithm: auth.algorithm, scope, expectedIssuer: issuer, clientName: 'mcpwatch' });
    } else {
      provider = new ClientCredentialsProvider({ clientId: auth.client_id, clientSecret: auth.client_secret, scope, expectedIssuer: issuer, clientName: 'mcpwatch' });
    }
    if (auth.audience !== undefined) {
      // The `audience` parameter some authorization servers (Auth0, Okta) want beside RFC 8707's `resource`.
      const prepare = provider.prepareTokenRequest!.bind(provider);
      const audience = auth.audience;
      provider.prepareTokenRequest = async (s?: string) => {
        const params = (await prepare(s)) ?? new URLSearchParams({ grant_type: 'client_credentials' });
        params.set('audience', audience);
        return params;
      };
    }
    return provider;
  }

  /** The server's 401 → protected-resource metadata → authorization-server metadata → token endpoint. */
  private async discover(www: string | null): Promise<Endpoint> {
    const auth = this.auth as Exclude<AuthConfig, { type: 'bearer' }>;
    const resourceMetadataUrl = www ? extractWWWAuthenticateParams(new Response(null, { headers: { 'www-authenticate': www } })).resourceMetadataUrl : undefined;
    let info: Awaited<ReturnType<typeof discoverOAuthServerInfo>>;
    try {
      info = await discoverOAuthServerInfo(this.server.url!, { ...(resourceMetadataUrl ? { resourceMetadataUrl } : {}), fetchFn: this.fetchFn() });
    } catch (err) {
      const e = err as Error;
      const refused = e.name === 'IssuerMismatchError';
      throw new AuthFailure(refused ? 'auth_failed' : 'auth_unavailable', `authorization server discovery failed${resourceMetadataUrl ? ` (resource metadata ${resourceMetadataUrl.href})` : ''}: ${networkWords(e)}`);
    }
    const metadata = info.authorizationServerMetadata;
    if (!metadata?.token_endpoint) {
      throw new AuthFailure(
        'auth_unavailable',
        `no OAuth token endpoint found for the server: ${info.resourceMetadata ? `its authorization server ${info.authorizationServerUrl} publishes no metadata` : 'it publishes no protected-resource metadata'}${resourceMetadataUrl ? ` (resource metadata ${resourceMetadataUrl.href})` : ''}; set auth.token_url`,
      );
    }
    return { url: info.authorizationServerUrl, issuer: metadata.issuer, metadata, resource: auth.resource ?? info.resourceMetadata?.resource ?? this.server.url! };
  }

  /** Requests to the authorization server end with the probe's own deadline: a hung endpoint is `auth_unavailable`, not a stuck probe. */
  private fetchFn(): FetchLike {
    const base = this.opts.fetch ?? fetch;
    const ms = this.server.timeout;
    return (url, init) => base(url, { ...init, signal: init?.signal ?? AbortSignal.timeout(ms) });
  }

  private bearer(): Token {
    const auth = this.auth as Extract<AuthConfig, { type: 'bearer' }>;
    if (auth.token !== undefined) {
      this.token ??= { value: auth.token, expiresAt: jwtExpiry(auth.token), obtainedAt: this.now() };
      return this.token;
    }
    const file = auth.token_file!;
    let stamp: string;
    try {
      const st = statSync(file);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
      if (stamp !== this.fileStamp || !this.token) {
        const value = readFileSync(file, 'utf8').trim();
        if (!value) throw new AuthFailure('auth_unavailable', `token_file ${file} is empty`);
        this.token = { value, expiresAt: jwtExpiry(value), obtainedAt: this.now() };
        this.fileStamp = stamp;
      }
    } catch (err) {
      if (err instanceof AuthFailure) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new AuthFailure('auth_unavailable', `cannot read token_file ${file}${code ? ` (${code})` : ''}`);
    }
    return this.token;
  }
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

function configuredEndpoint(tokenUrl: string, resource: string): Endpoint {
  // Only the token endpoint is known: the rest of the metadata the SDK would read is absent on purpose.
  const metadata = { issuer: tokenUrl, token_endpoint: tokenUrl } as AuthorizationServerMetadata;
  return { url: tokenUrl, issuer: tokenUrl, metadata, resource };
}

function readKey(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AuthFailure('auth_failed', `cannot read private_key_file ${file}${code ? ` (${code})` : ''}`);
  }
}

/** What a failed token request says: the authorization server's OAuth error, or why it could not be asked. */
function tokenFailure(err: unknown, endpoint: string): AuthFailure {
  if (err instanceof AuthFailure) return err;
  if (err instanceof OAuthError) {
    // parseErrorResponse turns a non-OAuth answer (an HTML 502, a 404) into a server_error quoting the body.
    const notOAuth = /Invalid OAuth error response/.test(err.message);
    if (notOAuth || err.code === 'server_error' || err.code === 'temporarily_unavailable') {
      const status = /^HTTP (\d{3})/.exec(err.message)?.[1];
      return new AuthFailure('auth_unavailable', `token endpoint ${endpoint} did not answer as OAuth${status ? ` (HTTP ${status})` : ''}${notOAuth ? '' : `: ${err.code}${err.message ? ` — ${oneLine(err.message)}` : ''}`}`);
    }
    return new AuthFailure('auth_failed', `the authorization server refused the token request: ${err.code}${err.message ? ` — ${oneLine(err.message)}` : ''}`);
  }
  const e = err as Error;
  if (e.name === 'InsecureTokenEndpointError') return new AuthFailure('auth_failed', `refusing to send credentials to ${endpoint}: the token endpoint is not https`);
  if (e.name === 'ZodError' || e.name === '$ZodError' || e instanceof SyntaxError) return new AuthFailure('auth_unavailable', `token endpoint ${endpoint} answered without an access token (not an OAuth token response)`);
  return new AuthFailure('auth_unavailable', `token endpoint ${endpoint} unreachable: ${networkWords(e)}`);
}

function networkWords(e: Error): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer before the probe deadline';
  if (cause?.code) return `${cause.code}${cause.message ? ` (${oneLine(cause.message)})` : ''}`;
  return oneLine(e.message);
}

function oneLine(s: string): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? flat.slice(0, 200) + '…' : flat;
}

/** The `exp` of a JWT, in epoch ms; undefined for an opaque token. Not verified: only used to know when to renew. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

const registry = new Map<string, Credentials>();

/**
 * The one credential source of a configured server, shared by every connection to it for the life
 * of the process. Keyed by name and a digest of the auth settings, so a reload that changes them
 * starts afresh and one that does not keeps the token.
 */
export function credentialsFor(server: Pick<ServerConfig, 'name' | 'url' | 'timeout' | 'auth'>, opts?: CredentialOptions): Credentials | undefined {
  if (!server.auth) return undefined;
  const key = `${server.name}\u0000${createHash('sha256').update(JSON.stringify([server.url, server.auth])).digest('hex')}`;
  let c = registry.get(key);
  if (!c) {
    for (const k of registry.keys()) if (k.startsWith(`${server.name}\u0000`)) registry.delete(k);
    registry.set(key, (c = new Credentials(server.auth, server, opts)));
  }
  return c;
}
