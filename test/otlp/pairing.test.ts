// One MCP call, counted once, whichever of its spans reach the receiver and in whatever order: the
// client's, the server's (its child through the trace context in params._meta), an agent framework's
// execute_tool span around the client's. Real SDK spans, exported by the SDK's own OTLP exporters
// (JSON, protobuf, gRPC) to a receiver on port 0; every export is answered before the test goes on,
// so what the receiver counted is settled when it looks.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT_CONTEXT, SpanKind, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import * as grpcJs from '@grpc/grpc-js';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { parseConfig } from '../../src/config/load.js';
import { Recorder } from '../../src/export/recorder.js';
import { OtlpReceiver, type ReceiverAddresses } from '../../src/otlp/receiver.js';
import type { DecodedSpan } from '../../src/otlp/decode.js';
import type { Observation } from '../../src/otlp/recognise.js';
import { CallPairing, type SpanOrigin } from '../../src/otlp/pairing.js';
import { serverResolver } from '../../src/pipeline/traffic.js';
import { GRPC_EXPORT_PATH } from '../../src/wire/otlp.js';
import { fixedIdToolSpan, until } from '../helpers.js';

/** One process's spans: its own resource, collected until the test exports them. */
class Party {
  private readonly finished = new InMemorySpanExporter();
  private readonly provider: BasicTracerProvider;

  constructor(serviceName: string) {
    this.provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': serviceName }), spanProcessors: [new SimpleSpanProcessor(this.finished)] });
  }

  /** A finished span; `parent`: a span of this process or (remote) of another. */
  span(name: string, kind: SpanKind, attributes: Attributes, parent?: Span): Span {
    const ctx: Context = parent ? trace.setSpanContext(ROOT_CONTEXT, { ...parent.spanContext(), isRemote: true }) : ROOT_CONTEXT;
    const span = this.provider.getTracer('pairing-test').startSpan(name, { kind, attributes }, ctx);
    span.end();
    return span;
  }

  /** The finished spans made since the last take. */
  take(): ReadableSpan[] {
    const spans = this.finished.getFinishedSpans();
    this.finished.reset();
    return spans;
  }
}

