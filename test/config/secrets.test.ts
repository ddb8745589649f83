import { it } from 'node:test';
import assert from 'node:assert/strict';
import { looksLikeSecret } from '../../src/config/secrets.js';

it('recognises token shapes and not ordinary values', () => {
  for (const v of ['Bearer abc', 'ghp_x', 'github_pat_11AA', 'sk-proj-1', 'xoxp-1-2', 'AKIAIOSFODNN7EXAMPLE', 'eyJhbGciOiJIUzI1NiJ9.e30.x', 'a1b2c3d4e5f6g7h8i9j0k1']) {
    assert.ok(looksLikeSecret(v), v);
  }
  for (const v of ['data', 'application/json', '2025-06-18', 'acct_public', '/usr/local/bin/server-1234567890abcdef', 'repos,issues,pull_requests']) {
    assert.ok(!looksLikeSecret(v), v);
  }
});
