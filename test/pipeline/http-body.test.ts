import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeBody } from '../../src/pipeline/http-body.js';

const PAGE = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>404 &amp; Not Found</title><style>body { margin: 0 }</style></head>
<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p>
${'<div class="filler">lorem ipsum dolor sit amet</div>\n'.repeat(20)}</body></html>`;

describe('non-MCP HTTP bodies in messages', () => {
  it('summarises a page by content type, size and title or first line; keeps a short text whole', () => {
    const rows: Array<[string | null, string, number, string]> = [
      ['text/html; charset=utf-8', PAGE, Infinity, `text/html, ${Buffer.byteLength(PAGE)} bytes, "404 & Not Found"`],
      ['text/html', PAGE.slice(0, 300), 300, 'text/html, over 300 bytes, "404 & Not Found"'],
      ['text/html', '<html><body>\n<h1>Bad gateway</h1>\n</body></html>', Infinity, 'text/html, 48 bytes, "Bad gateway"'],
      [null, '<!doctype html><p>hello</p>', Infinity, 'no content-type, 27 bytes, "hello"'],
      ['text/plain', 'upstream database exploded', Infinity, 'upstream database exploded'],
      ['application/json', '{"error":"invalid_token"}', Infinity, '{"error":"invalid_token"}'],
      ['text/plain', 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: boom\n', Infinity, 'text/plain, 74 bytes, "Traceback (most recent call last):"'],
      ['text/plain', '', Infinity, ''],
    ];
    for (const [type, body, limit, want] of rows) assert.equal(describeBody(type, body, limit), want, body.slice(0, 40));
  });
});
