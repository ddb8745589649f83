import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { transportHint } from '../../src/pipeline/hints.js';

describe('advice for a Streamable HTTP probe of a legacy SSE URL', () => {
  it('suggests transport: sse for a failing /sse URL only', () => {
    const err = { type: 'not_found', message: 'HTTP 404 on POST' };
    assert.match(transportHint({ transport: 'streamable_http', url: 'http://h/sse' }, err) ?? '', /--transport sse/);
    assert.match(transportHint({ transport: 'streamable_http', url: 'http://h/v1/sse/' }, err) ?? '', /--transport sse/);
    assert.equal(transportHint({ transport: 'streamable_http', url: 'http://h/mcp' }, err), undefined);
    assert.equal(transportHint({ transport: 'sse', url: 'http://h/sse' }, err), undefined);
    assert.equal(transportHint({ transport: 'streamable_http', url: 'http://h/sse' }, { type: 'auth_required', message: 'HTTP 401' }), undefined);
    assert.equal(transportHint({ transport: 'streamable_http', url: 'http://h/sse' }, null), undefined);
  });

  it('suggests transport: streamable_http for an SSE probe whose opening GET a Streamable HTTP server refuses', () => {
    const said = (message: string, type = 'http_status'): string | undefined => transportHint({ transport: 'sse', url: 'http://h/mcp' }, { type, message });
    for (const status of [400, 405, 406]) assert.match(said(`HTTP ${status} on GET: {"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request"}}`) ?? '', /set transport: streamable_http/);
    assert.equal(said('HTTP 500 on GET: oops'), undefined);
    assert.equal(said('HTTP 400 on POST: bad'), undefined);
    assert.equal(said('HTTP 404 for the MCP session: the server no longer knows it', 'session_expired'), undefined);
    assert.equal(transportHint({ transport: 'streamable_http', url: 'http://h/mcp' }, { type: 'http_status', message: 'HTTP 400 on GET: x' }), undefined);
  });

  it('points a Streamable HTTP probe of a legacy SSE server\'s message endpoint at its event stream', () => {
    const refused = { type: 'http_status', message: 'HTTP 400 on POST: session_id is required' };
    for (const url of ['http://h/messages/', 'http://h/message', 'http://h/mcp']) {
      assert.match(transportHint({ transport: 'streamable_http', url }, refused) ?? '', /message endpoint\? probe its event stream's URL, often …\/sse, with transport: sse/, url);
    }
    assert.match(transportHint({ transport: 'streamable_http', url: 'http://h/messages/' }, { type: 'http_status', message: 'HTTP 400 on POST: Invalid session ID' }) ?? '', /message endpoint/);
    assert.equal(transportHint({ transport: 'streamable_http', url: 'http://h/mcp' }, { type: 'http_status', message: 'HTTP 400 on POST: bad' }), undefined);
    assert.equal(transportHint({ transport: 'sse', url: 'http://h/messages/' }, refused), undefined);
  });
});