const toolCall = (tool: string, extra: Attributes = {}): Attributes => ({ 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': tool, 'gen_ai.operation.name': 'execute_tool', ...extra });

function exportSpans(exporter: SpanExporter, spans: ReadableSpan[]): Promise<void> {
  return new Promise((resolve, reject) => exporter.export(spans, (r) => (r.code === 0 ? resolve() : reject(r.error ?? new Error(`export failed: ${r.code}`)))));
}

interface Counted {
  obs: Observation;
  origin: SpanOrigin;
}

async function startReceiver(wait: string, counted: Counted[], onCount?: () => void): Promise<{ receiver: OtlpReceiver; addr: ReceiverAddresses }> {
  const cfg = parseConfig(`receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0" }, http: { endpoint: "127.0.0.1:0" }, server_span_wait: ${wait} } }\n`, 'x.yaml', {}).receivers.otlp!;
  const receiver = new OtlpReceiver(cfg, {
    recorder: new Recorder(new MeterProvider().getMeter('t')),
    memoryUsage: () => 0,
    // The server's tool list as its probes would have listed it: evidence for execute_tool spans.
    resolveServer: serverResolver([{ name: 'weather', url: 'http://weather.internal:8080/mcp', serverInfoName: 'weather-server', tools: ['get_weather', 'search'] }]),
    traffic: (obs, origin) => {
      counted.push({ obs, origin });
      onCount?.();
    },
  });
  return { receiver, addr: await receiver.start() };
}

/** What was counted: tool, outcome, server, the sending service, the span kind it was counted from. */
const summary = (c: Counted): string => `${c.obs.tool} ${c.obs.outcome} ${c.obs.server} from ${c.origin.resource.serviceName} kind ${c.origin.kind}`;

describe('one MCP call, counted once (server spans wait 10 minutes for their client\'s)', () => {
  const counted: Counted[] = [];
  let receiver: OtlpReceiver;
  let json: JsonExporter;
  let proto: ProtoExporter;
  let grpc: GrpcExporter;
  let tracesUrl: string;
  before(async () => {
    const started = await startReceiver('10m', counted);
    receiver = started.receiver;
    tracesUrl = `http://127.0.0.1:${started.addr.http!.port}/v1/traces`;
    json = new JsonExporter({ url: tracesUrl });
    proto = new ProtoExporter({ url: tracesUrl });
    grpc = new GrpcExporter({ url: `http://127.0.0.1:${started.addr.grpc!.port}` });
  });
  after(async () => {
    await Promise.all([json.shutdown(), proto.shutdown(), grpc.shutdown()]);
    await receiver.shutdown();
  });

  it('the client\'s span first, the server\'s later (JSON, then gRPC): counted once, from the client\'s', async () => {
    const agent = new Party('support-bot');
    const server = new Party('weather-server');
    counted.length = 0;
    const calls = [0, 1, 2].map(() => agent.span('tools/call get_weather', SpanKind.CLIENT, toolCall('get_weather', { 'server.address': 'weather.internal', 'server.port': 8080 })));
    for (const c of calls) server.span('tools/call get_weather', SpanKind.SERVER, toolCall('get_weather'), c);
    await exportSpans(json, agent.take());
    assert.equal(counted.length, 3);
    await exportSpans(grpc, server.take());
    assert.deepEqual(counted.map(summary), Array(3).fill('get_weather success weather from support-bot kind 3'));
  });

  it('the server\'s span first (protobuf), the client\'s later (JSON): the server\'s waits, and the client\'s is counted', async () => {
    const agent = new Party('triage-bot');
    const server = new Party('weather-server');
    counted.length = 0;
    const c = agent.span('tools/call get_weather', SpanKind.CLIENT, toolCall('get_weather', { 'server.address': 'weather.internal', 'server.port': 8080, 'error.type': '-32001' }));
    server.span('tools/call get_weather', SpanKind.SERVER, toolCall('get_weather'), c);
    await exportSpans(proto, server.take());
    assert.equal(counted.length, 0, 'the server span waits for its client\'s');
    await exportSpans(json, agent.take());
    // The client's view of the call: its caller, and the time-out the server never saw.
    assert.deepEqual(counted.map(summary), ['get_weather error weather from triage-bot kind 3']);
    assert.equal(counted[0]!.obs.errorType, 'timeout');
  });

  it('both in one request, the server\'s listed first: counted once, from the client\'s', async () => {
    const agent = new Party('support-bot');
    const server = new Party('weather-server');
    counted.length = 0;
    const c = agent.span('tools/call search', SpanKind.CLIENT, toolCall('search', { 'server.address': 'weather.internal', 'server.port': 8080 }));
    server.span('tools/call search', SpanKind.SERVER, toolCall('search'), c);
    // As a Collector batches the spans of two processes: one request, two resources.
    await exportSpans(proto, [...server.take(), ...agent.take()]);
    assert.deepEqual(counted.map(summary), ['search success weather from support-bot kind 3']);
  });

  it('an agent framework\'s execute_tool span around the client\'s, the server\'s below: one call, however they are sent', async () => {
    const agent = new Party('support-bot');
    const server = new Party('weather-server');
    counted.length = 0;
    // get_weather is on the server's tool list: evidence enough for the framework's span alone.
    const wrapper = agent.span('execute_tool get_weather', SpanKind.INTERNAL, { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'get_weather' });
    const c = agent.span('tools/call get_weather', SpanKind.CLIENT, toolCall('get_weather', { 'server.address': 'weather.internal', 'server.port': 8080 }), wrapper);
    server.span('tools/call get_weather', SpanKind.SERVER, toolCall('get_weather'), c);
    const [w, client] = agent.take();
    assert.equal(w!.name, 'execute_tool get_weather');
    // The client span ends first and is sent first; the server's arrives between.
    await exportSpans(json, [client!]);
    await exportSpans(grpc, server.take());
    await exportSpans(json, [w!]);
    assert.deepEqual(counted.map(summary), ['get_weather success weather from support-bot kind 3']);
    // The framework's span alone (its MCP client not instrumented) is the call.
    counted.length = 0;
    agent.span('execute_tool get_weather', SpanKind.INTERNAL, { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'get_weather' });
    await exportSpans(proto, agent.take());
    assert.deepEqual(counted.map(summary), ['get_weather success weather from support-bot kind 1']);
  });

  it('an execute_tool span whose tool name is the framework\'s, not the server\'s (a renamed tool), around the client\'s: one call, from the client\'s span, or from the wrapper sent alone before it', async () => {
    const renamed = (): Attributes => ({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'weather__get_weather', 'mcp.server.name': 'weather' });
    const fromClient = 'get_weather success weather from support-bot kind 3';
    // As a wrapper of the server's own tool name sent first is: the first span of a call is counted at once.
    const fromWrapper = 'weather__get_weather success weather from support-bot kind 1';
    const sends = [
      [['client', 'server', 'wrapper'], fromClient],
      [['server', 'client', 'wrapper'], fromClient],
      [['all in one request'], fromClient],
      [['wrapper', 'client', 'server'], fromWrapper],
      [['wrapper', 'server', 'client'], fromWrapper],
      [['server', 'wrapper', 'client'], fromWrapper],
    ] as const;
    for (const [order, expected] of sends) {
      const agent = new Party('support-bot');
      const server = new Party('weather-server');
      counted.length = 0;
      const wrapper = agent.span('execute_tool weather__get_weather', SpanKind.INTERNAL, renamed());
      const c = agent.span('tools/call get_weather', SpanKind.CLIENT, toolCall('get_weather', { 'server.address': 'weather.internal', 'server.port': 8080 }), wrapper);
      server.span('tools/call get_weather', SpanKind.SERVER, toolCall('get_weather'), c);
      const [w, client] = agent.take();
      const spans = { wrapper: [w!], client: [client!], server: server.take() };
      if (order.length === 1) await exportSpans(proto, [...spans.wrapper, ...spans.server, ...spans.client]);
      else for (const [i, part] of order.entries()) await exportSpans(i % 2 === 0 ? json : grpc, spans[part]);
      assert.deepEqual(counted.map(summary), [expected], order.join(', '));
    }
  });

  it('a gateway\'s own call to its upstream (a CLIENT span under its SERVER span) is a second call', async () => {
    const agent = new Party('support-bot');
    const gateway = new Party('gateway');
    const upstream = new Party('weather-server');
    counted.length = 0;
    const c = agent.span('tools/call search', SpanKind.CLIENT, toolCall('search', { 'server.address': 'gw.internal', 'server.port': 8443 }));
    const gs = gateway.span('tools/call search', SpanKind.SERVER, toolCall('search'), c);
    const gc = gateway.span('tools/call search', SpanKind.CLIENT, toolCall('search', { 'server.address': 'weather.internal', 'server.port': 8080 }), gs);
    upstream.span('tools/call search', SpanKind.SERVER, toolCall('search'), gc);
    await exportSpans(proto, upstream.take());
    await exportSpans(grpc, gateway.take());
    await exportSpans(json, agent.take());
    assert.deepEqual(counted.map(summary).sort(), ['search success gw.internal:8443 from support-bot kind 3', 'search success weather from gateway kind 3']);

    // The same, with the gateway's own execute_tool span between its SERVER and CLIENT spans, all
    // three in one request: still a call out of the gateway.
    counted.length = 0;
    const c2 = agent.span('tools/call search', SpanKind.CLIENT, toolCall('search', { 'server.address': 'gw.internal', 'server.port': 8443 }));
    const gs2 = gateway.span('tools/call search', SpanKind.SERVER, toolCall('search'), c2);
    const inner = gateway.span('execute_tool search', SpanKind.INTERNAL, { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search' }, gs2);
    gateway.span('tools/call search', SpanKind.CLIENT, toolCall('search', { 'server.address': 'weather.internal', 'server.port': 8080 }), inner);
    await exportSpans(grpc, gateway.take());
    await exportSpans(json, agent.take());
    assert.deepEqual(counted.map(summary).sort(), ['search success gw.internal:8443 from support-bot kind 3', 'search success weather from gateway kind 3']);
  });

  it('calls side by side under one parent are calls of their own, the same tool twice included', async () => {
    const agent = new Party('support-bot');
    const server = new Party('weather-server');
    counted.length = 0;
    const parent = agent.span('invoke_agent', SpanKind.INTERNAL, {});
    for (const tool of ['get_weather', 'search', 'get_weather']) {
      const c = agent.span(`tools/call ${tool}`, SpanKind.CLIENT, toolCall(tool, { 'server.address': 'weather.internal', 'server.port': 8080 }), parent);
      server.span(`tools/call ${tool}`, SpanKind.SERVER, toolCall(tool), c);
    }
    await exportSpans(grpc, server.take());
    await exportSpans(proto, agent.take());
    assert.deepEqual(counted.map((c) => `${c.obs.tool} kind ${c.origin.kind}`), ['get_weather kind 3', 'search kind 3', 'get_weather kind 3']);
  });

  it('a payload sent again with the same ids is the same spans again, counted once; the same ids on calls of other tools are other spans', async () => {
    counted.length = 0;
    const body = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [fixedIdToolSpan('a'), fixedIdToolSpan('b')] }] }] });
    const post = (): Promise<Response> => fetch(tracesUrl, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    assert.equal((await post()).status, 200);
    assert.equal((await post()).status, 200);
    assert.deepEqual(counted.map((c) => c.obs.tool), ['a', 'b']);
  });

  it('OTLP/JSON ids in upper case pair as the same ids; a span with an id that is not hex is rejected, not counted', async () => {
    const agent = new Party('support-bot');
    const server = new Party('weather-server');
    counted.length = 0;
    const c = agent.span('tools/call get_weather', SpanKind.CLIENT, toolCall('get_weather'));
    server.span('tools/call get_weather', SpanKind.SERVER, toolCall('get_weather'), c);
    await exportSpans(proto, server.take());
    assert.equal(counted.length, 0, 'the server span waits for its client\'s');
    const client = { ...fixedIdToolSpan('get_weather'), traceId: c.spanContext().traceId.toUpperCase(), spanId: c.spanContext().spanId.toUpperCase() };
    // A parent id of the right length, not hex: a backend would refuse the request for it.
    const odd = { ...fixedIdToolSpan('search'), kind: 2, traceId: '5b8efff798038103d269b633813fc60d', spanId: 'eee19b7ec3c1b175', parentSpanId: 'EEE19B7EC3C1B17G' };
    const post = (spans: object[]): Promise<Response> =>
      fetch(tracesUrl, { method: 'POST', body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] }), headers: { 'content-type': 'application/json' } });
    const res = await post([client, odd]);
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { partialSuccess?: { rejectedSpans?: string } }).partialSuccess?.rejectedSpans, '1');
    assert.deepEqual(counted.map((x) => `${x.obs.tool} kind ${x.origin.kind}`), ['get_weather kind 3']);
  });

  it('a GenAI execute_tool span of a local function tool is no MCP call', async () => {
    const agent = new Party('support-bot');
    counted.length = 0;
    agent.span('execute_tool calculator', SpanKind.INTERNAL, { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'calculator' });
    agent.span('execute_tool fetch_page', SpanKind.INTERNAL, { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'fetch_page', 'server.address': 'example.com', 'server.port': 443 });
    await exportSpans(proto, agent.take());
    assert.equal(counted.length, 0);
  });
});

