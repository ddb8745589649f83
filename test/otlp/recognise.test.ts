import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode, type Attributes, type HrTime } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ERROR_TYPES, type ErrorType } from '../../src/pipeline/error-types.js';
import { decodeTraceRequest, type AttrValue, type DecodedSpan } from '../../src/otlp/decode.js';
import {
  AMBIGUOUS,
  classifySpanError,
  jsonRpcCodeToErrorType,
  normaliseMethod,
  recogniseSpan,
  type Observation,
  type ServerResolver,
} from '../../src/otlp/recognise.js';
import { serverResolver } from '../../src/pipeline/traffic.js';
import { fastmcpMounted, fastmcpServer, sdkClient } from './python-spans.js';

const START: HrTime = [1_700_000_000, 0];
const END: HrTime = [1_700_000_000, 250_000_000]; // 0.25 s

interface SpanDef {
  name: string;
  kind?: SpanKind;
  attributes?: Attributes;
  error?: string;
  ok?: boolean;
}

/** Real SDK spans, sent through the protobuf serializer and our decoder, then recognised. */
function observe(defs: SpanDef[], resolveServer?: ServerResolver, resource: Attributes = { 'service.name': 'agent' }): (Observation | null)[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('recognise-test');
  for (const d of defs) {
    const span = tracer.startSpan(d.name, { kind: d.kind ?? SpanKind.CLIENT, attributes: d.attributes ?? {}, startTime: START });
    if (d.error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: d.error });
    if (d.ok) span.setStatus({ code: SpanStatusCode.OK });
    span.end(END);
  }
  const bytes = ProtobufTraceSerializer.serializeRequest(exporter.getFinishedSpans());
  assert.ok(bytes);
  const { spans, rejected } = decodeTraceRequest(bytes);
  assert.equal(rejected, 0);
  assert.equal(spans.length, defs.length);
  return spans.map((s) => recogniseSpan(s, resolveServer));
}

function toolCall(server: string, tool: string, error?: ErrorType): Observation {
  return {
    kind: 'tool_call',
    server,
    method: 'tools/call',
    tool,
    outcome: error === undefined ? 'success' : 'error',
    errorType: error,
    errorCategory: error === undefined ? undefined : ERROR_TYPES[error].category,
    durationSeconds: 0.25,
  };
}

function operation(server: string, method: string, error?: ErrorType): Observation {
  return { ...toolCall(server, '', error), kind: 'operation', method, tool: undefined };
}

test('OpenTelemetry MCP convention: tools/call spans with gen_ai.tool.name, error.type and rpc.response.status_code', () => {
  const base = { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'get_weather', 'server.address': 'weather.example', 'server.port': 8443 };
  assert.deepEqual(
    observe([
      { name: 'tools/call get_weather', attributes: { ...base, 'jsonrpc.request.id': '1', 'mcp.session.id': 's' }, ok: true },
      { name: 'tools/call get_weather', attributes: { ...base, 'error.type': '-32602', 'rpc.response.status_code': '-32602' }, error: 'bad city' },
      { name: 'tools/call get_weather', attributes: { ...base, 'error.type': 'tool_error' } },
      { name: 'tools/call get_weather', attributes: { ...base, 'rpc.response.status_code': -32001 }, error: 'timed out' },
      { name: 'tools/call get_weather', attributes: { ...base, 'error.type': 'ValueError' }, error: 'x' },
    ]),
    [
      { ...toolCall('weather.example:8443', 'get_weather'), requestId: '1' },
      toolCall('weather.example:8443', 'get_weather', 'invalid_params'),
      toolCall('weather.example:8443', 'get_weather', 'tool_error'),
      toolCall('weather.example:8443', 'get_weather', 'timeout'),
      toolCall('weather.example:8443', 'get_weather', '_other'),
    ],
  );
});

test('the JSON-RPC request id (jsonrpc.request.id) is kept as text, an integer as its digits; an empty or other value is none', () => {
  const ids = observe(
    ['42', 7, '', 1.5, true, undefined].map((id) => ({ name: 'tools/call get_weather', attributes: { 'mcp.method.name': 'tools/call', ...(id === undefined ? {} : { 'jsonrpc.request.id': id }) } })),
  ).map((o) => o!.requestId);
  assert.deepEqual(ids, ['42', '7', undefined, undefined, undefined, undefined]);
});

