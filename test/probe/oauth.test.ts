import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, generateKeyPair, jwtVerify } from 'jose';
import type { AuthConfig, ServerConfig } from '../../src/config/schema.js';
import { probeServer } from '../../src/probe/probe.js';
import { ServerSession, type CheckOutcome } from '../../src/probe/session.js';
import { credentialsFor, setAuthLog } from '../../src/probe/auth.js';
import { startAuthServer, protect, clientKeyPair, type AuthServer, type Gate, type GateOptions } from '../fixtures/oauth.js';
import { startModernHttpFixture, type ModernHttpFixture } from '../fixtures/modern-http-server.js';
import { startHttpFixture, type HttpFixture } from '../fixtures/http-server.js';
import { httpTarget, until } from '../helpers.js';
import { refusingPort } from '../fixtures/refusing.js';
import pino from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { parseConfig } from '../../src/config/load.js';
import { resolveServer } from '../../src/config/schema.js';

const SECRET = 'fixture-client-secret-8d1f0c2e9b7a4d6f';
const SCOPE = 'mcp:tools';

const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
});

let as: AuthServer;
let keyPem: string;
let keyFile: string;
const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-oauth-'));

before(async () => {
  const key = await clientKeyPair('RS256');
  keyPem = key.pem;
  keyFile = join(dir, 'client.pem');
  writeFileSync(keyFile, keyPem);
  as = await startAuthServer({ secretClients: { 'mcpwatch-prober': SECRET, 'narrow-client': SECRET }, jwtClients: { 'jwt-prober': key.jwk } });
  closers.push(() => as.close());
});

async function modern(mode: 'dual' | 'strict' = 'dual'): Promise<ModernHttpFixture> {
  const f = await startModernHttpFixture(mode);
  closers.push(() => f.close());
  return f;
}

async function legacy(mode: 'sse' | 'streamable'): Promise<HttpFixture> {
  const f = await startHttpFixture(mode);
  closers.push(() => f.close());
  return f;
}

/** A gate in front of `upstream` whose resource the AS knows, with `ttl`-second tokens. */
async function gate(upstream: string, opts: { ttl?: number; scopes?: string } & GateOptions = {}): Promise<Gate> {
  const { ttl, scopes, ...gateOpts } = opts;
  const g = await protect(upstream, as, { requiredScope: SCOPE, ...gateOpts });
  as.addResource(g.resource, scopes ?? `${SCOPE} mcp:read`, ttl ?? 300);
  closers.push(() => g.close());
  return g;
}

let serial = 0;
function target(url: string, auth: AuthConfig, extra: Partial<ServerConfig> = {}): ServerConfig {
  // A name per test: credentials are cached per server name for the life of the process.
  return httpTarget(url, extra.transport === 'sse' ? 'sse' : 'streamable_http', { name: `oauth-${++serial}`, auth, timeout: 30_000, ...extra });
}

function clientCredentials(extra: Partial<Extract<AuthConfig, { type: 'oauth2_client_credentials' }>> = {}): AuthConfig {
  return { type: 'oauth2_client_credentials', client_id: 'mcpwatch-prober', client_secret: SECRET, scopes: [SCOPE], ...extra };
}

