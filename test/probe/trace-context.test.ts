import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultTextMapGetter, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AlwaysOnSampler, ParentBasedSampler, SamplingDecision } from '@opentelemetry/sdk-trace-base';
import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/client';
import type { CheckConfig, ServerConfig } from '../../src/config/schema.js';
import { StartedTransport } from '../../src/probe/connection.js';
import { probeServer } from '../../src/probe/probe.js';
import { startHttpFixture, type HttpFixture } from '../fixtures/http-server.js';
import { startModernHttpFixture, type ModernHttpFixture } from '../fixtures/modern-http-server.js';
import type { ReceivedRequest } from '../fixtures/servers.js';
import { FIXTURES, httpTarget, stdioTarget } from '../helpers.js';

const NOT_SAMPLED = /^00-(?!0{32})[\da-f]{32}-(?!0{16})[\da-f]{16}-00$/;
const PROTOCOL_VERSION_META_KEY = 'io.modelcontextprotocol/protocolVersion';

/** A deadline no call to a local fixture comes near, even on a loaded machine: both checks end on their answers. */
function check(name: string, c: Partial<CheckConfig>): CheckConfig {
  return { name, arguments: {}, expect: {}, allow_side_effects: false, on_failure: 'degraded', interval: 30_000, timeout: 60_000, ...c };
}

/** A check that passes and one that fails by design: neither may show in the server's traces. */
const CHECKS: CheckConfig[] = [check('ok', { tool: 'query', arguments: { sql: 'select 1' }, expect: { text_contains: 'rows: 1' } }), check('is-error', { tool: 'broken' })];

/** What an OTel SDK with its default sampler (ParentBased, root AlwaysOn) decides for a SERVER span under `carrier`. */
function decision(carrier: Record<string, unknown>): SamplingDecision {
  const parent = new W3CTraceContextPropagator().extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
  const sampler = new ParentBasedSampler({ root: new AlwaysOnSampler() });
  const traceId = trace.getSpanContext(parent)?.traceId ?? '1'.repeat(32);
  return sampler.shouldSample(parent, traceId, 'tools/call', SpanKind.SERVER, {}, []).decision;
}

/** Every request carries a valid not-sampled traceparent, a trace of its own, that an OTel server would not record. */
function assertNotSampled(received: ReceivedRequest[], methods: string[], http: boolean): void {
  const seen = new Set(received.map((r) => r.method));
  for (const m of methods) assert.ok(seen.has(m), `${m} was sent (got ${[...seen].join(', ')})`);
  const traceIds = new Set<string>();
  for (const r of received) {
    const traceparent = r.meta?.traceparent;
    assert.equal(typeof traceparent, 'string', `${r.method} carries _meta.traceparent`);
    assert.match(traceparent as string, NOT_SAMPLED, r.method);
    traceIds.add((traceparent as string).split('-')[1]!);
    if (http) assert.equal(r.header, traceparent, `${r.method}: the traceparent header is the _meta one`);
    assert.equal(decision(r.meta!), SamplingDecision.NOT_RECORD, `${r.method}: _meta's traceparent`);
    if (http) assert.equal(decision({ traceparent: r.header }), SamplingDecision.NOT_RECORD, `${r.method}: the header`);
  }
  assert.equal(traceIds.size, received.length, 'a fresh trace id per request');
}

