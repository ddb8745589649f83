import { readFileSync, statSync } from 'node:fs';
import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import {
  ClientCredentialsProvider,
  discoverAuthorizationServerMetadata,
  discoverOAuthProtectedResourceMetadata,
  fetchToken,
  IssuerMismatchError,
  OAuthError,
  PrivateKeyJwtProvider,
  type AuthorizationServerMetadata,
  type FetchLike,
  type OAuthClientProvider,
  type OAuthTokens,
} from '@modelcontextprotocol/client';
import type { AuthConfig, ServerConfig } from '../config/schema.js';
import type { TransportDiagnostics } from './prober.js';
import { authParam } from './http.js';
import { secretMasker } from '../pipeline/redact.js';

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
 * server, whose metadata (RFC 8414 / OIDC discovery) names the endpoint. So, unless `token_url` or
 * `issuer` is configured, the server decides where the secret goes: `issuer` pins the authorization
 * server, and the endpoint found is logged once per server.
 *
 * What the authorization server says comes back into probe messages, which reach alerts, logs, the
 * state file and the API: every credential value is scrubbed from that text before it leaves here.
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

/**
 * What a transport asks of a server's credentials, per connection. `into`: where the time a request
 * waited for a token is recorded, where not the connection's diagnostics: a session's own stream
 * (Streamable HTTP's standalone GET, a 2026-07-28 subscriptions/listen) is opened beside a check's
 * requests, and a token fetched for it alone is not the check's token phase.
 */
export interface RequestAuth {
  /** The Authorization header value for the next request (undefined: none yet, the server's 401 will say where to get one). */
  authorization(into?: TransportDiagnostics): Promise<string | undefined>;
  /**
   * A request sent with `sent` was answered 401: whether one retry with the (new) credential is worth
   * it. Fetches or re-reads the credential on the way; throws AuthFailure when none can be had.
   */
  retryAfter401(sent: string | undefined, wwwAuthenticate: string | null, into?: TransportDiagnostics): Promise<boolean>;
  /**
   * A session's own stream (the 2025 standalone GET, a 2026-07-28 subscriptions/listen) sent with
   * `sent` was answered 401: whether the credential changed since (another request renewed it, a
   * token_file was rotated), so that one retry is worth it. It never renews the credential itself:
   * the checks' own requests say whether the token they use is still good.
   */
  streamRetryAfter401(sent: string | undefined, wwwAuthenticate: string | null, into: TransportDiagnostics): Promise<boolean>;
  /** The retry that retryAfter401 asked for, sent with `final`, was answered 401 too. */
  refusedAfterRetry(final: string): void;
}

interface Token {
  value: string;
  /** Epoch ms; undefined when neither `expires_in` nor a JWT `exp` says. */
  expiresAt: number | undefined;
  /** Epoch ms when it was obtained, to refresh at a share of its lifetime. */
  obtainedAt: number;
}

interface Endpoint {
  /** The authorization server (fetchToken's base; with metadata, the request goes to its token_endpoint). */
  url: string;
  /** Where token requests go: what messages name. */
  tokenEndpoint: string;
  issuer: string;
  metadata: AuthorizationServerMetadata;
  /** The RFC 8707 resource indicator: configured, else the protected-resource metadata's, else the server URL. */
  resource: string;
  /** The protected-resource metadata's `scopes_supported`, space-joined; undefined where it names none. */
  scopesSupported?: string;
}

export interface CredentialOptions {
  now?: () => number;
  fetch?: FetchLike;
}

/** Where the agent's log takes what auth.ts has to say outside a probe's outcome (the token endpoint a server led to). */
type AuthLog = (fields: Record<string, unknown>, msg: string) => void;
let authLog: AuthLog | undefined;

/** The agent's info log, for what auth.ts reports once per server rather than per probe. */
export function setAuthLog(log: AuthLog | undefined): void {
  authLog = log;
}

/** A token is renewed this far before it expires: a fifth of its lifetime, at most a minute. */
const REFRESH_SHARE = 0.2;
const REFRESH_MAX_MS = 60_000;
/**
 * After the authorization server refuses, the same credentials are not sent again for the server's
 * interval, doubling per refusal up to this: a wrong secret posted at every check (and every fast
 * re-check) can lock the client out at the identity provider.
 */
