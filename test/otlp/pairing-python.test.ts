// One tool call as the MCP Python SDK (mcp 2.3.0) and FastMCP 4.0.10 trace it, with the attributes
// and names captured from their exports: the SDK's client span (`MCP send tools/call boom`) records
// neither the tool's isError result nor the server's address; the server's span records both the
// failure (`error.type=tool_error`) and, in its resource, which server it is. Counted once, from the
// client's side, with what the server's span adds. Time is passed to the pairing, not waited for.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { decodeTraceRequest, type DecodedSpan } from '../../src/otlp/decode.js';
import { CallPairing, type SpanOrigin } from '../../src/otlp/pairing.js';
import { recogniseSpan, type Observation } from '../../src/otlp/recognise.js';
import { serverResolver } from '../../src/pipeline/traffic.js';
import { fastmcpClientToolError, fastmcpMounted, fastmcpServer, sdkClient, sdkServerToolError } from './python-spans.js';

const WAIT_MS = 10_000;

// Both servers list both tools: a tool name alone names neither (ambiguous).
const resolve = serverResolver([
  { name: 'pymcp', url: 'http://127.0.0.1:8000/mcp', serverInfoName: 'py-mcp2', tools: ['add', 'boom'] },
  { name: 'fastmcp', url: 'http://127.0.0.1:8001/mcp', serverInfoName: 'py-fastmcp', tools: ['add', 'boom'] },
]);

/** One process: its spans, sent as its exporter would send them, decoded as the receiver decodes them. */
class Party {
  private readonly finished = new InMemorySpanExporter();
  private readonly provider: BasicTracerProvider;

  constructor(serviceName: string) {
    this.provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': serviceName }), spanProcessors: [new SimpleSpanProcessor(this.finished)] });
  }

  span(name: string, kind: SpanKind, attributes: Attributes, parent?: Span, error?: string): Span {
    const ctx = parent ? trace.setSpanContext(ROOT_CONTEXT, { ...parent.spanContext(), isRemote: true }) : ROOT_CONTEXT;
    const span = this.provider.getTracer('python').startSpan(name, { kind, attributes }, ctx);
    if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    span.end();
    return span;
  }

  take(): DecodedSpan[] {
    const bytes = ProtobufTraceSerializer.serializeRequest(this.finished.getFinishedSpans());
    this.finished.reset();
    return decodeTraceRequest(bytes!).spans;
  }
}

function pairing(): { add: (spans: DecodedSpan[], now: number) => void; expire: (now: number) => void; counted: string[]; duplicates: () => number } {
  const counted: string[] = [];
  let duplicates = 0;
  const p = new CallPairing(WAIT_MS, {
    count: (obs: Observation, origin: SpanOrigin) => counted.push(`${obs.tool} ${obs.errorType ?? 'success'} ${obs.server} from ${origin.resource.serviceName} kind ${origin.kind}`),
    duplicate: () => duplicates++,
  });
  return {
    add: (spans, now) => {
      for (const s of spans) p.add(recogniseSpan(s, resolve)!, s, now);
    },
    expire: (now) => p.expire(now),
    counted,
    duplicates: () => duplicates,
  };
}

