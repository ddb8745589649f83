import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jsonTextWithoutSpans, jsonWithoutSpans, protobufWithoutSpans } from '../../src/otlp/accepted.js';
import { decodeTraceRequest } from '../../src/otlp/decode.js';
import { decodeTraceRequestJson, parseJsonRequest } from '../../src/otlp/json.js';
import { brokenSpan, protoSpan as span, traceRequest as request } from '../fixtures/otlp-bodies.js';

/** The body as forwarded after decoding: without the spans the decoder rejected. */
function forwarded(body: Buffer): Buffer {
  const decoded = decodeTraceRequest(body);
  return decoded.rejectedSpans ? protobufWithoutSpans(body, decoded.rejectedSpans) : body;
}

describe('a trace request without its rejected spans', () => {
  const rows: Array<[string, Buffer[][], Buffer[][]]> = [
    ['first span rejected', [[span('a', 0n), span('b')]], [[span('b')]]],
    ['last span rejected', [[span('a'), brokenSpan('b')]], [[span('a')]]],
    ['several, in several resources', [[brokenSpan('a'), span('b'), span('c', 0n)], [span('d')], [span('e'), brokenSpan('f')]], [[span('b')], [span('d')], [span('e')]]],
    ['every span of one resource: its scope stays, empty', [[brokenSpan('a')], [span('b')]], [[], [span('b')]]],
    // A span long enough that its ScopeSpans' length prefix takes more bytes than the result's.
    ['a long rejected span shortens the length prefixes', [[span('x'.repeat(20_000), 0n), span('y')]], [[span('y')]]],
  ];
  for (const [name, sent, kept] of rows) {
    it(name, () => {
      const out = forwarded(request(...sent));
      assert.ok(out.equals(request(...kept)), 'the same bytes as the request written without them');
      assert.equal(decodeTraceRequest(out).rejected, 0);
    });
  }

  it('leaves fields it does not know where they were', () => {
    // An unknown request field after the spans (a newer OTLP), of each scalar wire type.
    const extra = Buffer.from([(9 << 3) | 0, 0x96, 0x01, (10 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8, (11 << 3) | 5, 1, 2, 3, 4]);
    const out = forwarded(Buffer.concat([request([span('a'), brokenSpan('b')]), extra]));
    assert.ok(out.equals(Buffer.concat([request([span('a')]), extra])));
  });

  it('takes JSON spans out by their place, sharing the rest', () => {
    const good = { name: 'good', kind: 3, startTimeUnixNano: '1', endTimeUnixNano: '2' };
    const parsed = parseJsonRequest(
      JSON.stringify({
        resourceSpans: [
          { resource: {}, scopeSpans: [{ spans: [{ ...good, kind: 'CLIENT' }, good] }, { spans: [good] }] },
          { scopeSpans: [{ spans: [good, { ...good, endTimeUnixNano: '0' }] }] },
        ],
      }),
    );
    const decoded = decodeTraceRequestJson(JSON.stringify(parsed));
    assert.equal(decoded.rejected, 2);
    const out = jsonWithoutSpans(parsed, decoded.rejectedSpans!) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: unknown[] }> }> };
    assert.deepEqual(out.resourceSpans.map((rs) => rs.scopeSpans.map((ss) => ss.spans.length)), [[1, 1], [1]]);
    assert.equal(decodeTraceRequestJson(JSON.stringify(out)).rejected, 0);
    const before = parsed as typeof out;
    assert.equal(before.resourceSpans[0]!.scopeSpans[0]!.spans.length, 2, 'the parsed request is not changed');
    assert.equal(out.resourceSpans[0]!.scopeSpans[1], before.resourceSpans[0]!.scopeSpans[1], 'an untouched scope is shared');
  });

  it('cuts JSON spans out of the text, keeping every other byte, numbers past 2^53 as sent', () => {
    // JSON.parse rounds these; written again from the parsed request they arrived changed.
    const good = (name: string): string => `{"name":"${name}","startTimeUnixNano":1700000000000000001,"endTimeUnixNano":"1700000000050000000","attributes":[{"key":"n","value":{"intValue":9007199254740993}}]}`;
    const bad = '{"name":"bad","startTimeUnixNano":"1","endTimeUnixNano":"2","links":[{"traceId":"5b8e"}]}';
    const rows: Array<[string, string, string | undefined]> = [
      ['compact', `{"resourceSpans":[{"scopeSpans":[{"spans":[${bad},${good('a')}]}]}]}`, `{"resourceSpans":[{"scopeSpans":[{"spans":[${good('a')}]}]}]}`],
      [
        'original names, spaces, a later scope and resource',
        ` { "resource_spans" : [ { "scope_spans" : [ { "spans" : [ ${good('a')} ,\n ${bad} ] }, { "spans": [${bad}] } ] }, {"scope_spans":[{"spans":[${bad}, ${good('b')}]}]} ] } `,
        ` { "resource_spans" : [ { "scope_spans" : [ { "spans" : [${good('a')}] }, { "spans": [] } ] }, {"scope_spans":[{"spans":[${good('b')}]}]} ] } `,
      ],
      ['an escaped key, strings holding brackets and quotes', `{"resourceSpans":[{"scopeSpans":[{"sp\\u0061ns":[${bad},{"name":"]}\\"[{","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}`, `{"resourceSpans":[{"scopeSpans":[{"sp\\u0061ns":[{"name":"]}\\"[{","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}`],
      // JSON.parse takes the last of a key sent twice; this does not guess, and the parsed request is written instead.
      ['a key sent twice', `{"resourceSpans":[{"scopeSpans":[{"spans":[${bad}],"spans":[${bad},${good('a')}]}]}]}`, undefined],
      // JSON.parse makes `__proto__` an own property and renaming makes it `_Proto__`: the decoder reads past it.
      ['a __proto__ member on the way', `{"__proto__":{},"resourceSpans":[{"__proto__":null,"scopeSpans":[{"spans":[${bad},${good('a')}],"__proto__":[]}]}]}`, `{"__proto__":{},"resourceSpans":[{"__proto__":null,"scopeSpans":[{"spans":[${good('a')}],"__proto__":[]}]}]}`],
      // A span naming a field under both its names is rejected: cut out like any other.
      ['a span with a camelCase and an original name for one field', `{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"both","span_id":"eee19b7ec3c1b174","spanId":"eee19b7ec3c1b174"},${good('a')}]}]}]}`, `{"resourceSpans":[{"scopeSpans":[{"spans":[${good('a')}]}]}]}`],
    ];
    for (const [name, sent, kept] of rows) {
      const decoded = decodeTraceRequestJson(sent);
      assert.ok(decoded.rejected > 0, name);
      assert.equal(jsonTextWithoutSpans(Buffer.from(sent), decoded.rejectedSpans!)?.toString(), kept, name);
    }
  });
});
