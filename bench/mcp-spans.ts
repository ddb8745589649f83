// Batches of MCP spans made by the real OpenTelemetry SDK, for the OTLP benchmarks (otlp-decode,
// otlp-ingest): each bench says which spans; this builds them under one `invoke_agent` parent, as an
// instrumented agent would, and hands back the finished spans for the SDK's own serializers.
import { ROOT_CONTEXT, trace, SpanKind, SpanStatusCode, type Attributes, type HrTime } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { decodeTraceRequest } from '../src/otlp/decode.js';

export interface SpanDef {
  name: string;
  kind: SpanKind;
  attributes: Attributes;
  start: HrTime;
  end: HrTime;
  /** Status ERROR with this message. */
  errorMessage?: string;
}

/** Deterministic choice, so batches are the same from run to run. */
export function pick<T>(list: readonly T[], i: number): T {
  return list[(i * 2654435761) % list.length]!;
}

/**
 * The spans of one batch, finished. The `invoke_agent` parent starts at `rootStart` and is never
 * ended, so only the MCP spans are exported.
 */
export function finishedSpans(resource: Attributes, scopeVersion: string, rootStart: HrTime, defs: Iterable<SpanDef>): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes(resource), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('@example/mcp-instrumentation', scopeVersion);
  const parent = trace.setSpan(ROOT_CONTEXT, tracer.startSpan('invoke_agent', { startTime: rootStart }));
  for (const def of defs) {
    const span = tracer.startSpan(def.name, { kind: def.kind, attributes: def.attributes, startTime: def.start }, parent);
    if (def.errorMessage !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: def.errorMessage });
    span.end(def.end);
  }
  return exporter.getFinishedSpans();
}


const TOOLS = Array.from({ length: 50 }, (_, i) =>
  ['search_repositories', 'get_file_contents', 'create_issue', 'list_pull_requests', 'query', 'read_file', 'fetch', 'write_file', 'run_sql', 'send_message'][i % 10]! + (i >= 10 ? `_v${Math.floor(i / 10)}` : ''),
);
const SERVERS = Array.from({ length: 10 }, (_, i) => ({ name: ['github', 'postgres', 'filesystem', 'slack', 'jira', 'notion', 'linear', 'sentry', 'stripe', 'search'][i]!, address: `mcp-${i}.internal`, port: 8080 + i }));

function* toolCallSpans(b: number, spansPerBatch: number): Generator<SpanDef> {
  for (let i = 0; i < spansPerBatch; i++) {
    const n = b * spansPerBatch + i;
    const tool = pick(TOOLS, n);
    const server = pick(SERVERS, n + 3);
    const error = n % 20 === 7; // 5 %
    // 11 attributes (12 on an error); `rpc.response.status_code` on every span, "0" on success.
    const attributes: Attributes = {
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': tool,
      'mcp.server.name': server.name,
      'mcp.session.id': `6f1c2b9e-4a7d-4e0b-9c55-${(0x100000000000 + (n % 977) * 7919).toString(16).slice(-12)}`,
      'mcp.protocol.version': '2025-06-18',
      'jsonrpc.request.id': String(1000 + n),
      'server.address': server.address,
      'server.port': server.port,
      'network.transport': 'tcp',
      'rpc.response.status_code': error ? '-32603' : '0',
      ...(error ? { 'error.type': 'tool_error' } : {}),
    };
    yield {
      name: `tools/call ${tool}`,
      kind: SpanKind.CLIENT,
      attributes,
      start: [1_700_000_000 + b, i * 1000],
      end: [1_700_000_000 + b, i * 1000 + 40_000_000 + (n % 97) * 1_000_000],
      ...(error ? { errorMessage: 'tool failed' } : {}),
    };
  }
}

/**
 * Batch `b` of realistic MCP tool calls as an OTLP ExportTraceServiceRequest, serialized by the SDK
 * as protobuf or OTLP/JSON: 50 tools on 10 servers, 11 attributes a span (12 on the 5 % that fail).
 * Deterministic but for the ids, which the SDK draws at random.
 */
