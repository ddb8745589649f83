import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { transportHint } from '../../src/pipeline/hints.js';
import { probeServer } from '../../src/probe/probe.js';
import { startHttpFixture } from '../fixtures/http-server.js';
import { httpTarget } from '../helpers.js';

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
});
