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
});