export function toolCallBatch(b: number, spansPerBatch = 512, format: 'protobuf' | 'json' = 'protobuf'): Buffer {
  const resource = { 'service.name': `coding-agent-${b % 4}`, 'service.version': '2.3.1', 'host.name': `agent-pod-${b}`, 'telemetry.sdk.language': 'nodejs' };
  const spans = finishedSpans(resource, '0.4.0', [1_700_000_000 + b, 0], toolCallSpans(b, spansPerBatch));
  const bytes = (format === 'json' ? JsonTraceSerializer : ProtobufTraceSerializer).serializeRequest(spans);
  if (!bytes) throw new Error('serializer returned nothing');
  return Buffer.from(bytes);
}

/**
 * Batch `b`'s calls seen from both sides: the agent's request (toolCallBatch's CLIENT spans) and the
 * MCP servers' own request (one SERVER span per call, the client span's child, as a server that takes
 * the trace context from params._meta makes it). One trace for both, so FreshIds given the same owner
 * renumbers both alike.
 */
export function clientServerBatch(b: number, spansPerBatch = 512): { client: Buffer; server: Buffer } {
  const agentSpans = new InMemorySpanExporter();
  const serverSpans = new InMemorySpanExporter();
  const agent = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': `coding-agent-${b % 4}` }), spanProcessors: [new SimpleSpanProcessor(agentSpans)] }).getTracer('@example/mcp-instrumentation', '0.4.0');
  const servers = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'mcp-servers' }), spanProcessors: [new SimpleSpanProcessor(serverSpans)] }).getTracer('@example/mcp-instrumentation', '0.4.0');
  const parent = trace.setSpan(ROOT_CONTEXT, agent.startSpan('invoke_agent', { startTime: [1_700_000_000 + b, 0] }));
  for (const def of toolCallSpans(b, spansPerBatch)) {
    const client = agent.startSpan(def.name, { kind: SpanKind.CLIENT, attributes: def.attributes, startTime: def.start }, parent);
    const { 'server.address': _address, 'server.port': _port, ...attributes } = def.attributes;
    servers.startSpan(def.name, { kind: SpanKind.SERVER, attributes, startTime: def.start }, trace.setSpan(ROOT_CONTEXT, client)).end(def.end);
    if (def.errorMessage !== undefined) client.setStatus({ code: SpanStatusCode.ERROR, message: def.errorMessage });
    client.end(def.end);
  }
  const serialize = (spans: ReadableSpan[]): Buffer => Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!);
  return { client: serialize(agentSpans.getFinishedSpans()), server: serialize(serverSpans.getFinishedSpans()) };
}

/**
 * A toolCallBatch that can be sent again and again as spans the receiver has not seen. The agent
 * remembers the ids of recent MCP spans (src/otlp/pairing.ts): the same bytes sent again would find
 * every id remembered, which real traffic's never are. Every span of a batch shares one trace (the one
 * `invoke_agent` parent), so a new number in the last bytes of that trace id, at every span, before
 * each send makes every (trace id, span id) new. `next()` rewrites the copy it returns: the caller
 * sends it and waits for the answer before the next call.
 */
export class FreshIds {
  private readonly bytes: Buffer;
  private readonly offsets: number[] = [];
  private sends = 0;

  constructor(
    batch: Buffer,
    /** Written beside the send number, so that copies of one batch (one per client) never meet. */
    private readonly owner: number,
  ) {
    this.bytes = Buffer.from(batch);
    const { spans } = decodeTraceRequest(batch, { ids: true });
    const traceIds = new Set(spans.map((s) => s.traceId));
    if (traceIds.size !== 1) throw new Error(`expected one trace per batch, found ${traceIds.size}`);
    const id = Buffer.from([...traceIds][0]!, 'hex');
    for (let at = this.bytes.indexOf(id); at >= 0; at = this.bytes.indexOf(id, at + id.length)) this.offsets.push(at);
    if (this.offsets.length !== spans.length) throw new Error(`found the trace id ${this.offsets.length} times for ${spans.length} spans`);
  }

  next(): Buffer {
    this.sends++;
    for (const at of this.offsets) {
      this.bytes.writeUInt32LE(this.owner, at + 8);
      this.bytes.writeUInt32LE(this.sends, at + 12);
    }
    return this.bytes;
  }
}
