// probe/auth.ts on its own: an authorization server played by a fetch function and a clock the test
// moves, for what the real one (test/probe/oauth.test.ts) cannot be made to do on demand: echo
// credentials in every encoding, fail one renewal, hold the time still across refusals.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuthConfig } from '../../src/config/schema.js';
import { AuthFailure, Credentials, credentialsFor, forgetCredentials } from '../../src/probe/auth.js';
import type { TransportDiagnostics } from '../../src/probe/prober.js';
import { nodeAgentFor } from '../../src/probe/http.js';
import { StreamableHttpTransport } from '../../src/probe/streamable-http.js';
import { until } from '../helpers.js';

const AS = 'http://127.0.0.1:9';
const TOKEN_URL = `${AS}/oauth/token`;
const SERVER = { name: 'auth-unit', url: 'http://127.0.0.1:9/mcp', timeout: 5_000, interval: 30_000 };
const SECRET = 'unit-secret/with+chars=7f3a9c';

const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-auth-'));
function pemFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RSA_PKCS8 = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const RSA_PKCS1 = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
const bodyLines = (pem: string): string[] => pem.split('\n').filter((l) => l && !l.startsWith('-----'));

interface Exchange {
  url: string;
  authorization: string | null;
  body: URLSearchParams;
}
type Answer = (req: Exchange) => Response;

/** An authorization server as a fetch function: `answer` decides each token request; every request is kept. */
function fakeAs(answer: Answer): { fetch: (url: string | URL, init?: RequestInit) => Promise<Response>; requests: Exchange[] } {
  const requests: Exchange[] = [];
  return {
    requests,
    fetch: async (url, init) => {
      const req = { url: String(url), authorization: new Headers(init?.headers).get('authorization'), body: new URLSearchParams(String(init?.body ?? '')) };
      requests.push(req);
      return answer(req);
    },
  };
}

const json = (status: number, body: unknown): Response => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const token = (value: string, expiresIn: number): Response => json(200, { access_token: value, token_type: 'Bearer', expires_in: expiresIn });

function clientCredentials(extra: Partial<Extract<AuthConfig, { type: 'oauth2_client_credentials' }>> = {}): AuthConfig {
  return { type: 'oauth2_client_credentials', client_id: 'unit-client', client_secret: SECRET, scopes: [], token_url: TOKEN_URL, ...extra };
}

function keyClient(file: string, algorithm: Extract<AuthConfig, { type: 'private_key_jwt' }>['algorithm'] = 'RS256'): AuthConfig {
  return { type: 'private_key_jwt', client_id: 'unit-client', private_key_file: file, algorithm, scopes: [], token_url: TOKEN_URL };
}

async function failure(p: Promise<unknown>): Promise<AuthFailure> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AuthFailure) return err;
    throw err;
  }
  throw new Error('expected an AuthFailure');
}

const diag = (): TransportDiagnostics => ({});

