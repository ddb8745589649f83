import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import protobuf from 'protobufjs/minimal.js';
import { decodeTraceRequest } from '../../src/otlp/decode.js';
import { jsonToProtobuf, TranscodeError } from '../../src/export/transcode.js';

const { Reader } = protobuf;
const resource = resourceFromAttributes({ 'service.name': 'agent-under-test', 'deployment.environment': 'test' });

/**
 * Every leaf of a protobuf message as "path=value", field numbers for names, sorted. Length-delimited
 * fields that parse as messages are walked into. Leaves holding their default (0, empty) are left
 * out: proto3 encoders differ on writing them (the SDK writes some zeros, mcpwatch none), and both
 * mean the same data.
 */
function leaves(buf: Uint8Array, path = '', depth = 0): string[] {
  const r = Reader.create(buf);
  const out: string[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    const at = `${path}/${tag >>> 3}`;
    switch (tag & 7) {
      case 0:
        out.push(`${at}=v${r.uint64().toString()}`);
        break;
      case 1:
        out.push(`${at}=f64:${r.fixed64().toString()}`);
        break;
      case 5:
        out.push(`${at}=f32:${r.fixed32()}`);
        break;
      case 2: {
        const bytes = r.bytes();
        let nested: string[] | undefined;
        if (depth < 16 && bytes.length) {
          try {
            nested = leaves(bytes, at, depth + 1);
          } catch {
            nested = undefined;
          }
        }
        out.push(...(nested ?? [`${at}=b:${Buffer.from(bytes).toString('hex')}`]));
        break;
      }
      default:
        throw new Error(`wire type ${tag & 7}`);
    }
  }
  return depth ? out : out.filter((l) => !/=(v0|b:|f64:0|f32:0)$/.test(l)).sort();
}

class ManualReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

test('traces: the SDK\'s OTLP/JSON re-encodes to the same data as its protobuf', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('@example/mcp', '1.2.3');
  const parent = tracer.startSpan('invoke_agent');
  for (let i = 0; i < 4; i++) {
    const span = tracer.startSpan(`tools/call tool_${i}`, {
      kind: SpanKind.CLIENT,
      attributes: { 'gen_ai.tool.name': `tool_${i}`, 'server.port': 8080 + i, ratio: 0.25, retried: i % 2 === 0, tags: ['a', 'b'], sizes: [1, 2, 3] },
      links: [{ context: parent.spanContext(), attributes: { 'link.kind': 'parent' } }],
    });
    span.addEvent('exception', { 'exception.message': 'boom' });
    if (i % 2) span.setStatus({ code: SpanStatusCode.ERROR, message: 'tool failed' });
    span.end();
  }
  parent.end();
  const spans = exporter.getFinishedSpans();
  const json = Buffer.from(JsonTraceSerializer.serializeRequest(spans)!);
  const expected = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!);
  const got = jsonToProtobuf('traces', json);
  assert.deepEqual(leaves(got), leaves(expected));
  // And mcpwatch's own decoder reads the spans back.
  assert.deepEqual(
    decodeTraceRequest(got).spans.map((s) => s.name).sort(),
    spans.map((s) => s.name).sort(),
  );
});

