import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeBody } from '../../src/pipeline/http-body.js';
import { probeServer } from '../../src/probe/probe.js';
import { httpTarget } from '../helpers.js';

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

  it('a 404 error page on the configured URL: not_found, permanent, summarised, no markup in the message', async () => {
    const srv = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const out = await probeServer(httpTarget(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/wrong-path`));
      assert.equal(out.error?.type, 'not_found');
      assert.equal(out.error?.category, 'permanent');
      assert.match(out.error?.message ?? '', /^HTTP 404 on POST: nothing is served at the configured URL \(check its path\): text\/html, over \d+ bytes, "404 & Not Found"$/);
      assert.doesNotMatch(out.error?.message ?? '', /</);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
