import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode, type Attributes, type HrTime } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { decodeTraceRequest, OtlpDecodeError, type DecodedSpan } from '../../src/otlp/decode.js';
import { decodeTraceRequestJson } from '../../src/otlp/json.js';
import { mayHaveOriginalNames } from '../../src/wire/json-names.js';

const START: HrTime = [1_700_000_000, 100_000_000];
const END: HrTime = [1_700_000_000, 350_000_000];

function sdkSpans(defs: { name: string; kind?: SpanKind; attributes?: Attributes; error?: string }[]): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'agent' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('json-test', '1.0.0');
  for (const d of defs) {
    const span = tracer.startSpan(d.name, { kind: d.kind ?? SpanKind.CLIENT, attributes: d.attributes ?? {}, startTime: START });
    if (d.error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: d.error });
    span.end(END);
  }
  return exporter.getFinishedSpans();
}

/** A decoded span as plain data, for deepEqual. */
/** A record's content; where a protobuf body's raw ids lie (what pairing reads) is not content. */
function plain(span: DecodedSpan): Record<string, unknown> {
  const { idBytes: _bytes, traceIdAt: _trace, spanIdAt: _span, parentSpanIdAt: _parent, ...s } = span;
  return {
    ...s,
    attrs: Object.fromEntries(s.attrs),
    resource: { serviceName: s.resource.serviceName, attrs: Object.fromEntries(s.resource.attrs) },
  };
}

const T = '1700000000100000000';
const T_END = '1700000000350000000';
const okSpan = { name: 'ok', startTimeUnixNano: T, endTimeUnixNano: T_END };
const body = (spans: unknown[]): string => JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] });

function mustThrow(input: string | Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => decodeTraceRequestJson(input),
    (err: unknown) => {
      assert.ok(err instanceof OtlpDecodeError, `expected OtlpDecodeError, got ${String(err)}`);
      assert.equal(err.code, 'OTLP_INVALID_JSON');
      assert.match(err.message, pattern);
      return true;
    },
  );
}

test('the SDK JSON and protobuf forms of the same spans decode to identical records', () => {
  const spans = sdkSpans([
    {
      name: 'tools/call get_weather',
      attributes: {
        'mcp.method.name': 'tools/call',
        'gen_ai.tool.name': 'get_weather',
        'server.port': 8443,
        'rpc.response.status_code': -32602,
        'error.type': '-32602',
        'mcp.session.id': 'never kept',
      },
      error: 'Invalid params',
    },
    { name: 'tools/list', kind: SpanKind.SERVER, attributes: { 'mcp.method.name': 'tools/list', 'server.address': 'h' } },
  ]);
  const json = JsonTraceSerializer.serializeRequest(spans);
  const pb = ProtobufTraceSerializer.serializeRequest(spans);
  assert.ok(json && pb);
  const fromJson = decodeTraceRequestJson(json, { ids: true });
  const fromPb = decodeTraceRequest(pb, { ids: true });
  assert.equal(fromJson.rejected, 0);
  assert.deepEqual(fromJson.spans.map(plain), fromPb.spans.map(plain));
  assert.deepEqual(plain(fromJson.spans[0]!), {
    name: 'tools/call get_weather',
    kind: 3,
    startNs: 1_700_000_000_100_000_000,
    durationSeconds: 0.25,
    statusCode: 2,
    statusMessage: 'Invalid params',
    attrs: {
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'get_weather',
      'server.port': 8443,
      'rpc.response.status_code': -32602,
      'error.type': '-32602',
    },
    resource: { serviceName: 'agent', attrs: { 'service.name': 'agent' } },
    scope: 'json-test',
    traceId: spans[0]!.spanContext().traceId,
    spanId: spans[0]!.spanContext().spanId,
    parentSpanId: undefined,
  });
});