describe('OAuth-protected servers', () => {
  it('masks the token it obtained where the server repeats it (an error body echoing the Authorization header)', async () => {
    const upstream = await startHttpFixture('echo-credentials-502');
    closers.push(() => upstream.close());
    const g = await protect(upstream.url, as, { passToken: true });
    as.addResource(g.resource, SCOPE, 300);
    closers.push(() => g.close());
    const server = target(g.url, clientCredentials());
    const out = await probeServer(server);
    const session = new ServerSession(server, { onSignal: () => {} });
    closers.push(() => session.close());
    const checked = await session.check();
    const [token] = [...g.tokensSeen];
    assert.ok(token, 'a token was obtained and sent');
    for (const o of [out, checked]) {
      assert.equal(o.error?.type, 'http_status');
      // The body is summarised, cut inside the token: what is left of it is masked too.
      assert.match(o.error!.message, /"authorization":"Bearer \*\*\*…/);
      assert.ok(!o.error!.message.includes(token.slice(0, 12)), o.error!.message);
    }
  });

  it('discovers the token endpoint from the 401 and probes a modern server', async () => {
    const g = await gate((await modern()).url);
    const before = as.tokenRequests();
    const out = await probeServer(target(g.url, clientCredentials()));
    assert.equal(out.error, null, out.error?.message);
    assert.equal(out.era, 'modern');
    assert.equal(out.tools?.length, 3);
    assert.equal(as.tokenRequests() - before, 1, 'one token request');
    assert.equal(g.counts.metadata, 1, 'the protected-resource metadata was read once');
    assert.equal(typeof out.phases.token, 'number', 'the token phase is timed');
  });

  it('finds the metadata the Bearer challenge names when a gateway\'s Basic challenge comes first', async () => {
    const g = await gate((await modern()).url, { metadataPath: '/oauth/resource.json' });
    const out = await probeServer(target(g.url, clientCredentials()));
    assert.equal(out.error, null, out.error?.message);
    assert.equal(out.tools?.length, 3);
    assert.equal(g.counts.metadata, 1, 'the metadata named in the challenge was read');
  });

  it('reuses the token across checks and fresh connections: one token request per lifetime', async () => {
    const g = await gate((await modern()).url);
    const server = target(g.url, clientCredentials());
    const before = as.tokenRequests();
    for (let i = 0; i < 3; i++) {
      const out = await probeServer(server);
      assert.equal(out.error, null, out.error?.message);
    }
    const session = new ServerSession(server, { onSignal: () => {} });
    closers.push(() => session.close());
    for (let i = 0; i < 3; i++) assert.equal((await session.check()).error, null);
    assert.equal(as.tokenRequests() - before, 1);
    assert.equal(g.counts.unauthorized, 1, 'only the very first request went without a token');
  });

  for (const how of ['discovered', 'configured'] as const) {
    it(`asks for one token at a time, however many probes need it at once (token endpoint ${how})`, async () => {
      const g = await gate((await modern()).url);
      const server = target(g.url, clientCredentials(how === 'configured' ? { token_url: as.tokenEndpoint, resource: g.resource } : {}));
      const before = as.tokenRequests();
      const outs = await Promise.all(Array.from({ length: 5 }, () => probeServer(server)));
      for (const out of outs) assert.equal(out.error, null, out.error?.message);
      assert.equal(as.tokenRequests() - before, 1);
      assert.equal(g.counts.metadata, how === 'configured' ? 0 : 1, 'one discovery');
    });
  }

  it('renews the token before it expires over a run longer than its lifetime, with no failed check', async () => {
    // Renewal comes a share of the lifetime early: the lifetime is long enough that the margin covers a
    // check slowed by a loaded machine, so it still goes out with a live token.
    const g = await gate((await modern()).url, { ttl: 10 });
    const server = target(g.url, clientCredentials());
    const session = new ServerSession(server, { onSignal: () => {} });
    closers.push(() => session.close());
    const before = as.tokenRequests();
    const outcomes: CheckOutcome[] = [];
    // Checks back to back until the AS has issued three tokens: the run spans at least two lifetimes.
    await until(async () => {
      outcomes.push(await session.check());
      return as.tokenRequests() - before >= 3;
    }, 'three token lifetimes of checks', 120_000);
    assert.deepEqual(outcomes.filter((o) => o.error).map((o) => o.error), []);
    assert.equal(g.counts.unauthorized, 1, 'no request was sent with an expired token (only the first, without one)');
  });

  it('answers a 401 invalid_token on a cached token with one renewal and a retry', async () => {
    const f = await modern();
    const g = await gate(f.url);
    const server = target(g.url, clientCredentials());
    const session = new ServerSession(server, { onSignal: () => {} });
    closers.push(() => session.close());
    assert.equal((await session.check()).error, null);
    await until(() => f.openStreams() === 1, 'the session\'s listen stream');
    const before = as.tokenRequests();
    // Tokens carry whole seconds: refuse every one issued before the next second, and wait for it.
    const cutoff = Math.floor(Date.now() / 1000) + 1;
    g.refuseIssuedBefore(cutoff);
    await until(() => Date.now() / 1000 >= cutoff, 'the next second');
    const out = await session.check();
    assert.equal(out.error, null, out.error?.message);
    assert.equal(as.tokenRequests() - before, 1);
  });

  it("a listen stream refused 401 with the token the checks just used keeps that token: no token is fetched for it, and the next check asks for the stream again", async () => {
    // The token the listen carried had just listed the tools. Before, the listen's 401 dropped it and
    // fetched another (a token request at every new connection to a server that guards its streams
    // by rules of its own; with the authorization server away, the next check had no token at all),
    // and a listen the retry did not open was not asked for again on that connection.
    const f = await modern();
    const g = await gate(f.url, { refuseStreams: 1 });
    const session = new ServerSession(target(g.url, clientCredentials()), { onSignal: () => {} });
    closers.push(() => session.close());
    const before = as.tokenRequests();
    const first = await session.check();
    assert.equal(first.error, null, first.error?.message);
    await until(() => g.counts.streamsRefused === 1 && (session.streamLostAwaitingCheck || f.openStreams() === 1), 'the listen refused, and what came of it');
    assert.equal(as.tokenRequests() - before, 1, 'one token, the check\'s');
    const second = await session.check();
    assert.equal(second.error, null, second.error?.message);
    assert.equal(second.phases.token, undefined, 'no token was fetched for the check');
    await until(() => f.openStreams() === 1, 'the listen stream, asked for again at the check, with the same token');
    assert.equal(as.tokenRequests() - before, 1);
  });

  it('a wrong secret is auth_failed with the authorization server\'s invalid_client', async () => {
    const g = await gate((await modern()).url);
    const out = await probeServer(target(g.url, clientCredentials({ client_secret: 'not-the-secret-3c9e' })));
    assert.equal(out.error?.type, 'auth_failed');
    assert.equal(out.error?.category, 'permanent');
    assert.equal(out.error?.phase, 'token');
    assert.match(out.error!.message, /invalid_client/);
  });

  it('a refused secret is not sent again until the back-off has passed: one token request, not one per check', async () => {
    const g = await gate((await modern()).url);
    const server = target(g.url, clientCredentials({ client_secret: 'wrong-secret-backoff-51' }));
    let now = Date.now();
    // The clock is the credentials' own: registered before the first probe, it is the one they keep.
    credentialsFor(server, { now: () => now });
    const before = as.tokenRequests();
    const session = new ServerSession(server, { onSignal: () => {} });
    closers.push(() => session.close());
    for (let i = 0; i < 3; i++) assert.equal((await session.check()).error?.type, 'auth_failed');
    for (let i = 0; i < 2; i++) assert.equal((await probeServer(server)).error?.type, 'auth_failed');
    assert.equal(as.tokenRequests() - before, 1, 'checks and fresh connections within the back-off get the remembered refusal');
    now += server.interval;
    const again = await probeServer(server);
    assert.equal(again.error?.type, 'auth_failed');
    assert.match(again.error!.message, /invalid_client/);
    assert.equal(as.tokenRequests() - before, 2, 'asked again once the back-off passed');
  });

  it('a token the server refuses (issued for another resource) is not fetched anew at every check: once per back-off', async () => {
    const f = await modern();
    const g = await gate(f.url);
    const other = await gate(f.url);
    const server = target(g.url, clientCredentials({ resource: other.resource }));
    let now = Date.now();
    credentialsFor(server, { now: () => now });
    const before = as.tokenRequests();
    const session = new ServerSession(server, { onSignal: () => {} });
    closers.push(() => session.close());
    const refused = async (): Promise<void> => {
      const out = await session.check();
      assert.equal(out.error?.type, 'auth_failed');
      assert.match(out.error!.message, /rejected the credential/);
    };
    for (let i = 0; i < 3; i++) await refused();
    assert.equal((await probeServer(server)).error?.type, 'auth_failed');
    assert.equal(as.tokenRequests() - before, 1, 'the refused token is sent again, and no new one fetched, within the back-off');
    now += server.interval;
    await refused();
    assert.equal(as.tokenRequests() - before, 2, 'a new token once the back-off passed');
    now += server.interval;
    await refused();
    assert.equal(as.tokenRequests() - before, 2, 'the back-off doubled after the second refusal');
    now += server.interval;
    await refused();
    assert.equal(as.tokenRequests() - before, 3);
  });

  it('auth.issuer: a server naming another authorization server gets no credentials', async () => {
    const g = await gate((await modern()).url);
    const pinned = 'https://login.example.com/tenant';
    const before = as.tokenRequests();
    const out = await probeServer(target(g.url, clientCredentials({ issuer: pinned })));
    assert.equal(out.error?.type, 'auth_failed');
    assert.ok(out.error!.message.includes(as.issuer) && out.error!.message.includes(pinned), out.error!.message);
    assert.equal(as.tokenRequests() - before, 0, 'nothing was sent to the named authorization server');
    const ok = await probeServer(target(g.url, clientCredentials({ issuer: `${as.issuer}/` })));
    assert.equal(ok.error, null, ok.error?.message);
  });

  it('the discovered token endpoint is logged once per server, without credentials', async () => {
    const lines: Array<Record<string, unknown>> = [];
    setAuthLog((fields, msg) => lines.push({ ...fields, msg }));
    try {
      const g = await gate((await modern()).url);
      const server = target(g.url, clientCredentials());
      for (let i = 0; i < 2; i++) assert.equal((await probeServer(server)).error, null);
      const mine = lines.filter((l) => l.server === server.name);
      assert.deepEqual(mine.map((l) => [l.token_endpoint, l.issuer]), [[as.tokenEndpoint, as.issuer]]);
      assert.ok(!JSON.stringify(mine).includes(SECRET));
    } finally {
      setAuthLog(undefined);
    }
  });

  it('an agent that stops monitoring a server forgets its credentials', async () => {
    const g = await gate((await modern()).url);
    const config = (servers: string): string => `monitoring: { interval: 1h, timeout: 30s }
exporters: { prometheus: null }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: null }
state: { path: ${JSON.stringify(join(dir, 'agent-state.db'))} }
servers:
${servers}`;
    const server = `  - { name: kept, transport: streamable_http, url: "${g.url}", auth: { type: oauth2_client_credentials, client_id: mcpwatch-prober, client_secret: "${SECRET}", scopes: [${SCOPE}] } }`;
    const other = `  - { name: other, transport: streamable_http, url: "${g.url}" }`;
    const first = parseConfig(config(server), 'mcpwatch.yaml', {});
    const agent = new Agent({ file: 'mcpwatch.yaml', text: config(server), config: first }, { log: pino({ level: 'silent' }), stdout: { write: () => true } });
    closers.push(() => agent.stop());
    await agent.start();
    await until(() => agent.statuses().kept === 'up', 'the first check');
    const resolved = resolveServer(first, first.servers[0]!);
    const held = credentialsFor(resolved)!;
    const next = config(other);
    await agent.reload({ file: 'mcpwatch.yaml', text: next, config: parseConfig(next, 'mcpwatch.yaml', {}) });
    assert.notEqual(credentialsFor(resolved), held, 'the removed server\'s credentials (and token) were dropped');
  });

  it('an authorization server that is down is auth_unavailable (transient)', async () => {
    const down = await refusingPort();
    closers.push(() => down.close());
    const g = await protect((await modern()).url, { issuer: down.url() }, { requiredScope: SCOPE });
    closers.push(() => g.close());
    const out = await probeServer(target(g.url, clientCredentials()));
    assert.equal(out.error?.type, 'auth_unavailable');
    assert.equal(out.error?.category, 'transient');
    assert.match(out.error!.message, /ECONNREFUSED/);
  });

  it('an authorization server whose metadata has no authorization_endpoint (client_credentials only, RFC 8414) is discovered', async () => {
    const key = await clientKeyPair('RS256');
    const machineOnly = await startAuthServer({ secretClients: { 'mcpwatch-prober': SECRET }, jwtClients: { 'jwt-prober': key.jwk }, metadataOmits: ['authorization_endpoint'] });
    closers.push(() => machineOnly.close());
    const g = await protect((await modern()).url, machineOnly, { requiredScope: SCOPE });
    closers.push(() => g.close());
    machineOnly.addResource(g.resource, SCOPE, 300);
    const secret = await probeServer(target(g.url, clientCredentials()));
    assert.equal(secret.error, null, secret.error?.message);
    assert.equal(secret.tools?.length, 3);
    const file = join(dir, 'machine-only.pem');
    writeFileSync(file, key.pem);
    const signed = await probeServer(target(g.url, { type: 'private_key_jwt', client_id: 'jwt-prober', private_key_file: file, algorithm: 'RS256', scopes: [SCOPE] }));
    assert.equal(signed.error, null, signed.error?.message);
    assert.equal(machineOnly.issued(), 2, 'each flow got its token from the token endpoint the metadata named');
  });

  it('authorization server metadata without a token_endpoint is auth_unavailable in a sentence naming the field', async () => {
    const broken = await startAuthServer({ secretClients: { 'mcpwatch-prober': SECRET }, metadataOmits: ['authorization_endpoint', 'token_endpoint'] });
    closers.push(() => broken.close());
    const g = await protect((await modern()).url, broken, { requiredScope: SCOPE });
    closers.push(() => g.close());
    const out = await probeServer(target(g.url, clientCredentials()));
    assert.equal(out.error?.type, 'auth_unavailable');
    assert.match(out.error!.message, new RegExp(`the authorization server metadata at ${broken.issuer}/\\.well-known/\\S+ has no token_endpoint$`));
    assert.ok(!/invalid_type|"path"|\[/.test(out.error!.message), out.error!.message);
    assert.equal(broken.tokenRequests(), 0);
  });

  it('a token without the required scope is forbidden, naming the scope', async () => {
    const g = await gate((await modern()).url);
    const out = await probeServer(target(g.url, clientCredentials({ client_id: 'narrow-client', scopes: ['mcp:read'] })));
    assert.equal(out.error?.type, 'forbidden');
    assert.match(out.error!.message, /insufficient_scope.*mcp:tools/);
  });

  it('private_key_jwt gets a token with a signed client assertion', async () => {
    const g = await gate((await modern()).url);
    const out = await probeServer(target(g.url, { type: 'private_key_jwt', client_id: 'jwt-prober', private_key_file: keyFile, algorithm: 'RS256', scopes: [SCOPE] }));
    assert.equal(out.error, null, out.error?.message);
    assert.equal(out.tools?.length, 3);
  });

  for (const era of ['sse', 'streamable'] as const) {
    it(`probes a 2025-era ${era === 'sse' ? 'legacy SSE' : 'Streamable HTTP'} server behind OAuth`, async () => {
      const f = await legacy(era);
      const g = await gate(f.url);
      const out = await probeServer(target(g.url, clientCredentials(), era === 'sse' ? { transport: 'sse', protocol: 'legacy' } : { protocol: 'legacy' }));
      assert.equal(out.error, null, out.error?.message);
      assert.equal(out.protocolVersion, '2025-11-25');
      assert.equal(out.tools?.length, 3);
    });
  }

  it('legacy SSE: a token the server refuses is not fetched anew at the next probe', async () => {
    const g = await gate((await legacy('sse')).url);
    const other = await gate((await legacy('sse')).url);
    const server = target(g.url, clientCredentials({ resource: other.resource }), { transport: 'sse', protocol: 'legacy', interval: 600_000 });
    const before = as.tokenRequests();
    for (let i = 0; i < 3; i++) {
      const out = await probeServer(server);
      assert.equal(out.error?.type, 'auth_failed');
      assert.match(out.error!.message, /rejected the credential/);
    }
    assert.equal(as.tokenRequests() - before, 1);
  });

  it('legacy SSE: a wrong secret is auth_failed too', async () => {
    const f = await legacy('sse');
    const g = await gate(f.url);
    const out = await probeServer(target(g.url, clientCredentials({ client_secret: 'wrong-secret-77' }), { transport: 'sse', protocol: 'legacy' }));
    assert.equal(out.error?.type, 'auth_failed');
    assert.match(out.error!.message, /invalid_client/);
  });

  it('an expired bearer token is auth_failed naming the token and when it expired, before the server\'s words', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const g = await protect((await modern()).url, undefined, { verify: async (t) => (await jwtVerify(t, publicKey)).payload });
    closers.push(() => g.close());
    const exp = Math.floor(Date.now() / 1000) - 3600;
    const token = await new SignJWT({ sub: 'expired' }).setProtectedHeader({ alg: 'ES256' }).setExpirationTime(exp).sign(privateKey);
    const file = join(dir, 'expired-token');
    writeFileSync(file, token);
    const rows: Array<[AuthConfig, string]> = [
      [{ type: 'bearer', token_file: file }, `the token in token_file ${file}`],
      [{ type: 'bearer', token }, 'the bearer token in auth.token'],
    ];
    for (const [auth, which] of rows) {
      const server = target(g.url, auth);
      const out = await probeServer(server);
      assert.equal(out.error?.type, 'auth_failed');
      assert.equal(out.error?.message, `${which} expired at ${new Date(exp * 1000).toISOString()}; the server answered HTTP 401 (invalid_token)`);
      // The token reached the server, which refused it: the failure is the request's, not the token phase's.
      assert.notEqual(out.error?.phase, 'token');
      const session = new ServerSession(server, { onSignal: () => {} });
      closers.push(() => session.close());
      assert.equal((await session.check()).error?.message, out.error?.message);
    }
  });

  it('bearer token_file: re-read when it changes, while a session runs', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const f = await modern();
    const g = await protect(f.url, undefined, { verify: async (t) => (await jwtVerify(t, publicKey)).payload });
    closers.push(() => g.close());
    const mint = (sub: string, expSeconds: number) => new SignJWT({ sub }).setProtectedHeader({ alg: 'ES256' }).setIssuedAt().setExpirationTime(expSeconds).sign(privateKey);
    const file = join(dir, 'token');
    const now = Math.floor(Date.now() / 1000);
    writeFileSync(file, await mint('first', now + 3600));
    const server = target(g.url, { type: 'bearer', token_file: file });
    const session = new ServerSession(server, { onSignal: () => {} });
    closers.push(() => session.close());
    assert.equal((await session.check()).error, null);
    assert.equal(credentialsFor(server)?.expiresAt(), (now + 3600) * 1000);
    // A sidecar rotates the token the way Kubernetes does: write aside, rename over.
    const second = await mint('second', now + 7200);
    writeFileSync(`${file}.new`, second);
    renameSync(`${file}.new`, file);
    assert.equal((await session.check()).error, null);
    assert.ok(g.tokensSeen.has(second), 'the rotated token was sent');
    assert.equal(credentialsFor(server)?.expiresAt(), (now + 7200) * 1000);
    // A token the server refuses (signed by another key) is auth_failed, not auth_required.
    const other = await generateKeyPair('ES256');
    writeFileSync(`${file}.new`, await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setExpirationTime(now + 60).sign(other.privateKey));
    renameSync(`${file}.new`, file);
    const refused = await session.check();
    assert.equal(refused.error?.type, 'auth_failed');
  });
});

