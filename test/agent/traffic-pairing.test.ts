// One tool call, instrumented on both sides, is one call in mcpwatch: an instrumented agent (its own
// process, the OpenTelemetry MCP conventions' CLIENT spans, trace context in params._meta) calls real
// MCP servers that instrument themselves (SERVER spans, children of the agent's), and both export to
// a real mcpwatch agent, separately. The tool-call metrics, the error-rate window that degrades a
// server and the calling agents count each call once, whichever side's spans arrive first.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import type { HttpFixture } from '../fixtures/http-server.js';
import { startTrafficServer } from '../fixtures/traffic-server.js';
import type { Plan, PlanResult } from '../fixtures/instrumented-agent.js';
import { FIXTURES, until } from '../helpers.js';
import { startTrafficAgent, total } from './traffic-agent.js';

const run = promisify(execFile);
const AGENT_SCRIPT = join(FIXTURES, 'instrumented-agent.js');

/** An MCP server that instruments itself; its spans wait in memory until the test exports them. */
async function instrumentedServer(name: string, tool: string): Promise<{ fixture: HttpFixture; exportTo(exporter: SpanExporter): Promise<number> }> {
  const finished = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': name }), spanProcessors: [new SimpleSpanProcessor(finished)] });
  const fixture = await startTrafficServer(name, [tool], provider.getTracer(name));
  return {
    fixture,
    exportTo: async (exporter) => {
      const spans: ReadableSpan[] = finished.getFinishedSpans();
      finished.reset();
      await new Promise<void>((resolve, reject) => exporter.export(spans, (r) => (r.code === 0 ? resolve() : reject(r.error ?? new Error('export failed')))));
      return spans.length;
    },
  };
}

/** An instrumented agent that exports only when released, after it has made its calls. */
function heldAgent(plan: Plan): { made: Promise<number>; release(): void; done: Promise<PlanResult> } {
  const child = spawn(process.execPath, [AGENT_SCRIPT, JSON.stringify({ ...plan, exportOnStdinEnd: true })], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const seen: string[] = [];
  let onLine: (() => void) | undefined;
  lines.on('line', (l) => {
    seen.push(l);
    onLine?.();
  });
  const line = (n: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (seen.length > n) resolve(seen[n]!);
      };
      onLine = check;
      check();
      child.once('exit', (code) => (seen.length > n ? resolve(seen[n]!) : reject(new Error(`instrumented agent exited ${code} after ${seen.length} lines`))));
    });
  const made = line(0).then((l) => (JSON.parse(l) as { calls_made: number }).calls_made);
  return {
    made,
    release: () => child.stdin.end(),
    done: made.then(() => line(1)).then((l) => JSON.parse(l) as PlanResult),
  };
}

