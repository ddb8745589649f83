import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_SECRET_CHARS, redactDeep, redactSecretPath, redactText, redactUrl, secretMasker } from '../../src/pipeline/redact.js';

describe('redactUrl', () => {
  const rows: Array<[string, string]> = [
    ['http://alice:s3cret@host:8080/sse?token=abc&x=1#frag', 'http://***:***@host:8080/sse?token=***&x=***#***'],
    ['https://ghp_token@github.example/mcp', 'https://***@github.example/mcp'],
    ['https://host/mcp', 'https://host/mcp'],
    ['https://host/mcp?', 'https://host/mcp?'],
    ['https://host/mcp?abc123&k=', 'https://host/mcp?***&k=***'],
    ['http://u:p@ss@host/', 'http://***:***@host/'],
    ['not a url', 'not a url'],
    // No scheme: configuration errors quote such values back.
    ['127.0.0.1:3897/mcp?api_key=v#f', '127.0.0.1:3897/mcp?api_key=***#***'],
    ['htp//bob:pa55@127.0.0.1/mcp', 'htp//***:***@127.0.0.1/mcp'],
    ['user@host:1/p', '***@host:1/p'],
  ];
  for (const [input, want] of rows) it(input, () => assert.equal(redactUrl(input), want));
  it('takes a URL object', () => assert.equal(redactUrl(new URL('http://a:b@h/?k=v')), 'http://***:***@h/?k=***'));
  it('is idempotent', () => {
    const once = redactUrl('http://alice:s3cret@host/?token=abc');
    assert.equal(redactUrl(once), once);
  });
});

describe('redactSecretPath', () => {
  it('keeps the scheme and host of a webhook URL, masks its userinfo, and hides its path', () => {
    assert.equal(redactSecretPath('https://hooks.slack.com/services/T0/B0/SECRET'), 'https://hooks.slack.com/…');
    assert.equal(redactSecretPath('hooks.slack.com/services/T0/B0/SECRET'), 'hooks.slack.com/…');
    assert.equal(redactSecretPath('http://u:p@hooks.example.com?k=v'), 'http://***:***@hooks.example.com/…');
    assert.equal(redactSecretPath('http://hooks.example.com'), 'http://hooks.example.com');
  });
});

describe('redactText', () => {
  it('masks every URL in a message and keeps the punctuation around it', () => {
    assert.equal(
      redactText('HTTP 302 on GET (redirect to http://x.example/?token=abc; configure that URL), see "https://u:p@y/z".'),
      'HTTP 302 on GET (redirect to http://x.example/?token=***; configure that URL), see "https://***:***@y/z".',
    );
  });
  it('leaves text without URLs alone', () => assert.equal(redactText('connect ECONNREFUSED 127.0.0.1:1'), 'connect ECONNREFUSED 127.0.0.1:1'));
});

describe('redactDeep', () => {
  it('redacts strings at any depth and the message and stack of errors, without touching the input', () => {
    const err = new TypeError('Request cannot be constructed from a URL that includes credentials: http://u:pw@h/?k=v');
    const input = { a: ['http://u:pw@h/'], b: { err, n: 3 } };
    const out = redactDeep(input);
    assert.equal(out.a[0], 'http://***:***@h/');
    const e = out.b.err as unknown as { type: string; message: string; stack: string };
    assert.equal(e.type, 'TypeError');
    assert.doesNotMatch(JSON.stringify(out), /pw|k=v/);
    assert.equal(out.b.n, 3);
    assert.equal(input.a[0], 'http://u:pw@h/');
  });
});

describe('secretMasker', () => {
  it('masks a secret as it is, JSON-escaped, whitespace-collapsed, URL-encoded and cut short by truncation', () => {
    const mask = secretMasker(['abcd1234secretXYZ', 'pa"ss\\word1', 'two  spaced words', 'a&b=c/d e+f']);
    assert.equal(mask('key abcd1234secretXYZ rejected'), 'key *** rejected');
    assert.equal(mask(JSON.stringify({ p: 'pa"ss\\word1' })), '{"p":"***"}');
    assert.equal(mask('said: two spaced words'), 'said: ***');
    assert.equal(mask('GET /x?k=a%26b%3Dc%2Fd%20e%2Bf'), 'GET /x?k=***');
    assert.equal(mask('got "{ API_KEY: abcd1234sec… (300 chars)'), 'got "{ API_KEY: ***… (300 chars)');
    // Fewer than the floor's characters before the ellipsis: common text, left alone.
    assert.equal(mask('cut abcd1… here'), 'cut abcd1… here');
  });

  it(`never masks a value shorter than ${MIN_SECRET_CHARS} characters, and masks the longer of two overlapping secrets whole`, () => {
    const mask = secretMasker(['8080', 'true', 'secret-one', 'secret-one-and-more']);
    assert.equal(mask('port 8080 is true'), 'port 8080 is true');
    assert.equal(mask('secret-one-and-more, secret-one'), '***, ***');
    assert.equal(secretMasker([])('anything'), 'anything');
  });
});