describe('OAuth scope selection (no scopes configured)', () => {
  /** Client credentials without `scopes`: the token request's scope is what the server names. */
  const unscoped = (extra: Partial<Extract<AuthConfig, { type: 'oauth2_client_credentials' }>> = {}): AuthConfig => {
    const { scopes: _scopes, ...auth } = clientCredentials(extra) as Extract<AuthConfig, { type: 'oauth2_client_credentials' }>;
    return auth;
  };

  it('asks for the protected-resource metadata\'s scopes_supported when the 401 names no scope (the Python SDK\'s challenge)', async () => {
    const g = await gate((await modern()).url, { scopeRefusal: 'python-sdk' });
    const asked = as.scopesAsked.length;
    const out = await probeServer(target(g.url, unscoped()));
    assert.equal(out.error, null, out.error?.message);
    assert.deepEqual(as.scopesAsked.slice(asked), [SCOPE]);
  });

  it('asks for the scope the 401 challenge names before the metadata\'s list (FastMCP\'s challenge)', async () => {
    // The metadata lists a scope that is not enough: only the challenge's lets the probe through.
    const g = await gate((await modern()).url, { scopesSupported: ['mcp:read'], challengeScope: SCOPE, scopeRefusal: 'fastmcp' });
    const asked = as.scopesAsked.length;
    const out = await probeServer(target(g.url, unscoped()));
    assert.equal(out.error, null, out.error?.message);
    assert.deepEqual(as.scopesAsked.slice(asked), [SCOPE]);
  });

  it('with token_url configured (no discovery), a fresh token refused 401 with a challenge naming a scope is renewed once with that scope', async () => {
    const g = await gate((await modern()).url, { challengeScope: SCOPE, scopeRefusal: 'fastmcp' });
    const asked = as.scopesAsked.length;
    const out = await probeServer(target(g.url, unscoped({ token_url: as.tokenEndpoint, resource: g.resource })));
    assert.equal(out.error, null, out.error?.message);
    assert.deepEqual(as.scopesAsked.slice(asked), [undefined, SCOPE]);
  });

  it('asks for the union of the scopes challenges named: a server needing one scope to list and another to call renews no token at each check', async () => {
    const upstream = await startModernHttpFixture('strict', { checks: true });
    closers.push(() => upstream.close());
    const g = await gate(upstream.url, { requiredScope: undefined, scopesSupported: ['mcp:read'], scopeFor: (method) => (method === 'tools/call' ? SCOPE : 'mcp:read') });
    const asked = as.scopesAsked.length;
    // Due at every check (interval 1 ms): each check lists and calls.
    const checks = [{ name: 'q', tool: 'query', arguments: {}, expect: {}, allow_side_effects: false, on_failure: 'degraded' as const, interval: 1, timeout: 30_000 }];
    const session = new ServerSession(target(g.url, unscoped(), { checks }), { onSignal: () => {} });
    closers.push(() => session.close());
    for (let i = 0; i < 3; i++) {
      const out = await session.check();
      assert.equal(out.error, null, out.error?.message);
      assert.deepEqual(out.checks?.map((c) => c.status), ['pass']);
    }
    // Before, the token went back and forth between the two scopes, twice a check.
    assert.deepEqual(as.scopesAsked.slice(asked), ['mcp:read', `mcp:read ${SCOPE}`]);
  });

  it('configured scopes win over what the server names, and `scopes: []` asks for no scope at all', async () => {
    const g = await gate((await modern()).url, { challengeScope: SCOPE });
    const asked = as.scopesAsked.length;
    const narrow = await probeServer(target(g.url, clientCredentials({ scopes: ['mcp:read'] })));
    assert.equal(narrow.error?.type, 'forbidden');
    const none = await probeServer(target(g.url, clientCredentials({ scopes: [] })));
    assert.equal(none.error?.type, 'forbidden');
    assert.deepEqual(as.scopesAsked.slice(asked), ['mcp:read', undefined]);
  });

  it('a 403 naming the scope only in its error_description (the Python SDK) is forbidden quoting it', async () => {
    const g = await gate((await modern()).url, { scopeRefusal: 'python-sdk' });
    const out = await probeServer(target(g.url, clientCredentials({ scopes: ['mcp:read'] })));
    assert.equal(out.error?.type, 'forbidden');
    assert.equal(out.error?.message, 'HTTP 403, forbidden, insufficient_scope (the server says "Required scope: mcp:tools")');
  });

  it('a fresh token refused 401 by a challenge naming a scope (FastMCP) is auth_failed saying the scope', async () => {
    const g = await gate((await modern()).url, { challengeScope: SCOPE, scopeRefusal: 'fastmcp' });
    const out = await probeServer(target(g.url, clientCredentials({ scopes: ['mcp:read'] })));
    assert.equal(out.error?.type, 'auth_failed');
    assert.match(out.error!.message, /rejected the credential.*; its challenge names scope "mcp:tools"$/);
  });
});