describe('probes tell instrumented servers not to sample them (W3C traceparent, flags 00)', () => {
  let modern: ModernHttpFixture;
  let legacy: HttpFixture;
  let sse: HttpFixture;

  before(async () => {
    modern = await startModernHttpFixture('dual', { checks: true });
    legacy = await startHttpFixture('streamable');
    sse = await startHttpFixture('sse');
  });
  after(async () => {
    await modern.close();
    await legacy.close();
    await sse.close();
  });

  it('the default sampler records a probe with no parent: the traffic this prevents', () => {
    assert.equal(decision({}), SamplingDecision.RECORD_AND_SAMPLED);
  });

  it('Streamable HTTP, 2026-07-28: server/discover, tools/list and check calls; _meta keeps the protocol version', async () => {
    const out = await probeServer(httpTarget(modern.url, 'streamable_http', { checks: CHECKS }));
    assert.deepEqual([out.error, out.era], [null, 'modern']);
    assert.deepEqual(out.checks?.map((c) => [c.name, c.status]), [['ok', 'pass'], ['is-error', 'fail']]);
    assertNotSampled(modern.received, ['server/discover', 'tools/list', 'tools/call'], true);
    for (const r of modern.received) assert.equal(r.meta?.[PROTOCOL_VERSION_META_KEY], '2026-07-28', r.method);
  });

  it('Streamable HTTP, 2025: initialize, tools/list and check calls', async () => {
    const before = modern.received.length;
    const out = await probeServer(httpTarget(modern.url, 'streamable_http', { protocol: 'legacy', checks: CHECKS }));
    assert.deepEqual([out.error, out.era], [null, 'legacy']);
    assert.deepEqual(out.checks?.map((c) => [c.name, c.status]), [['ok', 'pass'], ['is-error', 'fail']]);
    assertNotSampled(modern.received.slice(before), ['initialize', 'tools/list', 'tools/call'], true);
  });

  it('Streamable HTTP, an SDK 1.x server (auto: server/discover refused, then initialize)', async () => {
    const out = await probeServer(httpTarget(legacy.url));
    assert.equal(out.error, null);
    assertNotSampled(legacy.received, ['server/discover', 'initialize', 'tools/list'], true);
  });

  it('legacy SSE: the posts carry it in _meta and as the header', async () => {
    const out = await probeServer(httpTarget(sse.url, 'sse'));
    assert.equal(out.error, null);
    assertNotSampled(sse.received, ['initialize', 'tools/list'], true);
  });

  for (const protocol of ['auto', 'legacy'] as const) {
    it(`stdio (${protocol}): every request, check calls included`, async () => {
      const metaLog = join(mkdtempSync(join(tmpdir(), 'mcpwatch-trace-')), 'meta.log');
      const server: ServerConfig = { ...stdioTarget('dual'), name: 'modern-stdio-dual', args: [join(FIXTURES, 'modern-stdio-server.js'), 'dual'], env: { META_LOG: metaLog, CHECKS: '1' }, protocol, checks: CHECKS };
      const out = await probeServer(server);
      assert.equal(out.error, null);
      assert.deepEqual(out.checks?.map((c) => [c.name, c.status]), [['ok', 'pass'], ['is-error', 'fail']]);
      const received = readFileSync(metaLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ReceivedRequest);
      assertNotSampled(received, [protocol === 'auto' ? 'server/discover' : 'initialize', 'tools/list', 'tools/call'], false);
    });
  }
});

describe('StartedTransport.send and trace context', () => {
  function recording(): { transport: StartedTransport; sent: JSONRPCMessage[] } {
    const sent: JSONRPCMessage[] = [];
    const inner: Transport = { start: async () => {}, close: async () => {}, send: async (m) => void sent.push(m) };
    return { transport: new StartedTransport(inner), sent };
  }

  it("keeps a traceparent already in _meta and _meta's other keys; tags notifications too; leaves responses and the caller's params alone", async () => {
    const { transport, sent } = recording();
    const theirs = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await transport.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'a', _meta: { traceparent: theirs, progressToken: 7 } } });
    const params = { name: 'b', arguments: { x: 1 }, _meta: { progressToken: 8 } };
    await transport.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params });
    await transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    await transport.send({ jsonrpc: '2.0', id: 3, result: {} });
    await transport.send({ jsonrpc: '2.0', id: 4, method: 'ping' });
    const metas = sent.map((m) => (m as { params?: { _meta?: Record<string, unknown> } }).params?._meta);
    assert.deepEqual(metas[0], { traceparent: theirs, progressToken: 7 });
    assert.equal(metas[1]?.progressToken, 8);
    assert.match(String(metas[1]?.traceparent), NOT_SAMPLED);
    assert.deepEqual((sent[1] as { params?: unknown }).params, { name: 'b', arguments: { x: 1 }, _meta: metas[1] });
    assert.deepEqual(params, { name: 'b', arguments: { x: 1 }, _meta: { progressToken: 8 } }, 'the caller’s params are not written to');
    // The Python SDK records notifications/initialized as a span of its own.
    assert.equal((sent[2] as { method?: string }).method, 'notifications/initialized');
    assert.match(String(metas[2]?.traceparent), NOT_SAMPLED);
    assert.deepEqual(sent[3], { jsonrpc: '2.0', id: 3, result: {} });
    assert.match(String(metas[4]?.traceparent), NOT_SAMPLED);
  });
});
