import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type HrTime } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  compileKeySet,
  decodeTraceRequest,
  OtlpDecodeError,
  type DecodeResult,
  type DecodedSpan,
} from '../../src/otlp/decode.js';
import { RECOGNISER_SPAN_KEYS } from '../../src/otlp/recognise.js';

// ---- spans from the real OpenTelemetry SDK ------------------------------------------------------

interface SpanDef {
  name: string;
  kind?: SpanKind;
  attributes?: Attributes;
  status?: { code: SpanStatusCode; message?: string };
  start?: HrTime;
  end?: HrTime;
  scope?: string;
}

const START: HrTime = [1_700_000_000, 100_000_000];
const END: HrTime = [1_700_000_000, 350_000_000]; // 0.25 s later

function sdkSpans(defs: SpanDef[], resource: Attributes = { 'service.name': 'agent' }): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  for (const d of defs) {
    const span = provider
      .getTracer(d.scope ?? 'test-instrumentation', '1.0.0')
      .startSpan(d.name, { kind: d.kind ?? SpanKind.CLIENT, attributes: d.attributes ?? {}, startTime: d.start ?? START });
    if (d.status) span.setStatus(d.status);
    span.end(d.end ?? END);
  }
  return exporter.getFinishedSpans();
}

function protobuf(spans: ReadableSpan[]): Uint8Array {
  const bytes = ProtobufTraceSerializer.serializeRequest(spans);
  assert.ok(bytes);
  return bytes;
}

function attrsOf(span: DecodedSpan | undefined): Record<string, unknown> {
  assert.ok(span);
  return Object.fromEntries(span.attrs);
}

// ---- a minimal protobuf encoder for shapes the SDK never produces ---------------------------------

function varint(value: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}
const tag = (field: number, wire: number): Buffer => varint(field * 8 + wire);
const ld = (field: number, ...parts: Uint8Array[]): Buffer => {
  const body = Buffer.concat(parts);
  return Buffer.concat([tag(field, 2), varint(body.length), body]);
};
const str = (field: number, s: string): Buffer => ld(field, Buffer.from(s, 'utf8'));
const vint = (field: number, v: number | bigint): Buffer => Buffer.concat([tag(field, 0), varint(v)]);
const fixed64 = (field: number, v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return Buffer.concat([tag(field, 1), b]);
};
const double = (field: number, v: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return Buffer.concat([tag(field, 1), b]);
};
/** KeyValue in field `field` (9 for Span.attributes, 1 for Resource.attributes). */
const kv = (field: number, key: string, anyValue: Buffer): Buffer => ld(field, str(1, key), ld(2, anyValue));
const T0 = 1_700_000_000_100_000_000n;
const span = (...fields: Buffer[]): Buffer => ld(2, ...fields);
const timed = (name: string, ...fields: Buffer[]): Buffer =>
  span(str(5, name), fixed64(7, T0), fixed64(8, T0 + 250_000_000n), ...fields);
const request = (...scopeSpansFields: Buffer[]): Buffer => ld(1, ld(2, ...scopeSpansFields));

function mustThrowDecodeError(body: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => decodeTraceRequest(body),
    (err: unknown) => {
      assert.ok(err instanceof OtlpDecodeError, `expected OtlpDecodeError, got ${String(err)}`);
      assert.equal(err.code, 'OTLP_INVALID_PROTOBUF');
      assert.match(err.message, pattern);
      return true;
    },
  );
}

// ---- decoding what the SDK sends --------------------------------------------------------------------

