// `mcpwatch run` against OAuth-protected fixture servers (a real authorization server, tokens renewed
// during the run, a refused secret, a private_key_jwt client, bearer tokens from the environment and
// from a file), then every value that is a credential searched for in everything mcpwatch wrote:
// stdout alerts, stderr logs (debug), webhook payloads, /metrics, /api/v1/servers, the state file and
// `health --json`. The authorization server is a careless one that quotes the credentials it was sent
// in its error_description, so a refusal carries them towards every output.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SignJWT, generateKeyPair, jwtVerify } from 'jose';
import { CLI, stateFileBytes, until } from '../helpers.js';
import { startAgent } from '../fixtures/agent-process.js';
import { clientKeyPair, protect, startAuthServer } from '../fixtures/oauth.js';
import { startModernHttpFixture } from '../fixtures/modern-http-server.js';

const run = promisify(execFile);

const CLIENT_SECRET = 'cs-4f0a9c1d7e2b8a6f3c5d9e0b1a2f4c6d';
const WRONG_SECRET = 'ws-8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e';

async function startHook(): Promise<{ url: string; payloads: string[]; close(): Promise<void> }> {
  const payloads: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      payloads.push(Buffer.concat(chunks).toString());
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, payloads, close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) };
}

describe('no OAuth secret reaches any output', () => {
  it('run, /metrics, the state file and health --json', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-oauth-secrets-'));
    const key = await clientKeyPair('ES256');
    const keyFile = join(dir, 'client.pem');
    writeFileSync(keyFile, key.pem);
    const as = await startAuthServer({ secretClients: { prober: CLIENT_SECRET }, jwtClients: { 'jwt-prober': key.jwk }, echoCredentials: true });
    t.after(() => as.close());
    const mcp = await startModernHttpFixture('dual');
    t.after(() => mcp.close());
    // Tokens short enough that the run renews them, so several access tokens pass through the agent,
    // and long enough that a check slowed by a loaded machine still goes out with a live one.
    const cc = await protect(mcp.url, as, { requiredScope: 'mcp:tools' });
    t.after(() => cc.close());
    as.addResource(cc.resource, 'mcp:tools', 10);
    const jwt = await protect(mcp.url, as, { requiredScope: 'mcp:tools' });
    t.after(() => jwt.close());
    as.addResource(jwt.resource, 'mcp:tools', 300);
    const signer = await generateKeyPair('ES256');
    const bearer = await protect(mcp.url, undefined, { verify: async (tok) => (await jwtVerify(tok, signer.publicKey)).payload });
    t.after(() => bearer.close());
    const now = Math.floor(Date.now() / 1000);
    const mint = (sub: string) => new SignJWT({ sub }).setProtectedHeader({ alg: 'ES256' }).setIssuedAt().setExpirationTime(now + 3600).sign(signer.privateKey);
    const staticToken = await mint('static');
    const fileToken = await mint('file');
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, fileToken);
    const hook = await startHook();
    t.after(() => hook.close());

    const config = join(dir, 'mcpwatch.yaml');
    // Three failures in a row before down: the refused secret fails at every check, while one check
    // of a working server slowed past its token's life by a loaded machine must not page it.
    writeFileSync(
      config,
      `monitoring: { interval: 200ms, timeout: 60s, consecutive_failures_before_down: 3 }
exporters: { prometheus: { endpoint: "127.0.0.1:0" } }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: null }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
log: { level: debug }
alerts:
  - { type: stdout }
  - { type: webhook, url: "${hook.url}" }
servers:
  - name: client-credentials
    transport: streamable_http
    url: ${cc.url}
    auth: { type: oauth2_client_credentials, client_id: prober, client_secret: "\${env:OAUTH_TEST_SECRET}", scopes: [mcp:tools] }
  - name: wrong-secret
    transport: streamable_http
    url: ${cc.url}
    auth: { type: oauth2_client_credentials, client_id: prober, client_secret: "\${env:OAUTH_TEST_WRONG_SECRET}", scopes: [mcp:tools] }
  - name: private-key-jwt
    transport: streamable_http
    url: ${jwt.url}
    auth: { type: private_key_jwt, client_id: jwt-prober, private_key_file: ${JSON.stringify(keyFile)}, algorithm: ES256, scopes: [mcp:tools] }
  - name: bearer-env
    transport: streamable_http
    url: ${bearer.url}
    auth: { type: bearer, token: "\${env:OAUTH_TEST_TOKEN}" }
  - name: bearer-file
    transport: streamable_http
    url: ${bearer.url}
    auth: { type: bearer, token_file: ${JSON.stringify(tokenFile)} }
`,
    );
    const env = { OAUTH_TEST_SECRET: CLIENT_SECRET, OAUTH_TEST_WRONG_SECRET: WRONG_SECRET, OAUTH_TEST_TOKEN: staticToken };
    Object.assign(process.env, env);
    t.after(() => {
      for (const k of Object.keys(env)) delete process.env[k];
    });
    const agent = startAgent(config);
    t.after(() => void (agent.proc.exitCode === null && agent.proc.kill('SIGKILL')));
    const started = JSON.parse(await agent.waitLog(/"msg":"mcpwatch agent started"/)) as { metrics: string; health: string };

    // The refused secret is down; both bearer servers warn of their expiry (an hour < 24 h); the
    // client-credentials server's tokens were renewed during the run.
    await agent.waitLog(/"server":"wrong-secret".*"to":"down"/);
    await agent.waitLog(/"server":"bearer-file".*"event":"credential_expiring"/);
    await agent.waitLog(/"server":"bearer-env".*"event":"credential_expiring"/);
    await until(() => cc.tokensSeen.size >= 3, 'two token renewals');
    await until(() => hook.payloads.length >= 3, 'the webhook alerts');
    const metrics = await (await fetch(`http://${started.metrics}/metrics`)).text();
    const api = await (await fetch(`http://${started.health}/api/v1/servers`)).text();
    assert.ok(api.includes('invalid_client'), '/api/v1/servers holds the refusal');
    assert.match(metrics, /mcp_server_credential_remaining\{[^}]*mcp_server_name="bearer-file"[^}]*\} \d+/);
    assert.doesNotMatch(metrics, /mcp_server_credential_remaining\{[^}]*mcp_server_name="client-credentials"/, 'renewed tokens have no expiry series');
    agent.proc.kill('SIGTERM');
    assert.equal((await agent.exit).code, 0);
    assert.ok(agent.logs.some((l) => l.includes('"server":"wrong-secret"') && l.includes('invalid_client')), 'the refusal is logged with its OAuth error');
    assert.ok(agent.logs.some((l) => l.includes('"server":"wrong-secret"') && l.includes('credentials received: basic ')), 'the authorization server quoted the credentials, and the quote reached the log');
    assert.ok(!agent.logs.some((l) => /"server":"(client-credentials|private-key-jwt|bearer-env|bearer-file)".*"to":"down"/.test(l)), 'no working server went down');

    const health = await run(process.execPath, [CLI, 'health', '-c', config, '--json'], { env: { ...process.env, ...env } }).catch((e: { stdout: string; stderr: string }) => e);
    const parsed = JSON.parse(health.stdout) as { servers: Array<{ name: string; error: { type: string } | null }> };
    assert.deepEqual(Object.fromEntries(parsed.servers.map((s) => [s.name, s.error?.type ?? null])), {
      'client-credentials': null,
      'wrong-secret': 'auth_failed',
      'private-key-jwt': null,
      'bearer-env': null,
      'bearer-file': null,
    });

    // Every credential: the secrets, the key (any line of its body), and every token the servers saw.
    const keyLines = key.pem.split('\n').filter((l) => l && !l.startsWith('-----'));
    const secrets = [CLIENT_SECRET, WRONG_SECRET, staticToken, fileToken, ...keyLines, ...cc.tokensSeen, ...jwt.tokensSeen, ...bearer.tokensSeen];
    assert.ok(cc.tokensSeen.size >= 3 && jwt.tokensSeen.size >= 1);
    const leaks = (text: string): string[] => secrets.filter((s) => text.includes(s)).map((s) => `${s.slice(0, 12)}…`);
    const stored = stateFileBytes(dir);
    assert.ok(stored.includes('invalid_client'), 'the state file holds the incident cause');
    assert.deepEqual(leaks(agent.stdout.join('\n')), [], 'stdout alerts');
    assert.deepEqual(leaks(agent.logs.join('\n')), [], 'logs');
    assert.deepEqual(leaks(hook.payloads.join('\n')), [], 'webhook payloads');
    assert.deepEqual(leaks(metrics), [], '/metrics');
    assert.deepEqual(leaks(api), [], '/api/v1/servers');
    assert.deepEqual(leaks(stored), [], 'state file');
    assert.deepEqual(leaks(health.stdout + health.stderr), [], 'health --json');
  });
});