test('proto3 JSON spellings: int64 as strings, enum names, upper-case hex, special doubles', () => {
  const result = decodeTraceRequestJson(
    JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
          scopeSpans: [
            {
              scope: { name: 'sc' },
              spans: [
                {
                  traceId: '0AF7651916CD43DD8448EB211C80319C',
                  spanId: 'B7AD6B7169203331',
                  parentSpanId: '',
                  name: 'n',
                  kind: 'SPAN_KIND_SERVER',
                  startTimeUnixNano: '1700000000000000001',
                  endTimeUnixNano: 1700000000000000000 + 2e9,
                  attributes: [
                    { key: 'server.port', value: { intValue: '8443' } },
                    { key: 'rpc.response.status_code', value: { intValue: '-32001' } },
                    { key: 'error.type', value: { doubleValue: 'NaN' } },
                    { key: 'mcp.server.name', value: { arrayValue: { values: [] } } },
                    { key: 'tool.name', value: null },
                    { key: 'unwanted', value: { stringValue: 12 } },
                  ],
                  status: { code: 'STATUS_CODE_ERROR' },
                },
              ],
            },
          ],
        },
      ],
    }),
    { ids: true },
  );
  assert.equal(result.rejected, 0);
  const s = result.spans[0]!;
  assert.equal(s.traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(s.spanId, 'b7ad6b7169203331');
  assert.equal(s.parentSpanId, undefined);
  assert.equal(s.kind, 2);
  assert.equal(s.statusCode, 2);
  assert.equal(s.statusMessage, '');
  assert.equal(s.scope, 'sc');
  assert.equal(s.resource.serviceName, 'svc');
  // The number end time is a double (…000000000 exactly), the string start keeps its last nanosecond.
  assert.equal(s.durationSeconds, 1.999999999);
  assert.equal(s.attrs.size, 3);
  assert.equal(s.attrs.get('server.port'), 8443);
  assert.equal(s.attrs.get('rpc.response.status_code'), -32001);
  assert.ok(Number.isNaN(s.attrs.get('error.type')));
});

test('an empty object, absent or null arrays are an empty request; bytes are accepted', () => {
  assert.deepEqual(decodeTraceRequestJson('{}'), { spans: [], rejected: 0 });
  assert.deepEqual(decodeTraceRequestJson('{"resourceSpans":null}'), { spans: [], rejected: 0 });
  assert.deepEqual(decodeTraceRequestJson('{"resourceSpans":[{"scopeSpans":[{}]}]}'), { spans: [], rejected: 0 });
  assert.equal(decodeTraceRequestJson(new TextEncoder().encode(body([okSpan]))).spans[0]?.name, 'ok');
});

test('a request of the wrong shape throws OtlpDecodeError naming the path', () => {
  const rows: [string, RegExp][] = [
    ['', /not JSON/],
    ['{"resourceSpans": [', /not JSON/],
    ['\u0000garbage', /not JSON/],
    ['[]', /the request must be a JSON object/],
    ['null', /the request must be a JSON object/],
    ['"text"', /the request must be a JSON object/],
    ['{"resourceSpans":{}}', /resourceSpans must be an array/],
    ['{"resourceSpans":[1]}', /resourceSpans\[0\] must be an object/],
    ['{"resourceSpans":[{"resource":[]}]}', /resourceSpans\[0\]\.resource must be an object/],
    ['{"resourceSpans":[{"resource":{"attributes":{}}}]}', /resourceSpans\[0\]\.resource\.attributes must be an array/],
    [
      '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":1}}]}}]}',
      /resource\.attributes\[0\]\.value\.stringValue must be a string/,
    ],
    ['{"resourceSpans":[{"scopeSpans":"x"}]}', /resourceSpans\[0\]\.scopeSpans must be an array/],
    ['{"resourceSpans":[{"scopeSpans":[true]}]}', /scopeSpans\[0\] must be an object/],
    ['{"resourceSpans":[{"scopeSpans":[{"scope":{"name":3}}]}]}', /scopeSpans\[0\]\.scope\.name must be a string/],
    ['{"resourceSpans":[{"scopeSpans":[{"spans":7}]}]}', /scopeSpans\[0\]\.spans must be an array/],
  ];
  for (const [input, pattern] of rows) mustThrow(input, pattern);
  assert.deepEqual(decodeTraceRequestJson('{"resource_spans":[{"scope_spans":[]}]}'), { spans: [], rejected: 0 });
});

