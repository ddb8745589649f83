import { createServer as createNetServer } from 'node:net';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { once } from 'node:events';
import { connect as connectHttp2 } from 'node:http2';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import pino from 'pino';
import { Agent, type AgentAddresses } from '../../src/agent/agent.js';
import { parseConfig } from '../../src/config/load.js';
import { Recorder } from '../../src/export/recorder.js';
import { OtlpReceiver } from '../../src/otlp/receiver.js';
import { GRPC_EXPORT_PATH } from '../../src/wire/otlp.js';
import { logsBody, metricsBody } from '../fixtures/otlp-bodies.js';
import { until } from '../helpers.js';

interface SpanDef {
  name: string;
  attributes?: Attributes;
  status?: SpanStatusCode;
  ms?: number;
}

/** Sends spans through a real OpenTelemetry SDK exporter and waits for the export to finish. */
async function send(exporter: SpanExporter, defs: SpanDef[], resource: Attributes = { 'service.name': 'my-agent' }): Promise<void> {
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes(resource), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('test');
  const start = Date.now() - 10_000;
  for (const d of defs) {
    const span = tracer.startSpan(d.name, { kind: SpanKind.CLIENT, attributes: d.attributes ?? {}, startTime: start });
    if (d.status !== undefined) span.setStatus({ code: d.status });
    span.end(start + (d.ms ?? 50));
  }
  await provider.forceFlush();
  await provider.shutdown();
}