test('OpenTelemetry MCP convention: the tool name falls back to the span name without its method', () => {
  assert.deepEqual(
    observe([
      { name: 'tools/call fetch_url', attributes: { 'mcp.method.name': 'tools/call', 'server.address': 'fetch.local' } },
      { name: 'tools/call', attributes: { 'mcp.method.name': 'tools/call', 'server.address': 'fetch.local' } },
    ]),
    // A span that names no tool: pairing counts its call from another span of it when one comes.
    [toolCall('fetch.local', 'fetch_url'), { ...toolCall('fetch.local', 'tools/call'), unnamedTool: true }],
  );
});

test('FastMCP\'s span delegating to a mounted server (INTERNAL, `delegate add`) names no tool; the servers\' spans around and under it do', () => {
  const [outer, delegate, mounted] = observe([
    { name: 'tools/call child_add', kind: SpanKind.SERVER, attributes: fastmcpMounted.outer('add') },
    { name: 'delegate add', kind: SpanKind.INTERNAL, attributes: fastmcpMounted.delegate('add') },
    { name: 'tools/call add', kind: SpanKind.SERVER, attributes: fastmcpMounted.mounted('add') },
  ]);
  assert.deepEqual(outer, toolCall('unknown', 'child_add'));
  assert.deepEqual(delegate, { ...toolCall('unknown', 'delegate add'), unnamedTool: true });
  assert.deepEqual(mounted, toolCall('unknown', 'add'));
});

// As `mcp` 2.3.0 (Python SDK) and FastMCP 4.0.10 emit them, attributes as captured from their exports.
test('Python MCP SDK client spans (`MCP send tools/call add`) and FastMCP server spans with exception class names', () => {
  const fastmcpServerFailed = (tool: string, errorType: string, message: string): SpanDef => ({ name: `tools/call ${tool}`, kind: SpanKind.SERVER, attributes: fastmcpServer(tool, errorType), error: message });
  const [add, list, badArgs, unknownTool] = observe([
    { name: 'MCP send tools/call add', attributes: sdkClient('3') },
    { name: 'MCP send tools/list', attributes: { 'mcp.method.name': 'tools/list', 'jsonrpc.request.id': '1' } },
    fastmcpServerFailed('add', 'ValidationError', '1 validation error for call[add]'),
    fastmcpServerFailed('nosuch', 'NotFoundError', "Unknown tool: 'nosuch'"),
  ]);
  // It records neither a tool's isError result nor the server's address: it waits for the server's span.
  assert.deepEqual(add, { ...toolCall('unknown', 'add'), requestId: '3', awaitsServer: true });
  assert.deepEqual(list, { ...operation('unknown', 'tools/list'), requestId: '1', awaitsServer: true });
  assert.deepEqual(badArgs, toolCall('unknown', 'add', 'invalid_params'));
  assert.deepEqual(unknownTool, toolCall('unknown', 'nosuch', 'method_not_found'));
});

test('GenAI execute_tool spans are tool calls, named by gen_ai.tool.name; mcp.server.name wins; without MCP evidence they are not MCP', () => {
  assert.deepEqual(
    observe([
      {
        name: 'execute_tool search_docs',
        kind: SpanKind.INTERNAL,
        attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search_docs', 'mcp.server.name': 'docs', 'server.address': 'ignored' },
      },
      // A local function tool: no MCP attribute, no resolver to find evidence.
      { name: 'execute_tool', attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'calc' }, error: 'div by zero' },
    ]),
    [toolCall('docs', 'search_docs'), null],
  );
});