describe('the MCP Python SDK and FastMCP: one call, counted from the client\'s side with the server\'s failure and identity', () => {
  it('an isError result the SDK client span does not record, and the server it does not name: taken from the server span, in either order', () => {
    for (const order of ['client first', 'server first', 'one request'] as const) {
      const agent = new Party('support-bot');
      const server = new Party('py-mcp2');
      const c = agent.span('MCP send tools/call boom', SpanKind.CLIENT, sdkClient('4'));
      server.span('tools/call boom', SpanKind.SERVER, sdkServerToolError('boom', '4'), c);
      const p = pairing();
      const [client, srv] = [agent.take(), server.take()];
      if (order === 'client first') [client, srv].forEach((spans, i) => p.add(spans, i * 1000));
      else if (order === 'server first') [srv, client].forEach((spans, i) => p.add(spans, i * 1000));
      // As the receiver takes a request: client spans first.
      else p.add([...client, ...srv], 0);
      p.expire(10 * WAIT_MS);
      assert.deepEqual(p.counted, ['boom tool_error pymcp from support-bot kind 3'], order);
      assert.equal(p.duplicates(), 1, order);
    }
  });

  it('an SDK client span whose server span never comes is counted alone once the wait is over', () => {
    const agent = new Party('support-bot');
    agent.span('MCP send tools/call add', SpanKind.CLIENT, sdkClient('3'));
    const p = pairing();
    p.add(agent.take(), 0);
    assert.deepEqual(p.counted, []);
    p.expire(WAIT_MS + 1);
    assert.deepEqual(p.counted, ['add success unknown from support-bot kind 3']);
  });

  it('FastMCP\'s client span around the SDK\'s, and FastMCP\'s server span: one call, from FastMCP\'s client span', () => {
    const agent = new Party('support-bot');
    const server = new Party('py-fastmcp');
    const outer = agent.span('tools/call boom', SpanKind.CLIENT, fastmcpClientToolError('boom'), undefined, "Error calling tool 'boom': upstream API down");
    const inner = agent.span('MCP send tools/call boom', SpanKind.CLIENT, sdkClient('4'), outer);
    server.span('tools/call boom', SpanKind.SERVER, fastmcpServer('boom', 'tool_error'), inner, "Error calling tool 'boom': upstream API down");
    // The SDK's span ends first, and is first in its process's request.
    const spans = agent.take().reverse();
    assert.equal(spans[0]!.name, 'MCP send tools/call boom');
    const p = pairing();
    p.add(spans, 0);
    p.add(server.take(), 1000);
    p.expire(10 * WAIT_MS);
    assert.deepEqual(p.counted, ['boom tool_error fastmcp from support-bot kind 3']);
    assert.equal(p.duplicates(), 2);
  });

  it('FastMCP\'s client calls refused arguments a tool_error, its server a ValidationError: invalid_params', () => {
    const agent = new Party('support-bot');
    const server = new Party('py-fastmcp');
    const message = '1 validation error for call[add]';
    const outer = agent.span('tools/call add', SpanKind.CLIENT, fastmcpClientToolError('add'), undefined, message);
    const inner = agent.span('MCP send tools/call add', SpanKind.CLIENT, sdkClient('5'), outer);
    server.span('tools/call add', SpanKind.SERVER, fastmcpServer('add', 'ValidationError'), inner, message);
    const p = pairing();
    p.add(agent.take().reverse(), 0);
    p.add(server.take(), 1000);
    assert.deepEqual(p.counted, ['add invalid_params fastmcp from support-bot kind 3']);
  });

  it('a mounted FastMCP server\'s tool: the outer server\'s span, the span delegating and the mounted server\'s span are the call the agent made, counted once, whatever order its spans come in', () => {
    const permutations = <T>(items: T[]): T[][] => (items.length <= 1 ? [items] : items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [x, ...rest])));
    type Part = 'agent' | 'mounted' | 'delegate' | 'outer';
    /** Sends `order`'s parts of one call, a second apart, and settles every wait. */
    const send = (order: Part[], failed: boolean): { counted: string[]; duplicates: number } => {
      const agent = new Party('support-bot');
      const server = new Party('py-fastmcp');
      const error = failed ? "Error calling tool 'boom': upstream API down" : undefined;
      const failure = failed ? { 'error.type': 'tool_error' } : {};
      const tool = failed ? 'boom' : 'add';
      const outer = agent.span(`tools/call child_${tool}`, SpanKind.CLIENT, failed ? fastmcpClientToolError(`child_${tool}`) : { 'mcp.method.name': 'tools/call', 'fastmcp.component.key': `child_${tool}`, 'gen_ai.tool.name': `child_${tool}` }, undefined, error);
      const inner = agent.span(`MCP send tools/call child_${tool}`, SpanKind.CLIENT, sdkClient('2'), outer);
      const o = server.span(`tools/call child_${tool}`, SpanKind.SERVER, { ...fastmcpMounted.outer(tool), ...failure }, inner, error);
      const d = server.span(`delegate ${tool}`, SpanKind.INTERNAL, { ...fastmcpMounted.delegate(tool), ...failure }, o, error && `ToolError: ${error}`);
      server.span(`tools/call ${tool}`, SpanKind.SERVER, { ...fastmcpMounted.mounted(tool), ...failure }, d, error && `ToolError: ${error}`);
      // Each process's spans in the order they ended: the SDK's first, the mounted server's first.
      const [sdk, fastmcp] = agent.take().reverse();
      const [srvMounted, srvDelegate, srvOuter] = server.take().reverse();
      const parts = { agent: [sdk!, fastmcp!], outer: [srvOuter!], delegate: [srvDelegate!], mounted: [srvMounted!] };
      const p = pairing();
      order.forEach((part, i) => p.add(parts[part], i * 1000));
      p.expire(10 * WAIT_MS);
      return { counted: p.counted, duplicates: p.duplicates() };
    };
    for (const order of permutations<Part>(['agent', 'mounted', 'delegate', 'outer'])) {
      assert.deepEqual(send(order, false), { counted: ['child_add success fastmcp from support-bot kind 3'], duplicates: 4 }, order.join(', '));
    }
    // The tool raised: one failed call.
    assert.deepEqual(send(['mounted', 'delegate', 'outer', 'agent'], true).counted, ['child_boom tool_error fastmcp from support-bot kind 3']);
    assert.deepEqual(send(['agent', 'outer', 'delegate', 'mounted'], true).counted, ['child_boom tool_error fastmcp from support-bot kind 3']);
    // The agent's spans never come (exported elsewhere): counted from the outer server's span alone,
    // under the name the agent called, once its wait is over.
    for (const order of permutations<Part>(['mounted', 'delegate', 'outer'])) {
      assert.deepEqual(send(order, false), { counted: ['child_add success fastmcp from py-fastmcp kind 2'], duplicates: 2 }, order.join(', '));
    }
  });
});
