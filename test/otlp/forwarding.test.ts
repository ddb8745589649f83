import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import pino from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { parseConfig } from '../../src/config/load.js';
import { decodeTraceRequest } from '../../src/otlp/decode.js';
import { metricsBody } from '../fixtures/otlp-bodies.js';
import { startOtlpUpstream, type OtlpUpstream } from '../fixtures/otlp-upstream.js';
import { startHttpFixture } from '../fixtures/http-server.js';
import { until } from '../helpers.js';

function traceBody(tool: string, serializer: typeof ProtobufTraceSerializer = ProtobufTraceSerializer): Buffer {
  const mem = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(mem)] });
  provider.getTracer('t').startSpan(`tools/call ${tool}`, { attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': tool, 'mcp.server.name': 'github' } }).end();
  return Buffer.from(serializer.serializeRequest(mem.getFinishedSpans())!);
}

describe('forwarding through the agent', () => {
  it('re-encodes OTLP/JSON for a gRPC backend, and refuses to the sender, as bad input, JSON that cannot be', async (t) => {
    const upstream: OtlpUpstream = await startOtlpUpstream({ protocol: 'grpc' });
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-fwd-'));
    const text = `exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  otlp: { endpoint: "${upstream.endpoint}", protocol: grpc, interval: 1h }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: null, http: { endpoint: "127.0.0.1:0" } } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
alerts: []
servers: []
`;
    const agent = new Agent({ file: 'x.yaml', text, config: parseConfig(text, 'x.yaml', {}) }, { log: pino({ level: 'silent' }) });
    const addr = await agent.start();
    t.after(async () => {
      await agent.stop();
      await upstream.close();
    });
    const post = (signal: string, body: string | Buffer): Promise<Response> =>
      fetch(`http://127.0.0.1:${addr.otlp.http!.port}/v1/${signal}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const accepted = async (): Promise<number> => {
      const page = await (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text();
      return Number(/^mcpwatch_receiver_accepted_spans_total\{protocol="http"[^}]*\} (\d+)/m.exec(page)?.[1] ?? 0);
    };

    assert.equal((await post('traces', traceBody('search', JsonTraceSerializer))).status, 200);
    await upstream.waitForRequests(1);
    assert.deepEqual(decodeTraceRequest(upstream.requests[0]!.body).spans.map((s) => s.name), ['tools/call search'], 'arrived as protobuf');

    // The same request with the fields' original names, which the Collector takes as well: read as
    // camelCase it held nothing, and went out as an empty request.
    const snake = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(snake) : typeof v === 'object' && v !== null ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snake(x)])) : v;
    const original = JSON.stringify(snake(JSON.parse(traceBody('lookup', JsonTraceSerializer).toString())));
    assert.match(original, /"resource_spans".*"start_time_unix_nano"/);
    assert.equal((await post('traces', original)).status, 200);
    await upstream.waitForRequests(2);
    const arrived = decodeTraceRequest(upstream.requests[1]!.body).spans;
    assert.deepEqual(arrived.map((s) => s.name), ['tools/call lookup'], 'its span arrived');
    assert.ok(arrived[0]!.startNs > 0 && arrived[0]!.durationSeconds > 0, 'with its times');
    assert.equal(await accepted(), 2, 'and was counted');

    // A span whose trace id is not hex, or is half a trace id: the backend would refuse the whole
    // request for it, so the span is rejected (partial success) and, with nothing left, nothing goes out.
    const badId = { resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'zz', spanId: 'eee19b7ec3c1b174', name: 'tools/call x', startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000001000000000' }] }] }] };
    const shortId = { resourceSpans: [{ scopeSpans: [{ spans: [{ ...badId.resourceSpans[0]!.scopeSpans[0]!.spans[0]!, traceId: '5b8efff798038103' }] }] }] };
    for (const body of [badId, shortId]) {
      const res = await post('traces', JSON.stringify(body));
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { partialSuccess: { rejectedSpans: '1', errorMessage: 'resourceSpans[0].scopeSpans[0].spans[0].traceId must be 32 hex digits' } });
    }
    const badMetric = await post('metrics', '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":5}]}]}]}');
    assert.equal(badMetric.status, 400);
    assert.match(await badMetric.text(), /metrics\.resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\]\.name: expected a string/);
    assert.equal(await accepted(), 2, 'the rejected spans were not counted');

    // Still serving, and still forwarding.
    assert.equal((await post('traces', traceBody('fetch', JsonTraceSerializer))).status, 200);
    await upstream.waitForRequests(3);
    assert.equal(upstream.requests.length, 3, 'nothing of the refused requests went out');
  });

  for (const protocol of ['grpc', 'http'] as const) {
    it(`forwards every request unchanged to an OTLP/${protocol} backend, with its own probe spans and metrics`, async () => {
      const upstream: OtlpUpstream = await startOtlpUpstream({ protocol });
      const mcp = await startHttpFixture('streamable');
      const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-fwd-'));
      const text = `monitoring: { timeout: 60s }
exporters:
  prometheus: null
  otlp: { endpoint: "${upstream.endpoint}", protocol: ${protocol === 'grpc' ? 'grpc' : 'http/protobuf'}, interval: 500ms, headers: { x-api-key: k1 } }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0" }, http: { endpoint: "127.0.0.1:0" } } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
alerts: []
servers:
  - { name: notes, transport: streamable_http, url: "${mcp.url}" }
`;
      const agent = new Agent({ file: 'x.yaml', text, config: parseConfig(text, 'x.yaml', {}) }, { log: pino({ level: 'silent' }) });
      const addr = await agent.start();

      const viaHttp = traceBody('search');
      const viaGrpc = traceBody('create_issue');
      const viaHttpMetrics = await metricsBody();
      assert.equal((await fetch(`http://127.0.0.1:${addr.otlp.http!.port}/v1/traces`, { method: 'POST', body: viaHttp, headers: { 'content-type': 'application/x-protobuf' } })).status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${addr.otlp.http!.port}/v1/metrics`, { method: 'POST', body: viaHttpMetrics, headers: { 'content-type': 'application/x-protobuf' } })).status, 200);
      const client = new grpc.Client(`127.0.0.1:${addr.otlp.grpc!.port}`, grpc.credentials.createInsecure());
      await new Promise<void>((resolve, reject) =>
        client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', (b: Buffer) => b, (b: Buffer) => b, viaGrpc, (err) => (err ? reject(err) : resolve())),
      );
      client.close();

      await until(() => upstream.requests.some((r) => r.body.equals(viaHttp)) && upstream.requests.some((r) => r.body.equals(viaGrpc)) && upstream.requests.some((r) => r.body.equals(viaHttpMetrics)));
      const forwarded = upstream.requests.filter((r) => r.body.equals(viaHttp) || r.body.equals(viaGrpc) || r.body.equals(viaHttpMetrics));
      assert.equal(forwarded.length, 3, 'each request exactly once');
      assert.ok(forwarded.every((r) => r.headers['x-api-key'] === 'k1'), 'configured headers go with forwarded data');

      // mcpwatch's own probe spans and metrics reach the same backend.
      await until(() => upstream.requests.some((r) => r.signal === 'traces' && decodeTraceRequest(r.body).spans.some((s) => s.attrs.get('mcp.method.name') === 'tools/list')));
      const probeSpans = upstream.requests.filter((r) => r.signal === 'traces').flatMap((r) => decodeTraceRequest(r.body).spans);
      const list = probeSpans.find((s) => s.name === 'tools/list')!;
      assert.equal(list.attrs.get('mcp.server.name'), 'notes');
      assert.equal(list.resource.serviceName, 'mcpwatch');
      await until(() => upstream.requests.some((r) => r.signal === 'metrics' && r.body.includes('mcp.server.up')));
      await agent.stop();
      await mcp.close();
      await upstream.close();
    });
  }
});