test('metrics: sums, gauges, histograms and exponential histograms re-encode to the same data', async () => {
  const reader = new ManualReader();
  const provider = new MeterProvider({
    resource,
    readers: [reader],
    views: [{ instrumentName: 'latency.exp', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
  });
  const meter = provider.getMeter('@example/mcp', '1.0.0');
  meter.createCounter('calls', { unit: '{call}', description: 'tool calls' }).add(3, { tool: 'read_file' });
  meter.createUpDownCounter('sessions').add(-2);
  meter.createGauge('queue').record(1.25, { shard: 1 });
  const h = meter.createHistogram('latency', { unit: 's' });
  for (const v of [0.004, 0.2, 7]) h.record(v, { tool: 'fetch' });
  const e = meter.createHistogram('latency.exp');
  for (const v of [0, 0.001, 1, 5, 100]) e.record(v);
  meter.createObservableGauge('temperature').addCallback((r) => r.observe(-4, { room: 'a' }));
  const { resourceMetrics } = await reader.collect();
  const json = Buffer.from(JsonMetricsSerializer.serializeRequest(resourceMetrics)!);
  const expected = Buffer.from(ProtobufMetricsSerializer.serializeRequest(resourceMetrics)!);
  const got = jsonToProtobuf('metrics', json);
  assert.deepEqual(leaves(got), leaves(expected));
  assert.ok(leaves(got).length > 40, 'the comparison saw the data');
});

test('logs: string, structured and bytes bodies, trace context and event names re-encode to the same data', () => {
  type LogRecords = Parameters<typeof ProtobufLogsSerializer.serializeRequest>[0];
  const records: LogRecords = [0, 1, 2].map((i) => ({
    hrTime: [1_700_000_000, i * 1000] as [number, number],
    hrTimeObserved: [1_700_000_000, 5_000] as [number, number],
    severityText: i === 2 ? 'ERROR' : 'WARN',
    severityNumber: i === 2 ? 17 : 13,
    body: i === 0 ? 'tool read_file failed' : i === 1 ? { tool: 'fetch', attempts: [1, 2], ok: false } : new Uint8Array([1, 2, 255]),
    resource,
    instrumentationScope: { name: '@example/mcp', version: '1.0.0' },
    attributes: { 'gen_ai.tool.name': 'read_file', payload: new Uint8Array([0, 9]) },
    droppedAttributesCount: 0,
    spanContext: { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', traceFlags: 1 },
    ...(i === 1 ? { eventName: 'mcp.tool.retry' } : {}),
  }));
  const json = Buffer.from(JsonLogsSerializer.serializeRequest(records)!);
  const expected = Buffer.from(ProtobufLogsSerializer.serializeRequest(records)!);
  assert.deepEqual(leaves(jsonToProtobuf('logs', json)), leaves(expected));
});

test('keeps 64-bit integers exact, takes enum names and numbers as strings, writes oneof zeros', () => {
  const body = {
    resourceSpans: [
      {
        scopeSpans: [
          {
            spans: [
              {
                traceId: '5b8efff798038103d269b633813fc60c',
                spanId: 'eee19b7ec3c1b174',
                name: 'tools/call x',
                kind: 'SPAN_KIND_CLIENT',
                startTimeUnixNano: '1700000000123456789',
                // A JSON number is taken too (this one is exact as a double).
                endTimeUnixNano: 1700000001000000000,
                attributes: [{ key: 'zero', value: { intValue: '0' } }, { key: 'big', value: { intValue: '-9007199254740993' } }],
                status: { code: 2 },
              },
            ],
          },
        ],
      },
    ],
  };
  const [span] = decodeTraceRequest(jsonToProtobuf('traces', Buffer.from(JSON.stringify(body)))).spans;
  assert.ok(span);
  assert.equal(span.kind, 3);
  assert.equal(span.statusCode, 2);
  const l = leaves(jsonToProtobuf('traces', Buffer.from(JSON.stringify(body))));
  assert.ok(l.includes('/1/2/2/7=f64:1700000000123456789'), 'start time exact to the nanosecond');
  assert.ok(l.includes('/1/2/2/8=f64:1700000001000000000'));
  // The oneof member intValue = 0 must be on the wire (an AnyValue without it is "no value"):
  // the raw bytes hold KeyValue{key "zero", value AnyValue{int_value 0}}.
  const raw = jsonToProtobuf('traces', Buffer.from(JSON.stringify(body)));
  assert.ok(raw.includes(Buffer.from([0x0a, 0x04, ...Buffer.from('zero'), 0x12, 0x02, 0x18, 0x00])), 'intValue 0 written');
  assert.ok(l.includes(`/1/2/2/9/2/3=v${BigInt.asUintN(64, -9007199254740993n)}`), 'a negative int64 beyond 2^53 exact');
  // An enum named by its zero value is a default, left out like a 0.
  const unspecified = { resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'x', kind: 'SPAN_KIND_UNSPECIFIED' }] }] }] };
  const zero = { resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'x', kind: 0 }] }] }] };
  assert.deepEqual(jsonToProtobuf('traces', Buffer.from(JSON.stringify(unspecified))), jsonToProtobuf('traces', Buffer.from(JSON.stringify(zero))));
});

