// A tool of a server that FastMCP 4.0.10 mounts into another (`parent.mount(child, namespace="child")`),
// called once over HTTP, reaches the receiver as five spans: the agent's FastMCP client span and the
// MCP Python SDK's `MCP send` span under it, then the outer server's SERVER span (`tools/call
// child_add`, the name the agent called), FastMCP's INTERNAL `delegate add` span (which carries
// `mcp.method.name=tools/call`) and the mounted server's own SERVER span (`tools/call add`, its parent
// the delegate span). Names, kinds, parents and attributes are those FastMCP and the SDK exported
// (OTLP/JSON), with fresh ids per call. Whatever requests they come in and in whatever order, the call
// is counted once, under the name the agent called, with its outcome.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTrafficServer } from '../fixtures/traffic-server.js';
import { until } from '../helpers.js';
import { startTrafficAgent, total } from './traffic-agent.js';

type Value = string | boolean;
interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: { stringValue: string } | { boolValue: boolean } }>;
  status: { code: number; message?: string };
}

const INTERNAL = 1;
const SERVER = 2;
const CLIENT = 3;
const id = (bytes: number): string => randomBytes(bytes).toString('hex');
const attrs = (a: Record<string, Value>): Span['attributes'] =>
  Object.entries(a).map(([key, v]) => ({ key, value: typeof v === 'boolean' ? { boolValue: v } : { stringValue: v } }));

/** The five spans of one call of the mounted tool `tool` as `child_${tool}`; `fails`: the tool raised. */
function mountedCall(tool: string, fails: boolean, requestId: string): { agent: { fastmcp: Span[]; sdk: Span[] }; inner: Span[]; outer: Span[] } {
  const traceId = id(16);
  const [c1, c2, outerId, delegateId, innerId] = [id(8), id(8), id(8), id(8), id(8)];
  const prefixed = `child_${tool}`;
  const session = '86afc0dc-7212-4b85-9a13-56a3931fffd0';
  // Children end first: times as a real call's, nested.
  const t0 = BigInt(Date.now()) * 1_000_000n;
  const at = (startMs: number, endMs: number): Pick<Span, 'startTimeUnixNano' | 'endTimeUnixNano'> => ({
    startTimeUnixNano: String(t0 + BigInt(startMs) * 1_000_000n),
    endTimeUnixNano: String(t0 + BigInt(endMs) * 1_000_000n),
  });
  const raised = `Error calling tool '${tool}': upstream API down`;
  const failed = (message: string): { error: Record<string, Value>; status: Span['status'] } =>
    fails ? { error: { 'error.type': 'tool_error' }, status: { code: 2, message } } : { error: {}, status: { code: 0 } };
  const span = (s: Omit<Span, 'traceId'>): Span => ({ traceId, ...s });
  return {
    agent: {
      fastmcp: [
        span({
          spanId: c1,
          name: `tools/call ${prefixed}`,
          kind: CLIENT,
          ...at(0, 180),
          attributes: attrs({ 'mcp.method.name': 'tools/call', 'fastmcp.component.key': prefixed, 'gen_ai.tool.name': prefixed, ...failed(raised).error }),
          status: failed(raised).status,
        }),
      ],
      sdk: [
        span({ spanId: c2, parentSpanId: c1, name: `MCP send tools/call ${prefixed}`, kind: CLIENT, ...at(5, 170), attributes: attrs({ 'mcp.method.name': 'tools/call', 'jsonrpc.request.id': requestId }), status: { code: 0 } }),
      ],
    },
    inner: [
      span({
        spanId: innerId,
        parentSpanId: delegateId,
        name: `tools/call ${tool}`,
        kind: SERVER,
        ...at(20, 30),
        attributes: attrs({
          'mcp.method.name': 'tools/call',
          'fastmcp.server.name': 'child',
          'fastmcp.component.type': 'tool',
          'fastmcp.component.key': `tool:${tool}@`,
          'mcp.protocol.version': '2026-07-28',
          'mcp.session.id': session,
          'gen_ai.tool.name': tool,
          'fastmcp.provider.type': 'LocalProvider',
          ...failed(`ToolError: ${raised}`).error,
        }),
        status: failed(`ToolError: ${raised}`).status,
      }),
      span({
        spanId: delegateId,
        parentSpanId: outerId,
        name: `delegate ${tool}`,
        kind: INTERNAL,
        ...at(19, 31),
        attributes: attrs({ 'fastmcp.provider.type': 'FastMCPProvider', 'fastmcp.component.key': tool, 'mcp.method.name': 'tools/call', ...failed(`ToolError: ${raised}`).error }),
        status: failed(`ToolError: ${raised}`).status,
      }),
    ],
    outer: [
      span({
        spanId: outerId,
        parentSpanId: c2,
        name: `tools/call ${prefixed}`,
        kind: SERVER,
        ...at(15, 35),
        attributes: attrs({
          'fastmcp.span.seam': true,
          'mcp.method.name': 'tools/call',
          'fastmcp.server.name': 'py-fastmcp',
          'mcp.protocol.version': '2026-07-28',
          'fastmcp.component.type': 'tool',
          'fastmcp.component.key': `tool:${prefixed}@`,
          'mcp.session.id': session,
          'gen_ai.tool.name': prefixed,
          'fastmcp.provider.type': 'FastMCPProvider',
          'fastmcp.delegate.original_name': tool,
          ...failed(raised).error,
        }),
        status: failed(raised).status,
      }),
    ],
  };
}