test('decodes an SDK span: name, kind, times, status, resource, scope and the recognised attributes', () => {
  const result = decodeTraceRequest(
    protobuf(
      sdkSpans([
        {
          name: 'tools/call get_weather',
          scope: '@example/mcp-instrumentation',
          attributes: {
            'mcp.method.name': 'tools/call',
            'gen_ai.tool.name': 'get_weather',
            'server.address': 'weather.example',
            'server.port': 8443,
            'error.type': '-32602',
            'rpc.response.status_code': -32602,
            'mcp.session.id': 'c0ffee',
            'jsonrpc.request.id': '42',
            'gen_ai.tool.call.arguments': '{"city":"Paris"}',
            'http.request.header.x': ['a', 'b'],
          },
          status: { code: SpanStatusCode.ERROR, message: 'Invalid params: city' },
        },
      ]),
    ),
  );
  assert.equal(result.rejected, 0);
  assert.equal(result.rejectionMessage, undefined);
  assert.equal(result.spans.length, 1);
  const s = result.spans[0]!;
  assert.equal(s.name, 'tools/call get_weather');
  assert.equal(s.kind, 3); // OTLP SPAN_KIND_CLIENT
  assert.equal(s.startNs, 1_700_000_000_100_000_000);
  assert.equal(s.durationSeconds, 0.25);
  assert.equal(s.statusCode, 2);
  assert.equal(s.statusMessage, 'Invalid params: city');
  assert.equal(s.scope, '@example/mcp-instrumentation');
  assert.equal(s.resource.serviceName, 'agent');
  assert.deepEqual(Object.fromEntries(s.resource.attrs), { 'service.name': 'agent' });
  // Only keys the recogniser reads are kept; session id, arguments and arrays are never decoded.
  assert.deepEqual(attrsOf(s), {
    'mcp.method.name': 'tools/call',
    'gen_ai.tool.name': 'get_weather',
    'server.address': 'weather.example',
    'server.port': 8443,
    'error.type': '-32602',
    'rpc.response.status_code': -32602,
    'jsonrpc.request.id': '42',
  });
  assert.equal(s.traceId, undefined);
  assert.equal(s.spanId, undefined);
});

test('ids are decoded to lower-case hex only when asked for, parent included', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('t');
  const parent = tracer.startSpan('parent', { startTime: START });
  tracer.startSpan('child', { startTime: START }, trace.setSpan(ROOT_CONTEXT, parent)).end(END);
  parent.end(END);
  const finished = exporter.getFinishedSpans();
  const { spans } = decodeTraceRequest(protobuf(finished), { ids: true });
  const byName = new Map(spans.map((s) => [s.name, s]));
  const sdkChild = finished.find((s) => s.name === 'child')!;
  const sdkParent = finished.find((s) => s.name === 'parent')!;
  assert.equal(byName.get('child')?.traceId, sdkChild.spanContext().traceId);
  assert.equal(byName.get('child')?.spanId, sdkChild.spanContext().spanId);
  assert.equal(byName.get('child')?.parentSpanId, sdkParent.spanContext().spanId);
  assert.equal(byName.get('parent')?.parentSpanId, undefined);
  assert.match(byName.get('parent')?.traceId ?? '', /^[0-9a-f]{32}$/);
});

test('without ids asked for, where each id lies in the body is kept, for the MCP spans whose ids are read', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('t');
  const parent = tracer.startSpan('parent', { startTime: START });
  tracer.startSpan('child', { startTime: START }, trace.setSpanContext(ROOT_CONTEXT, parent.spanContext())).end(END);
  parent.end(END);
  const finished = exporter.getFinishedSpans();
  const { spans } = decodeTraceRequest(protobuf(finished));
  const hex = (s: DecodedSpan, at: number | undefined, len: number): string | undefined => (at === undefined || at < 0 ? undefined : s.idBytes!.toString('hex', at, at + len));
  for (const sdk of finished) {
    const s = spans.find((d) => d.name === sdk.name)!;
    assert.equal(s.traceId, undefined, 'no hex made');
    assert.equal(hex(s, s.traceIdAt, 16), sdk.spanContext().traceId);
    assert.equal(hex(s, s.spanIdAt, 8), sdk.spanContext().spanId);
    assert.equal(hex(s, s.parentSpanIdAt, 8), sdk.parentSpanContext?.spanId);
  }
  // Asked for, the ids are hex strings and the body is not kept.
  assert.ok(decodeTraceRequest(protobuf(finished), { ids: true }).spans.every((s) => s.idBytes === undefined && s.spanIdAt === -1));
});