function metric(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('OTLP receiver in the agent', () => {
  let agent: Agent;
  let addr: AgentAddresses;
  let grpcUrl: string;
  let httpUrl: string;
  const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text();

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-otlp-'));
    const text = `exporters: { prometheus: { endpoint: "127.0.0.1:0" } }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0", max_recv_msg_size_mib: 1 }, http: { endpoint: "127.0.0.1:0", max_recv_msg_size_mib: 1 }, max_tools_per_server: 3 } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
alerts: []
servers:
  - { name: filesystem, transport: streamable_http, url: "http://127.0.0.1:1/mcp", interval: 1h }
`;
    agent = new Agent({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) }, { log: pino({ level: 'silent' }) });
    addr = await agent.start();
    grpcUrl = `http://127.0.0.1:${addr.otlp.grpc!.port}`;
    httpUrl = `http://127.0.0.1:${addr.otlp.http!.port}`;
  });
  after(async () => agent.stop());

  it('counts tool calls of every convention, from the three SDK exporters', async () => {
    await send(new GrpcExporter({ url: grpcUrl }), [
      // OpenTelemetry MCP semantic convention, with the server named
      { name: 'tools/call search', attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'search', 'mcp.server.name': 'github' } },
      { name: 'tools/call search', attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'search', 'mcp.server.name': 'github', 'error.type': 'tool_error' }, status: SpanStatusCode.ERROR },
      { name: 'tools/call search', attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'search', 'mcp.server.name': 'github', 'rpc.response.status_code': -32602 }, status: SpanStatusCode.ERROR },
      // a non-tool MCP method: latency by method only
      { name: 'tools/list', attributes: { 'mcp.method.name': 'tools/list', 'mcp.server.name': 'github' }, ms: 30 },
    ]);
    await send(new ProtoExporter({ url: `${httpUrl}/v1/traces` }), [
      // GenAI execute_tool, server matched to the configured one by address
      { name: 'execute_tool read_file', attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'read_file', 'server.address': '127.0.0.1', 'server.port': 1 } },
      // OpenLLMetry: errors only as span status
      { name: 'write_file.tool', attributes: { 'traceloop.span.kind': 'tool', 'traceloop.entity.name': 'write_file', 'mcp.server.name': 'filesystem' }, status: SpanStatusCode.ERROR },
    ]);
    await send(new JsonExporter({ url: `${httpUrl}/v1/traces` }), [
      // OpenInference
      { name: 'lookup', attributes: { 'openinference.span.kind': 'TOOL', 'tool.name': 'lookup', 'mcp.server.name': 'kb' }, ms: 2500 },
      // not MCP at all
      { name: 'GET /', attributes: { 'http.request.method': 'GET' } },
    ]);
    // A server instrumenting itself names itself in the resource: matched to the configured server.
    await send(new JsonExporter({ url: `${httpUrl}/v1/traces` }), [{ name: 'tools/call stat', attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'stat' } }], { 'service.name': 'filesystem' });
    const m = await scrape();
    const calls = (labels: Record<string, string>) => metric(m, 'mcp_tool_calls_total', { source: 'traffic', ...labels });
    assert.equal(calls({ mcp_server_name: 'filesystem', gen_ai_tool_name: 'stat', outcome: 'success' }), 1);
    assert.equal(calls({ mcp_server_name: 'github', gen_ai_tool_name: 'search', outcome: 'success' }), 1);
    assert.equal(calls({ mcp_server_name: 'github', gen_ai_tool_name: 'search', outcome: 'error', error_type: 'tool_error', error_category: 'permanent' }), 1);
    assert.equal(calls({ mcp_server_name: 'github', gen_ai_tool_name: 'search', outcome: 'error', error_type: 'invalid_params', error_category: 'permanent' }), 1);
    assert.equal(calls({ mcp_server_name: 'filesystem', gen_ai_tool_name: 'read_file', outcome: 'success' }), 1);
    assert.equal(calls({ mcp_server_name: 'filesystem', gen_ai_tool_name: 'write_file', outcome: 'error', error_type: 'tool_error' }), 1);
    assert.equal(calls({ mcp_server_name: 'kb', gen_ai_tool_name: 'lookup', outcome: 'success' }), 1);
    assert.equal(metric(m, 'mcp_client_operation_duration_count', { mcp_server_name: 'github', mcp_method_name: 'tools/list', source: 'traffic' }), 1);
    assert.equal(metric(m, 'mcp_client_operation_duration_bucket', { mcp_server_name: 'kb', gen_ai_tool_name: 'lookup', le: '2' }), 0, 'durations are seconds from the span timestamps');
    assert.equal(metric(m, 'mcp_client_operation_duration_bucket', { mcp_server_name: 'kb', gen_ai_tool_name: 'lookup', le: '5' }), 1);
    assert.equal(metric(m, 'mcpwatch_receiver_accepted_spans_total', { protocol: 'grpc' }), 4);
    assert.equal(metric(m, 'mcpwatch_receiver_accepted_spans_total', { protocol: 'http' }), 5);
    // SimpleSpanProcessor exports each span on its own: five HTTP requests.
    assert.equal(metric(m, 'mcpwatch_receiver_requests_total', { protocol: 'http', signal: 'traces', outcome: 'accepted' }), 5);
  });

  it('folds tool names past max_tools_per_server into _other and counts the overflow', async () => {
    const tools = ['a', 'b', 'c', 'd', 'e'].map((t) => ({ name: `tools/call ${t}`, attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': t, 'mcp.server.name': 'many' } }));
    await send(new GrpcExporter({ url: grpcUrl }), tools);
    const m = await scrape();
    assert.equal(metric(m, 'mcp_tool_calls_total', { mcp_server_name: 'many', gen_ai_tool_name: '_other' }), 2);
    assert.equal(metric(m, 'mcp_tool_calls_total', { mcp_server_name: 'many', gen_ai_tool_name: 'c' }), 1);
    assert.equal(metric(m, 'mcpwatch_tool_names_overflow_total', { mcp_server_name: 'many' }), 2);
  });

  it('answers bad HTTP input with the right status and keeps serving', async () => {
    const post = (body: Buffer | string, headers: Record<string, string>, path = '/v1/traces') => fetch(`${httpUrl}${path}`, { method: 'POST', body, headers });
    // Made before the first request: compressing it can hold this process longer than an idle
    // connection lives, and the request after it would go out on one the server had closed.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const garbage = await post(GARBAGE, { 'content-type': 'application/x-protobuf' });
    assert.equal(garbage.status, 400);
    const valid = Buffer.from(ProtobufTraceSerializer.serializeRequest([])!);
    const spans = await spansBody();
    const truncated = await post(spans.subarray(0, spans.length - 7), { 'content-type': 'application/x-protobuf' });
    assert.equal(truncated.status, 400);
    const badJson = await post('{"resourceSpans": [', { 'content-type': 'application/json' });
    assert.equal(badJson.status, 400);
    assert.match(((await badJson.json()) as { message: string }).message, /JSON/i);
    assert.equal((await post('x', { 'content-type': 'text/plain' })).status, 415);
    const big = await post(Buffer.alloc(2 * 1024 * 1024, 1), { 'content-type': 'application/x-protobuf' });
    assert.equal(big.status, 413);
    assert.ok(bomb.length < 1024 * 1024, 'the bomb itself is under the limit');
    const bombed = await post(bomb, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    assert.equal(bombed.status, 413);
    assert.match(((await bombed.arrayBuffer()).byteLength > 0 ? 'ok' : ''), /ok/);
    assert.equal((await post(gzipSync(spans), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' })).status, 200);
    assert.equal((await fetch(`${httpUrl}/v1/traces`)).status, 405);
    assert.equal((await post(valid, { 'content-type': 'application/x-protobuf' }, '/v1/nope')).status, 404);
    const m = await scrape();
    assert.ok((metric(m, 'mcpwatch_receiver_refused_spans_total', { protocol: 'http', reason: 'invalid' }) ?? 0) >= 4);
    assert.equal(metric(m, 'mcpwatch_receiver_refused_spans_total', { protocol: 'http', reason: 'too_large' }), 2);
    assert.equal((await post(spans, { 'content-type': 'application/x-protobuf' })).status, 200, 'still serving');
  });

  it('keeps an idle connection open past the batch span processors\' 5-s schedule, so an export never meets one it closed', async () => {
    const res = await fetch(`${httpUrl}/v1/traces`, { method: 'POST', body: await spansBody(), headers: { 'content-type': 'application/x-protobuf' } });
    await res.arrayBuffer();
    assert.equal(res.status, 200);
    // Node announces its keepAliveTimeout to the client; its default is 5 s.
    assert.equal(res.headers.get('keep-alive'), 'timeout=65');
  });

  it('refuses metrics and logs bodies that are not requests of their signal, and takes the SDK\'s', async () => {
    const post = (signal: string, body: Buffer | string, contentType: string, headers: Record<string, string> = {}) =>
      fetch(`${httpUrl}/v1/${signal}`, { method: 'POST', body, headers: { 'content-type': contentType, ...headers } });
    const refused = async (res: Response, pattern: RegExp): Promise<void> => {
      assert.equal(res.status, 400);
      // A google.rpc.Status in the request's encoding: its message is readable in either.
      assert.match(await res.text(), pattern);
    };
    const metrics = await metricsBody();
    const logs = logsBody();
    // Not decoded, but no longer accepted blindly: a backend would refuse these, and the sender never hear of it.
    await refused(await post('metrics', Buffer.from('anything'), 'application/x-protobuf'), /invalid OTLP protobuf metrics request/);
    await refused(await post('metrics', metrics.subarray(0, metrics.length - 5), 'application/x-protobuf'), /runs past the end/);
    await refused(await post('logs', logs.subarray(0, logs.length - 1), 'application/x-protobuf'), /invalid OTLP protobuf logs request/);
    await refused(await post('logs', await spansBody(), 'application/x-protobuf'), /LogRecord: field 1 has wire type 2, expected 1/);
    await refused(await post('logs', '{"resourceLogs": [', 'application/json'), /invalid OTLP JSON logs request: not JSON/);
    await refused(await post('metrics', '{"resourceMetrics": {}}', 'application/json'), /resourceMetrics must be an array/);
    await refused(await post('metrics', '[]', 'application/json'), /must be a JSON object/);
    assert.equal((await post('metrics', metrics, 'application/x-protobuf')).status, 200);
    assert.equal((await post('logs', gzipSync(logs), 'application/x-protobuf', { 'content-encoding': 'gzip' })).status, 200);
    assert.equal((await post('metrics', await metricsBody(undefined, 'json'), 'application/json')).status, 200);
    assert.equal((await post('logs', '{}', 'application/json')).status, 200);
    assert.equal((await post('metrics', Buffer.alloc(0), 'application/x-protobuf')).status, 200, 'an empty request is a valid one');
  });

  it('answers partial_success when some spans of a valid request are rejected', async () => {
    const span = (name: string, start: string, end: string) => ({
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: 'eee19b7ec3c1b174',
      name,
      kind: 3,
      startTimeUnixNano: start,
      endTimeUnixNano: end,
      attributes: [
        { key: 'mcp.method.name', value: { stringValue: 'tools/call' } },
        { key: 'gen_ai.tool.name', value: { stringValue: 'partial' } },
        { key: 'mcp.server.name', value: { stringValue: 'p' } },
      ],
    });
    const body = JSON.stringify({
      resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 't' }, spans: [span('tools/call partial', '1700000000000000000', '1700000000100000000'), span('backwards', '1700000000100000000', '1700000000000000000')] }] }],
    });
    const res = await fetch(`${httpUrl}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200);
    const answer = (await res.json()) as { partialSuccess?: { rejectedSpans: string; errorMessage: string } };
    assert.equal(answer.partialSuccess?.rejectedSpans, '1');
    assert.ok(answer.partialSuccess!.errorMessage.length > 0);
    const m = await scrape();
    assert.equal(metric(m, 'mcp_tool_calls_total', { mcp_server_name: 'p', gen_ai_tool_name: 'partial' }), 1, 'the valid span still counts');
  });

  it('answers bad gRPC input with INVALID_ARGUMENT / RESOURCE_EXHAUSTED and keeps serving', async () => {
    const client = new grpc.Client(`127.0.0.1:${addr.otlp.grpc!.port}`, grpc.credentials.createInsecure());
    const call = (body: Buffer, signal: 'traces' | 'metrics' = 'traces') =>
      new Promise<{ code: number; details: string }>((resolve) =>
        client.makeUnaryRequest(GRPC_EXPORT_PATH[signal], (b: Buffer) => b, (b: Buffer) => b, body, (err) => resolve({ code: err?.code ?? 0, details: err?.details ?? '' })),
      );
    const bad = await call(GARBAGE);
    assert.equal(bad.code, grpc.status.INVALID_ARGUMENT);
    assert.ok(bad.details.length > 0);
    const badMetrics = await call(GARBAGE, 'metrics');
    assert.equal(badMetrics.code, grpc.status.INVALID_ARGUMENT);
    assert.match(badMetrics.details, /invalid OTLP protobuf metrics request/);
    assert.equal((await call(await metricsBody(), 'metrics')).code, grpc.status.OK);
    const big = await call(Buffer.alloc(Math.floor(1.5 * 1024 * 1024), 0));
    assert.equal(big.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal((await call(await spansBody())).code, grpc.status.OK);
    // A gzip bomb over gRPC: 64 MiB of zeros compress to ~64 KiB on the wire.
    const gz = new grpc.Client(`127.0.0.1:${addr.otlp.grpc!.port}`, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 });
    const bomb = await new Promise<number>((resolve) =>
      gz.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(64 * 1024 * 1024), (err) => resolve(err?.code ?? 0)),
    );
    assert.equal(bomb, grpc.status.RESOURCE_EXHAUSTED);
    gz.close();
    assert.equal((await call(await spansBody())).code, grpc.status.OK, 'still serving');
    client.close();
  });

  it('advertises an HTTP/2 window that fits the largest accepted message, per stream and per connection', async () => {
    // With HTTP/2's 64 KiB default, a 200 KB export waits for WINDOW_UPDATE round trips.
    const session = connectHttp2(`http://127.0.0.1:${addr.otlp.grpc!.port}`);
    try {
      await once(session, 'remoteSettings');
      const window = 1024 * 1024 + 5; // max_recv_msg_size_mib: 1, plus gRPC's 5-byte prefix
      // The connection window arrives in a WINDOW_UPDATE after the SETTINGS frame.
      await until(() => session.remoteSettings.initialWindowSize === window && session.state.remoteWindowSize === window, 'the advertised windows').catch(() => {});
      assert.equal(session.remoteSettings.initialWindowSize, window, 'per stream (SETTINGS_INITIAL_WINDOW_SIZE)');
      assert.equal(session.state.remoteWindowSize, window, 'per connection (WINDOW_UPDATE on stream 0)');
    } finally {
      session.destroy();
    }
  });
});

/** Field 1 (resource_spans) claiming a 4 GiB length in a 12-byte body. */
const GARBAGE = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x67, 0x61, 0x72, 0x62, 0x61, 0x67]);