/** One OTLP/JSON request body: spans grouped by sender (service.name) and instrumentation scope. */
function request(groups: Array<{ service: string; scope: string; spans: Span[] }>): string {
  const byService = new Map<string, Array<{ scope: { name: string }; spans: Span[] }>>();
  for (const g of groups) {
    if (g.spans.length === 0) continue;
    const scopes = byService.get(g.service) ?? [];
    scopes.push({ scope: { name: g.scope }, spans: g.spans });
    byService.set(g.service, scopes);
  }
  return JSON.stringify({
    resourceSpans: [...byService].map(([service, scopeSpans]) => ({ resource: { attributes: attrs({ 'service.name': service }) }, scopeSpans })),
  });
}

describe('a mounted FastMCP server\'s tool call is counted once', () => {
  const closers: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  it('in one request, or in several in any order: once, under the name the agent called, with its failure', async () => {
    const server = await startTrafficServer('py-fastmcp', ['child_add', 'child_boom', 'own']);
    closers.push(() => server.close());
    const { metrics, httpEndpoint } = await startTrafficAgent([`{ name: mounted, transport: streamable_http, url: "${server.url}" }`], (stop) => closers.push(stop));
    const send = async (body: string): Promise<void> => {
      const res = await fetch(`http://${httpEndpoint}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      assert.equal(res.status, 200, await res.text());
    };

    type Part = 'agent' | 'mounted' | 'delegate' | 'outer';
    const parts = (call: ReturnType<typeof mountedCall>, which: readonly Part[]): Array<{ service: string; scope: string; spans: Span[] }> =>
      which.flatMap((p) =>
        p === 'agent'
          ? [
              // As the agent's exporter sends them: the SDK's span ended first.
              { service: 'mount-agent', scope: 'mcp-python-sdk', spans: call.agent.sdk },
              { service: 'mount-agent', scope: 'fastmcp', spans: call.agent.fastmcp },
            ]
          : [{ service: 'py-fastmcp', scope: 'fastmcp', spans: p === 'mounted' ? [call.inner[0]!] : p === 'delegate' ? [call.inner[1]!] : call.outer }],
      );
    // Each element a request. The server's spans end, and its exporter sends them, in this order:
    // the mounted server's, the delegate span, the outer server's; a batch may end between any two.
    const orders: Part[][][] = [
      [['agent', 'mounted', 'delegate', 'outer']],
      [['agent'], ['mounted', 'delegate', 'outer']],
      [['mounted', 'delegate', 'outer'], ['agent']],
      [['mounted', 'delegate'], ['outer'], ['agent']],
      [['mounted'], ['delegate', 'outer'], ['agent']],
      [['mounted'], ['delegate'], ['outer'], ['agent']],
      [['agent'], ['mounted', 'delegate'], ['outer']],
      [['agent'], ['mounted'], ['delegate', 'outer']],
      [['mounted', 'delegate'], ['agent'], ['outer']],
      // Requests resent or delivered out of order: the outer span first.
      [['outer'], ['mounted', 'delegate'], ['agent']],
      [['delegate', 'outer'], ['mounted'], ['agent']],
      [['outer'], ['delegate'], ['mounted'], ['agent']],
      [['agent'], ['outer'], ['mounted', 'delegate']],
      [['agent'], ['delegate', 'outer'], ['mounted']],
    ];
    let expected = 0;
    let spans = 0;
    for (const [i, order] of orders.entries()) {
      const what = JSON.stringify(order);
      const call = mountedCall('add', false, String(i + 2));
      for (const r of order) await send(request(parts(call, r)));
      expected++;
      spans += 5;
      const m = await metrics();
      assert.equal(total(m, 'mcp_tool_calls_total', { source: 'traffic' }), expected, what);
      assert.equal(total(m, 'mcp_tool_calls_total', { mcp_server_name: 'mounted', gen_ai_tool_name: 'child_add', outcome: 'success' }), expected, what);
      assert.equal(total(m, 'mcpwatch_traffic_duplicate_spans_total'), spans - expected, what);
    }

    // The mounted tool raises: one failed call, not three.
    const boom = mountedCall('boom', true, '40');
    await send(request(parts(boom, ['mounted', 'delegate', 'outer'])));
    await send(request(parts(boom, ['agent'])));
    let m = await metrics();
    assert.equal(total(m, 'mcp_tool_calls_total', { source: 'traffic' }), expected + 1);
    assert.equal(total(m, 'mcp_tool_calls_total', { mcp_server_name: 'mounted', gen_ai_tool_name: 'child_boom', outcome: 'error', error_type: 'tool_error' }), 1);

    // Every call counted from the agent's side: the agent is named, the server's process never is.
    assert.equal(total(m, 'mcpwatch_traffic_agent_calls_total', { mcp_server_name: 'mounted', mcp_agent_name: 'mount-agent' }), expected + 1);
    assert.equal(total(m, 'mcpwatch_traffic_agent_calls_total', { mcp_agent_name: 'py-fastmcp' }), 0);
    assert.equal(total(m, 'mcp_tool_calls_total', { gen_ai_tool_name: 'add' }), 0);
    assert.equal(total(m, 'mcp_tool_calls_total', { gen_ai_tool_name: 'delegate add' }), 0);

    // An agent that is not instrumented: no client span, and the outer server span has no parent.
    // Counted once from it, at once, under the name the agent called.
    for (const requests of [[['mounted', 'delegate', 'outer']], [['mounted', 'delegate'], ['outer']], [['mounted'], ['delegate', 'outer']], [['outer'], ['mounted', 'delegate']]] as Part[][][]) {
      const call = mountedCall('add', false, '50');
      delete call.outer[0]!.parentSpanId;
      for (const r of requests) await send(request(parts(call, r)));
      expected++;
    }
    await until(async () => total(await metrics(), 'mcp_tool_calls_total', { source: 'traffic' }) >= expected + 1, 'the uninstrumented agent\'s calls');
    m = await metrics();
    assert.equal(total(m, 'mcp_tool_calls_total', { source: 'traffic' }), expected + 1);
    assert.equal(total(m, 'mcp_tool_calls_total', { mcp_server_name: 'mounted', gen_ai_tool_name: 'child_add' }), expected);
    assert.equal(total(m, 'mcp_tool_calls_total', { gen_ai_tool_name: 'add' }), 0);
  });
});
