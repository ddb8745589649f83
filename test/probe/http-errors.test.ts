// Non-MCP HTTP answers against real sockets: an error page on the configured URL, and a legacy SSE
// server probed as Streamable HTTP. The pure rules are in test/pipeline/http-body and hints.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { probeServer } from '../../src/probe/probe.js';
import { startHttpFixture } from '../fixtures/http-server.js';
import { startModernHttpFixture } from '../fixtures/modern-http-server.js';
import { httpTarget } from '../helpers.js';

/** What nginx answers for a path it does not serve, padded past what a probe reads of a body. */
const PAGE = `<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n${'<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n'.repeat(6)}</body>\r\n</html>\r\n`;

describe('non-MCP HTTP answers, end to end', () => {
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
      assert.match(out.error?.message ?? '', /^HTTP 404 on POST: nothing is served at the configured URL \(check its path\): text\/html, over \d+ bytes, "404 Not Found"$/);
      assert.doesNotMatch(out.error?.message ?? '', /</);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
  it('a real legacy SSE server probed as Streamable HTTP: the message says --transport sse', async () => {
    const fixture = await startHttpFixture('sse');
    try {
      assert.match(fixture.url, /\/sse$/);
      const out = await probeServer(httpTarget(fixture.url, 'streamable_http'));
      assert.ok(out.error, 'the probe fails');
      assert.match(out.error.message, /transport: sse \(with --url: --transport sse\)/);
    } finally {
      await fixture.close();
    }
  });

  it('a real Streamable HTTP server probed as legacy SSE: the message says transport: streamable_http', async () => {
    // A stateful SDK 1.x server refuses the opening GET with 400, a stateless SDK v2 one with 405.
    const stateful = await startHttpFixture('streamable');
    const stateless = await startModernHttpFixture('dual');
    try {
      for (const url of [stateful.url, stateless.url]) {
        const out = await probeServer(httpTarget(url, 'sse'));
        assert.equal(out.error?.type, 'http_status');
        assert.match(out.error.message, /^HTTP 40[05] on GET\b/);
        assert.ok(out.error.message.endsWith(' (a Streamable HTTP server answers a GET without a session so: set transport: streamable_http (with --url: --transport streamable_http))'), out.error.message);
      }
    } finally {
      await stateful.close();
      await stateless.close();
    }
  });
});
