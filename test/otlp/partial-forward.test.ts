// A request some of whose spans mcpwatch rejects is forwarded with only the spans it accepted: the
// sender was answered partial_success, and a backend that cannot read one span (the Collector's
// unmarshalling) refuses the whole request, taking the accepted spans with it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs/minimal.js';
import pino from 'pino';
import { Agent, type AgentAddresses } from '../../src/agent/agent.js';
import { parseConfig } from '../../src/config/load.js';
import { decodeTraceRequest } from '../../src/otlp/decode.js';
import { GRPC_EXPORT_PATH } from '../../src/wire/otlp.js';
import { startOtlpUpstream, type OtlpUpstream } from '../fixtures/otlp-upstream.js';
import { brokenSpan, protoSpan as span, traceRequest as request } from '../fixtures/otlp-bodies.js';
import { until } from '../helpers.js';

function jsonSpan(name: string, kind: number | string): object {
  return { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name, kind, startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000000050000000' };
}

function jsonRequest(spans: object[]): string {
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'json-agent' } }] }, scopeSpans: [{ scope: { name: 'scope' }, spans }] }] });
}

/** A span whose trace_id is 8 bytes: a later occurrence of the field wins, in protobuf as in the Collector. */
function shortTraceIdSpan(name: string): Buffer {
  return Buffer.concat([span(name), Buffer.from([(1 << 3) | 2, 8]), Buffer.alloc(8, 0xcd)]);
}

/** A span with one link whose trace and span ids are of these lengths: the Collector refuses a whole request over a wrong one. */
function linkedSpan(name: string, traceIdBytes: number, spanIdBytes: number): Buffer {
  const link = Buffer.concat([Buffer.from([(1 << 3) | 2, traceIdBytes]), Buffer.alloc(traceIdBytes, 0x11), Buffer.from([(2 << 3) | 2, spanIdBytes]), Buffer.alloc(spanIdBytes, 0x22)]);
  return Buffer.concat([span(name), Buffer.from([(13 << 3) | 2, link.length]), link]);
}

interface Answer {
  status: number;
  rejected: number;
}

async function startAgent(upstream: OtlpUpstream): Promise<{ agent: Agent; addr: AgentAddresses }> {
  const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-partial-'));
  const text = `exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  otlp: { endpoint: "${upstream.endpoint}", protocol: ${upstream.protocol === 'grpc' ? 'grpc' : 'http/protobuf'}, interval: 1h }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0" }, http: { endpoint: "127.0.0.1:0" } } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
alerts: []
servers: []
`;
  const agent = new Agent({ file: 'x.yaml', text, config: parseConfig(text, 'x.yaml', {}) }, { log: pino({ level: 'silent' }) });
  return { agent, addr: await agent.start() };
}

