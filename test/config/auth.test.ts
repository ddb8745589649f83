import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../src/config/load.js';

function errorsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, '/etc/mcpwatch/mcpwatch.yaml', env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

describe('auth: configuration', () => {
  it('parses the three credential types with their defaults and ${env:} secrets', () => {
    const config = parseConfig(
      `servers:
  - name: github-mcp
    transport: streamable_http
    url: https://mcp.example.com/mcp
    auth:
      type: oauth2_client_credentials
      client_id: mcpwatch-prober
      client_secret: \${env:GITHUB_MCP_CLIENT_SECRET}
      scopes: [mcp:tools]
  - name: jwt
    transport: sse
    url: https://mcp.example.com/sse
    auth: { type: private_key_jwt, client_id: p, private_key_file: /keys/p.pem, token_url: https://auth.example.com/token, audience: api://mcp }
  - name: sa
    transport: streamable_http
    url: https://mcp.example.com/mcp
    auth: { type: bearer, token_file: /var/run/secrets/tokens/mcp }
`,
      'mcpwatch.yaml',
      { GITHUB_MCP_CLIENT_SECRET: 's3cret' },
    );
    assert.deepEqual(config.servers[0]!.auth, { type: 'oauth2_client_credentials', client_id: 'mcpwatch-prober', client_secret: 's3cret', scopes: ['mcp:tools'] });
    assert.deepEqual(config.servers[1]!.auth, { type: 'private_key_jwt', client_id: 'p', private_key_file: '/keys/p.pem', token_url: 'https://auth.example.com/token', audience: 'api://mcp', scopes: [], algorithm: 'RS256' });
    assert.deepEqual(config.servers[2]!.auth, { type: 'bearer', token_file: '/var/run/secrets/tokens/mcp' });
    assert.equal(config.monitoring.credential_expiry_warning, 86_400_000);
  });

  it('reports every auth problem at once, with its path', () => {
    const errs = errorsOf(`servers:
  - name: a
    transport: stdio
    command: x
    auth: { type: bearer, token: t }
  - name: b
    transport: streamable_http
    url: https://x/mcp
    auth: { type: bearer, token: t, token_file: /f }
  - name: c
    transport: streamable_http
    url: https://x/mcp
    headers: { Authorization: Bearer x }
    auth: { type: bearer, token: t }
  - name: d
    transport: streamable_http
    url: https://x/mcp
    auth: { type: oauth2_client_credentials, client_id: p, token_url: ftp://x }
  - name: e
    transport: streamable_http
    url: https://x/mcp
    auth: { type: private_key_jwt, client_id: p, private_key_file: /k, algorithm: HS256 }
`);
    assert.deepEqual(errs, [
      'mcpwatch.yaml:5: servers[0].auth: is for sse / streamable_http servers (a stdio server gets its credentials through env)',
      'mcpwatch.yaml:9: servers[1].auth: a bearer credential needs exactly one of token or token_file',
      'mcpwatch.yaml:13: servers[2].headers: sets Authorization, which auth: manages: keep one of the two',
      'mcpwatch.yaml:18: servers[3].auth.token_url: must be an http(s) URL (got scheme "ftp:")',
      'mcpwatch.yaml:18: servers[3].auth.client_secret: is required',
      "mcpwatch.yaml:22: servers[4].auth.algorithm: Invalid enum value. Expected 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512', received 'HS256'",
    ]);
  });

  it('an unset secret variable names it without its value', () => {
    const errs = errorsOf(`servers:
  - name: a
    transport: streamable_http
    url: https://x/mcp
    auth: { type: oauth2_client_credentials, client_id: p, client_secret: "\${env:MISSING_SECRET}" }
`);
    assert.ok(errs.includes('mcpwatch.yaml:5: servers[0].auth.client_secret: environment variable MISSING_SECRET is not set (give a default with ${env:MISSING_SECRET:-value})'), errs.join('\n'));
  });
});