describe('auth: credentials never leave in what the authorization server says', () => {
  const rows: Array<{ name: string; auth: AuthConfig; echo: (req: Exchange) => string; secrets: (req: Exchange) => string[] }> = [
    { name: 'the client secret, verbatim', auth: clientCredentials(), echo: () => `bad secret ${SECRET}`, secrets: () => [SECRET] },
    { name: 'the client secret, URL-encoded', auth: clientCredentials(), echo: () => `bad secret ${encodeURIComponent(SECRET)}`, secrets: () => [SECRET, encodeURIComponent(SECRET)] },
    {
      name: 'the Basic credential, encoded and decoded',
      auth: clientCredentials(),
      echo: (req) => `got ${req.authorization} = ${Buffer.from(req.authorization!.slice(6), 'base64').toString()}`,
      secrets: (req) => [SECRET, req.authorization!.slice(6)],
    },
    {
      name: 'the client assertion and the key',
      auth: keyClient(pemFile('echo.pem', RSA_PKCS8)),
      echo: (req) => `assertion ${req.body.get('client_assertion')} signed by ${bodyLines(RSA_PKCS8).join('\n')}`,
      secrets: (req) => [req.body.get('client_assertion')!, ...bodyLines(RSA_PKCS8)],
    },
  ];
  for (const row of rows) {
    it(`an error_description quoting ${row.name} is scrubbed`, async () => {
      let seen: Exchange | undefined;
      const as = fakeAs((req) => ((seen = req), json(400, { error: 'invalid_client', error_description: row.echo(req) })));
      const c = new Credentials(row.auth, SERVER, { fetch: as.fetch });
      const f = await failure(c.forConnection(diag()).authorization());
      assert.equal(f.type, 'auth_failed');
      assert.match(f.message, /invalid_client/);
      assert.match(f.message, /\*\*\*/, 'the echo is there, masked');
      for (const s of row.secrets(seen!)) assert.ok(!f.message.includes(s), `${s.slice(0, 10)}… leaked: ${f.message}`);
    });
  }

  it('an access token the authorization server quotes back is scrubbed', async () => {
    let now = 0;
    const as = fakeAs((req) => (as.requests.length === 1 ? token('at-first-4e8d2a', 100) : json(400, { error: 'invalid_request', error_description: `you already hold at-first-4e8d2a ${req.url}` })));
    const c = new Credentials(clientCredentials(), SERVER, { fetch: as.fetch, now: () => now });
    assert.equal(await c.forConnection(diag()).authorization(), 'Bearer at-first-4e8d2a');
    now = 200_000;
    const f = await failure(c.forConnection(diag()).authorization());
    assert.ok(!f.message.includes('at-first-4e8d2a'), f.message);
  });
});

describe('auth: a private_key_file that cannot sign is auth_failed, naming the file', () => {
  const truncated = RSA_PKCS8.split('\n').slice(0, 6).join('\n') + '\n-----END PRIVATE KEY-----\n';
  const rows: Array<{ name: string; text: string; algorithm?: 'RS256' | 'ES256' }> = [
    { name: 'not PEM at all', text: 'this is not a key\n' },
    { name: 'a truncated PEM', text: truncated },
    { name: 'an RSA key for ES256', text: RSA_PKCS8, algorithm: 'ES256' },
    { name: 'a public key', text: rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string },
  ];
  for (const row of rows) {
    it(row.name, async () => {
      const file = pemFile(`bad-${row.name.replace(/\W+/g, '-')}.pem`, row.text);
      const as = fakeAs(() => token('never', 60));
      const c = new Credentials(keyClient(file, row.algorithm), SERVER, { fetch: as.fetch });
      const f = await failure(c.forConnection(diag()).authorization());
      assert.equal(f.type, 'auth_failed', f.message);
      assert.ok(f.message.startsWith(`private_key_file ${file} is not a usable PEM private key (`), f.message);
      for (const line of bodyLines(row.text)) assert.ok(!f.message.includes(line), 'no key material in the message');
      assert.equal(as.requests.length, 0, 'nothing was sent');
    });
  }

  it('a PKCS#1 RSA key signs (converted, not refused)', async () => {
    const as = fakeAs(() => token('at-pkcs1', 60));
    const c = new Credentials(keyClient(pemFile('pkcs1.pem', RSA_PKCS1)), SERVER, { fetch: as.fetch });
    assert.equal(await c.forConnection(diag()).authorization(), 'Bearer at-pkcs1');
    assert.ok(as.requests[0]!.body.get('client_assertion'), 'a client assertion was sent');
  });
});