test('names the field when a request cannot be re-encoded', () => {
  const bad = (spans: unknown[]): Buffer => Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] }));
  assert.throws(() => jsonToProtobuf('traces', Buffer.from('{"resourceSpans": [')), (e: unknown) => e instanceof TranscodeError && /not JSON/.test(e.message));
  assert.throws(() => jsonToProtobuf('traces', bad([{ traceId: 'not-hex' }])), /traces\.resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.traceId: expected a hex id/);
  // Hex, but not an OTLP id: a backend refuses the whole request over one such id.
  assert.throws(() => jsonToProtobuf('traces', bad([{ traceId: '5b8efff798038103' }])), /spans\[0\]\.traceId: expected a hex id of 16 bytes, got 8/);
  assert.throws(() => jsonToProtobuf('traces', bad([{ parentSpanId: 'eee19b7e' }])), /spans\[0\]\.parentSpanId: expected a hex id of 8 bytes, got 4/);
  assert.throws(() => jsonToProtobuf('traces', bad([{ links: [{ spanId: '5b8efff798038103d269b633813fc60c' }] }])), /links\[0\]\.spanId: expected a hex id of 8 bytes, got 16/);
  assert.throws(() => jsonToProtobuf('logs', Buffer.from('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"ab"}]}]}]}')), /logRecords\[0\]\.traceId: expected a hex id of 16 bytes/);
  assert.throws(() => jsonToProtobuf('metrics', Buffer.from('{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"sum":{"dataPoints":[{"exemplars":[{"spanId":"ab"}]}]}}]}]}]}')), /exemplars\[0\]\.spanId: expected a hex id of 8 bytes/);
  // Empty is absent, as in the SDK's own JSON for a span without a parent.
  assert.doesNotThrow(() => jsonToProtobuf('traces', bad([{ traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', parentSpanId: '' }])));
  assert.throws(() => jsonToProtobuf('traces', bad([{ startTimeUnixNano: '12.5' }])), /startTimeUnixNano: expected an integer/);
  assert.throws(() => jsonToProtobuf('traces', bad([{ kind: 'SPAN_KIND_SIDEWAYS' }])), /kind: expected an enum number or one of SPAN_KIND_UNSPECIFIED/);
  assert.throws(() => jsonToProtobuf('metrics', Buffer.from('{"resourceMetrics": {}}')), /metrics\.resourceMetrics: expected an array/);
  assert.throws(
    () => jsonToProtobuf('logs', Buffer.from('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"LOUD"}]}]}]}')),
    (e: unknown) => e instanceof TranscodeError && e.message.length < 300 && /severityNumber: expected an enum number or one of SEVERITY_NUMBER_UNSPECIFIED, .*SEVERITY_NUMBER_FATAL4, got "LOUD"/.test(e.message),
  );
  assert.throws(() => jsonToProtobuf('logs', Buffer.from('[1]')), /logs: expected an object/);
});

test('reads fields under their original names, mixed with camelCase in any object, as the Collector does', () => {
  const log = (text: string): Buffer => jsonToProtobuf('logs', Buffer.from(text));
  const camel = log('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"5b8efff798038103d269b633813fc60c","timeUnixNano":"5","severityNumber":9}]}]}]}');
  const mixed = log('{"resourceLogs":[{"scope_logs":[{"logRecords":[{"trace_id":"5b8efff798038103d269b633813fc60c","timeUnixNano":"5","severity_number":9}]}]}]}');
  assert.ok(camel.length > 20 && mixed.equals(camel));
  assert.throws(() => log('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"trace_id":"","traceId":""}]}]}]}'), /^Error: logs\.resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[0\]: one field sent under two names, "trace_id" and "traceId"$/);
});
