// Throughput of the OTLP trace decoder on realistic MCP batches made by the real SDK.
// Prints figures only; run on demand: `node dist/bench/otlp-decode.js [seconds-per-case]`.

import { SpanKind, type Attributes } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import protobuf from 'protobufjs/minimal.js';
import { decodeTraceRequest } from '../src/otlp/decode.js';
import { decodeTraceRequestJson } from '../src/otlp/json.js';
import { recogniseSpan } from '../src/otlp/recognise.js';
import { finishedSpans, pick, type SpanDef } from './mcp-spans.js';

const SPANS_PER_BATCH = 512;
const BATCHES = 8;
const SECONDS = Number(process.argv[2] ?? 5);
const ROUNDS = 5;
/** Results are summed and printed so that no work can be optimised away. */
let checksum = 0;

const TOOLS = ['search_repositories', 'get_file_contents', 'create_issue', 'list_pull_requests', 'query', 'read_file', 'fetch'];
const SERVERS: [string, number][] = [['api.githubcopilot.com', 443], ['mcp.internal.example', 8080], ['localhost', 3000]];

function spanAttributes(i: number): { name: string; kind: SpanKind; attributes: Attributes; error: boolean } {
  const tool = pick(TOOLS, i);
  const [address, port] = pick(SERVERS, i + 1);
  const common: Attributes = {
    'mcp.session.id': `6f1c2b9e-4a7d-4e0b-9c55-${String(100000000000 + (i % 97)).slice(0, 12)}`,
    'mcp.protocol.version': '2025-06-18',
    'jsonrpc.request.id': String(1000 + i),
    'network.transport': 'tcp',
    'network.protocol.name': 'http',
    'server.address': address,
    'server.port': port,
  };
  const error = i % 20 === 0;
  switch (i % 10) {
    case 0:
    case 1: // tools/list and other methods, OpenTelemetry convention
      return { name: 'tools/list', kind: SpanKind.CLIENT, attributes: { ...common, 'mcp.method.name': 'tools/list', 'rpc.system': 'jsonrpc' }, error };
    case 2: // OpenLLMetry tool span, errors only in status
      return {
        name: `${tool}.tool`,
        kind: SpanKind.INTERNAL,
        attributes: {
          ...common,
          'traceloop.span.kind': 'tool',
          'traceloop.entity.name': tool,
          'traceloop.entity.input': `{"name":"${tool}","arguments":{"q":"is:open label:bug"}}`,
        },
        error,
      };
    default: // OpenTelemetry MCP convention tools/call
      return {
        name: `tools/call ${tool}`,
        kind: SpanKind.CLIENT,
        attributes: {
          ...common,
          'mcp.method.name': 'tools/call',
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.tool.name': tool,
          'gen_ai.tool.call.id': `call_${(i * 7919).toString(36).padStart(20, 'x')}`,
          ...(error ? { 'error.type': '-32602', 'rpc.response.status_code': '-32602' } : {}),
        },
        error,
      };
  }
}

function* batchSpans(b: number): Generator<SpanDef> {
  for (let i = 0; i < SPANS_PER_BATCH; i++) {
    const def = spanAttributes(b * SPANS_PER_BATCH + i);
    yield {
      name: def.name,
      kind: def.kind,
      attributes: def.attributes,
      start: [1_700_000_000 + b, i * 1000],
      end: [1_700_000_001 + b, i * 1000 + 12_345],
      ...(def.error ? { errorMessage: 'Invalid params: q' } : {}),
    };
  }
}

function makeBatch(b: number): { protobuf: Uint8Array; json: Uint8Array } {
  const resource = { 'service.name': `agent-${b}`, 'service.version': '1.4.2', 'host.name': 'agent-pod-7d9f' };
  const spans = finishedSpans(resource, '0.3.0', [1_700_000_000 + b, 0], batchSpans(b));
  const pb = ProtobufTraceSerializer.serializeRequest(spans);
  const json = JsonTraceSerializer.serializeRequest(spans);
  if (!pb || !json) throw new Error('serializer returned nothing');
  return { protobuf: Buffer.from(pb), json: Buffer.from(json) };
}

/**
 * The message fields of each message type, to descend into (the rest are scalars, strings and bytes):
 * index = type, value = field number → child type.
 */
const enum M { Request, ResourceSpans, Resource, ScopeSpans, Scope, Span, Event, Link, Status, KeyValue, AnyValue, ArrayValue, KvList }
const CHILDREN: readonly (Readonly<Record<number, M>>)[] = [
  /* Request */ { 1: M.ResourceSpans },
  /* ResourceSpans */ { 1: M.Resource, 2: M.ScopeSpans },
  /* Resource */ { 1: M.KeyValue },
  /* ScopeSpans */ { 1: M.Scope, 2: M.Span },
  /* Scope */ { 3: M.KeyValue },
  /* Span */ { 9: M.KeyValue, 11: M.Event, 13: M.Link, 15: M.Status },
  /* Event */ { 3: M.KeyValue },
  /* Link */ { 4: M.KeyValue },
  /* Status */ {},
  /* KeyValue */ { 2: M.AnyValue },
  /* AnyValue */ { 5: M.ArrayValue, 6: M.KvList },
  /* ArrayValue */ { 1: M.AnyValue },
  /* KvList */ { 1: M.KeyValue },
];