test('the default key set is exactly the recogniser keys: all kept when present, nothing else', () => {
  const attributes: Attributes = {};
  for (const key of RECOGNISER_SPAN_KEYS) attributes[key] = `v:${key}`;
  // Unread keys, and near misses written after the real ones: same length as a kept key, one byte
  // different at the start, middle or end.
  Object.assign(attributes, {
    'mcp.session.id': 's',
    'gen_ai.tool.call.result': 'r',
    'network.transport': 'pipe',
    'Mcp.method.name': 'near',
    'mcp.method_name': 'near',
    'mcp.method.namE': 'near',
    'tool.namx': 'near',
  });
  const s = decodeTraceRequest(protobuf(sdkSpans([{ name: 'x', attributes }]))).spans[0];
  assert.deepEqual(attrsOf(s), Object.fromEntries(RECOGNISER_SPAN_KEYS.map((k) => [k, `v:${k}`])));
  assert.equal(RECOGNISER_SPAN_KEYS.length, 15);
});

test('a custom key set keeps other keys, including non-ASCII ones and values', () => {
  const spanKeys = compileKeySet(['network.transport', 'clé.ünïcode', 'ratio', 'flag']);
  const s = decodeTraceRequest(
    protobuf(
      sdkSpans([
        {
          name: 'naïve span ✓',
          attributes: {
            'network.transport': 'pipe',
            'clé.ünïcode': 'välue ✓',
            ratio: 0.125,
            flag: true,
            'mcp.method.name': 'tools/call',
          },
        },
      ]),
    ),
    { spanKeys },
  ).spans[0];
  assert.equal(s?.name, 'naïve span ✓');
  assert.deepEqual(attrsOf(s), { 'network.transport': 'pipe', 'clé.ünïcode': 'välue ✓', ratio: 0.125, flag: true });
});

test('a request id, text not kept in the intern table, decodes as sent: ASCII, non-ASCII, long, empty, and the same again', () => {
  const ids = ['7', 'req-é✓', 'r'.repeat(40), '', '7'];
  const spans = decodeTraceRequest(protobuf(sdkSpans(ids.map((id) => ({ name: 'tools/call x', attributes: { 'jsonrpc.request.id': id } }))))).spans;
  assert.deepEqual(spans.map((s) => s.attrs.get('jsonrpc.request.id')), ids);
});

test('spans from several resources and scopes keep their own service and scope names', () => {
  const a = sdkSpans([{ name: 'a1', scope: 'scope-1' }, { name: 'a2', scope: 'scope-2' }], { 'service.name': 'svc-a' });
  const b = sdkSpans([{ name: 'b1', scope: 'scope-3' }], { 'service.name': 'svc-b', 'host.name': 'h' });
  const { spans } = decodeTraceRequest(protobuf([...a, ...b]));
  const seen = spans.map((s) => `${s.resource.serviceName}/${s.scope}/${s.name}`).sort();
  assert.deepEqual(seen, ['svc-a/scope-1/a1', 'svc-a/scope-2/a2', 'svc-b/scope-3/b1']);
  assert.deepEqual(Object.fromEntries(spans.find((s) => s.name === 'b1')!.resource.attrs), { 'service.name': 'svc-b' });
});

test('long durations and long strings decode exactly', () => {
  const longName = 'x'.repeat(300) + 'é';
  const s = decodeTraceRequest(
    protobuf(sdkSpans([{ name: longName, start: [1_700_000_000, 999_999_999], end: [1_700_086_400, 1] }])),
  ).spans[0];
  assert.equal(s?.name, longName);
  assert.equal(s?.durationSeconds, 86_399.000000002);
});

test('an empty body is an empty request', () => {
  assert.deepEqual(decodeTraceRequest(new Uint8Array(0)), { spans: [], rejected: 0 });
});

