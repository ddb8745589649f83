// Blast radius end to end: two instrumented agents (the OpenTelemetry SDK around real MCP client
// calls, one exporting over OTLP/gRPC, the other over OTLP/HTTP) call a real fixture server that
// mcpwatch probes. The agent must name them on /api/v1/servers, in the down alert when the server
// dies, after a restart on the same state file, and through `mcpwatch health --from`.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { connect } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as HttpExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import pino from 'pino';
import { Agent, type AgentAddresses } from '../../src/agent/agent.js';
import { parseConfig } from '../../src/config/load.js';
import type { AffectedAgents } from '../../src/pipeline/events.js';
import { alertsFor, buildSlackMessage, formatStdout } from '../../src/export/notify.js';
import { startHttpFixture, type HttpFixture } from '../fixtures/http-server.js';
import { CLI, STDIO_FIXTURE, until } from '../helpers.js';
import { webhookReceiver } from '../fixtures/webhook.js';
import { refusingPort } from '../fixtures/refusing.js';

const quiet = pino({ level: 'silent' });

/**
 * An agent instrumented by hand the way the MCP semantic conventions say: one CLIENT span per
 * tools/call made with the MCP SDK's client, carrying the server's address and port.
 */
async function instrumentedCalls(resource: Record<string, string>, exporter: GrpcExporter | HttpExporter, serverUrl: string, calls: Array<[tool: string, args: Record<string, unknown>]>): Promise<void> {
  const provider = new NodeTracerProvider({ resource: resourceFromAttributes(resource), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('agent-under-test');
  const client = new Client({ name: resource['service.name']!, version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(serverUrl)));
  const url = new URL(serverUrl);
  try {
    for (const [tool, args] of calls) {
      await tracer.startActiveSpan(
        `tools/call ${tool}`,
        {
          kind: SpanKind.CLIENT,
          attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': tool, 'gen_ai.operation.name': 'execute_tool', 'server.address': url.hostname, 'server.port': Number(url.port), 'network.transport': 'tcp' },
        },
        async (span) => {
          const result = await client.callTool({ name: tool, arguments: args });
          if (result.isError) span.setAttribute('error.type', 'tool_error');
          span.end();
        },
      );
    }
  } finally {
    await client.close();
    await provider.forceFlush();
    await provider.shutdown();
  }
}

interface ServersView {
  generated_at: string;
  servers: Array<{ name: string; status: string; era: string | null; checks: unknown[]; last_error: unknown; availability: Record<string, number | null>; agents: AffectedAgents }>;
}

async function view(addr: AgentAddresses): Promise<ServersView> {
  const res = await fetch(`http://127.0.0.1:${addr.health.port}/api/v1/servers`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  return (await res.json()) as ServersView;
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const agents: Agent[] = [];
const fixtures: HttpFixture[] = [];
after(async () => {
  for (const a of agents) await a.stop();
  for (const f of fixtures) await f.close().catch(() => undefined);
});

function makeAgent(dir: string, fixtureUrl: string, hookUrl: string): Agent {
  // A probe deadline no healthy probe comes near on a busy machine; one failure is down, so the
  // server's death is seen at the first check after it.
  const text = `monitoring: { interval: 1s, timeout: 30s, consecutive_failures_before_down: 1 }
alerts:
  - { type: webhook, url: "${hookUrl}", retry: { max_attempts: 2, initial_backoff: 100ms } }
exporters: { prometheus: { endpoint: "127.0.0.1:0" } }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0" }, http: { endpoint: "127.0.0.1:0" } } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
blast_radius: { window: 24h, max_agents_per_server: 5 }
servers:
  - { name: tools, transport: streamable_http, url: "${fixtureUrl}", protocol: legacy }
`;
  const agent = new Agent({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) }, { log: quiet, stdout: { write: () => true } });
  agents.push(agent);
  return agent;
}

describe('blast radius (issue 17)', () => {
  it('names the calling agents on /api/v1/servers, in the down alert, after a restart and through health --from', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-blast-'));
    const fixture = await startHttpFixture('streamable');
    fixtures.push(fixture);
    const hook = await webhookReceiver();
    const agent = makeAgent(dir, fixture.url, hook.url);
    const addr = await agent.start();
    await until(() => agent.statuses().tools === 'up', 'the fixture server up');

    // support-bot (in Kubernetes, over gRPC) calls add three times and echo once; triage-bot (over HTTP) calls echo once.
    await instrumentedCalls(
      { 'service.name': 'support-bot', 'service.namespace': 'helpdesk', 'k8s.namespace.name': 'prod', 'k8s.deployment.name': 'support-bot' },
      new GrpcExporter({ url: `http://127.0.0.1:${addr.otlp.grpc!.port}` }),
      fixture.url,
      [['add', { a: 1, b: 2 }], ['add', { a: 2, b: 3 }], ['add', { a: 3, b: 4 }], ['echo', { message: 'hi' }]],
    );
    await instrumentedCalls({ 'service.name': 'triage-bot' }, new HttpExporter({ url: `http://127.0.0.1:${addr.otlp.http!.port}/v1/traces` }), fixture.url, [['echo', { message: 'ho' }]]);
    await until(async () => (await view(addr)).servers[0]!.agents.total_calls === 5, 'five calls attributed to the server');

    // The view serves availability as the 30 s refresh (and each state change) worked it out: a
    // request runs no SQLite query per server and window. The refresh's own queries are not the
    // request's: a request that a refresh ran beside (its timer, on a machine slow enough to reach
    // it) says nothing, and is asked again.
    const inside = agent as unknown as { store: { availability: (...args: unknown[]) => unknown }; refreshAvailability: (...args: unknown[]) => void };
    const { store } = inside;
    const query = store.availability;
    const refresh = inside.refreshAvailability;
    let queries = 0;
    let refreshes = 0;
    store.availability = (...args: unknown[]) => {
      queries++;
      return query.apply(store, args);
    };
    inside.refreshAvailability = (...args: unknown[]) => {
      refreshes++;
      refresh.apply(agent, args);
    };
    let live: ServersView['servers'][number] | undefined;
    await until(async () => {
      [queries, refreshes] = [0, 0];
      live = (await view(addr)).servers[0]!;
      return refreshes === 0;
    }, 'a request with no availability refresh beside it');
    store.availability = query;
    delete (inside as { refreshAvailability?: unknown }).refreshAvailability;
    assert.equal(queries, 0, 'GET /api/v1/servers queried the state file');
    assert.ok(live);
    assert.equal(live.name, 'tools');
    assert.equal(live.status, 'up');
    assert.equal(live.era, 'legacy');
    assert.equal(live.last_error, null);
    assert.deepEqual(Object.keys(live.availability), ['1h', '24h', '7d']);
    assert.equal(live.availability['1h'], 1, 'the first check (a state change) worked it out');
    assert.equal(live.agents.window_seconds, 86_400);
    assert.deepEqual(
      live.agents.agents.map((a) => [a.name, a.service_name, a.service_namespace, a.k8s_namespace_name, a.k8s_deployment_name, a.calls, a.tools.map((t) => [t.name, t.calls])]),
      [
        ['helpdesk/support-bot (k8s prod/support-bot)', 'support-bot', 'helpdesk', 'prod', 'support-bot', 4, [['add', 3], ['echo', 1]]],
        ['triage-bot', 'triage-bot', undefined, undefined, undefined, 1, [['echo', 1]]],
      ],
    );
    assert.deepEqual(live.agents.others, { agents: 0, calls: 0, last_seen: null });

    // The series Prometheus rules join into alert annotations.
    const metrics = await (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text();
    assert.match(metrics, /^mcpwatch_traffic_agents\{[^}]*mcp_server_name="tools"[^}]*\} 2$/m);
    assert.match(metrics, /^mcpwatch_traffic_agent_calls_total\{[^}]*mcp_agent_name="support-bot"[^}]*\} 4$/m);
    assert.match(metrics, /^mcpwatch_traffic_agent_calls_total\{[^}]*mcp_agent_k8s_namespace="prod"[^}]*\} 4$/m);
    assert.match(metrics, /^mcpwatch_traffic_agent_calls_total\{[^}]*mcp_agent_name="triage-bot"[^}]*\} 1$/m);

    // health --from prints the running agent's view without probing: the same agents, as JSON.
    const from = await cli(['health', '--from', `http://127.0.0.1:${addr.health.port}`, '--json']);
    assert.equal(from.code, 0, from.stderr);
    const printed = JSON.parse(from.stdout) as ServersView;
    assert.deepEqual(printed.servers.map((s) => [s.name, s.status, s.agents.agents.map((a) => [a.service_name, a.calls])]), [['tools', 'up', [['support-bot', 4], ['triage-bot', 1]]]]);
    const table = await cli(['health', '--from', `http://127.0.0.1:${addr.health.port}`]);
    assert.equal(table.code, 0, table.stderr);
    assert.ok(table.stdout.includes('tools is called by helpdesk/support-bot (k8s prod/support-bot) (4 calls in 24h'), table.stdout);

    // The server dies: the down alert names who is affected, in its JSON and as its text.
    await fixture.close();
    await until(() => hook.events.some((e) => e.server === 'tools' && e.event === 'down'), 'the down alert');
    const down = hook.events.find((e) => e.event === 'down')!;
    assert.deepEqual(
      down.affected_agents?.agents.map((a) => [a.name, a.calls]),
      [['helpdesk/support-bot (k8s prod/support-bot)', 4], ['triage-bot', 1]],
    );
    assert.equal(down.affected_agents?.total_calls, 5);
    assert.ok(formatStdout(down).includes('    affected: helpdesk/support-bot (k8s prod/support-bot) (4 calls in 24h, last '), formatStdout(down));
    const downView = await cli(['health', '--from', `http://127.0.0.1:${addr.health.port}`, '--json']);
    assert.equal(downView.code, 1, 'a server not up: exit 1, as a probe run');
    assert.equal((JSON.parse(downView.stdout) as ServersView).servers[0]!.status, 'down');

    // A restart on the same state file still knows who called, before any new traffic.
    await agent.stop();
    const again = makeAgent(dir, fixture.url, hook.url);
    const addr2 = await again.start();
    const restored = (await view(addr2)).servers[0]!.agents;
    assert.deepEqual(restored.agents.map((a) => [a.name, a.calls, a.tools.map((t) => [t.name, t.calls])]), [
      ['helpdesk/support-bot (k8s prod/support-bot)', 4, [['add', 3], ['echo', 1]]],
      ['triage-bot', 1, [['echo', 1]]],
    ]);
    await again.stop();
    await hook.close();
  });

  it('health --from says clearly when nothing or something else answers', async (t) => {
    const dead = await refusingPort();
    t.after(() => dead.close());
    const unreachable = await cli(['health', '--from', dead.url(), '--json']);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach the mcpwatch agent at http:\/\/127\.0\.0\.1:\d+\/api\/v1\/servers: ECONNREFUSED/);
    assert.equal(unreachable.stdout, '');

    const other = await startHttpFixture('html-200');
    fixtures.push(other);
    const wrong = await cli(['health', '--from', other.url, '--json']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /is not an mcpwatch agent's health endpoint/);

    const usage = await cli(['health', '--from', 'http://127.0.0.1:1', '--url', 'http://127.0.0.1:2/mcp']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--url is for probing/);
  });

  it('a schema_drift alert names the agents that called the changed or removed tools, in every notifier', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-blast-'));
    const toolsFile = join(dir, 'tools.json');
    const tool = (name: string, props: Record<string, unknown>, required: string[]) => ({ name, description: name, inputSchema: { type: 'object', properties: props, required } });
    writeFileSync(toolsFile, JSON.stringify([tool('create_pull_request', { title: { type: 'string' } }, ['title']), tool('delete_branch', { branch: { type: 'string' } }, ['branch']), tool('list_repos', {}, [])]));
    const hook = await webhookReceiver();
    const text = `monitoring: { timeout: 30s }
alerts: [{ type: webhook, url: "${hook.url}" }]
exporters: { prometheus: null }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: null, http: { endpoint: "127.0.0.1:0" } } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
  - { name: github, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, tools-from-file], env: { TOOLS_FILE: ${JSON.stringify(toolsFile)} }, interval: 1h }
`;
    const agent = new Agent({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) }, { log: quiet, stdout: { write: () => true } });
    agents.push(agent);
    const addr = await agent.start();
    await until(() => agent.statuses().github === 'up', 'the stdio server up');

    // Spans of a stdio server carry no address: these name it (mcp.server.name), through the same router.
    const send = async (service: string, tools: string[]): Promise<void> => {
      const provider = new NodeTracerProvider({ resource: resourceFromAttributes({ 'service.name': service }), spanProcessors: [new SimpleSpanProcessor(new HttpExporter({ url: `http://127.0.0.1:${addr.otlp.http!.port}/v1/traces` }))] });
      const tracer = provider.getTracer('agent-under-test');
      for (const t of tools) tracer.startSpan(`tools/call ${t}`, { kind: SpanKind.CLIENT, attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': t, 'mcp.server.name': 'github' } }).end();
      await provider.forceFlush();
      await provider.shutdown();
    };
    await send('release-bot', ['delete_branch', 'delete_branch', 'create_pull_request']);
    await send('report-bot', ['list_repos', 'list_repos', 'list_repos']);
    await until(async () => (await view(addr)).servers[0]!.agents.total_calls === 6, 'six calls attributed');

    writeFileSync(toolsFile, JSON.stringify([tool('create_pull_request', { title: { type: 'string' }, draft: { type: 'boolean' } }, ['title', 'draft']), tool('list_repos', {}, [])]));
    process.kill(agent.sessionPid('github')!, 'SIGUSR2');
    await until(() => hook.events.some((e) => e.event === 'schema_drift'), 'the schema_drift alert');
    const drift = hook.events.find((e) => e.event === 'schema_drift')!;
    const affected = drift.affected_agents!;
    assert.deepEqual(affected.tools, ['delete_branch', 'create_pull_request']);
    assert.deepEqual(affected.agents.map((a) => [a.name, a.calls, a.tools.map((t) => [t.name, t.calls])]), [['release-bot', 3, [['delete_branch', 2], ['create_pull_request', 1]]]]);
    assert.equal(affected.total_calls, 3, 'report-bot called no changed tool');

    // Every notifier says it: stdout, Slack and Alertmanager (the webhook carries the JSON above).
    // When the last call was is structured data; the line words it relative to the alert.
    const lastCall = Date.parse(affected.agents[0]!.last_seen);
    assert.ok(lastCall <= Date.parse(drift.timestamp) && lastCall >= Date.parse(drift.timestamp) - 86_400_000, affected.agents[0]!.last_seen);
    assert.ok(formatStdout(drift).includes('\n    affected: release-bot (delete_branch, create_pull_request: 3 calls in 24h, last '), formatStdout(drift));
    const slack = JSON.stringify(buildSlackMessage(drift));
    assert.ok(slack.includes('*Affected agents*\\n• release-bot (delete_branch, create_pull_request: 3 calls in 24h'), slack);
    const [alert] = alertsFor(drift, new Map(), Date.parse(drift.timestamp), { labels: {}, resend_interval: 60_000 });
    assert.match(alert!.annotations.affected_agents!, /^release-bot \(delete_branch, create_pull_request: 3 calls in 24h, last /);
    await agent.stop();
    await hook.close();
  });

  it('keeps the callers of an upload the receiver finishes and answers while the agent stops', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-blast-'));
    const fixture = await startHttpFixture('streamable');
    t.after(() => fixture.close());
    const text = `monitoring: { interval: 1h, timeout: 30s }
exporters: { prometheus: null }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: null, http: { endpoint: "127.0.0.1:0" } } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
  - { name: tools, transport: streamable_http, url: "${fixture.url}" }
`;
    const make = (): Agent => new Agent({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) }, { log: quiet, stdout: { write: () => true } });
    const agent = make();
    const addr = await agent.start();
    await until(() => agent.statuses().tools === 'up');
    const url = new URL(fixture.url);
    const now = BigInt(Date.now()) * 1_000_000n;
    const attr = (key: string, value: object): object => ({ key, value });
    const whole = JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [attr('service.name', { stringValue: 'late-bot' })] },
          scopeSpans: [
            {
              scope: { name: 'test' },
              spans: [
                {
                  traceId: '0af7651916cd43dd8448eb211c80319c',
                  spanId: 'b7ad6b7169203331',
                  name: 'tools/call echo',
                  kind: 3,
                  startTimeUnixNano: String(now - 1_000_000n),
                  endTimeUnixNano: String(now),
                  attributes: [attr('mcp.method.name', { stringValue: 'tools/call' }), attr('gen_ai.tool.name', { stringValue: 'echo' }), attr('server.address', { stringValue: url.hostname }), attr('server.port', { intValue: Number(url.port) })],
                },
              ],
            },
          ],
        },
      ],
    });
    // An upload under way when the stop begins: its head and part of its body are in.
    let begun = false;
    const requestStart = diagnostics.channel('http.server.request.start');
    const onStart = (): void => void (begun = true);
    requestStart.subscribe(onStart);
    t.after(() => requestStart.unsubscribe(onStart));
    const sock = connect(addr.otlp.http!.port, '127.0.0.1');
    t.after(() => sock.destroy());
    let answer = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => (answer += c));
    sock.write(`POST /v1/traces HTTP/1.1\r\nhost: agent\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(whole)}\r\n\r\n${whole.slice(0, 100)}`);
    await until(() => begun, 'the receiver reading the upload');
    const stopping = agent.stop();
    sock.write(whole.slice(100));
    await until(() => /^HTTP\/1\.1 \d+/.test(answer), 'the upload answered');
    assert.match(answer, /^HTTP\/1\.1 200 /);
    await stopping;

    const again = make();
    const addr2 = await again.start();
    t.after(() => again.stop());
    const agents = (await view(addr2)).servers[0]!.agents;
    assert.deepEqual(
      agents.agents.map((a) => [a.name, a.calls]),
      [['late-bot', 1]],
      'a call the receiver acknowledged during the stop is in the state file',
    );
  });

  it('a server a reload removes takes its traffic and blast-radius series with it; the servers kept keep theirs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-blast-'));
    // One tool name per server, so each server's second tool overflows into _other.
    const config = (names: string[]): string => `monitoring: { interval: 1h, timeout: 30s }
exporters: { prometheus: { endpoint: "127.0.0.1:0" } }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: null, http: { endpoint: "127.0.0.1:0" }, max_tools_per_server: 1 } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
${names.map((n) => `  - { name: ${n}, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, ok] }`).join('\n')}
`;
    const loaded = (text: string) => ({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) });
    const agent = new Agent(loaded(config(['alpha', 'beta'])), { log: quiet, stdout: { write: () => true } });
    agents.push(agent);
    const addr = await agent.start();
    await until(() => agent.ready, 'the first probe round');
    const now = BigInt(Date.now()) * 1_000_000n;
    const attr = (key: string, value: string): object => ({ key, value: { stringValue: value } });
    const span = (server: string, tool = 'echo'): object => ({
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: `eee19b7ec3c1b1${server === 'alpha' ? '7' : '8'}${tool === 'echo' ? '4' : '5'}`,
      name: `tools/call ${tool}`,
      kind: 3,
      startTimeUnixNano: String(now),
      endTimeUnixNano: String(now + 5_000_000n),
      attributes: [attr('mcp.method.name', 'tools/call'), attr('gen_ai.tool.name', tool), attr('mcp.server.name', server)],
    });
    const res = await fetch(`http://127.0.0.1:${addr.otlp.http!.port}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resourceSpans: [{ resource: { attributes: [attr('service.name', 'support-bot')] }, scopeSpans: [{ spans: [span('alpha'), span('beta'), span('alpha', 'add'), span('beta', 'add')] }] }] }),
    });
    assert.equal(res.status, 200);
    const series = async (server: string): Promise<string[]> =>
      (await (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text())
        .split('\n')
        .filter((l) => !l.startsWith('#') && l.includes(`mcp_server_name="${server}"`))
        .map((l) => l.slice(0, l.indexOf('{')))
        .filter((name, i, all) => all.indexOf(name) === i)
        .sort();
    const traffic = ['mcp_client_operation_duration_bucket', 'mcp_client_operation_duration_count', 'mcp_client_operation_duration_sum', 'mcp_tool_calls_total', 'mcpwatch_tool_names_overflow_total', 'mcpwatch_traffic_agent_calls_total', 'mcpwatch_traffic_agents'];
    for (const name of traffic) assert.ok((await series('alpha')).includes(name), `${name} for alpha before the reload`);

    await agent.reload(loaded(config(['beta'])));
    assert.deepEqual(await series('alpha'), [], 'no series names the removed server');
    for (const name of traffic) assert.ok((await series('beta')).includes(name), `${name} for beta after the reload`);
    await agent.stop();
  });
});
