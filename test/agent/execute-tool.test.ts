// GenAI execute_tool spans are made for every tool an agent runs, local functions included. A real
// agent with a probed MCP server receives such spans from the OpenTelemetry SDK's OTLP exporter: only
// those with evidence of being the server's calls are MCP traffic; the agent's local tools are counted
// nowhere (not under `unknown`), and every span still reaches the backend unchanged.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { SpanKind, type Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { Agent } from '../../src/agent/agent.js';
import { parseConfig } from '../../src/config/load.js';
import { decodeTraceRequest } from '../../src/otlp/decode.js';
import { startOtlpUpstream } from '../fixtures/otlp-upstream.js';
import { startTrafficServer } from '../fixtures/traffic-server.js';
import { until } from '../helpers.js';

/** Exports GenAI execute_tool spans as `service` over OTLP/HTTP protobuf, and waits for the answer. */
async function executeTools(url: string, service: string, tools: Array<[tool: string, extra?: Attributes]>): Promise<void> {
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': service }), spanProcessors: [new SimpleSpanProcessor(new ProtoExporter({ url }))] });
  const tracer = provider.getTracer('genai-agent');
  for (const [tool, extra] of tools) {
    tracer.startSpan(`execute_tool ${tool}`, { kind: SpanKind.INTERNAL, attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': tool, ...extra } }).end();
  }
  await provider.forceFlush();
  await provider.shutdown();
}

describe('GenAI execute_tool spans', () => {
  it('count as MCP traffic only on evidence; local function tools count nowhere, and are forwarded unchanged', async (t) => {
    const upstream = await startOtlpUpstream({ protocol: 'http' });
    t.after(() => upstream.close());
    const weather = await startTrafficServer('weather-server', ['get_weather']);
    t.after(() => weather.close());
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-exec-tool-'));
    const text = `monitoring: { interval: 1h, timeout: 30s }
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  otlp: { endpoint: "${upstream.endpoint}", protocol: http/protobuf, interval: 1h }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: null, http: { endpoint: "127.0.0.1:0" } } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
alerts: []
servers:
  - { name: weather, transport: streamable_http, url: "${weather.url}", traffic: { service_names: [weather-bot] } }
`;
    const agent = new Agent({ file: 'x.yaml', text, config: parseConfig(text, 'x.yaml', {}) }, { log: pino({ level: 'silent' }), stdout: { write: () => true } });
    t.after(() => agent.stop());
    const addr = await agent.start();
    // Its first probe lists the server's tools: get_weather is the server's, calculator nobody's.
    await until(() => agent.ready, 'the first probe');
    const url = `http://127.0.0.1:${addr.otlp.http!.port}/v1/traces`;
    await executeTools(url, 'support-bot', [
      ['get_weather'],
      ['calculator'],
      // An address, but no configured server's: a web request the tool made, not an MCP call.
      ['fetch_page', { 'server.address': 'example.com', 'server.port': 443 }],
    ]);
    // The agent a hint names: its MCP tool is the server's, its local tool is still its own.
    await executeTools(url, 'weather-bot', [['get_weather'], ['calculator']]);

    const m = await (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text();
    const calls = m.split('\n').filter((l) => l.startsWith('mcp_tool_calls_total{') && l.includes('source="traffic"'));
    assert.deepEqual(
      calls.map((l) => [/mcp_server_name="([^"]*)"/.exec(l)![1], /gen_ai_tool_name="([^"]*)"/.exec(l)![1], Number(l.slice(l.lastIndexOf(' ') + 1))]),
      [['weather', 'get_weather', 2]],
      'no call of calculator or fetch_page, under unknown or anywhere',
    );
    // Every span, MCP or not, reached the backend.
    await until(() => upstream.requests.reduce((n, r) => n + decodeTraceRequest(r.body).spans.length, 0) >= 5, 'the 5 spans forwarded');
    const forwarded = upstream.requests.flatMap((r) => decodeTraceRequest(r.body).spans.map((s) => `${s.resource.serviceName} ${s.name}`));
    assert.deepEqual(forwarded.sort(), [
      'support-bot execute_tool calculator',
      'support-bot execute_tool fetch_page',
      'support-bot execute_tool get_weather',
      'weather-bot execute_tool calculator',
      'weather-bot execute_tool get_weather',
    ]);
  });
});
