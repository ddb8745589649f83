import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { configuredSecrets, looksLikeSecret } from '../../src/config/secrets.js';
import { secretMasker } from '../../src/pipeline/redact.js';

it('recognises token shapes and not ordinary values', () => {
  for (const v of ['Bearer abc', 'ghp_x', 'github_pat_11AA', 'sk-proj-1', 'xoxp-1-2', 'AKIAIOSFODNN7EXAMPLE', 'eyJhbGciOiJIUzI1NiJ9.e30.x', 'a1b2c3d4e5f6g7h8i9j0k1']) {
    assert.ok(looksLikeSecret(v), v);
  }
  for (const v of ['data', 'application/json', '2025-06-18', 'acct_public', '/usr/local/bin/server-1234567890abcdef', 'repos,issues,pull_requests']) {
    assert.ok(!looksLikeSecret(v), v);
  }
});

describe('configuredSecrets', () => {
  const none = { headers: {}, env: {}, args: [] };
  it('takes header and env values by their name or shape, with the credential of an auth scheme and a Basic pair decoded', () => {
    const basic = Buffer.from('alice:hunter2-pass').toString('base64');
    const got = configuredSecrets({
      ...none,
      headers: { Authorization: `Basic ${basic}`, 'X-Api-Key': 'k-123456', Accept: 'application/json', 'X-Tenant': 'acme-corp', Cookie: 'sid=s3ss10n-id; theme=dark' },
      env: { GITHUB_TOKEN: 'literal-tok', LOG_LEVEL: 'verbose', OTHER: 'ghp_abcdef123' },
    });
    for (const v of [`Basic ${basic}`, basic, 'alice:hunter2-pass', 'hunter2-pass', 'k-123456', 's3ss10n-id', 'literal-tok', 'ghp_abcdef123']) assert.ok(got.includes(v), v);
    for (const v of ['application/json', 'acme-corp', 'verbose']) assert.ok(!got.includes(v), v);
  });

  it('leaves a value whose name says it is a path, a kind or an address, not the credential itself', () => {
    const got = configuredSecrets({
      ...none,
      env: { AUTH_MODE: 'server', API_KEY_FILE: '/etc/keys/api.key', OAUTH_TOKEN_URL: 'https://id.example.com/token', API_KEY: 'abcd1234secret' },
      headers: { 'X-Auth-Scheme': 'partner', 'X-Auth-Token': 'tok-987654321' },
    });
    assert.deepEqual(got.sort(), ['abcd1234secret', 'tok-987654321']);
  });

  it('takes secret flags, NAME=value, header arguments and URL credentials from args, not paths or plain values', () => {
    const got = configuredSecrets({
      ...none,
      args: ['--api-key', 'flag-value-1', '--token=flag-value-2', '--token-file', '/run/token', 'DB_PASSWORD=pw-value-3', 'Authorization: Bearer hdr-value-4', 'https://u:url-pass-5@h/x?api_key=q-value-6&page=2', '--port', '3000', '/srv/data'],
    });
    for (const v of ['flag-value-1', 'flag-value-2', 'pw-value-3', 'hdr-value-4', 'url-pass-5', 'q-value-6']) assert.ok(got.includes(v), v);
    for (const v of ['/run/token', '3000', '/srv/data', '2']) assert.ok(!got.includes(v), v);
  });

  it('takes auth secrets, the URL password and what references supplied', () => {
    const client = { type: 'oauth2_client_credentials' as const, client_id: 'mcpwatch', client_secret: 'cs-secret-7', scopes: [] };
    assert.deepEqual(configuredSecrets({ ...none, url: 'https://h/mcp', auth: client, referenced_secrets: ['from-env-8'] }).sort(), ['cs-secret-7', 'from-env-8']);
    assert.deepEqual(configuredSecrets({ ...none, auth: { type: 'bearer', token: 'bearer-tok-9' } }), ['bearer-tok-9']);
  });
});

describe('configuredSecrets: URLs wherever they are given', () => {
  it('takes the password and secret query values of a URL in an env or header value and in a --flag=URL or NAME=URL argument', () => {
    const got = configuredSecrets({
      headers: { 'X-Upstream': 'https://svc:hdr-url-pass-1@up.example.com/' },
      env: { DATABASE_URL: 'postgres://app:env-url-pass-2@db:5432/app', REDIS_URL: 'redis://h:6379/0?password=env-query-3' },
      args: ['--db=postgres://app:arg-url-pass-4@db/app', 'MONGO_URI=mongodb://u:arg-url-pass-5@m/x'],
    });
    for (const v of ['hdr-url-pass-1', 'env-url-pass-2', 'env-query-3', 'arg-url-pass-4', 'arg-url-pass-5']) assert.ok(got.includes(v), v);
    // The rest of such a URL is where the server is, not a secret.
    for (const v of ['db', 'app', 'up.example.com']) assert.ok(!got.includes(v), v);
  });
});

describe('configuredSecrets: short values references put', () => {
  it('are masked whatever their length, as whole words only', () => {
    const mask = secretMasker(configuredSecrets({ referenced_secrets: ['k9', 'long-secret-1'] }));
    assert.equal(mask('key k9, "k9" k9x xk9 k9_ (k9) long-secret-1'), 'key ***, "***" k9x xk9 k9_ (***) ***');
  });
});