// ---- wire-level shapes the SDK does not produce ------------------------------------------------------

test('fields in any order: value before key, scope after spans, resource after scope_spans', () => {
  const spanBytes = ld(
    2,
    ld(9, ld(2, str(1, 'tools/call')), str(1, 'mcp.method.name')), // value first
    fixed64(8, T0 + 1_000_000n),
    str(5, 'late-fields'),
    fixed64(7, T0),
  );
  const body = ld(
    1,
    ld(2, spanBytes, ld(1, str(1, 'late-scope'))),
    ld(1, kv(1, 'service.name', str(1, 'late-service'))),
  );
  const { spans } = decodeTraceRequest(body);
  assert.equal(spans.length, 1);
  assert.equal(spans[0]?.name, 'late-fields');
  assert.equal(spans[0]?.scope, 'late-scope');
  assert.equal(spans[0]?.resource.serviceName, 'late-service');
  assert.equal(spans[0]?.durationSeconds, 0.001);
  assert.deepEqual(attrsOf(spans[0]), { 'mcp.method.name': 'tools/call' });
});

test('scalar values: negative and 64-bit ints, doubles, bools; non-scalars and unknown fields are skipped', () => {
  const body = request(
    timed(
      'values',
      kv(9, 'rpc.response.status_code', vint(3, -32602)),
      kv(9, 'server.port', vint(3, 2n ** 40n)),
      kv(9, 'error.type', double(4, 1.5)),
      kv(9, 'gen_ai.tool.name', vint(2, 1)),
      kv(9, 'tool.name', ld(5, ld(1, str(1, 'in-array')))), // array_value: not a scalar
      kv(9, 'mcp.tool.name', Buffer.concat([str(1, 'first'), ld(6, Buffer.alloc(0))])), // oneof: last wins
      kv(9, 'mcp.server.name', Buffer.concat([str(1, 'srv'), vint(99, 7)])), // unknown AnyValue field
      Buffer.concat([tag(16, 5), Buffer.from([1, 1, 0, 0])]), // Span.flags, a fixed32
      vint(99, 12345), // a field from some future version
      Buffer.concat([tag(30, 3), vint(1, 5), tag(30, 4)]), // unknown group
      ld(11, str(2, 'event')), // events
    ),
  );
  const { spans, rejected } = decodeTraceRequest(body);
  assert.equal(rejected, 0);
  assert.deepEqual(attrsOf(spans[0]), {
    'rpc.response.status_code': -32602,
    'server.port': 2 ** 40,
    'error.type': 1.5,
    'gen_ai.tool.name': true,
    'mcp.server.name': 'srv',
  });
});

test('a malformed span is rejected alone and the rest of the batch is kept', () => {
  const body = request(
    timed('good-1'),
    span(vint(5, 7), fixed64(7, T0), fixed64(8, T0 + 1n)), // name with wire type 0
    timed('good-2'),
    span(str(5, 'backwards'), fixed64(7, T0 + 10n), fixed64(8, T0)),
    span(str(5, 'no-end'), fixed64(7, T0)),
    span(str(5, 'overrun'), ld(9, str(1, 'k')).subarray(0, 3)), // KeyValue shorter than its length prefix says
  );
  const result = decodeTraceRequest(body);
  assert.deepEqual(
    result.spans.map((s) => s.name),
    ['good-1', 'good-2'],
  );
  assert.equal(result.rejected, 4);
  assert.match(result.rejectionMessage ?? '', /^span at bytes \d+\.\.\d+: Span\.name: wire type 0, expected 2$/);
});