test('GenAI execute_tool spans without MCP attributes count only on evidence that they are a configured server\'s calls', () => {
  const resolve = serverResolver([
    { name: 'weather', url: 'http://weather.internal:8080/mcp', tools: ['get_weather', 'search'] },
    { name: 'docs', url: 'http://docs.internal:8080/mcp', tools: ['search_docs', 'search'], hints: { service_names: ['docs-bot'], hosts: ['gw.internal:8443'] } },
    { name: 'fresh', url: 'http://fresh.internal:8080/mcp', hints: { service_names: ['fresh-bot'] } },
  ]);
  const exec = (tool: string, extra: Attributes = {}): SpanDef => ({ name: `execute_tool ${tool}`, kind: SpanKind.INTERNAL, attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': tool, ...extra } });
  const agent = { 'service.name': 'support-bot' };
  assert.deepEqual(
    observe(
      [
        // The tool name on one probed server's list, or on several (ambiguous: still MCP).
        exec('get_weather'),
        exec('search'),
        // A local function tool: on no list, no address, no hint.
        exec('calculator'),
        // The address of a configured server, or a hosts hint; an address no server has is not evidence.
        exec('calculator', { 'server.address': 'weather.internal', 'server.port': 8080 }),
        exec('anything', { 'server.address': 'gw.internal', 'server.port': 8443 }),
        exec('get_weather', { 'server.address': 'api.open-meteo.com', 'server.port': 443 }),
        // MCP attributes are evidence of their own.
        exec('calculator', { 'mcp.tool.name': 'calculator' }),
        exec('calculator', { 'mcp.method.name': 'tools/call' }),
      ],
      resolve,
      agent,
    ),
    [
      toolCall('weather', 'get_weather'),
      { ...toolCall('unknown', 'search'), ambiguous: true },
      null,
      toolCall('weather', 'calculator'),
      toolCall('docs', 'anything'),
      null,
      toolCall('unknown', 'calculator'),
      toolCall('unknown', 'calculator'),
    ],
  );
  // A service_names hint vouches for the tools its server lists, not for the agent's local tools;
  // a server whose tool list is not known yet takes them all.
  assert.deepEqual(observe([exec('search_docs'), exec('search'), exec('calculator'), exec('get_weather')], resolve, { 'service.name': 'docs-bot' }), [
    toolCall('docs', 'search_docs'),
    toolCall('docs', 'search'),
    null,
    toolCall('weather', 'get_weather'),
  ]);
  assert.deepEqual(observe([exec('calculator')], resolve, { 'service.name': 'fresh-bot' }), [toolCall('fresh', 'calculator')]);
  // A server instrumenting itself (its service.name is its configured name): its own tools only.
  assert.deepEqual(observe([exec('get_weather'), exec('format_reply')], resolve, { 'service.name': 'weather' }), [toolCall('weather', 'get_weather'), null]);
  // Other tool conventions are not asked for evidence: an OpenLLMetry tool span stays a call.
  assert.deepEqual(observe([{ name: 'calculator.tool', attributes: { 'traceloop.span.kind': 'tool', 'traceloop.entity.name': 'calculator' } }], resolve, agent), [toolCall('unknown', 'calculator')]);
});

test('OpenLLMetry: `<tool>.tool` spans with traceloop.span.kind=tool, errors only as status ERROR', () => {
  assert.deepEqual(
    observe([
      { name: 'read_file.tool', attributes: { 'traceloop.span.kind': 'tool', 'traceloop.entity.name': 'read_file' }, ok: true },
      { name: 'read_file.tool', attributes: { 'traceloop.span.kind': 'tool', 'traceloop.entity.name': 'read_file' }, error: 'ENOENT' },
      { name: 'write_file.tool', attributes: { 'traceloop.span.kind': 'tool' } },
      { name: 'tools/list.mcp', attributes: { 'traceloop.entity.input': '{}' } },
      { name: 'initialize.mcp' },
      { name: 'something.mcp' },
      { name: 'chat.workflow', attributes: { 'traceloop.span.kind': 'workflow' } },
    ]),
    [
      toolCall('unknown', 'read_file'),
      toolCall('unknown', 'read_file', 'tool_error'),
      toolCall('unknown', 'write_file'),
      operation('unknown', 'tools/list'),
      operation('unknown', 'initialize'),
      null,
      null,
    ],
  );
});

test('OpenLLMetry 0.27: the JSON-RPC code of an SDK McpError is read from the status message; the session span is not an operation', () => {
  const tool = (name: string) => ({ 'traceloop.span.kind': 'tool', 'traceloop.entity.name': name });
  assert.deepEqual(
    observe([
      { name: 'lookup.tool', attributes: tool('lookup'), error: 'MCP error -32602: Invalid arguments for tool lookup' },
      { name: 'lookup.tool', attributes: tool('lookup'), error: 'MCP error -32001: Request timed out' },
      { name: 'lookup.tool', attributes: tool('lookup'), error: 'MCP error -32000: Connection closed' },
      { name: 'lookup.tool', attributes: tool('lookup'), error: 'MCP error -31999: custom' },
      { name: 'lookup.tool', attributes: tool('lookup'), error: 'no rows for MCP error -32602: quoted' },
      { name: 'lookup.tool', attributes: tool('lookup'), error: 'Unknown error' },
      { name: 'tools/list.mcp', error: 'MCP error -32603: boom' },
      { name: 'mcp.client.session', attributes: { 'traceloop.span.kind': 'session', 'traceloop.entity.name': 'mcp.client.session' } },
    ]),
    [
      toolCall('unknown', 'lookup', 'invalid_params'),
      toolCall('unknown', 'lookup', 'timeout'),
      toolCall('unknown', 'lookup', 'connection_closed'),
      toolCall('unknown', 'lookup', 'protocol_error'),
      toolCall('unknown', 'lookup', 'tool_error'),
      toolCall('unknown', 'lookup', 'tool_error'),
      operation('unknown', 'tools/list', 'internal_error'),
      null,
    ],
  );
  // The attributes win over the message.
  assert.equal(classifySpanError('-32601', undefined, 'tool_error', 'MCP error -32602: x'), 'method_not_found');
  assert.equal(classifySpanError(undefined, '-32601', 'tool_error', 'MCP error -32602: x'), 'method_not_found');
});

test('the resolver gets the tool name; an ambiguous tool name leaves the call unknown and marked', () => {
  const tools: Array<string | undefined> = [];
  const resolver: ServerResolver = (_span, tool) => {
    tools.push(tool);
    return tool === 'search' ? AMBIGUOUS : tool === 'alpha_only' ? 'alpha' : undefined;
  };
  const tl = (name: string) => ({ name: `${name}.tool`, attributes: { 'traceloop.span.kind': 'tool', 'traceloop.entity.name': name } });
  assert.deepEqual(observe([tl('search'), tl('alpha_only'), tl('other'), { name: 'tools/list.mcp' }], resolver), [
    { ...toolCall('unknown', 'search'), ambiguous: true },
    toolCall('alpha', 'alpha_only'),
    toolCall('unknown', 'other'),
    operation('unknown', 'tools/list'),
  ]);
  assert.deepEqual(tools, ['search', 'alpha_only', 'other', undefined]);
});

test('OpenInference: openinference.span.kind=TOOL with tool.name', () => {
  assert.deepEqual(
    observe([
      { name: 'lookup', kind: SpanKind.INTERNAL, attributes: { 'openinference.span.kind': 'TOOL', 'tool.name': 'lookup_order' } },
      { name: 'lookup', attributes: { 'openinference.span.kind': 'TOOL' }, error: 'boom' },
      { name: 'llm', attributes: { 'openinference.span.kind': 'LLM', 'tool.name': 'not-a-call' } },
    ]),
    [toolCall('unknown', 'lookup_order'), toolCall('unknown', 'lookup', 'tool_error'), null],
  );
});

test('mcp.tool.name, as some server instrumentations write it; ms-valued attributes never change durations', () => {
  assert.deepEqual(
    observe([
      {
        name: 'mcp.tool.call',
        kind: SpanKind.SERVER,
        attributes: {
          'mcp.method.name': 'tools/call',
          'mcp.tool.name': 'query_db',
          'mcp.server.name': 'postgres',
          'mcp.client.operation.duration': 250,
          duration_ms: 250,
        },
      },
    ]),
    [toolCall('postgres', 'query_db')],
  );
});

test('tool name precedence: gen_ai.tool.name, mcp.tool.name, traceloop.entity.name, tool.name, span name', () => {
  const all = {
    'mcp.method.name': 'tools/call',
    'gen_ai.tool.name': 'a',
    'mcp.tool.name': 'b',
    'traceloop.entity.name': 'c',
    'tool.name': 'd',
  };
  const without = (...keys: (keyof typeof all)[]): Attributes =>
    Object.fromEntries(Object.entries(all).filter(([k]) => !keys.includes(k as keyof typeof all)));
  const tools = observe([
    { name: 'tools/call e', attributes: all },
    { name: 'tools/call e', attributes: without('gen_ai.tool.name') },
    { name: 'tools/call e', attributes: without('gen_ai.tool.name', 'mcp.tool.name') },
    { name: 'tools/call e', attributes: without('gen_ai.tool.name', 'mcp.tool.name', 'traceloop.entity.name') },
    { name: 'tools/call e', attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': '' } },
  ]).map((o) => o?.tool);
  assert.deepEqual(tools, ['a', 'b', 'c', 'd', 'e']);
});

test('other MCP methods are operations by method; unknown methods are bounded to _other', () => {
  assert.deepEqual(
    observe([
      { name: 'tools/list', attributes: { 'mcp.method.name': 'tools/list', 'server.address': 'h' } },
      { name: 'initialize', attributes: { 'mcp.method.name': 'initialize', 'server.address': 'h' } },
      { name: 'resources/read file:///x', attributes: { 'mcp.method.name': 'resources/read', 'server.address': 'h' } },
      { name: 'x/custom', attributes: { 'mcp.method.name': 'x/custom-1234', 'server.address': 'h' } },
      { name: 'tools/list', attributes: { 'mcp.method.name': 'tools/list', 'server.address': 'h' }, error: 'closed' },
      { name: 'prompts/get', attributes: { 'mcp.method.name': 'prompts/get', 'server.address': 'h', 'error.type': '-32601' } },
      { name: 'ping', attributes: { 'mcp.method.name': 'ping', 'server.address': 'h', 'rpc.response.status_code': '-32000' }, error: 'x' },
    ]),
    [
      operation('h', 'tools/list'),
      operation('h', 'initialize'),
      operation('h', 'resources/read'),
      operation('h', '_other'),
      operation('h', 'tools/list', '_other'),
      operation('h', 'prompts/get', 'method_not_found'),
      operation('h', 'ping', 'connection_closed'),
    ],
  );
});

test('spans that are not MCP are ignored', () => {
  assert.deepEqual(
    observe([
      { name: 'GET /v1/models', attributes: { 'http.request.method': 'GET', 'server.address': 'api.example' } },
      { name: 'chat gpt-4o', attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o' } },
      { name: 'SELECT users', attributes: { 'db.system.name': 'postgresql' }, error: 'deadlock' },
      { name: 'weather.tool' }, // an OpenLLMetry-looking name without traceloop.span.kind=tool
      { name: '' },
    ]),
    [null, null, null, null, null],
  );
});

test('server: mcp.server.name, then a configured server the resolver matches, then server.address[:port], then unknown', () => {
  const seen: string[] = [];
  const resolver: ServerResolver = (span) => {
    seen.push(`${span.resource.serviceName}/${span.name}`);
    if (span.attrs.get('server.address') === 'localhost' && span.attrs.get('server.port') === 3001) return 'configured-notes';
    return span.name === 'tools/call resolved' ? 'filesystem' : undefined;
  };
  const tool = { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 't' };
  assert.deepEqual(
    observe(
      [
        { name: 'tools/call named', attributes: { ...tool, 'mcp.server.name': 'github', 'server.address': 'api.github.com' } },
        { name: 'tools/call addr', attributes: { ...tool, 'server.address': 'localhost', 'server.port': 3000 } },
        { name: 'tools/call configured', attributes: { ...tool, 'server.address': 'localhost', 'server.port': 3001 } },
        { name: 'tools/call addr-only', attributes: { ...tool, 'server.address': 'mcp.internal' } },
        { name: 'tools/call resolved', attributes: tool },
        { name: 'tools/call nothing', attributes: tool },
        { name: 'tools/call v6', attributes: { ...tool, 'server.address': '::1', 'server.port': 47311 } },
        { name: 'tools/call v6-bracketed', attributes: { ...tool, 'server.address': '[2001:db8::7]', 'server.port': '8443' } },
        { name: 'tools/call v6-only', attributes: { ...tool, 'server.address': 'fe80::1' } },
      ],
      resolver,
      { 'service.name': 'my-agent' },
    ).map((o) => o?.server),
    ['github', 'localhost:3000', 'configured-notes', 'mcp.internal', 'filesystem', 'unknown', '[::1]:47311', '[2001:db8::7]:8443', 'fe80::1'],
  );
  // The resolver is consulted whenever the span does not name its server with mcp.server.name.
  assert.deepEqual(seen.slice(0, 5), ['my-agent/tools/call addr', 'my-agent/tools/call configured', 'my-agent/tools/call addr-only', 'my-agent/tools/call resolved', 'my-agent/tools/call nothing']);
});

// ---- error mapping, row by row -------------------------------------------------------------------------

test('classifySpanError: error.type first, then rpc.response.status_code, then the fallback', () => {
  const rows: [AttrValue | undefined, AttrValue | undefined, ErrorType][] = [
    // catalogue values are kept
    ['tool_error', undefined, 'tool_error'],
    ['timeout', undefined, 'timeout'],
    ['invalid_params', '-32601', 'invalid_params'],
    ['_other', undefined, '_other'],
    // JSON-RPC codes as strings (the MCP convention) and as numbers
    ['-32602', undefined, 'invalid_params'],
    ['-32601', undefined, 'method_not_found'],
    ['-32001', undefined, 'timeout'],
    ['-32603', undefined, 'internal_error'],
    ['-32000', undefined, 'connection_closed'],
    [' -32602 ', undefined, 'invalid_params'],
    [-32603, undefined, 'internal_error'],
    ['-32700', undefined, 'protocol_error'],
    ['-32002', undefined, 'protocol_error'],
    // exception class names that say what failed (Python instrumentations), a code when one is sent
    ['ValidationError', undefined, 'invalid_params'],
    ['pydantic_core._pydantic_core.ValidationError', undefined, 'invalid_params'],
    ['NotFoundError', undefined, 'method_not_found'],
    ['TimeoutError', undefined, 'timeout'],
    ['MCPError', undefined, 'protocol_error'],
    ['McpError', '-32602', 'invalid_params'],
    // anything else, whatever rpc.response.status_code says
    ['ValueError', '-32602', '_other'],
    ['TOOL_ERROR', undefined, '_other'],
    ['__proto__', undefined, '_other'],
    [true, undefined, '_other'],
    [1.5, undefined, '_other'],
    // no error.type: the status code decides
    [undefined, '-32602', 'invalid_params'],
    [undefined, -32601, 'method_not_found'],
    [undefined, -32001, 'timeout'],
    [undefined, '-32603', 'internal_error'],
    [undefined, -32000, 'connection_closed'],
    [undefined, -32099, 'protocol_error'],
    ['', '-32000', 'connection_closed'],
    // nothing usable: the fallback
    [undefined, undefined, 'tool_error'],
    [undefined, 'DEADLINE_EXCEEDED', 'tool_error'],
    [undefined, false, 'tool_error'],
    ['', '', 'tool_error'],
  ];
  for (const [errorType, rpcStatus, expected] of rows) {
    assert.equal(classifySpanError(errorType, rpcStatus), expected, `error.type=${String(errorType)} rpc=${String(rpcStatus)}`);
  }
  assert.equal(classifySpanError(undefined, undefined, '_other'), '_other');
  // An unknown resource or prompt is no unknown tool.
  assert.equal(classifySpanError('NotFoundError', undefined, '_other'), '_other');
});

test('jsonRpcCodeToErrorType and categories of the traffic error types', () => {
  const rows: [number, ErrorType, 'transient' | 'permanent'][] = [
    [-32602, 'invalid_params', 'permanent'],
    [-32601, 'method_not_found', 'permanent'],
    [-32001, 'timeout', 'transient'],
    [-32603, 'internal_error', 'transient'],
    [-32000, 'connection_closed', 'transient'],
    [-32600, 'protocol_error', 'permanent'],
    [0, 'protocol_error', 'permanent'],
  ];
  for (const [code, type, category] of rows) {
    assert.equal(jsonRpcCodeToErrorType(code), type, String(code));
    assert.equal(ERROR_TYPES[type].category, category, type);
  }
});

test('an error observation carries the catalogue category', () => {
  const span: DecodedSpan = {
    name: 'tools/call x',
    kind: 3,
    startNs: 0,
    durationSeconds: 1.5,
    statusCode: 0,
    statusMessage: '',
    attrs: new Map<string, AttrValue>([
      ['mcp.method.name', 'tools/call'],
      ['error.type', '-32603'],
    ]),
    resource: { serviceName: undefined, attrs: new Map() },
    scope: '',
    traceId: undefined,
    spanId: undefined,
    parentSpanId: undefined,
  };
  assert.deepEqual(recogniseSpan(span), {
    kind: 'tool_call',
    server: 'unknown',
    method: 'tools/call',
    tool: 'x',
    outcome: 'error',
    errorType: 'internal_error',
    errorCategory: 'transient',
    durationSeconds: 1.5,
  });
});

test('normaliseMethod keeps spec methods only', () => {
  assert.equal(normaliseMethod('tools/call'), 'tools/call');
  assert.equal(normaliseMethod('notifications/tools/list_changed'), 'notifications/tools/list_changed');
  assert.equal(normaliseMethod('Tools/Call'), '_other');
  assert.equal(normaliseMethod(''), '_other');
});