describe('forwarding a request with rejected spans', () => {
  for (const backend of ['http', 'grpc'] as const) {
    it(`sends an OTLP/${backend} backend only the spans accepted, from protobuf over HTTP and gRPC and from JSON`, async (t) => {
      const upstream = await startOtlpUpstream({ protocol: backend });
      const { agent, addr } = await startAgent(upstream);
      const client = new grpc.Client(`127.0.0.1:${addr.otlp.grpc!.port}`, grpc.credentials.createInsecure());
      t.after(async () => {
        client.close();
        await agent.stop();
        await upstream.close();
      });
      const partialOf = (answer: Buffer): number => {
        if (answer.length === 0) return 0;
        const partial = protobuf.Reader.create(answer);
        partial.uint32();
        const inner = protobuf.Reader.create(partial.bytes());
        inner.uint32();
        return Number(inner.int64().toString());
      };
      const postProto = async (body: Buffer): Promise<Answer> => {
        const res = await fetch(`http://127.0.0.1:${addr.otlp.http!.port}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
        return { status: res.status, rejected: partialOf(Buffer.from(await res.arrayBuffer())) };
      };
      const postJson = async (body: string): Promise<Answer> => {
        const res = await fetch(`http://127.0.0.1:${addr.otlp.http!.port}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
        const text = await res.text();
        return { status: res.status, rejected: res.status === 200 ? Number((JSON.parse(text) as { partialSuccess?: { rejectedSpans?: string } }).partialSuccess?.rejectedSpans ?? 0) : -1 };
      };
      const viaGrpc = (body: Buffer): Promise<Answer> =>
        new Promise((resolve) =>
          client.makeUnaryRequest(GRPC_EXPORT_PATH.traces, (b: Buffer) => b, (b: Buffer) => b, body, (err, answer) => resolve({ status: err?.code ?? 0, rejected: answer ? partialOf(answer) : -1 })),
        );
      // What the backend got for the request whose spans include `marker`.
      const arrived = async (marker: string): Promise<Buffer> => {
        await until(() => upstream.requests.some((r) => r.body.includes(marker)), `the request with ${marker}`);
        return upstream.requests.find((r) => r.body.includes(marker))!.body;
      };

      // Protobuf over HTTP: a span with broken bytes and one without an end time, among good ones,
      // and a second resource with nothing rejected.
      // and one whose trace id is 8 bytes, which the Collector refuses the whole request for.
      // So is a link's trace or span id of the wrong length.
      const protoBody = request(
        [span('h-good-1'), brokenSpan('h-broken'), span('h-good-2'), span('h-noend', 0n), shortTraceIdSpan('h-short-id'), linkedSpan('h-bad-link', 8, 8), linkedSpan('h-link', 16, 8)],
        [span('h-other')],
      );
      assert.deepEqual(await postProto(protoBody), { status: 200, rejected: 4 });
      const protoForwarded = await arrived('h-good-1');
      assert.ok(protoForwarded.equals(request([span('h-good-1'), span('h-good-2'), linkedSpan('h-link', 16, 8)], [span('h-other')])), 'exactly the accepted spans, the rest as it came');

      // Protobuf over gRPC.
      assert.deepEqual(await viaGrpc(request([brokenSpan('g-broken'), span('g-good'), linkedSpan('g-bad-link', 16, 4)])), { status: grpc.status.OK, rejected: 2 });
      assert.ok((await arrived('g-good')).equals(request([span('g-good')])));

      // OTLP/JSON with a kind that is not an OTLP enum value: refused whole before when the backend
      // was gRPC (it could not be re-encoded), forwarded whole to an HTTP one.
      // Ids that are not hex, or of the wrong length, are rejected too, for every span, MCP or not.
      // So are a link's ids: before, a gRPC backend's re-encoding refused such a request whole to its
      // sender, and an HTTP backend got it whole, which the Collector refuses.
      const badIds = [
        { ...jsonSpan('j-zz', 1), traceId: 'zz' },
        { ...jsonSpan('j-8-bytes', 1), traceId: '5b8efff798038103' },
        { ...jsonSpan('j-span-id', 1), spanId: 'eee19b7ec3c1b17x' },
        { ...jsonSpan('j-link', 1), links: [{ traceId: '5b8efff798038103', spanId: 'eee19b7ec3c1b174' }] },
      ];
      // The accepted span goes as it was written: int64s as JSON numbers past 2^53, which JSON.parse rounds.
      const exact = (text: string): string => text.replace('"START"', '1700000000000000001').replace('"INT"', '9007199254740993');
      const good = { ...jsonSpan('j-good', 'SPAN_KIND_CLIENT'), startTimeUnixNano: 'START', attributes: [{ key: 'n', value: { intValue: 'INT' } }] };
      assert.deepEqual(await postJson(exact(jsonRequest([jsonSpan('j-bad-kind', 'CLIENT'), ...badIds, good]))), { status: 200, rejected: 5 });
      const jsonForwarded = await arrived('j-good');
      if (backend === 'grpc') assert.deepEqual(decodeTraceRequest(jsonForwarded).spans.map((s) => s.name), ['j-good']);
      else assert.equal(jsonForwarded.toString(), exact(jsonRequest([good])), 'the accepted span byte for byte');

      // Original field names, mixed with camelCase at any level, as the Collector reads them: read
      // as camelCase only, this request held no span, was answered 200, and its bad id went on.
      // A span naming one field under both names is rejected.
      const mixed = (spans: string[]): string => `{"resourceSpans":[{"scope_spans":[{"spans":[${spans.join(',')}]}]}]}`;
      const mixedGood = '{"trace_id":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"m-good","start_time_unix_nano":"1700000000000000000","endTimeUnixNano":"1700000000050000000"}';
      const mixedBad = ['{"name":"m-zz","trace_id":"zz","startTimeUnixNano":"1","end_time_unix_nano":"2"}', '{"name":"m-both","span_id":"eee19b7ec3c1b174","spanId":"eee19b7ec3c1b174","startTimeUnixNano":"1","endTimeUnixNano":"2"}'];
      assert.deepEqual(await postJson(mixed([mixedBad[0]!, mixedGood, mixedBad[1]!])), { status: 200, rejected: 2 });
      const mixedForwarded = await arrived('m-good');
      if (backend === 'grpc') {
        const [only, ...more] = decodeTraceRequest(mixedForwarded, { ids: true }).spans;
        assert.deepEqual([only?.name, only?.traceId, only?.startNs, more.length], ['m-good', '5b8efff798038103d269b633813fc60c', 1700000000000000000, 0], 'every field re-encoded');
      } else assert.equal(mixedForwarded.toString(), mixed([mixedGood]));

      // A request whose every span was rejected goes nowhere; one with none rejected goes as it came.
      assert.deepEqual(await postProto(request([span('all-noend', 0n)])), { status: 200, rejected: 1 });
      const whole = request([span('whole-1'), span('whole-2')]);
      assert.deepEqual(await postProto(whole), { status: 200, rejected: 0 });
      assert.ok((await arrived('whole-1')).equals(whole), 'byte for byte');
      const sent = async (): Promise<number> => {
        const page = await (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text();
        return Number(/^mcpwatch_forwarder_sent_total\{[^}]*signal="traces"[^}]*\} (\d+)/m.exec(page)?.[1] ?? -1);
      };
      await until(async () => (await sent()) === 5, 'the forwarder to report its sends');
      assert.equal(upstream.requests.filter((r) => r.signal === 'traces').length, 5, 'five requests forwarded, none for the request without an accepted span');
      assert.ok(!upstream.attempts.some((r) => r.body.includes('all-noend')));
    });
  }
});