test('spans with ids of the wrong length are rejected, and without ids only when ids are decoded', () => {
  const body = request(
    timed('ok', ld(1, Buffer.alloc(16, 1)), ld(2, Buffer.alloc(8, 2))),
    timed('short-trace', ld(1, Buffer.alloc(8, 1)), ld(2, Buffer.alloc(8, 2))),
    timed('no-span-id', ld(1, Buffer.alloc(16, 1))),
    timed('long-parent', ld(1, Buffer.alloc(16, 1)), ld(2, Buffer.alloc(8, 2)), ld(4, Buffer.alloc(9, 3))),
  );
  const withIds = decodeTraceRequest(body, { ids: true });
  assert.deepEqual(withIds.spans.map((s) => [s.name, s.traceId, s.spanId]), [
    ['ok', '01'.repeat(16), '02'.repeat(8)],
  ]);
  assert.equal(withIds.rejected, 3);
  assert.equal(withIds.rejectionMessage, 'span "short-trace": trace_id must be 16 bytes');
  // Not decoded, a wrong length still rejects the span (a backend would refuse the whole request
  // for it); an id left out does not, as the Collector takes that.
  const without = decodeTraceRequest(body);
  assert.deepEqual(without.spans.map((s) => s.name), ['ok', 'no-span-id']);
  assert.equal(without.rejectionMessage, 'span "short-trace": trace_id is 8 bytes, must be 16');
  assert.equal(without.rejectedSpans?.length, 2);
  const spanId = decodeTraceRequest(request(timed('long-span', ld(1, Buffer.alloc(16, 1)), ld(2, Buffer.alloc(16, 2)))));
  assert.equal(spanId.rejectionMessage, 'span "long-span": span_id is 16 bytes, must be 8');
  const parent = decodeTraceRequest(request(timed('long-parent', ld(1, Buffer.alloc(16, 1)), ld(2, Buffer.alloc(8, 2)), ld(4, Buffer.alloc(9, 3)))));
  assert.equal(parent.rejectionMessage, 'span "long-parent": parent_span_id is 9 bytes, must be 8');
  // A link's ids too, decoded or not: the Collector refuses the whole request for one.
  const ids = [ld(1, Buffer.alloc(16, 1)), ld(2, Buffer.alloc(8, 2))];
  const links = request(
    timed('linked', ...ids, ld(13, ld(1, Buffer.alloc(16, 4)), ld(2, Buffer.alloc(8, 5)), ld(3, Buffer.from('k=v'))), ld(13, ld(1), ld(2))),
    timed('short-link-trace', ...ids, ld(13, ld(1, Buffer.alloc(8, 4)), ld(2, Buffer.alloc(8, 5)))),
    timed('long-link-span', ...ids, ld(13, ld(2, Buffer.alloc(16, 5)))),
  );
  for (const decodeIds of [false, true]) {
    const linked = decodeTraceRequest(links, { ids: decodeIds });
    assert.deepEqual(linked.spans.map((s) => s.name), ['linked']);
    assert.equal(linked.rejectionMessage, "span \"short-link-trace\": a link's trace_id is 8 bytes, must be 16");
  }
  assert.match(decodeTraceRequest(request(timed('l', ...ids, ld(13, vint(1, 3))))).rejectionMessage ?? '', /Link\.trace_id: wire type 0, expected 2/);
});

// ---- malformed requests -------------------------------------------------------------------------------

test('broken request framing throws OtlpDecodeError with the field at fault', () => {
  mustThrowDecodeError(vint(1, 5), /ExportTraceServiceRequest\.resource_spans: wire type 0, expected 2/);
  mustThrowDecodeError(Buffer.from([0x0a, 0x05, 0x12]), /resource_spans: length 5 at offset 2 runs past the end/);
  mustThrowDecodeError(ld(1, vint(2, 1)), /ResourceSpans\.scope_spans: wire type 0, expected 2/);
  mustThrowDecodeError(ld(1, ld(1, vint(1, 1))), /Resource\.attributes: wire type 0, expected 2/);
  mustThrowDecodeError(Buffer.from([0x0f]), /resource_spans: wire type 7, expected 2/);
  mustThrowDecodeError(Buffer.from([0x17]), /invalid wire type 7/); // an unknown field 2
  mustThrowDecodeError(Buffer.from([0x02, 0x00]), /field number 0/);
  mustThrowDecodeError(Buffer.from([0x14]), /invalid wire type 4/); // a stray end-group
  mustThrowDecodeError(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), /invalid tag encoding|index out of range/);
  // Groups nested past protobufjs' recursion limit, in an unknown top-level field.
  const deep = Buffer.concat([...Array.from({ length: 200 }, () => tag(3, 3))]);
  mustThrowDecodeError(deep, /max depth exceeded/);
});