describe('auth: renewal and refusals', () => {
  it('a failed early renewal keeps the token that is still valid, and the next request renews', async () => {
    let now = 0;
    let down = false;
    const as = fakeAs(() => (down ? json(503, { error: 'temporarily_unavailable' }) : token(`at-${as.requests.length}`, 100)));
    const c = new Credentials(clientCredentials(), SERVER, { fetch: as.fetch, now: () => now });
    const conn = c.forConnection(diag());
    assert.equal(await conn.authorization(), 'Bearer at-1');
    // Inside the renewal margin, before expiry.
    now = 95_000;
    down = true;
    assert.equal(await conn.authorization(), 'Bearer at-1', 'the valid token serves');
    assert.equal(as.requests.length, 2, 'renewal was tried');
    down = false;
    assert.equal(await conn.authorization(), 'Bearer at-3', 'the next request renews');
    // Past expiry, a failed renewal is the probe's failure.
    now = 300_000;
    down = true;
    assert.equal((await failure(conn.authorization())).type, 'auth_unavailable');
  });

  it('a refusal is not sent again until the back-off passes, doubling up to a cap', async () => {
    let now = 0;
    const as = fakeAs(() => json(401, { error: 'invalid_client', error_description: 'client authentication failed' }));
    const c = new Credentials(clientCredentials(), SERVER, { fetch: as.fetch, now: () => now });
    const conn = c.forConnection(diag());
    const attempt = async (): Promise<void> => assert.equal((await failure(conn.authorization())).type, 'auth_failed');
    await attempt();
    await attempt();
    await attempt();
    assert.equal(as.requests.length, 1, 'checks inside the back-off get the remembered refusal');
    now += SERVER.interval;
    await attempt();
    assert.equal(as.requests.length, 2, 'asked again after one interval');
    now += SERVER.interval;
    await attempt();
    assert.equal(as.requests.length, 2, 'the back-off doubled');
    now += SERVER.interval;
    await attempt();
    assert.equal(as.requests.length, 3);
    for (let i = 0; i < 20; i++) {
      now += 10 * 60_000;
      await attempt();
    }
    assert.equal(as.requests.length, 23, 'never longer apart than the cap');
  });

  it('an unreachable authorization server is asked again at the next check', async () => {
    const as = fakeAs(() => json(503, { error: 'temporarily_unavailable' }));
    const c = new Credentials(clientCredentials(), SERVER, { fetch: as.fetch, now: () => 0 });
    for (let i = 0; i < 3; i++) assert.equal((await failure(c.forConnection(diag()).authorization())).type, 'auth_unavailable');
    assert.equal(as.requests.length, 3);
  });

  it('a discovered token endpoint is named in messages, not the issuer', async () => {
    const issuer = `${AS}/realm`;
    const endpoint = `${AS}/realm/protocol/oauth/token`;
    const as = fakeAs((req) => {
      if (req.url.includes('/.well-known/oauth-protected-resource')) return json(200, { resource: SERVER.url, authorization_servers: [issuer] });
      if (req.url === `${AS}/.well-known/oauth-authorization-server/realm`) return json(200, { issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: endpoint, response_types_supported: ['code'] });
      if (req.url === endpoint) return new Response('<html>bad gateway</html>', { status: 502, headers: { 'content-type': 'text/html' } });
      return new Response('not found', { status: 404 });
    });
    const c = new Credentials(clientCredentials({ token_url: undefined }), SERVER, { fetch: as.fetch });
    const www = `Bearer resource_metadata="${AS}/.well-known/oauth-protected-resource/mcp"`;
    const f = await failure(c.forConnection(diag()).retryAfter401(undefined, www));
    assert.equal(f.type, 'auth_unavailable');
    assert.ok(f.message.includes(`token endpoint ${endpoint} `), f.message);
  });

  it('forgetting a server drops its credentials and token', () => {
    const server = { ...SERVER, name: 'auth-unit-forget', auth: clientCredentials() };
    const first = credentialsFor(server);
    assert.equal(credentialsFor(server), first, 'kept while configured');
    forgetCredentials(server.name);
    assert.notEqual(credentialsFor(server), first);
  });
});

describe('auth: a 401 that no credential can answer', () => {
  it('is read to its end, so its socket goes back to the keep-alive pool while the connection stays open', async (t) => {
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
    const port = (server.address() as AddressInfo).port;
    const url = new URL(`http://127.0.0.1:${port}/mcp`);
    const refused = new AuthFailure('auth_failed', 'the authorization server refused the token request: invalid_client');
    const transport = new StreamableHttpTransport(url, { headers: {} }, {}, { auth: { authorization: async () => undefined, retryAfter401: () => Promise.reject(refused), streamRetryAfter401: () => Promise.reject(refused), refusedAfterRetry: () => {} } });
    t.after(() => transport.close());
    await assert.rejects(transport.send({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), (err) => err === refused);
    // The transport is not closed: only reading the 401 can free its socket.
    const pool = nodeAgentFor(url, undefined);
    await until(() => Object.keys(pool.freeSockets).some((k) => k.startsWith(`127.0.0.1:${port}:`)), 'the socket back in the pool');
  });
});