const REFUSED_BACKOFF_MAX_MS = 10 * 60_000;

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
  /**
   * The scopes the server's 401 challenges named (WWW-Authenticate `scope`), all of them: where no
   * scopes are configured, the MCP authorization spec's scope selection asks for them before the
   * metadata's list, and its step-up asks for the union with those asked before. The last one alone
   * made a server that needs one scope for tools/list and another for tools/call renew the token
   * twice at every check, each renewal answered (review21b).
   */
  private readonly challengedScopes = new Set<string>();
  /** The `scope` of the last token request (undefined: none). */
  private askedScope: string | undefined;
  /** The server's last 401 challenge that named its metadata: where discovery starts again after the token endpoint refused the client. */
  private challenge: string | null = null;
  /**
   * The token endpoint refused the client itself (invalid_client; HTTP 401, 404 or 405): what
   * discovery found may be out of date (the authorization server changed the client authentication
   * methods it takes, or moved its endpoint), so the next token request discovers again first.
   */
  private stale = false;
  /** When discovery last ran (epoch ms): a discovery again waits an interval after it. */
  private discoveredAt = 0;
  /** The HTTP status of the last token endpoint answer: the SDK's OAuthError does not keep it. */
  private tokenStatus: number | undefined;
  /** The last refusal by the authorization server, answered from here until `until` (epoch ms). */
  private refused: { failure: AuthFailure; until: number; backoffMs: number } | undefined;
  /**
   * A token fresh from the authorization server that the server refused all the same (issued for
   * another audience or resource, signed by a key the server does not trust): it is not replaced
   * before `until` (epoch ms), as a new one would be refused alike.
   */
  private rejected: { value: string; until: number; backoffMs: number } | undefined;
  /** Credential values the last token request carried (its Authorization header, a client assertion): scrubbed from what the AS says back. */
  private sent: string[] = [];
  /** The private key's PEM body lines, once read: scrubbed too. */
  private keyLines: string[] = [];
  private readonly now: () => number;

  constructor(
    private readonly auth: AuthConfig,
    private readonly server: Pick<ServerConfig, 'url' | 'timeout'> & Partial<Pick<ServerConfig, 'name' | 'interval'>>,
    private readonly opts: CredentialOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    if (auth.type === 'oauth2_client_credentials' || auth.type === 'private_key_jwt') {
      if (auth.token_url) this.endpoint = configuredEndpoint(auth.token_url, auth.issuer, auth.resource ?? server.url!);
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
      authorization: (into = diag) => this.scrubbed(this.authorization(into)),
      retryAfter401: (sent, www, into = diag) => this.scrubbed(this.retryAfter401(sent, www, into)),
      streamRetryAfter401: (sent, www, into) => this.scrubbed(this.retryAfter401(sent, www, into, false)),
      refusedAfterRetry: (final) => this.refusedAfterRetry(final),
    };
  }

  /** The last line of defence: no failure leaves auth.ts quoting a credential value. */
  private async scrubbed<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (err) {
      if (err instanceof AuthFailure) throw new AuthFailure(err.type, this.scrub(err.message));
      throw err;
    }
  }

  /** `text` with every credential value this server uses masked, in the forms an authorization server may echo. */
  scrub(text: string): string {
    return secretMasker(this.secretValues())(text);
  }

  /**
   * Every credential value this server uses, in the forms an authorization server may echo: the
   * configured secret or token, the token in use (obtained by OAuth or read from token_file), what the
   * last token request carried, the private key's lines. Also masked in probe outcomes (probe/secrets.ts).
   */
  secretValues(): string[] {
    const values = new Set<string>([...this.sent, ...this.keyLines]);
    if (this.auth.type === 'oauth2_client_credentials') {
      values.add(this.auth.client_secret);
      values.add(encodeURIComponent(this.auth.client_secret));
      values.add(new URLSearchParams({ s: this.auth.client_secret }).toString().slice(2));
    }
    if (this.auth.type === 'bearer' && this.auth.token !== undefined) values.add(this.auth.token);
    if (this.token) values.add(this.token.value);
    return [...values].filter((v) => v.length > 0);
  }

  private async authorization(diag: TransportDiagnostics): Promise<string | undefined> {
    if (this.auth.type === 'bearer') return `Bearer ${this.bearer().value}`;
    const t = this.token;
    if (t && !this.dueForRenewal(t)) return `Bearer ${t.value}`;
    // Nothing to renew with yet: the first request goes without, and its 401 says where tokens come from.
    if (!this.endpoint) return undefined;
    try {
      return `Bearer ${(await this.timed(diag, () => this.renew())).value}`;
    } catch (err) {
      // Renewal comes early on purpose: a token that is still valid serves until it expires, and the
      // next request tries renewing again.
      if (t && t === this.token && (t.expiresAt === undefined || this.now() < t.expiresAt)) return `Bearer ${t.value}`;
      throw err;
    }
  }

  /** `renew`: whether a token the server refused may be replaced for this request (not for a session's own stream). */
  private async retryAfter401(sent: string | undefined, www: string | null, diag: TransportDiagnostics, renew = true): Promise<boolean> {
    if (this.auth.type === 'bearer') {
      if (this.auth.token === undefined) this.fileStamp = ''; // the file may have been rotated since it was last looked at
      const current = this.bearer();
      // The server's words for an expired token vary ("exp claim timestamp check failed", "jwt
      // expired", none at all): what mcpwatch knows of it is said first, and a retry is pointless.
      if (current.expiresAt !== undefined && this.now() >= current.expiresAt) {
        const which = this.auth.token !== undefined ? 'the bearer token in auth.token' : `the token in token_file ${this.auth.token_file}`;
        diag.credentialExpired = `${which} expired at ${new Date(current.expiresAt).toISOString()}`;
        return false;
      }
      delete diag.credentialExpired;
      return `Bearer ${current.value}` !== sent;
    }
    if (this.renewedSince(sent)) return true;
    if (renew) this.noteChallenge(www);
    // A stream refused the token the checks use, and just used: a server may guard its streams by
    // rules of its own. Dropped and renewed here, that token cost a token request at every new
    // connection, and with the authorization server unreachable, the next check had no token at all
    // though the one it used still worked. A token that no longer works gets its 401, and its
    // renewal, at the next check; the stream is asked for again then.
    if (!renew) return false;
    // Each check would otherwise fetch a token only for the server to refuse it again.
    if (this.rejected && sent === this.rejected.value && this.now() < this.rejected.until) return false;
    if (!this.endpoint) await this.timed(diag, () => this.discoverOnce(www));
    // Probes that met the 401 together share the discovery and the token that follows it.
    if (this.renewedSince(sent)) return true;
    if (!this.inflight) this.token = undefined;
    await this.timed(diag, () => this.renew());
    return true;
  }

  /**
   * The server refused the token just obtained for it: it is kept, and sent at the next checks (the
   * server may yet accept it), but not replaced for the server's interval, doubling while refusals
   * follow one another, up to the same maximum as the authorization server's refusals.
   */
  private refusedAfterRetry(final: string): void {
    if (this.auth.type === 'bearer' || !this.token || final !== `Bearer ${this.token.value}`) return;
    const now = this.now();
    const prev = this.rejected;
    const again = prev !== undefined && now < prev.until + prev.backoffMs;
    const backoffMs = this.backoffAfter(again ? prev.backoffMs : undefined);
    this.rejected = { value: final, until: now + backoffMs, backoffMs };
  }

  /** The back-off after a refusal: the server's interval at first, doubling after `previous`, up to the maximum. */
  private backoffAfter(previous: number | undefined): number {
    return Math.min(REFUSED_BACKOFF_MAX_MS, previous !== undefined ? previous * 2 : (this.server.interval ?? REFUSED_BACKOFF_MAX_MS));
  }

  /** Keeps what a 401 challenge names for the next token request: the scope, and the metadata for a discovery again. */
  private noteChallenge(www: string | null): void {
    const named = authParam(www, 'scope')?.split(/\s+/).filter((s) => s !== '') ?? [];
    if (named.length > 0) {
      // The spec's step-up: what was asked before, and what the server names now.
      for (const scope of this.askedScope?.split(' ') ?? []) this.challengedScopes.add(scope);
      for (const scope of named) this.challengedScopes.add(scope);
    }
    if (authParam(www, 'resource_metadata') !== undefined) this.challenge = www;
  }

  /**
   * The `scope` of a token request. Configured scopes win, and `scopes: []` asks for none. Else the
   * MCP authorization spec's scope selection: the scopes the server's 401 challenges named (with
   * those asked before them), else every scope of its protected-resource metadata's
   * `scopes_supported`, else no `scope` at all.
   */
  private scope(): string | undefined {
    const configured = (this.auth as Exclude<AuthConfig, { type: 'bearer' }>).scopes;
    if (configured !== undefined) return configured.length ? configured.join(' ') : undefined;
    return this.challengedScopes.size > 0 ? [...this.challengedScopes].join(' ') : this.endpoint?.scopesSupported;
  }

  /** Another request renewed the token since `sent` went out: a retry with that one is enough. */
  private renewedSince(sent: string | undefined): boolean {
    return this.token !== undefined && `Bearer ${this.token.value}` !== sent;
  }

  /** One discovery per server at a time; a failed one is tried again by the next probe. */
  private discoverOnce(www: string | null): Promise<Endpoint> {
    this.discoveredAt = this.now();
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

  /**
   * One token request per server at a time: every caller waiting meanwhile gets its answer. After a
   * refusal, the refusal itself, until the back-off has passed.
   */
  private renew(): Promise<Token> {
    if (this.refused && this.now() < this.refused.until) return Promise.reject(this.refused.failure);
    this.inflight ??= this.rediscoverIfStale()
      .then(() => this.requestToken())
      .then(
        (token) => {
          this.refused = undefined;
          this.inflight = undefined;
          return token;
        },
        (err: unknown) => {
          this.inflight = undefined;
          if (err instanceof AuthFailure && err.type === 'auth_failed') {
            const backoffMs = this.backoffAfter(this.refused?.backoffMs);
            this.refused = { failure: err, until: this.now() + backoffMs, backoffMs };
          }
          throw err;
        },
      );
    return this.inflight;
  }

  /**
   * After the token endpoint refused the client, discovery once more from the server's last 401
   * challenge, before the next token request (which the back-off already spaces out): an
   * authorization server that now takes another client authentication method, or moved its token
   * endpoint, is followed without a restart. A discovery that fails leaves the endpoint stale, to be
   * tried again by the next request.
   */
  private async rediscoverIfStale(): Promise<void> {
    if (!this.stale || !this.endpoint) return;
    // A refusal the back-off does not space out (an HTML 404 from a proxy is auth_unavailable) would
    // otherwise discover again at every check: at most once per interval (review21b).
    const now = this.now();
    if (now - this.discoveredAt < (this.server.interval ?? REFUSED_BACKOFF_MAX_MS)) return;
    this.discoveredAt = now;
    const endpoint = await this.discover(this.challenge);
    this.stale = false;
    // The provider is bound to the issuer it was made for.
    if (endpoint.issuer !== this.endpoint.issuer) this.provider = undefined;
    this.endpoint = endpoint;
  }

  private async requestToken(): Promise<Token> {
    const endpoint = this.endpoint!;
    this.provider ??= this.newProvider(endpoint.issuer);
    let tokens: OAuthTokens;
    this.tokenStatus = undefined;
    try {
      // The scope is the request's, not the provider's: a server's challenge may change it.
      this.askedScope = this.scope();
      tokens = await fetchToken(this.provider, endpoint.url, { metadata: endpoint.metadata, resource: endpoint.resource, scope: this.askedScope, fetchFn: this.fetchFn(true) });
    } catch (err) {
      // A configured token_url has nothing to discover again.
      if (this.auth.type !== 'bearer' && this.auth.token_url === undefined && refusedTheClient(err, this.tokenStatus)) this.stale = true;
      throw tokenFailure(err, endpoint.tokenEndpoint, (s) => oneLine(this.scrub(s)));
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
    let provider: OAuthClientProvider;
    if (auth.type === 'private_key_jwt') {
      const pem = readKey(auth.private_key_file);
      this.keyLines = pemBodyLines(pem);
      const privateKey = usableKey(auth.private_key_file, pem, auth.algorithm);
      provider = new PrivateKeyJwtProvider({ clientId: auth.client_id, privateKey, algorithm: auth.algorithm, expectedIssuer: issuer, clientName: 'mcpwatch' });
    } else {
      provider = new ClientCredentialsProvider({ clientId: auth.client_id, clientSecret: auth.client_secret, expectedIssuer: issuer, clientName: 'mcpwatch' });
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
    // Read here, not with the SDK's extractWWWAuthenticateParams: that reads only a header whose first
    // challenge is Bearer, and a gateway's `Basic realm=…` listed first hid the metadata's address.
    const resourceMetadataUrl = urlOrUndefined(authParam(www, 'resource_metadata'));
    let info: ServerInfo;
    try {
      info = await discoverServerInfo(this.server.url!, resourceMetadataUrl, this.fetchFn(false));
    } catch (err) {
      const e = err as Error;
      const refused = e.name === 'IssuerMismatchError';
      const words = e instanceof AuthFailure ? e.message : networkWords(e, (s) => oneLine(this.scrub(s)));
      throw new AuthFailure(refused ? 'auth_failed' : 'auth_unavailable', `authorization server discovery failed${resourceMetadataUrl ? ` (resource metadata ${resourceMetadataUrl.href})` : ''}: ${words}`);
    }
    const metadata = info.authorizationServerMetadata;
    const discovered = metadata?.issuer ?? String(info.authorizationServerUrl);
    if (auth.issuer !== undefined && !sameIssuer(auth.issuer, discovered)) {
      throw new AuthFailure('auth_failed', `the server names the authorization server ${discovered}, not the configured auth.issuer ${auth.issuer}: no credentials were sent to it`);
    }
    if (!metadata?.token_endpoint) {
      throw new AuthFailure(
        'auth_unavailable',
        `no OAuth token endpoint found for the server: ${info.resourceMetadata ? `its authorization server ${info.authorizationServerUrl} publishes no metadata` : 'it publishes no protected-resource metadata'}${resourceMetadataUrl ? ` (resource metadata ${resourceMetadataUrl.href})` : ''}; set auth.token_url`,
      );
    }
    // The server chose where the credentials go: said at each discovery (once per server, and again
    // after a refusal), so an operator can see it.
    authLog?.({ server: this.server.name, issuer: metadata.issuer, token_endpoint: metadata.token_endpoint }, 'OAuth token endpoint discovered from the server\'s metadata');
    const scopesSupported = info.resourceMetadata?.scopes_supported?.filter((s) => s.trim() !== '').join(' ') || undefined;
    return {
      url: info.authorizationServerUrl,
      tokenEndpoint: metadata.token_endpoint,
      issuer: metadata.issuer,
      metadata,
      resource: auth.resource ?? info.resourceMetadata?.resource ?? this.server.url!,
      ...(scopesSupported ? { scopesSupported } : {}),
    };
  }

  /**
   * Requests to the authorization server end with the probe's own deadline: a hung endpoint is
   * `auth_unavailable`, not a stuck probe. A token request's credential values are noted, to be
   * scrubbed from the answer.
   */
  private fetchFn(tokenRequest: boolean): FetchLike {
    const base = this.opts.fetch ?? fetch;
    const ms = this.server.timeout;
    return async (url, init) => {
      if (tokenRequest) this.sent = credentialValues(init);
      const res = await base(url, { ...init, signal: init?.signal ?? AbortSignal.timeout(ms) });
      if (tokenRequest) this.tokenStatus = res.status;
      return res;
    };
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

interface ServerInfo {
  authorizationServerUrl: string;
  authorizationServerMetadata: AuthorizationServerMetadata | undefined;
  resourceMetadata: Awaited<ReturnType<typeof discoverOAuthProtectedResourceMetadata>> | undefined;
}

/**
 * The SDK's discoverOAuthServerInfo, step by step, so that the authorization server's metadata can be
 * read for what a client_credentials or private_key_jwt client uses. The SDK's schema requires what
 * only browser flows read (authorization_endpoint, response_types_supported, OIDC's id_token fields),
 * which RFC 8414 lets a server without those flows leave out. The SDK still does the fetching: its
 * well-known URL order, its redirect rules, its issuer echo check for metadata its schema accepts.
 */
async function discoverServerInfo(serverUrl: string, resourceMetadataUrl: URL | undefined, fetchFn: FetchLike): Promise<ServerInfo> {
  let resourceMetadata: ServerInfo['resourceMetadata'];
  let authorizationServerUrl: string | undefined;
  try {
    resourceMetadata = await discoverOAuthProtectedResourceMetadata(serverUrl, resourceMetadataUrl ? { resourceMetadataUrl } : undefined, fetchFn);
    authorizationServerUrl = resourceMetadata.authorization_servers?.[0];
  } catch (err) {
    // As the SDK does: without usable protected-resource metadata the server's origin is taken as its
    // authorization server; an unreachable server is not that case.
    if (err instanceof TypeError) throw err;
  }
  authorizationServerUrl ??= String(new URL('/', serverUrl));
  // The SDK parses the first metadata document it gets and throws its schema's error: what it was
  // answered is kept, to be read here instead.
  let answered: { url: string; body: unknown } | undefined;
  const reading: FetchLike = async (url, init) => {
    const res = await fetchFn(url, init);
    answered = res.ok ? { url: String(url), body: await res.clone().json().catch(() => undefined) } : undefined;
    return res;
  };
  let authorizationServerMetadata: AuthorizationServerMetadata | undefined;
  try {
    authorizationServerMetadata = await discoverAuthorizationServerMetadata(authorizationServerUrl, { fetchFn: reading });
  } catch (err) {
    if (!isZodError(err) || !answered) throw err;
    authorizationServerMetadata = tokenRequestMetadata(answered.url, answered.body, authorizationServerUrl);
  }
  return { authorizationServerUrl, authorizationServerMetadata, resourceMetadata };
}

/**
 * Of an authorization server's metadata that the SDK's schema refused, what the token request reads
 * (the issuer, also the private_key_jwt assertion's audience; the token endpoint; the client
 * authentication methods), checked here; anything else is left out. A problem is said naming the field.
 */
function tokenRequestMetadata(at: string, body: unknown, expectedIssuer: string): AuthorizationServerMetadata {
  const m = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  const problem = (what: string): AuthFailure => new AuthFailure('auth_unavailable', `the authorization server metadata at ${at} ${what}`);
  if (typeof m.issuer !== 'string' || !m.issuer) throw problem('has no issuer');
  // The SDK's RFC 8414 §3.3 echo check, which its schema error came before.
  if (!sameIssuerEcho(expectedIssuer, m.issuer)) throw new IssuerMismatchError('metadata', expectedIssuer, m.issuer);
  if (m.token_endpoint === undefined) throw problem('has no token_endpoint');
  if (typeof m.token_endpoint !== 'string' || !/^https?:$/.test(urlOrUndefined(m.token_endpoint)?.protocol ?? '')) throw problem('has a token_endpoint that is not an http(s) URL');
  const methods = m.token_endpoint_auth_methods_supported;
  if (methods !== undefined && !(Array.isArray(methods) && methods.every((x) => typeof x === 'string'))) throw problem('has a token_endpoint_auth_methods_supported that is not a list of names');
  return { issuer: m.issuer, token_endpoint: m.token_endpoint, ...(methods !== undefined ? { token_endpoint_auth_methods_supported: methods as string[] } : {}) } as AuthorizationServerMetadata;
}

/** The SDK's issuer echo rule: the same string, or the expected one without its trailing slash. */
function sameIssuerEcho(expected: string, issuer: string): boolean {
  return issuer === expected || (expected.endsWith('/') && issuer === expected.slice(0, -1));
}

function isZodError(err: unknown): boolean {
  const name = (err as Error | undefined)?.name;
  return name === 'ZodError' || name === '$ZodError';
}

function urlOrUndefined(text: string | undefined): URL | undefined {
  try {
    return text === undefined ? undefined : new URL(text);
  } catch {
    return undefined;
  }
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

function configuredEndpoint(tokenUrl: string, issuer: string | undefined, resource: string): Endpoint {
  // Only the token endpoint (and perhaps the issuer) is known: the rest of the metadata the SDK would read is absent on purpose.
  const metadata = { issuer: issuer ?? tokenUrl, token_endpoint: tokenUrl } as AuthorizationServerMetadata;
  return { url: tokenUrl, tokenEndpoint: tokenUrl, issuer: issuer ?? tokenUrl, metadata, resource };
}

/** Issuers compared as RFC 8414 says they are written, ignoring only a trailing slash. */
function sameIssuer(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

/** What in a token request is a credential: the Authorization header (and its encoded part), a client secret or assertion in the body. */
function credentialValues(init: RequestInit | undefined): string[] {
  const out: string[] = [];
  const authorization = new Headers(init?.headers).get('authorization');
  if (authorization) out.push(authorization, authorization.replace(/^\S+\s+/, ''));
  const body = init?.body;
  const params = body instanceof URLSearchParams ? body : typeof body === 'string' ? new URLSearchParams(body) : undefined;
  for (const name of ['client_secret', 'client_assertion']) {
    const v = params?.get(name);
    if (v) out.push(v);
  }
  return out;
}

function pemBodyLines(pem: string): string[] {
  return pem
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('-----'));
}

/** The curve each EC algorithm signs with (node:crypto's names). */
const EC_CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

/**
 * The key as the PKCS#8 PEM the SDK signs with (PKCS#1 and SEC1 files are converted), or auth_failed
 * saying why it cannot sign with `algorithm`: checked when the provider is made, so a bad file is a
 * configuration finding and not a token endpoint that seems unreachable. Names the file, never its
 * content.
 */
function usableKey(file: string, pem: string, algorithm: string): string {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new AuthFailure('auth_failed', `private_key_file ${file} is not a usable PEM private key (${(err as NodeJS.ErrnoException).code ?? 'not a private key'})`);
  }
  const type = key.asymmetricKeyType;
  const fits = algorithm.startsWith('RS') ? type === 'rsa' : algorithm.startsWith('PS') ? type === 'rsa' || type === 'rsa-pss' : type === 'ec' && key.asymmetricKeyDetails?.namedCurve === EC_CURVES[algorithm];
  if (!fits) {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    throw new AuthFailure('auth_failed', `private_key_file ${file} is not a usable PEM private key (a ${type ?? 'unknown'}${curve ? ` ${curve}` : ''} key cannot sign ${algorithm})`);
  }
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

function readKey(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AuthFailure('auth_failed', `cannot read private_key_file ${file}${code ? ` (${code})` : ''}`);
  }
}

/**
 * The token endpoint refused the client rather than the request: `invalid_client` (RFC 6749 §5.2), or
 * an HTTP status that says the endpoint does not take this client or this request at all (401, 404,
 * 405), in OAuth words or not.
 */
function refusedTheClient(err: unknown, status: number | undefined): boolean {
  if (status === 401 || status === 404 || status === 405) return true;
  return err instanceof OAuthError && err.code === 'invalid_client';
}

/**
 * What a failed token request says: the authorization server's OAuth error, or why it could not be
 * asked. Whatever the AS wrote passes through `said` (scrubbed of credentials, one line).
 */
function tokenFailure(err: unknown, endpoint: string, said: (text: string) => string): AuthFailure {
  if (err instanceof AuthFailure) return err;
  if (err instanceof OAuthError) {
    // parseErrorResponse turns a non-OAuth answer (an HTML 502, a 404) into a server_error quoting the body.
    const notOAuth = /Invalid OAuth error response/.test(err.message);
    if (notOAuth || err.code === 'server_error' || err.code === 'temporarily_unavailable') {
      const status = /^HTTP (\d{3})/.exec(err.message)?.[1];
      return new AuthFailure('auth_unavailable', `token endpoint ${endpoint} did not answer as OAuth${status ? ` (HTTP ${status})` : ''}${notOAuth ? '' : `: ${err.code}${err.message ? ` — ${said(err.message)}` : ''}`}`);
    }
    return new AuthFailure('auth_failed', `the authorization server refused the token request: ${err.code}${err.message ? ` — ${said(err.message)}` : ''}`);
  }
  const e = err as Error;
  if (e.name === 'InsecureTokenEndpointError') return new AuthFailure('auth_failed', `refusing to send credentials to ${endpoint}: the token endpoint is not https`);
  if (isZodError(e) || e instanceof SyntaxError) return new AuthFailure('auth_unavailable', `token endpoint ${endpoint} answered without an access token (not an OAuth token response)`);
  return new AuthFailure('auth_unavailable', `token endpoint ${endpoint} unreachable: ${networkWords(e, said)}`);
}

function networkWords(e: Error, said: (text: string) => string): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer before the probe deadline';
  if (cause?.code) return `${cause.code}${cause.message ? ` (${said(cause.message)})` : ''}`;
  return said(e.message);
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
export function credentialsFor(server: Pick<ServerConfig, 'name' | 'url' | 'timeout' | 'auth'> & Partial<Pick<ServerConfig, 'interval'>>, opts?: CredentialOptions): Credentials | undefined {
  if (!server.auth) return undefined;
  const key = `${server.name}\u0000${createHash('sha256').update(JSON.stringify([server.url, server.auth])).digest('hex')}`;
  let c = registry.get(key);
  if (!c) {
    for (const k of registry.keys()) if (k.startsWith(`${server.name}\u0000`)) registry.delete(k);
    registry.set(key, (c = new Credentials(server.auth, server, opts)));
  }
  return c;
}

/** A server left the configuration: its credentials (and the token they hold) go with it. */
export function forgetCredentials(name: string): void {
  for (const k of registry.keys()) if (k.startsWith(`${name}\u0000`)) registry.delete(k);
}