describe('OAuth discovery again after the token endpoint refused the client', () => {
  /** An authorization server of the test's own, whose metadata it changes; a gate naming it; a server whose credentials run on a clock the test moves. */
  async function changing(fetchFn?: typeof fetch): Promise<{ own: AuthServer; g: Gate; server: ServerConfig; clock: { now: number } }> {
    const own = await startAuthServer({ secretClients: { 'mcpwatch-prober': SECRET } });
    closers.push(() => own.close());
    const g = await protect((await modern()).url, own, { requiredScope: SCOPE });
    closers.push(() => g.close());
    own.addResource(g.resource, SCOPE, 300);
    const server = target(g.url, clientCredentials());
    const clock = { now: Date.now() };
    credentialsFor(server, { now: () => clock.now, ...(fetchFn ? { fetch: fetchFn } : {}) });
    return { own, g, server, clock };
  }

  it('an authorization server that now takes client_secret_post only: a renewal is refused invalid_client, then discovery runs again and the probe is up', async () => {
    const { own, g, server, clock } = await changing();
    assert.equal((await probeServer(server)).error, null, 'up with HTTP Basic, as the metadata first said');
    own.patchMetadata({ token_endpoint_auth_methods_supported: ['client_secret_post'] });
    own.refuseBasicAuth(true);
    // The server stops taking the token (tokens carry whole seconds: every one issued before the next
    // second is refused, once it has come): its renewal goes to the token endpoint with Basic.
    const cutoff = Math.floor(Date.now() / 1000) + 1;
    g.refuseIssuedBefore(cutoff);
    await until(() => Date.now() / 1000 >= cutoff, 'the next second');
    const refused = await probeServer(server);
    assert.equal(refused.error?.type, 'auth_failed');
    assert.match(refused.error!.message, /invalid_client/);
    assert.equal((await probeServer(server)).error?.type, 'auth_failed', 'the refusal is remembered for the back-off');
    assert.equal(g.counts.metadata, 1, 'no discovery during the back-off');
    assert.equal(own.tokenRequests(), 2);
    clock.now += server.interval;
    const after = await probeServer(server);
    assert.equal(after.error, null, after.error?.message);
    assert.equal(g.counts.metadata, 2, 'discovered once more, after the back-off');
    assert.equal(own.tokenRequests(), 3);
    assert.equal((await probeServer(server)).error, null);
    assert.equal(g.counts.metadata, 2, 'and not again while the token works');
  });

  it('a token endpoint answered by a proxy\'s HTML 404 (not backed off) is discovered again at most once an interval, not at every check', async () => {
    let tokenRequests = 0;
    const proxy404: typeof fetch = async (url, init) => {
      if (String(url).endsWith('/token')) {
        tokenRequests++;
        return new Response('<html><body>Not Found</body></html>', { status: 404, headers: { 'content-type': 'text/html' } });
      }
      return fetch(url, init);
    };
    const { g, server, clock } = await changing(proxy404);
    for (let i = 0; i < 4; i++) assert.equal((await probeServer(server)).error?.type, 'auth_unavailable');
    assert.equal(tokenRequests, 4, 'each check asked for a token (auth_unavailable is not backed off)');
    assert.equal(g.counts.metadata, 1, 'but discovered once: before, once more at every check');
    clock.now += server.interval;
    await probeServer(server);
    assert.equal(g.counts.metadata, 2, 'again once an interval has passed');
  });

  it('a token endpoint that moved (404 at the old one) is found again once the back-off has passed', async () => {
    const { own, g, server, clock } = await changing();
    own.patchMetadata({ token_endpoint: `${own.issuer}/old/token` });
    const first = await probeServer(server);
    // oidc-provider answers an unknown route 404 in OAuth words.
    assert.equal(first.error?.type, 'auth_failed');
    assert.match(first.error!.message, /invalid_request — unrecognized route .*\/old\/token/);
    own.patchMetadata(undefined);
    clock.now += server.interval;
    const after = await probeServer(server);
    assert.equal(after.error, null, after.error?.message);
    assert.equal(g.counts.metadata, 2);
  });
});