/**
 * A TCP proxy in front of the receiver that can cut the connections under way once the receiver has
 * taken a request, so that its answer never reaches the exporter: what a time-out or a connection
 * reset between them does. `connections`: how many the exporters opened.
 */
class CuttingProxy {
  connections = 0;
  private readonly open = new Set<Socket>();
  private readonly server = createServer((client) => {
    this.connections++;
    this.open.add(client);
    const upstream = connect(this.target, '127.0.0.1');
    client.pipe(upstream);
    upstream.pipe(client);
    const close = (): void => {
      this.open.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });

  constructor(private readonly target: number) {}

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  /** Resets the exporters' connections now: what the receiver answers after this is lost. */
  cut(): void {
    for (const client of this.open) client.resetAndDestroy();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('a request resent by its exporter (its answer lost on the way)', () => {
  const counted: Counted[] = [];
  /** Cut the connections at the next span counted. */
  let cutAtCount = false;
  let receiver: OtlpReceiver;
  let addr: ReceiverAddresses;
  /** Spans sent straight to the receiver, not through a proxy. */
  let direct: GrpcExporter;
  const proxies: CuttingProxy[] = [];
  before(async () => {
    ({ receiver, addr } = await startReceiver('10m', counted, () => {
      if (!cutAtCount) return;
      cutAtCount = false;
      for (const p of proxies) p.cut();
    }));
    direct = new GrpcExporter({ url: `http://127.0.0.1:${addr.grpc!.port}` });
  });
  after(async () => {
    await direct.shutdown();
    await Promise.all(proxies.map((p) => p.stop()));
    await receiver.shutdown();
  });

  async function proxy(port: number): Promise<{ proxy: CuttingProxy; port: number }> {
    const p = new CuttingProxy(port);
    proxies.push(p);
    return { proxy: p, port: await p.start() };
  }

  it('OTLP/HTTP: the SDK exporter resends the batch after a connection reset; its calls are counted once, and still pair with their server\'s spans', async () => {
    const { proxy: cutting, port } = await proxy(addr.http!.port);
    const json = new JsonExporter({ url: `http://127.0.0.1:${port}/v1/traces` });
    try {
      const agent = new Party('support-bot');
      const server = new Party('weather-server');
      counted.length = 0;
      for (const [tool, extra] of [['get_weather', {}], ['search', { 'error.type': 'tool_error' }]] as const) {
        const c = agent.span(`tools/call ${tool}`, SpanKind.CLIENT, toolCall(tool, { 'server.address': 'weather.internal', 'server.port': 8080, ...extra }));
        server.span(`tools/call ${tool}`, SpanKind.SERVER, toolCall(tool), c);
      }
      cutAtCount = true;
      // The export succeeds only through the exporter's own retry (ECONNRESET is retryable): the same bytes again.
      await exportSpans(json, agent.take());
      assert.equal(cutting.connections, 2, 'the exporter sent the batch twice');
      await exportSpans(direct, server.take());
      assert.deepEqual(counted.map(summary), ['get_weather success weather from support-bot kind 3', 'search error weather from support-bot kind 3']);
    } finally {
      await json.shutdown();
    }
  });

  it('OTLP/gRPC: a batch resent after UNAVAILABLE, as the Collector\'s exporter resends it, is counted once; a waiting server span is not doubled', async () => {
    const { port } = await proxy(addr.grpc!.port);
    const client = new grpcJs.Client(`127.0.0.1:${port}`, grpcJs.credentials.createInsecure());
    const exportBytes = (body: Buffer): Promise<number> =>
      new Promise((resolve) => client.makeUnaryRequest(GRPC_EXPORT_PATH.traces, (b: Buffer) => b, (b: Buffer) => b, body, (err) => resolve(err?.code ?? grpcJs.status.OK)));
    try {
      const agent = new Party('support-bot');
      const server = new Party('weather-server');
      counted.length = 0;
      const c = agent.span('tools/call get_weather', SpanKind.CLIENT, toolCall('get_weather', { 'server.address': 'weather.internal', 'server.port': 8080 }));
      server.span('tools/call get_weather', SpanKind.SERVER, toolCall('get_weather'), c);
      // A server span without a parent (its caller sent no trace context): counted at once.
      server.span('tools/call search', SpanKind.SERVER, toolCall('search'));
      const body = Buffer.from(ProtobufTraceSerializer.serializeRequest(server.take())!);
      cutAtCount = true;
      assert.equal(await exportBytes(body), grpcJs.status.UNAVAILABLE, 'the answer was lost');
      assert.equal(await exportBytes(body), grpcJs.status.OK);
      assert.deepEqual(counted.map(summary), ['search success weather from weather-server kind 2']);
      await exportSpans(direct, agent.take());
      await receiver.shutdown();
      // Stopping counts what still waits: nothing, the one waiting server span was answered by its client's.
      assert.deepEqual(counted.map(summary), ['search success weather from weather-server kind 2', 'get_weather success weather from support-bot kind 3']);
    } finally {
      client.close();
    }
  });
});

describe('a server span whose client\'s never comes', () => {
  it('is counted alone once its wait is over, and a client span arriving after that is not counted again', async () => {
    const counted: Counted[] = [];
    const { receiver, addr } = await startReceiver('1s', counted);
    const exporter = new ProtoExporter({ url: `http://127.0.0.1:${addr.http!.port}/v1/traces` });
    try {
      const agent = new Party('support-bot');
      const server = new Party('weather-server');
      const c = agent.span('tools/call get_weather', SpanKind.CLIENT, toolCall('get_weather', { 'server.address': 'weather.internal', 'server.port': 8080 }));
      server.span('tools/call get_weather', SpanKind.SERVER, toolCall('get_weather'), c);
      // A root server span has no client span to wait for.
      server.span('tools/call search', SpanKind.SERVER, toolCall('search'));
      await exportSpans(exporter, server.take());
      // Counted while the request was handled; whether the 1 s wait is also over by now is the
      // machine's speed (a stall of a second), so the waiting span's absence is the 10-minute suite's to show.
      assert.equal(summary(counted[0]!), 'search success weather from weather-server kind 2');
      await until(() => counted.length === 2, 'the waiting server span counted alone');
      assert.equal(summary(counted[1]!), 'get_weather success weather from weather-server kind 2');
      await exportSpans(exporter, agent.take());
      assert.equal(counted.length, 2, 'the late client span is a duplicate');
    } finally {
      await exporter.shutdown();
      await receiver.shutdown();
    }
  });

  it('is counted when the receiver stops, not lost', async () => {
    const counted: Counted[] = [];
    const { receiver, addr } = await startReceiver('10m', counted);
    const exporter = new GrpcExporter({ url: `http://127.0.0.1:${addr.grpc!.port}` });
    const agent = new Party('support-bot');
    const server = new Party('weather-server');
    server.span('tools/call get_weather', SpanKind.SERVER, toolCall('get_weather'), agent.span('tools/call get_weather', SpanKind.CLIENT, toolCall('get_weather')));
    let beforeStop: number;
    try {
      await exportSpans(exporter, server.take());
      beforeStop = counted.length;
    } finally {
      await exporter.shutdown();
      await receiver.shutdown();
    }
    assert.equal(beforeStop, 0, 'waiting for its client\'s span');
    assert.deepEqual(counted.map(summary), ['get_weather success weather from weather-server kind 2']);
  });
});

/**
 * One call over HTTP instrumented on both sides: the agent's MCP client span, its HTTP client span
 * under it, the server's HTTP server span under that (the traceparent header), and the MCP server
 * span under the server's HTTP span (its MCP instrumentation took the active context, not the one in
 * params._meta). `agentSpan`: the client span's parent; `clientless`: the caller's MCP client is not
 * instrumented, only its HTTP (a gateway calling its upstream). `attributes`: more on both MCP spans.
 */
function overHttp(agent: Party, server: Party, tool: string, opts: { agentSpan?: Span; clientless?: boolean; address?: string; attributes?: Attributes } = {}): Span {
  const address = opts.address ?? 'weather.internal';
  const client = opts.clientless ? opts.agentSpan : agent.span(`tools/call ${tool}`, SpanKind.CLIENT, toolCall(tool, { 'server.address': address, 'server.port': 8080, ...opts.attributes }), opts.agentSpan);
  const httpClient = agent.span('POST', SpanKind.CLIENT, { 'http.request.method': 'POST', 'url.full': `http://${address}:8080/mcp`, 'server.address': address, 'server.port': 8080 }, client);
  const httpServer = server.span('POST /mcp', SpanKind.SERVER, { 'http.request.method': 'POST', 'http.route': '/mcp', 'url.path': '/mcp' }, httpClient);
  return server.span(`tools/call ${tool}`, SpanKind.SERVER, toolCall(tool, opts.attributes), httpServer);
}

describe('a server span under its own HTTP span (HTTP instrumentation between the MCP spans)', () => {
  /** What a receiver counted of the requests `send` makes, once every server span has settled (it stopped). */
  async function countedBy(send: (exporters: { json: JsonExporter; grpc: GrpcExporter }) => Promise<void>): Promise<string[]> {
    const counted: Counted[] = [];
    const { receiver, addr } = await startReceiver('10m', counted);
    const json = new JsonExporter({ url: `http://127.0.0.1:${addr.http!.port}/v1/traces` });
    const grpc = new GrpcExporter({ url: `http://127.0.0.1:${addr.grpc!.port}` });
    try {
      await send({ json, grpc });
    } finally {
      await Promise.all([json.shutdown(), grpc.shutdown()]);
      // Every server span still waiting is settled now, as at the end of its wait.
      await receiver.shutdown();
    }
    return counted.map(summary).sort();
  }

  it('parallel calls of one tool in one trace, the server\'s spans first or the agent\'s first: each call counted once, from its client\'s span', async () => {
    for (const serverFirst of [true, false]) {
      const agent = new Party('support-bot');
      const server = new Party('weather-server');
      const got = await countedBy(async ({ json, grpc }) => {
        const invoke = agent.span('invoke_agent', SpanKind.INTERNAL, {});
        for (const tool of ['get_weather', 'get_weather', 'search', 'get_weather']) overHttp(agent, server, tool, { agentSpan: invoke });
        const [agentSpans, serverSpans] = [agent.take(), server.take()];
        if (serverFirst) await exportSpans(grpc, serverSpans);
        await exportSpans(json, agentSpans);
        if (!serverFirst) await exportSpans(grpc, serverSpans);
      });
      assert.deepEqual(
        got,
        [...Array(3).fill('get_weather success weather from support-bot kind 3'), 'search success weather from support-bot kind 3'],
        serverFirst ? 'server spans first' : 'agent spans first',
      );
    }
  });

  it('a gateway: the agent\'s call paired through _meta, the gateway\'s own call to its upstream (HTTP instrumented, not MCP) counted from the upstream\'s span alone, whatever the order', async () => {
    const orders = [
      ['agent', 'upstream', 'gateway'],
      ['upstream', 'gateway', 'agent'],
      ['gateway', 'agent', 'upstream'],
    ] as const;
    for (const order of orders) {
      const agent = new Party('support-bot');
      const gateway = new Party('gateway');
      const upstream = new Party('weather-server');
      const got = await countedBy(async ({ json, grpc }) => {
        const c = agent.span('tools/call search', SpanKind.CLIENT, toolCall('search', { 'server.address': 'gw.internal', 'server.port': 8443 }));
        const gs = gateway.span('tools/call search', SpanKind.SERVER, toolCall('search'), c);
        // The gateway calls its upstream over HTTP with no MCP client instrumentation: no client span of that call.
        overHttp(gateway, upstream, 'search', { agentSpan: gs, clientless: true });
        const spans = { agent: agent.take(), gateway: gateway.take(), upstream: upstream.take() };
        for (const [i, who] of order.entries()) await exportSpans(i % 2 === 0 ? grpc : json, spans[who]);
      });
      assert.deepEqual(got, ['search success gw.internal:8443 from support-bot kind 3', 'search success weather from weather-server kind 2'], order.join(', '));
    }
  });

  it('a renamed tool\'s execute_tool span sent alone first, then its client\'s span, then the server\'s under its HTTP span: one call', async () => {
    const agent = new Party('support-bot');
    const server = new Party('weather-server');
    const got = await countedBy(async ({ json, grpc }) => {
      const invoke = agent.span('invoke_agent', SpanKind.INTERNAL, {});
      const wrapper = agent.span('execute_tool weather__get_weather', SpanKind.INTERNAL, { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'weather__get_weather', 'mcp.server.name': 'weather' }, invoke);
      overHttp(agent, server, 'get_weather', { agentSpan: wrapper });
      const [, w, ...rest] = agent.take();
      await exportSpans(grpc, [w!]);
      await exportSpans(json, rest);
      await exportSpans(grpc, server.take());
    });
    assert.deepEqual(got, ['weather__get_weather success weather from support-bot kind 1']);
  });

  it('in one trace, a call from an uninstrumented caller beside an instrumented call of the same tool: each server span matches its own call by its JSON-RPC request id, whichever settles first', async () => {
    for (const uninstrumentedFirst of [true, false]) {
      const agent = new Party('support-bot');
      const server = new Party('weather-server');
      const got = await countedBy(async ({ json, grpc }) => {
        const invoke = agent.span('invoke_agent', SpanKind.INTERNAL, {});
        // The agent's instrumented call (request 7), and a call of the same tool by a part of it whose
        // MCP client is not instrumented (request 3, a failing one, to tell the two server spans apart).
        const instrumented = { agentSpan: invoke, attributes: { 'jsonrpc.request.id': '7' } };
        const uninstrumented = { agentSpan: invoke, clientless: true, attributes: { 'jsonrpc.request.id': '3', 'error.type': 'tool_error' } };
        // Waiting server spans settle in the order they came (here when the receiver stops).
        for (const call of uninstrumentedFirst ? [uninstrumented, instrumented] : [instrumented, uninstrumented]) overHttp(agent, server, 'get_weather', call);
        const [agentSpans, serverSpans] = [agent.take(), server.take()];
        await exportSpans(grpc, serverSpans);
        await exportSpans(json, agentSpans);
      });
      assert.deepEqual(got, ['get_weather error weather from weather-server kind 2', 'get_weather success weather from support-bot kind 3'], uninstrumentedFirst ? 'uninstrumented first' : 'instrumented first');
    }
  });

  it('a server span under its HTTP span whose caller is not instrumented is counted alone; one whose client\'s span came in another trace is not paired with it', async () => {
    const agent = new Party('support-bot');
    const server = new Party('weather-server');
    const got = await countedBy(async ({ json, grpc }) => {
      // The agent's MCP client is instrumented in this trace, not in the one its other call is in.
      overHttp(agent, server, 'get_weather');
      const [instrumented] = agent.take();
      overHttp(agent, server, 'get_weather', { clientless: true, agentSpan: agent.span('invoke_agent', SpanKind.INTERNAL, {}) });
      agent.take();
      await exportSpans(grpc, server.take());
      await exportSpans(json, [instrumented!]);
    });
    assert.deepEqual(got, ['get_weather success weather from support-bot kind 3', 'get_weather success weather from weather-server kind 2']);
  });
});

describe('the table of recent span ids', () => {
  it('after drain (the receiver stopping), a server span that arrives late is counted at once, not held with no sweep left', () => {
    const counted: string[] = [];
    const pairing = new CallPairing(10_000, { count: (o) => void counted.push(o.tool ?? ''), duplicate: () => {} });
    const resource = { serviceName: 'weather-server', attrs: new Map() };
    const server = (spanId: string): DecodedSpan =>
      ({ name: 'tools/call get_weather', kind: 2 /* OTLP's SERVER */, attrs: new Map(), resource, traceId: '0af7651916cd43dd8448eb211c80319c', spanId, parentSpanId: 'b7ad6b7169203331' }) as unknown as DecodedSpan;
    const obs: Observation = { kind: 'tool_call', server: 's', method: 'tools/call', tool: 'get_weather', outcome: 'success', errorType: undefined, errorCategory: undefined, durationSeconds: 0 };
    assert.equal(pairing.add(obs, server('00f067aa0ba902b7'), 0), 'held');
    pairing.drain(0);
    assert.deepEqual(counted, ['get_weather']);
    assert.equal(pairing.add(obs, server('00f067aa0ba902b8'), 1), 'counted');
    assert.equal(pairing.waitingSpans, 0);
  });


  it('a server span under a span that is no MCP span is settled at the end of its wait: a duplicate of an unpaired client span of its call in its trace, else counted alone', () => {
    const counted: string[] = [];
    let duplicates = 0;
    const pairing = new CallPairing(10_000, { count: (o, origin) => void counted.push(`${o.tool} kind ${origin.kind}`), duplicate: () => void duplicates++ });
    const resource = { serviceName: 'x', attrs: new Map() };
    const span = (kind: number, traceId: string, spanId: string, parentSpanId?: string): DecodedSpan =>
      ({ name: 'tools/call get_weather', kind, attrs: new Map(), resource, traceId, spanId, parentSpanId }) as unknown as DecodedSpan;
    const obs = (tool: string): Observation => ({ kind: 'tool_call', server: 's', method: 'tools/call', tool, outcome: 'success', errorType: undefined, errorCategory: undefined, durationSeconds: 0 });
    const trace = '0af7651916cd43dd8448eb211c80319c';
    const other = '0af7651916cd43dd8448eb211c80319d';
    // Under HTTP spans (parents 1…, never MCP spans): two in `trace`, one of another tool, one in `other`.
    assert.equal(pairing.add(obs('get_weather'), span(2, trace, 'a000000000000001', '1000000000000001'), 0), 'held');
    assert.equal(pairing.add(obs('get_weather'), span(2, trace, 'a000000000000002', '1000000000000002'), 0), 'held');
    assert.equal(pairing.add(obs('search'), span(2, trace, 'a000000000000003', '1000000000000003'), 0), 'held');
    assert.equal(pairing.add(obs('get_weather'), span(2, other, 'a000000000000004', '1000000000000004'), 0), 'held');
    // One client span of get_weather in `trace`, during the wait.
    assert.equal(pairing.add(obs('get_weather'), span(3, trace, 'c000000000000001', 'f000000000000001'), 5_000), 'counted');
    pairing.expire(9_999);
    assert.equal(pairing.waitingSpans, 4, 'nothing settled before the wait is over');
    pairing.expire(10_000);
    assert.equal(pairing.waitingSpans, 0);
    // The client's call took one of its two server spans; the other, the other tool's and the other trace's are counted alone.
    assert.deepEqual(counted, ['get_weather kind 3', 'get_weather kind 2', 'search kind 2', 'get_weather kind 2']);
    assert.equal(duplicates, 1);
  });

  it('a server span under HTTP spans is matched with its own call by its JSON-RPC request id; where either side has none, by count', () => {
    const counted: string[] = [];
    let duplicates = 0;
    const pairing = new CallPairing(10_000, { count: (o, origin) => void counted.push(`${o.server} kind ${origin.kind}`), duplicate: () => void duplicates++ });
    const resource = { serviceName: 'x', attrs: new Map() };
    /** A get_weather span of `kind` in trace `t` (one hex digit), its request id `requestId`. */
    const add = (label: string, kind: number, t: string, spanId: string, parentSpanId: string, requestId: string | undefined, at: number): string => {
      const span = { name: 'tools/call get_weather', kind, attrs: new Map(), resource, traceId: `0af7651916cd43dd8448eb211c80319${t}`, spanId, parentSpanId } as unknown as DecodedSpan;
      const obs: Observation = { kind: 'tool_call', server: label, method: 'tools/call', tool: 'get_weather', outcome: 'success', errorType: undefined, errorCategory: undefined, durationSeconds: 0 };
      if (requestId !== undefined) obs.requestId = requestId;
      return pairing.add(obs, span, at);
    };
    const INTERNAL = 1;
    const SERVER = 2;
    const CLIENT = 3;
    const settled = (at: number): string[] => {
      pairing.expire(at);
      return counted.splice(0);
    };

    // An instrumented call (request 7) and a call of the same tool whose caller is not instrumented
    // (request 3, under its HTTP span); the instrumented call's own server span comes after the
    // other's wait is over, as its client span's child.
    assert.equal(add('client 7', CLIENT, 'a', 'c000000000000007', 'f000000000000001', '7', 0), 'counted');
    assert.equal(add('server 3', SERVER, 'a', 'a000000000000003', '1000000000000003', '3', 0), 'held');
    assert.deepEqual(settled(10_000), ['client 7 kind 3', 'server 3 kind 2']);
    assert.equal(add('server 7', SERVER, 'a', 'a000000000000007', 'c000000000000007', '7', 10_001), 'duplicate');

    // A server span counted alone at the end of its wait, and its client span after that: one call.
    // A client span of another request in that trace is another call.
    assert.equal(add('server 5', SERVER, 'b', 'a000000000000005', '1000000000000005', '5', 0), 'held');
    assert.deepEqual(settled(10_000), ['server 5 kind 2']);
    assert.equal(add('client 5', CLIENT, 'b', 'c000000000000005', 'f000000000000001', '5', 20_000), 'duplicate');
    assert.equal(add('client 6', CLIENT, 'b', 'c000000000000006', 'f000000000000001', '6', 20_000), 'counted');
    assert.deepEqual(counted.splice(0), ['client 6 kind 3']);

    // One side without a request id (instrumented by something that records none): paired as a count.
    assert.equal(add('client -', CLIENT, 'c', 'c000000000000008', 'f000000000000001', undefined, 0), 'counted');
    assert.equal(add('server 8', SERVER, 'c', 'a000000000000008', '1000000000000008', '8', 0), 'held');
    assert.equal(add('client 9', CLIENT, 'd', 'c000000000000009', 'f000000000000001', '9', 0), 'counted');
    assert.equal(add('server -', SERVER, 'd', 'a000000000000009', '1000000000000009', undefined, 0), 'held');
    assert.deepEqual(settled(10_000), ['client - kind 3', 'client 9 kind 3']);

    // An agent framework's execute_tool span (no request id) counted before the client span under it
    // (request 7): the call's client's side is then request 7's, and the uninstrumented caller's
    // server span (request 3), settling first, does not take it.
    assert.equal(add('wrapper', INTERNAL, 'e', 'e000000000000001', 'f000000000000001', undefined, 0), 'counted');
    assert.equal(add('client 7', CLIENT, 'e', 'c000000000000007', 'e000000000000001', '7', 0), 'duplicate');
    assert.equal(add('server 3', SERVER, 'e', 'a000000000000003', '1000000000000003', '3', 0), 'held');
    assert.equal(add('server 7', SERVER, 'e', 'a000000000000007', '1000000000000007', '7', 0), 'held');
    assert.deepEqual(settled(10_000), ['wrapper kind 1', 'server 3 kind 2']);
    assert.equal(pairing.waitingSpans, 0);
  });

  it('an agent framework\'s span directly above a server span (the agent\'s MCP client not instrumented), renamed or not: one call, the caller\'s, whichever comes first', () => {
    const INTERNAL = 1;
    const SERVER = 2;
    // Two processes that left service.name unset share the SDKs' default, which names neither.
    for (const [agentName, serverName] of [['support-bot', 'weather-server'], ['unknown_service', 'unknown_service']]) {
      const agent = { serviceName: agentName, attrs: new Map() };
      const server = { serviceName: serverName, attrs: new Map() };
      for (const wrapperTool of ['get_weather', 'weather__get_weather']) {
        for (const serverFirst of [true, false]) {
          const counted: string[] = [];
          let duplicates = 0;
          const pairing = new CallPairing(10_000, { count: (o, origin) => void counted.push(`${o.tool} kind ${origin.kind}`), duplicate: () => void duplicates++ });
          const obs = (tool: string): Observation => ({ kind: 'tool_call', server: 'weather', method: 'tools/call', tool, outcome: 'success', errorType: undefined, errorCategory: undefined, durationSeconds: 0 });
          const trace = '0af7651916cd43dd8448eb211c80319c';
          const wrapper = { name: `execute_tool ${wrapperTool}`, kind: INTERNAL, attrs: new Map(), resource: agent, traceId: trace, spanId: 'e000000000000001', parentSpanId: 'f000000000000001' } as unknown as DecodedSpan;
          const serverSpan = { name: 'tools/call get_weather', kind: SERVER, attrs: new Map(), resource: server, traceId: trace, spanId: 'a000000000000001', parentSpanId: 'e000000000000001' } as unknown as DecodedSpan;
          const sends: Array<[Observation, DecodedSpan]> = [
            [obs('get_weather'), serverSpan],
            [obs(wrapperTool), wrapper],
          ];
          for (const [o, span] of serverFirst ? sends : sends.reverse()) pairing.add(o, span, 0);
          pairing.expire(10_000);
          const what = `${agentName}, ${wrapperTool}, ${serverFirst ? 'server first' : 'wrapper first'}`;
          assert.deepEqual(counted, [`${wrapperTool} kind 1`], what);
          assert.equal(duplicates, 1, what);
          assert.equal(pairing.waitingSpans, 0, what);
        }
      }
    }
  });

  it('pairs every call of a heavy stream, server spans a request ahead of their clients\', without losing or doubling one', () => {
    let counted = 0;
    let duplicates = 0;
    const pairing = new CallPairing(10_000, { count: () => void counted++, duplicate: () => void duplicates++ });
    // Deterministic ids: the same run every time.
    let x = 0x2545f491;
    const hex = (bytes: number): string => {
      let out = '';
      for (let i = 0; i < bytes; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        out += ((x >>> 0) & 0xff).toString(16).padStart(2, '0');
      }
      return out;
    };
    const resource = { serviceName: 'agent', attrs: new Map() };
    const span = (kind: number, traceId: string, spanId: string, parentSpanId: string | undefined): DecodedSpan =>
      ({ name: 'tools/call t', kind, attrs: new Map(), resource, traceId, spanId, parentSpanId }) as unknown as DecodedSpan;
    const obs = (tool: string): Observation => ({ kind: 'tool_call', server: 's', method: 'tools/call', tool, outcome: 'success', errorType: undefined, errorCategory: undefined, durationSeconds: 0 });
    const CALLS = 512;
    const REQUESTS = 64;
    for (let r = 0; r < REQUESTS; r++) {
      const trace = hex(16);
      const root = hex(8);
      const calls = Array.from({ length: CALLS }, (_, i) => ({ tool: `tool_${i % 50}`, client: hex(8), server: hex(8) }));
      // The servers' request first: every server span waits; then the agent's.
      for (const c of calls) pairing.add(obs(c.tool), span(2, trace, c.server, c.client), r * 10);
      for (const c of calls) pairing.add(obs(c.tool), span(3, trace, c.client, root), r * 10 + 5);
    }
    assert.deepEqual({ counted, duplicates, waiting: pairing.waitingSpans }, { counted: CALLS * REQUESTS, duplicates: CALLS * REQUESTS, waiting: 0 });
  });
});