test('a small SDK message cut at every byte: OtlpDecodeError or a result, never anything else', () => {
  const whole = protobuf(
    sdkSpans([
      { name: 'tools/call a', attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'a', 'server.port': 1 } },
      { name: 'b.tool', attributes: { 'traceloop.span.kind': 'tool' }, status: { code: SpanStatusCode.ERROR, message: 'x' } },
    ]),
  );
  let threw = 0;
  for (let cut = 0; cut < whole.length; cut++) {
    let result: DecodeResult | undefined;
    try {
      result = decodeTraceRequest(whole.subarray(0, cut));
    } catch (err) {
      assert.ok(err instanceof OtlpDecodeError, `cut ${cut}: ${String(err)}`);
      threw++;
      continue;
    }
    // A cut can only ever land on a field boundary of the outermost message at 0.
    assert.equal(cut, 0, `cut ${cut} decoded without error: ${JSON.stringify(result.spans.map((s) => s.name))}`);
  }
  assert.equal(threw, whole.length - 1);
  assert.equal(decodeTraceRequest(whole).spans.length, 2);
});

test('a span cut at every byte inside an intact request: decoded or rejected, never anything else', () => {
  const spanBody = Buffer.concat([
    ld(1, Buffer.alloc(16, 1)),
    ld(2, Buffer.alloc(8, 2)),
    str(5, 'tools/call a'),
    vint(6, 3),
    fixed64(7, T0),
    fixed64(8, T0 + 5n),
    kv(9, 'mcp.method.name', str(1, 'tools/call')),
    kv(9, 'server.port', vint(3, 443)),
    kv(9, 'ratio', double(4, 0.5)),
    ld(15, str(2, 'boom'), vint(3, 2)),
  ]);
  const outcomes = new Set<string>();
  for (let cut = 0; cut <= spanBody.length; cut++) {
    const result = decodeTraceRequest(request(ld(2, spanBody.subarray(0, cut)), timed('after')));
    assert.equal(result.spans.length + result.rejected, 2, `cut ${cut}`);
    assert.equal(result.spans.at(-1)?.name, 'after', `cut ${cut}`);
    outcomes.add(result.rejected === 1 ? 'rejected' : 'decoded');
  }
  assert.deepEqual([...outcomes].sort(), ['decoded', 'rejected']);
});

test('random garbage: OtlpDecodeError or a result, never another error, never a hang', () => {
  // A fixed-seed generator keeps a failure reproducible.
  let seed = 0x9e3779b9;
  const next = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const valid = protobuf(sdkSpans([{ name: 'tools/call a', attributes: { 'mcp.method.name': 'tools/call' } }]));
  let errors = 0;
  for (let i = 0; i < 5000; i++) {
    let body: Buffer;
    if (i % 2 === 0) {
      body = Buffer.alloc(next() % 256);
      for (let j = 0; j < body.length; j++) body[j] = next() & 0xff;
    } else {
      // Flipped bytes in a valid message reach deeper into the decoder than pure noise does.
      body = Buffer.from(valid);
      for (let flips = 1 + (next() % 4); flips > 0; flips--) body[next() % body.length] = next() & 0xff;
    }
    try {
      const result = decodeTraceRequest(body);
      assert.ok(Array.isArray(result.spans));
      assert.ok(result.rejected >= 0);
    } catch (err) {
      assert.ok(err instanceof OtlpDecodeError, `input ${body.toString('hex')}: ${String(err)}`);
      errors++;
    }
  }
  assert.ok(errors > 1000, `only ${errors} of 5000 garbage inputs were rejected`);
});
