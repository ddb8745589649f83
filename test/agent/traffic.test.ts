// Real instrumented clients (OpenLLMetry's @traceloop/instrumentation-mcp around the MCP SDK client,
// and spans of the OpenTelemetry MCP conventions from the OpenTelemetry SDK), each a process of its
// own with its own service.name, call real MCP servers and export over OTLP gRPC and HTTP into a real
// agent: which server each call is counted under, the ambiguous count, and a server degraded by its
// failing traffic while its probes pass, then recovered.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { SpanKind } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Agent, type AgentAddresses } from '../../src/agent/agent.js';
import { parseConfig } from '../../src/config/load.js';
import type { AlertEvent } from '../../src/pipeline/events.js';
import type { HttpFixture } from '../fixtures/http-server.js';
import { startTrafficServer } from '../fixtures/traffic-server.js';
import { webhookReceiver } from '../fixtures/webhook.js';
import type { Plan, PlanResult } from '../fixtures/instrumented-agent.js';
import { FIXTURES, STDIO_FIXTURE, until } from '../helpers.js';

const run = promisify(execFile);

/** Runs one instrumented agent process to the end: its spans are exported when it returns. */
async function instrumentedAgent(plan: Plan): Promise<PlanResult> {
  const { stdout } = await run(process.execPath, [join(FIXTURES, 'instrumented-agent.js'), JSON.stringify(plan)]);
  return JSON.parse(stdout) as PlanResult;
}

const at = (a: AddressInfo | undefined): string => `127.0.0.1:${a!.port}`;

/** The value of the one series of `name` whose labels include all of `labels` (0 when there is none). */
function sample(metrics: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  let found = 0;
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (!Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
    found++;
  }
  assert.ok(found <= 1, `more than one series of ${name} match ${JSON.stringify(labels)}`);
  return total;
}