/** Every field of the request visited with protobufjs' Reader, no strings built: a ceiling. */
function walk(buf: Uint8Array): number {
  const r = new protobuf.Reader(buf);
  let fields = 0;
  const visit = (end: number, type: M): void => {
    const children = CHILDREN[type]!;
    while (r.pos < end) {
      const tag = r.tag();
      fields++;
      const child = children[tag >>> 3];
      if ((tag & 7) === 2 && child !== undefined) {
        const len = r.uint32();
        visit(r.pos + len, child);
      } else {
        r.skipType(tag & 7);
      }
    }
  };
  visit(buf.length, M.Request);
  return fields;
}

/**
 * Times whole batches in ROUNDS rounds. Rates are per second of this process's CPU time, which is
 * what "spans/s on one core" means and stays put when other work shares the machine; the median
 * wall-clock rate is printed beside it for comparison.
 */
function measure(label: string, batches: Uint8Array[], fn: (b: Uint8Array) => number): void {
  for (let i = 0; i < 200; i++) fn(batches[i % batches.length]!); // let the optimiser settle
  let sink = 0;
  const cpuRates: { spans: number; bytes: number }[] = [];
  const wallRates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let n = 0;
    let bytes = 0;
    const cpu0 = process.cpuUsage();
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round((SECONDS / ROUNDS) * 1e9));
    let now = start;
    while (now < deadline) {
      for (let k = 0; k < 8; k++) {
        const b = batches[n % batches.length]!;
        sink += fn(b);
        bytes += b.length;
        n++;
      }
      now = process.hrtime.bigint();
    }
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    cpuRates.push({ spans: (n * SPANS_PER_BATCH) / cpuSeconds, bytes: bytes / cpuSeconds });
    wallRates.push((n * SPANS_PER_BATCH) / (Number(now - start) / 1e9));
  }
  cpuRates.sort((a, b) => a.spans - b.spans);
  wallRates.sort((a, b) => a - b);
  const median = cpuRates[Math.floor(ROUNDS / 2)]!;
  const best = cpuRates[ROUNDS - 1]!;
  console.log(
    `${label.padEnd(36)} ${fmt(median.spans).padStart(6)} spans/s (best ${fmt(best.spans).padStart(6)})` +
      ` ${(median.bytes / 1e6).toFixed(0).padStart(4)} MB/s ${(1e9 / median.spans).toFixed(0).padStart(5)} ns/span` +
      `   wall ${fmt(wallRates[Math.floor(ROUNDS / 2)]!).padStart(6)} spans/s`,
  );
  checksum += sink;
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(0)}k`;
}

const batches = Array.from({ length: BATCHES }, (_, b) => makeBatch(b));
const pbBatches = batches.map((b) => b.protobuf);
const jsonBatches = batches.map((b) => b.json);
const pbBytes = pbBatches.reduce((a, b) => a + b.length, 0);
const jsonBytes = jsonBatches.reduce((a, b) => a + b.length, 0);

// Sanity before timing: every span decodes and the mix is what it claims to be.
const check = decodeTraceRequest(pbBatches[0]!);
const observations = check.spans.map((s) => recogniseSpan(s));
if (check.spans.length !== SPANS_PER_BATCH || check.rejected !== 0) throw new Error('benchmark batch does not decode');

console.log(`node ${process.version}, ${SECONDS} s per case in ${ROUNDS} rounds, ${BATCHES} batches x ${SPANS_PER_BATCH} spans`);
console.log('rates per CPU-second of this process (median of rounds), wall-clock median at the end');
console.log(
  `protobuf: ${(pbBytes / BATCHES / 1024).toFixed(1)} KiB/batch, ${(pbBytes / BATCHES / SPANS_PER_BATCH).toFixed(0)} B/span, ` +
    `${Object.keys(spanAttributes(3).attributes).length} attributes on a tools/call span; ` +
    `json: ${(jsonBytes / BATCHES / SPANS_PER_BATCH).toFixed(0)} B/span`,
);
console.log(
  `per batch: ${observations.filter((o) => o?.kind === 'tool_call').length} tool calls, ` +
    `${observations.filter((o) => o?.kind === 'operation').length} operations, ${observations.filter((o) => o?.outcome === 'error').length} errors`,
);
console.log('');

measure('walk every field (protobufjs Reader)', pbBatches, walk);
measure('decodeTraceRequest', pbBatches, (b) => decodeTraceRequest(b).spans.length);
measure('decodeTraceRequest + recogniseSpan', pbBatches, (b) => {
  let n = 0;
  for (const s of decodeTraceRequest(b).spans) if (recogniseSpan(s) !== null) n++;
  return n;
});
measure('decodeTraceRequestJson', jsonBatches, (b) => decodeTraceRequestJson(b).spans.length);
console.log(`\nchecksum ${checksum}`);