/** A valid ExportTraceServiceRequest with one tool-call span, serialised by the SDK's own serializer. */
async function spansBody(): Promise<Buffer> {
  const { InMemorySpanExporter } = await import('@opentelemetry/sdk-trace-base');
  const mem = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(mem)] });
  provider.getTracer('t').startSpan('tools/call x', { attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'x', 'mcp.server.name': 's' } }).end();
  const body = Buffer.from(ProtobufTraceSerializer.serializeRequest(mem.getFinishedSpans())!);
  assert.ok(body.length > 100);
  return body;
}

describe('OTLP receiver limits and auth', () => {
  const cfg = (extra: object = {}) =>
    parseConfig(`receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0", auth: { bearer_token: tok } }, http: { endpoint: "127.0.0.1:0", auth: { bearer_token: tok } }, limit_mib: 100 } }\n`, 'x.yaml', {}).receivers.otlp!;

  it('refuses with UNAVAILABLE / 503 + Retry-After over the memory limit, so SDKs retry', async () => {
    let rss = 500 * 1024 * 1024;
    // Every call is one sample of the receiver's memory sampler: the test waits for a sample to see
    // the new figure instead of sleeping past the sampler's period.
    let samples = 0;
    const recorder = new Recorder(new MeterProvider().getMeter('t'));
    const receiver = new OtlpReceiver(cfg(), {
      recorder,
      memoryUsage: () => {
        samples++;
        return rss;
      },
    });
    const a = await receiver.start();
    const res = await fetch(`http://127.0.0.1:${a.http!.port}/v1/traces`, { method: 'POST', body: await spansBody(), headers: { 'content-type': 'application/x-protobuf', authorization: 'Bearer tok' } });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '5');
    const client = new grpc.Client(`127.0.0.1:${a.grpc!.port}`, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer tok');
    const code = await new Promise<number>((resolve) =>
      client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), md, (err) => resolve(err?.code ?? 0)),
    );
    assert.equal(code, grpc.status.UNAVAILABLE);
    rss = 50 * 1024 * 1024;
    const sampled = samples;
    await until(() => samples > sampled, 'a memory sample under the limit');
    const ok = await fetch(`http://127.0.0.1:${a.http!.port}/v1/traces`, { method: 'POST', body: await spansBody(), headers: { 'content-type': 'application/x-protobuf', authorization: 'Bearer tok' } });
    assert.equal(ok.status, 200, 'accepted again once memory is back under the limit');
    client.close();
    await receiver.shutdown();
  });

  it('says a port already in use as such, on either protocol', async (t) => {
    const taken = createNetServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    t.after(() => taken.close());
    const port = (taken.address() as { port: number }).port;
    for (const protocol of ['grpc', 'http'] as const) {
      const other = protocol === 'grpc' ? 'http' : 'grpc';
      const receiver = new OtlpReceiver(parseConfig(`receivers: { otlp: { ${protocol}: { endpoint: "127.0.0.1:${port}" }, ${other}: null } }\n`, 'x.yaml', {}).receivers.otlp!, { recorder: new Recorder(new MeterProvider().getMeter('t')) });
      await assert.rejects(receiver.start(), { message: `receivers.otlp.${protocol}.endpoint: cannot listen on 127.0.0.1:${port}: address already in use` });
      await receiver.shutdown();
    }
  });

  it('requires the bearer token on both protocols', async () => {
    const recorder = new Recorder(new MeterProvider().getMeter('t'));
    const receiver = new OtlpReceiver(cfg(), { recorder, memoryUsage: () => 0 });
    const a = await receiver.start();
    const none = await fetch(`http://127.0.0.1:${a.http!.port}/v1/traces`, { method: 'POST', body: await spansBody(), headers: { 'content-type': 'application/x-protobuf' } });
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="mcpwatch"');
    const wrong = await fetch(`http://127.0.0.1:${a.http!.port}/v1/traces`, { method: 'POST', body: await spansBody(), headers: { 'content-type': 'application/x-protobuf', authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const exporter = new GrpcExporter({ url: `http://127.0.0.1:${a.grpc!.port}`, metadata: (() => { const m = new grpc.Metadata(); m.set('authorization', 'Bearer tok'); return m; })() });
    await send(exporter, [{ name: 'tools/call x', attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'x' } }]);
    const client = new grpc.Client(`127.0.0.1:${a.grpc!.port}`, grpc.credentials.createInsecure());
    const code = await new Promise<number>((resolve) =>
      client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (err) => resolve(err?.code ?? 0)),
    );
    assert.equal(code, grpc.status.UNAUTHENTICATED);
    client.close();
    await receiver.shutdown();
  });

  it('takes the Bearer scheme in any case (RFC 9110), the token only exactly, on both protocols', async () => {
    const recorder = new Recorder(new MeterProvider().getMeter('t'));
    const receiver = new OtlpReceiver(cfg(), { recorder, memoryUsage: () => 0 });
    const a = await receiver.start();
    const client = new grpc.Client(`127.0.0.1:${a.grpc!.port}`, grpc.credentials.createInsecure());
    const body = await spansBody();
    const statuses = async (authorization: string) => {
      const res = await fetch(`http://127.0.0.1:${a.http!.port}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf', authorization } });
      const md = new grpc.Metadata();
      md.set('authorization', authorization);
      const code = await new Promise<number>((resolve) =>
        client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', (b: Buffer) => b, (b: Buffer) => b, body, md, (err) => resolve(err?.code ?? grpc.status.OK)),
      );
      return { http: res.status, grpc: code };
    };
    const accepted = { http: 200, grpc: grpc.status.OK };
    const refused = { http: 401, grpc: grpc.status.UNAUTHENTICATED };
    try {
      for (const header of ['Bearer tok', 'bearer tok', 'BEARER tok', 'bEaReR tok', 'Bearer  tok']) assert.deepEqual(await statuses(header), accepted, header);
      for (const header of ['bearer TOK', 'BEARER tokx', 'Bearertok', 'Basic tok', 'bearer', 'tok']) assert.deepEqual(await statuses(header), refused, header);
    } finally {
      client.close();
      await receiver.shutdown();
    }
  });
});