describe('traffic: attribution and error rate, from real instrumented clients', () => {
  const fixtures: HttpFixture[] = [];
  let agent: Agent | undefined;
  const closers: Array<() => Promise<void>> = [];
  after(async () => {
    await agent?.stop();
    for (const close of closers) await close();
    for (const f of fixtures) await f.close();
  });

  it('attributes OpenLLMetry and convention spans to their servers, counts ambiguous tool names, and degrades then recovers a server on its traffic alone', async () => {
    const alpha = await startTrafficServer('alpha-server', ['search', 'alpha_lookup']);
    const beta = await startTrafficServer('beta-server', ['search', 'beta_write']);
    const gamma = await startTrafficServer('gamma-server', ['gamma_run']);
    fixtures.push(alpha, beta, gamma);
    const hook = await webhookReceiver();
    // Closed in after() too: a failed assertion must not leave the receiver holding the process open.
    closers.push(() => hook.close());
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-traffic-'));
    // One probe each at start (interval 1h): their tool lists are what attributes OpenLLMetry's spans.
    const text = `monitoring: { interval: 1h, timeout: 30s }
alerts:
  - { type: webhook, url: "${hook.url}" }
exporters: { prometheus: { endpoint: "127.0.0.1:0" } }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0" }, http: { endpoint: "127.0.0.1:0" } } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
  - { name: alpha, transport: streamable_http, url: "${alpha.url}" }
  - { name: beta, transport: streamable_http, url: "${beta.url}", traffic: { service_names: [beta-bot] } }
  - { name: gamma, transport: streamable_http, url: "${gamma.url}", traffic: { error_rate: 0.5, window: 10m, min_calls: 4 } }
`;
    agent = new Agent({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) }, { log: pino({ level: 'silent' }), stdout: { write: () => true } });
    const addr: AgentAddresses = await agent.start();
    const live = agent;
    await until(() => live.ready, 'the first probe round');
    assert.deepEqual(live.statuses(), { alpha: 'up', beta: 'up', gamma: 'up' });
    const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text();
    const grpc = at(addr.otlp.grpc);
    const http = at(addr.otlp.http);

    const runs = await Promise.all([
      // OpenLLMetry over gRPC: tool names only. alpha_lookup and beta_write are each listed by one
      // server; search by two, so it stays unknown and counts as ambiguous.
      instrumentedAgent({
        style: 'traceloop',
        protocol: 'grpc',
        endpoint: grpc,
        service: 'support-bot',
        calls: [
          { url: alpha.url, tool: 'alpha_lookup', times: 3 },
          { url: beta.url, tool: 'beta_write', times: 2 },
          { url: alpha.url, tool: 'search', times: 4 },
        ],
      }),
      // The OpenTelemetry MCP conventions over HTTP (JSON): server.address and server.port win.
      instrumentedAgent({
        style: 'semconv',
        protocol: 'http',
        endpoint: http,
        service: 'triage-bot',
        calls: [
          { url: alpha.url, tool: 'search', times: 2 },
          { url: beta.url, tool: 'beta_write', fail: 'invalid', times: 1 },
        ],
      }),
      // OpenLLMetry from an agent a hint names: its ambiguous tool is beta's.
      instrumentedAgent({ style: 'traceloop', protocol: 'http', endpoint: http, service: 'beta-bot', calls: [{ url: beta.url, tool: 'search', times: 2 }] }),
    ]);
    assert.deepEqual(runs, [{ calls: 9, failed: 0 }, { calls: 3, failed: 1 }, { calls: 2, failed: 0 }]);

    const calls = (m: string, server: string, tool: string, outcome = 'success'): number =>
      sample(m, 'mcp_tool_calls_total', { mcp_server_name: server, gen_ai_tool_name: tool, outcome, source: 'traffic' });
    let m = '';
    await until(async () => {
      m = await metrics();
      const seen = ['alpha', 'beta', 'unknown'].reduce((n, s) => n + ['search', 'alpha_lookup', 'beta_write'].reduce((k, t) => k + calls(m, s, t) + calls(m, s, t, 'error'), 0), 0);
      return seen >= 14;
    }, 'all 14 tool calls in the metrics');
    assert.equal(calls(m, 'alpha', 'alpha_lookup'), 3);
    assert.equal(calls(m, 'alpha', 'search'), 2, 'by server.address:port');
    assert.equal(calls(m, 'beta', 'beta_write'), 2);
    assert.equal(sample(m, 'mcp_tool_calls_total', { mcp_server_name: 'beta', gen_ai_tool_name: 'beta_write', outcome: 'error', error_type: 'invalid_params' }), 1);
    assert.equal(calls(m, 'beta', 'search'), 2, 'by the service_names hint');
    assert.equal(calls(m, 'unknown', 'search'), 4);
    assert.equal(sample(m, 'mcpwatch_traffic_ambiguous_total', {}), 4);
    assert.equal(calls(m, 'unknown', 'alpha_lookup') + calls(m, 'unknown', 'beta_write'), 0);

    // gamma's callers start failing while its probes pass: 6 of 8 calls (75 %) over its 50 %.
    const failing = await instrumentedAgent({
      style: 'traceloop',
      protocol: 'grpc',
      endpoint: grpc,
      service: 'support-bot',
      calls: [
        { url: gamma.url, tool: 'gamma_run', fail: 'invalid', times: 6 },
        { url: gamma.url, tool: 'gamma_run', times: 2 },
      ],
    });
    assert.deepEqual(failing, { calls: 8, failed: 6 });
    const degraded = (): AlertEvent | undefined => hook.events.find((e) => e.server === 'gamma' && e.event === 'traffic_errors');
    await until(() => degraded() !== undefined, 'the traffic_errors alert');
    const event = degraded()!;
    assert.equal(event.message, 'traffic: 75 % of 8 calls failed (invalid_params 6)');
    assert.deepEqual([event.severity, event.previous_state, event.current_state], ['warning', 'up', 'degraded']);
    assert.deepEqual(
      { calls: event.details.calls, errors: event.details.errors, by_type: event.details.errors_by_type, threshold: event.details.threshold, error_type: event.details.error_type },
      { calls: 8, errors: 6, by_type: { invalid_params: 6 }, threshold: 0.5, error_type: 'invalid_params' },
    );
    assert.deepEqual(event.affected_agents?.agents.map((a) => [a.service_name, a.calls]), [['support-bot', 8]], 'the agents whose calls fail');
    assert.equal(live.statuses().gamma, 'degraded');
    assert.equal(sample(await metrics(), 'mcp_server_status', { mcp_server_name: 'gamma', mcp_server_status: 'degraded' }), 1);
    // The live view (health --from) says why: its probes pass, so their outcome has no reason to give.
    const view = (): { status: string; notes: string | null; error: unknown } => live.serversView().servers.find((s) => s.name === 'gamma')!;
    assert.deepEqual(view(), { ...view(), status: 'degraded', notes: 'traffic: 75 % of 8 calls failed (invalid_params 6)', error: null });

    // Calls succeed again: 6 of 28 (21 %) is under the threshold.
    assert.deepEqual(await instrumentedAgent({ style: 'traceloop', protocol: 'http', endpoint: http, service: 'support-bot', calls: [{ url: gamma.url, tool: 'gamma_run', times: 20 }] }), { calls: 20, failed: 0 });
    const recovered = (): AlertEvent | undefined => hook.events.find((e) => e.server === 'gamma' && e.event === 'recovered');
    await until(() => recovered() !== undefined, 'the recovered alert');
    const back = recovered()!;
    assert.deepEqual([back.previous_state, back.current_state, back.details.cause, back.details.calls, back.details.errors], ['degraded', 'up', 'traffic', 28, 6]);
    assert.match(back.message, /^traffic errors back under the threshold after .*: 21 % of 28 calls failed \(invalid_params 6\)$/);
    assert.equal(live.statuses().gamma, 'up');
    assert.equal(view().notes, null);
    // beta had 1 failure in 5 calls but its min_calls is the default 20: never judged, never alerted.
    assert.deepEqual(hook.events.filter((e) => e.server !== 'gamma').map((e) => e.event), []);
    assert.deepEqual(live.statuses(), { alpha: 'up', beta: 'up', gamma: 'up' });
  });

  it('re-reads the probed tool lists when a server changes its tools: a name unknown before is attributed after', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-traffic-'));
    const toolsFile = join(dir, 'tools.json');
    const tool = (name: string) => ({ name, description: name, inputSchema: { type: 'object', properties: {} } });
    writeFileSync(toolsFile, JSON.stringify([tool('search')]));
    const hook = await webhookReceiver();
    const text = `monitoring: { interval: 1h, timeout: 30s }
alerts:
  - { type: webhook, url: "${hook.url}" }
exporters: { prometheus: { endpoint: "127.0.0.1:0" } }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: null, http: { endpoint: "127.0.0.1:0" } } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
  - { name: kb, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, tools-from-file], env: { TOOLS_FILE: ${JSON.stringify(toolsFile)} } }
`;
    const kb = new Agent({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) }, { log: pino({ level: 'silent' }), stdout: { write: () => true } });
    try {
      const addr = await kb.start();
      await until(() => kb.ready, 'the first probe');
      // OpenLLMetry-shaped spans from the OpenTelemetry SDK, over OTLP/HTTP.
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': 'support-bot' }),
        spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `http://${at(addr.otlp.http)}/v1/traces` }))],
      });
      const call = async (name: string): Promise<void> => {
        provider.getTracer('t').startSpan(`${name}.tool`, { kind: SpanKind.CLIENT, attributes: { 'traceloop.span.kind': 'tool', 'traceloop.entity.name': name } }).end();
        await provider.forceFlush();
      };
      const calls = async (server: string, name: string): Promise<number> =>
        sample(await (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text(), 'mcp_tool_calls_total', { mcp_server_name: server, gen_ai_tool_name: name, source: 'traffic' });
      await call('search');
      await call('summarize');
      await until(async () => (await calls('kb', 'search')) === 1 && (await calls('unknown', 'summarize')) === 1, 'search on kb, summarize unknown');

      writeFileSync(toolsFile, JSON.stringify([tool('search'), tool('summarize')]));
      process.kill(kb.sessionPid('kb')!, 'SIGUSR2');
      await until(() => hook.events.some((e) => e.server === 'kb' && e.event === 'schema_drift'), 'the re-listing');
      await call('summarize');
      await until(async () => (await calls('kb', 'summarize')) === 1, 'summarize attributed to kb');
      assert.equal(await calls('unknown', 'summarize'), 1, 'the call before the change stays where it was counted');
      await provider.shutdown();
    } finally {
      await kb.stop();
      await hook.close();
    }
  });
});