test('a malformed span is rejected alone, with the reason of the first one', () => {
  const rows: [unknown, RegExp][] = [
    ['span', /spans\[1\] must be an object/],
    [{ ...okSpan, name: 5 }, /spans\[1\]\.name must be a string/],
    [{ ...okSpan, kind: 'CLIENT' }, /spans\[1\]\.kind must be an integer or an enum name/],
    [{ ...okSpan, startTimeUnixNano: '17e17' }, /startTimeUnixNano must be a non-negative integer or a decimal string/],
    [{ ...okSpan, endTimeUnixNano: -1 }, /endTimeUnixNano must be a non-negative integer/],
    [{ name: 'x', startTimeUnixNano: T }, /spans\[1\]: missing start or end time/],
    [{ ...okSpan, startTimeUnixNano: T_END, endTimeUnixNano: T }, /spans\[1\]: ends before it starts/],
    [{ ...okSpan, status: 'ERROR' }, /spans\[1\]\.status must be an object/],
    [{ ...okSpan, status: { code: 'ERROR' } }, /status\.code must be an integer or an enum name/],
    [{ ...okSpan, status: { message: 1 } }, /status\.message must be a string/],
    [{ ...okSpan, attributes: {} }, /spans\[1\]\.attributes must be an array/],
    [{ ...okSpan, attributes: [{ value: {} }] }, /attributes\[0\] must be an object with a string key/],
    [{ ...okSpan, attributes: [{ key: 'error.type', value: 'x' }] }, /attributes\[0\]\.value must be an object/],
    [{ ...okSpan, attributes: [{ key: 'error.type', value: { boolValue: 'yes' } }] }, /boolValue must be a boolean/],
    [{ ...okSpan, attributes: [{ key: 'server.port', value: { intValue: '80.5' } }] }, /intValue must be an integer/],
    [{ ...okSpan, attributes: [{ key: 'server.port', value: { doubleValue: 'big' } }] }, /doubleValue must be a number/],
  ];
  for (const [bad, pattern] of rows) {
    const result = decodeTraceRequestJson(body([okSpan, bad, { ...okSpan, name: 'ok-2' }]));
    assert.deepEqual(result.spans.map((s) => s.name), ['ok', 'ok-2'], String(pattern));
    assert.equal(result.rejected, 1, String(pattern));
    assert.match(result.rejectionMessage ?? '', pattern);
  }
});