describe('one tool call seen by both sides is counted once', () => {
  const closers: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  it('client spans first or server spans first: the calls, the error-rate window and the calling agents count each call once, as the client saw it', async () => {
    const weather = await instrumentedServer('weather-server', 'get_weather');
    closers.push(() => weather.fixture.close());
    const forecast = await instrumentedServer('forecast-server', 'get_forecast');
    closers.push(() => forecast.fixture.close());
    const { agent, metrics, grpcEndpoint, httpEndpoint } = await startTrafficAgent(
      [
        `{ name: weather, transport: streamable_http, url: "${weather.fixture.url}", traffic: { error_rate: 0.5, window: 10m, min_calls: 4 } }`,
        `{ name: forecast, transport: streamable_http, url: "${forecast.fixture.url}", traffic: { error_rate: 0.5, window: 10m, min_calls: 4 } }`,
      ],
      (stop) => closers.push(stop),
    );
    const grpcExporter = new GrpcExporter({ url: `http://${grpcEndpoint}` });
    const jsonExporter = new JsonExporter({ url: `http://${httpEndpoint}/v1/traces` });
    closers.push(() => Promise.all([grpcExporter.shutdown(), jsonExporter.shutdown()]));
    const calls = (m: string, server: string): number => total(m, 'mcp_tool_calls_total', { mcp_server_name: server, source: 'traffic' });
    const duplicates = (m: string): number => total(m, 'mcpwatch_traffic_duplicate_spans_total');
    const notes = (server: string): string | null => agent.serversView().servers.find((s) => s.name === server)!.notes;

    /** An instrumented agent's plan: 4 calls of `tool`, 3 of them failing, the trace context in params._meta. */
    const plan = (service: string, protocol: Plan['protocol'], url: string, tool: string): Plan => ({
      style: 'semconv',
      protocol,
      endpoint: protocol === 'grpc' ? grpcEndpoint : httpEndpoint,
      service,
      propagate: true,
      calls: [
        { url, tool, fail: 'invalid', times: 3 },
        { url, tool, times: 1 },
      ],
    });

    // The agent's spans first (OTLP/HTTP JSON, at its exit), then the server's (OTLP/gRPC).
    const first = plan('support-bot', 'http', weather.fixture.url, 'get_weather');
    const { stdout } = await run(process.execPath, [AGENT_SCRIPT, JSON.stringify(first)]);
    assert.deepEqual(JSON.parse(stdout), { calls: 4, failed: 3 });
    await until(async () => calls(await metrics(), 'weather') === 4, 'the agent\'s 4 calls');
    assert.equal(await weather.exportTo(grpcExporter), 4, 'the server made a span of each call');
    await until(async () => duplicates(await metrics()) === 4, 'the server\'s 4 spans recognised as the same calls');
    let m = await metrics();
    assert.equal(calls(m, 'weather'), 4);
    assert.equal(total(m, 'mcp_tool_calls_total', { mcp_server_name: 'weather', outcome: 'error', error_type: 'invalid_params' }), 3);
    assert.equal(total(m, 'mcp_client_operation_duration_count', { mcp_server_name: 'weather', mcp_method_name: 'tools/call', source: 'traffic' }), 4);
    assert.equal(total(m, 'mcpwatch_traffic_agent_calls_total', { mcp_server_name: 'weather', mcp_agent_name: 'support-bot' }), 4);
    // The window that degrades the server: 3 failures in 4 calls, not 6 in 8.
    await until(() => notes('weather') !== null, 'weather degraded by its traffic');
    assert.equal(notes('weather'), 'traffic: 75 % of 4 calls failed (invalid_params 3)');

    // The server's spans first (OTLP/HTTP JSON), while the agent's wait in its process; then the agent's (OTLP/gRPC).
    const second = heldAgent(plan('triage-bot', 'grpc', forecast.fixture.url, 'get_forecast'));
    assert.equal(await second.made, 4);
    assert.equal(await forecast.exportTo(jsonExporter), 4);
    // Received and answered: the server's spans wait for their client's, none counted yet.
    m = await metrics();
    assert.equal(calls(m, 'forecast'), 0);
    assert.equal(notes('forecast'), null);
    second.release();
    assert.deepEqual(await second.done, { calls: 4, failed: 3 });
    await until(async () => calls(await metrics(), 'forecast') === 4, 'the agent\'s 4 calls');
    m = await metrics();
    assert.equal(duplicates(m), 8, 'the 4 waiting server spans were the same calls');
    assert.equal(total(m, 'mcp_tool_calls_total', { mcp_server_name: 'forecast', outcome: 'error', error_type: 'invalid_params' }), 3);
    // Counted as the client saw them: the calling agent is named (a server's span names none).
    assert.equal(total(m, 'mcpwatch_traffic_agent_calls_total', { mcp_server_name: 'forecast', mcp_agent_name: 'triage-bot' }), 4);
    await until(() => notes('forecast') !== null, 'forecast degraded by its traffic');
    assert.equal(notes('forecast'), 'traffic: 75 % of 4 calls failed (invalid_params 3)');
    const view = agent.serversView().servers.find((s) => s.name === 'forecast')!;
    assert.deepEqual(view.agents.agents.map((a) => [a.service_name, a.calls]), [['triage-bot', 4]]);
  });
});