test('a span whose id is not hex of its length is rejected, decoded or not; one without ids only when decoded', () => {
  const withIds = { ...okSpan, traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174' };
  const rows: Array<[object, RegExp]> = [
    [{ traceId: 'zz' }, /spans\[1\]\.traceId must be 32 hex digits/],
    [{ traceId: '5b8efff798038103' }, /traceId must be 32 hex digits/],
    [{ traceId: `${'5b8efff798038103d269b633813fc60'}g` }, /traceId must be 32 hex digits/],
    [{ traceId: 5 }, /traceId must be 32 hex digits/],
    [{ spanId: 'eee19b7ec3c1b17' }, /spanId must be 16 hex digits/],
    [{ spanId: 'eee19b7ec3c1b17:' }, /spanId must be 16 hex digits/],
    [{ parentSpanId: 'not-hex' }, /parentSpanId must be 16 hex digits/],
    // A link's ids too: the Collector refuses the whole request for one as for the span's own.
    [{ links: [{ traceId: '5b8efff798038103', spanId: 'eee19b7ec3c1b174' }] }, /spans\[1\]\.links\[0\]\.traceId must be 32 hex digits/],
    [{ links: [{}, { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'xee19b7ec3c1b174' }] }, /links\[1\]\.spanId must be 16 hex digits/],
    [{ links: {} }, /links must be an array/],
  ];
  for (const ids of [false, true]) {
    for (const [bad, pattern] of rows) {
      const result = decodeTraceRequestJson(body([withIds, { ...withIds, ...bad }, { ...withIds, name: 'ok-2' }]), { ids });
      assert.deepEqual(result.spans.map((s) => s.name), ['ok', 'ok-2'], `${String(pattern)} ids: ${ids}`);
      assert.deepEqual(result.rejectedSpans, [{ resource: 0, scope: 0, span: 1 }]);
      assert.match(result.rejectionMessage ?? '', pattern);
    }
  }
  const linked = { ...withIds, links: [{ traceId: '', spanId: '' }, { traceId: withIds.traceId, spanId: withIds.spanId, traceState: 'k=v' }] };
  assert.equal(decodeTraceRequestJson(body([linked])).rejected, 0, 'links with ids of their length, or none');
  for (const span of [okSpan, { ...okSpan, traceId: '', spanId: '' }]) {
    assert.equal(decodeTraceRequestJson(body([span])).rejected, 0, 'the Collector takes a span without ids, and so does mcpwatch');
    assert.equal(decodeTraceRequestJson(body([span]), { ids: true }).rejected, 1);
  }
});

test('without ids asked for, ids are handed over as sent, not lower-cased', () => {
  // Only MCP spans' ids are read, and otlp/pairing.ts compares them then.
  const upper = { ...okSpan, traceId: '5B8EFFF798038103D269B633813FC60C', spanId: 'EEE19B7EC3C1B174', parentSpanId: 'AAE19B7EC3C1B174' };
  const [span] = decodeTraceRequestJson(body([upper])).spans;
  assert.deepEqual([span!.traceId, span!.spanId, span!.parentSpanId], ['5B8EFFF798038103D269B633813FC60C', 'EEE19B7EC3C1B174', 'AAE19B7EC3C1B174']);
});

test('a request in original field names nested past what a walk can follow is refused as bad input, not a crash', () => {
  const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
  assert.throws(() => decodeTraceRequestJson(`{"resource_spans":[{"scope_spans":[{"spans":[{"links":${deep}}]}]}]}`), (err: unknown) => err instanceof OtlpDecodeError && /nested too deeply/.test(err.message));
});

test('original field names are read in every object, mixed with camelCase in any way, as the Collector reads them', () => {
  const ids = '"trace_id":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"';
  const span = (name: string, more = ''): string => `{"name":"${name}",${ids},"start_time_unix_nano":"${T}","endTimeUnixNano":"${T_END}"${more}}`;
  const port = ',"attributes":[{"key":"server.port","value":{"int_value":"443"}}]';
  const rows: Array<[string, string[], RegExp | undefined]> = [
    [`{"resourceSpans":[{"scope_spans":[{"spans":[${span('a', port)}]}]}]}`, ['a'], undefined],
    [`{"resource_spans":[{"scopeSpans":[{"spans":[${span('a')}]}]},{"scope_spans":[{"spans":[${span('b')}]}]}]}`, ['a', 'b'], undefined],
    [`{"resourceSpans":[{"scopeSpans":[{"spans":[${span('bad', ',"parent_span_id":"zz"')},${span('a')}]}]}]}`, ['a'], /spans\[0\]\.parentSpanId must be 16 hex digits/],
    [`{"resourceSpans":[{"scopeSpans":[{"spans":[${span('bad', ',"links":[{"span_id":"zz"}]')},${span('a')}]}]}]}`, ['a'], /spans\[0\]\.links\[0\]\.spanId must be 16 hex digits/],
    [`{"resourceSpans":[{"scopeSpans":[{"spans":[{${ids},"start_time_unix_nano":"${T}","end\\u005ftime_unix_nano":"1"},${span('a')}]}]}]}`, ['a'], /spans\[0\]: ends before it starts/],
    // Not a spelling the Collector takes: an unknown field.
    [`{"resourceSpans":[{"scopeSpans":[{"spans":[${span('a', ',"parent_spanId":"zz"')}]}]}]}`, ['a'], undefined],
    // One field under both its names: the Collector takes the last value, or both lists joined;
    // mcpwatch does not guess which the sender meant, and rejects the span.
    [`{"resourceSpans":[{"scopeSpans":[{"spans":[${span('a')},${span('both', ',"traceId":"5b8efff798038103d269b633813fc60c"')}]}]}]}`, ['a'], /spans\[1\]: one field sent under two names, "trace_id" and "traceId"/],
    [`{"resourceSpans":[{"scopeSpans":[{"spans":[${span('both', ',"links":[{"spanId":"","span_id":""}]')},${span('a')}]}]}]}`, ['a'], /spans\[0\]\.links\[0\]: one field sent under two names, "spanId" and "span_id"/],
  ];
  for (const [text, names, pattern] of rows) {
    const result = decodeTraceRequestJson(text, { ids: true });
    assert.deepEqual(result.spans.map((s) => s.name), names, text);
    assert.equal(result.rejected, pattern ? 1 : 0, text);
    if (pattern) assert.match(result.rejectionMessage ?? '', pattern);
    assert.ok(result.spans.every((s) => s.startNs > 0 && s.traceId === '5b8efff798038103d269b633813fc60c'), text);
  }
  assert.equal(decodeTraceRequestJson(rows[0]![0]).spans[0]!.attrs.get('server.port'), 443);
  // On the way to the spans, the whole request.
  mustThrow(`{"resourceSpans":[{"scopeSpans":[],"scope_spans":[{"spans":[${span('a')}]}]}]}`, /request: resourceSpans\[0\]: one field sent under two names, "scopeSpans" and "scope_spans"/);
  mustThrow(`{"resource_spans":[],"resourceSpans":[]}`, /request: one field sent under two names, "resource_spans" and "resourceSpans"/);
});

test('a text is looked at for original names without parsing it again, keys only', () => {
  const rows: Array<[string, boolean]> = [
    ['{"resourceSpans":[{"key":"gen_ai.tool.name","value":{"stringValue":"get_weather"}}]}', false],
    ['{"a":"{\\"tool_name\\":1}","b":"x_\\\\\\"y"}', false],
    ['{"a_b":1}', true],
    ['{"a":{"b_c" \n :1}}', true],
    ['{"a":"x_\\\\","b_c":1}', true],
    ['{"a\\u005Fb":1}', true],
  ];
  for (const [text, maybe] of rows) {
    JSON.parse(text);
    assert.equal(mayHaveOriginalNames(text), maybe, text);
  }
});
