// Several agents as one fleet, each a real `mcpwatch run` process with the same configuration file and
// only its environment telling them apart, as the pods of a StatefulSet are: three shards over thirty
// servers, and two high-availability replicas of one shard paging through a real Alertmanager.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import pino from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { parseConfig } from '../../src/config/load.js';
import { shardOf } from '../../src/pipeline/shard.js';
import { startAgent, type AgentProcess } from '../fixtures/agent-process.js';
import { startAlertmanager } from '../fixtures/alertmanager.js';
import { refusingPort } from '../fixtures/refusing.js';
import { AGENT_HEADER, startFleet } from '../fixtures/fleet.js';
import { webhookReceiver } from '../fixtures/webhook.js';
import { until } from '../helpers.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/**
 * One configuration file for every agent of a test, in a new directory: `head` and `servers` are
 * YAML lines; the listeners are on port 0, the OTLP receiver off, the state file from $STATE.
 */
function fleetConfig(head: string[], servers: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-shard-'));
  dirs.push(dir);
  const file = join(dir, 'mcpwatch.yaml');
  const common = ['exporters: { prometheus: { endpoint: "127.0.0.1:0" } }', 'health: { endpoint: "127.0.0.1:0" }', 'receivers: { otlp: null }', 'state: { path: "${env:STATE}" }'];
  writeFileSync(file, [...head, ...common, 'servers:', ...servers, ''].join('\n'));
  return file;
}

/** The fields of the agent's JSON log line with this message. */
async function logFields(agent: AgentProcess, msg: string): Promise<Record<string, unknown>> {
  const isIt = (line: string): boolean => {
    try {
      return (JSON.parse(line) as { msg?: unknown }).msg === msg;
    } catch {
      return false;
    }
  };
  await agent.waitUntil(() => agent.logs.some(isIt), `log "${msg}"`);
  return JSON.parse(agent.logs.find(isIt)!) as Record<string, unknown>;
}

async function metricsPage(agent: AgentProcess): Promise<string> {
  const started = await logFields(agent, 'mcpwatch agent started');
  const res = await fetch(`http://${String(started.metrics)}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

const samples = (page: string): string[] => page.split('\n').filter((l) => l && !l.startsWith('#'));

/** Label values of one label over the sample lines of a metric. */
function labelValues(page: string, metric: string, label: string): Set<string> {
  const out = new Set<string>();
  for (const line of samples(page)) {
    if (!line.startsWith(`${metric}{`)) continue;
    const m = new RegExp(`[{,]${label}="([^"]*)"`).exec(line);
    if (m) out.add(m[1]!);
  }
  return out;
}

/** The value of the first sample of `metric` whose line has every one of `labels`, or 0. */
function sampleValue(page: string, metric: string, labels: Record<string, string>): number {
  const line = samples(page).find((l) => l.startsWith(`${metric}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

async function stopAll(agents: AgentProcess[]): Promise<void> {
  for (const a of agents) if (a.proc.exitCode === null && a.proc.signalCode === null) a.proc.kill('SIGTERM');
  await Promise.all(agents.map((a) => a.exit));
}

describe('sharding: a fleet of agents', () => {
  it('three shards over thirty servers: each server is probed by exactly one agent, and the union of /metrics has each server once, under its shard label', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `mcp-server-${String(i).padStart(2, '0')}`);
    const fleet = await startFleet(names);
    // One file for every agent: the shard, the state file and the header that tells the fixture who
    // asked all come from the environment.
    const file = fleetConfig(
      ['monitoring: { interval: 30s, timeout: 60s }', 'sharding: { shards: 3, shard: "${env:SHARD}" }', 'alerts: []'],
      names.map((n) => `  - { name: ${n}, transport: streamable_http, url: "${fleet.url(n)}", headers: { ${AGENT_HEADER}: "shard-\${env:SHARD}" } }`),
    );
    const agents = [0, 1, 2].map((shard) => startAgent(file, { env: { SHARD: String(shard), STATE: join(dirname(file), `state-${shard}.db`) } }));
    try {
      // Ready means every server the agent monitors has been checked once: an agent that had taken
      // servers of another shard would have probed them by now.
      const started = await Promise.all(agents.map((a) => logFields(a, 'mcpwatch agent started')));
      await Promise.all(agents.map((a) => logFields(a, 'first probe round done: ready')));
      assert.deepEqual(started.map((s) => [s.shard, s.shards, s.replica, s.configured_servers]), [[0, 3, 0, 30], [1, 3, 0, 30], [2, 3, 0, 30]]);

      // Counted by the servers: one agent each, the one whose shard the name hashes to.
      for (const name of names) {
        assert.deepEqual([...fleet.hits.get(name)!.keys()], [`shard-${shardOf(name, 3)}`], `${name} was probed by exactly one agent`);
      }
      const monitored = started.map((s) => Number(s.servers));
      assert.equal(monitored.reduce((a, b) => a + b, 0), 30);
      assert.ok(monitored.every((n) => n > 0), `every shard has servers: ${monitored.join(', ')}`);

      // Seen from Prometheus: the three pages together name every server once, each page only its own,
      // and every series of a page carries its agent's shard.
      const pages = await Promise.all(agents.map(metricsPage));
      const seen = new Map<string, number[]>();
      pages.forEach((page, shard) => {
        for (const name of labelValues(page, 'mcp_server_status', 'mcp_server_name')) seen.set(name, [...(seen.get(name) ?? []), shard]);
        for (const line of samples(page)) assert.match(line, new RegExp(`[{,]shard="${shard}"[,}]`), `shard ${shard}: ${line}`);
        assert.equal(labelValues(page, 'mcp_server_status', 'mcp_server_name').size, monitored[shard]);
      });
      assert.deepEqual([...seen.keys()].sort(), names, 'the union covers every server');
      for (const [name, shards] of seen) assert.deepEqual(shards, [shardOf(name, 3)], `${name} is on one page, its shard's`);
    } finally {
      await stopAll(agents);
      await fleet.close();
    }
  });

  it('two replicas of one shard page once through a real Alertmanager; a notifier kept to the first replica sends from it alone', async (t) => {
    const am = await startAlertmanager();
    const hook = await webhookReceiver();
    const dead = await refusingPort();
    t.after(() => dead.close());
    // With 2 shards, github hashes to shard 0 and postgres-prod to shard 1 (test/pipeline/shard.test.ts).
    // Both are down; only shard 0 runs, as pods 0 and 2 of a StatefulSet: replicas 0 and 1 of shard 0.
    const file = fleetConfig(
      [
        'monitoring: { interval: 1s, timeout: 5s, consecutive_failures_before_down: 1 }',
        'sharding: { shards: 2, ordinal: "${env:POD_NAME}" }',
        'alerts:',
        `  - { type: alertmanager, url: "${am.url}", labels: { cluster: test } }`,
        `  - { type: webhook, url: "${hook.url}", replicas: first }`,
      ],
      [
        `  - { name: github, transport: streamable_http, url: "${dead.url('/mcp')}" }`,
        `  - { name: postgres-prod, transport: streamable_http, url: "${dead.url('/other')}" }`,
      ],
    );
    const agents = ['mcpwatch-0', 'mcpwatch-2'].map((pod) => startAgent(file, { env: { POD_NAME: pod, STATE: join(dirname(file), `${pod}.db`) } }));
    const [first, second] = agents as [AgentProcess, AgentProcess];
    try {
      const started = await Promise.all(agents.map((a) => logFields(a, 'mcpwatch agent started')));
      assert.deepEqual(started.map((s) => [s.shard, s.replica, s.servers]), [[0, 0, 1], [0, 1, 1]]);
      const silent = await logFields(second, 'notifiers with `replicas: first` stay silent on this replica');
      assert.deepEqual([silent.replica, silent.notifiers], [1, ['webhook']]);

      // Both replicas saw github down and posted the alert to Alertmanager.
      const sent = (page: string, notifier: string): number => sampleValue(page, 'mcpwatch_notifier_deliveries_total', { notifier, outcome: 'sent' });
      for (const agent of agents) await until(async () => sent(await metricsPage(agent), 'alertmanager') >= 1, 'an alert delivered to Alertmanager by each replica');
      await am.waitFor((n) => n.status === 'firing' && n.labels.mcp_server_name === 'github', 'McpServerDown for github');

      // Alertmanager holds one alert for the two replicas' posts: their labels are the same.
      const res = await fetch(`${am.url}/api/v2/alerts?filter=${encodeURIComponent('mcp_server_name="github"')}`);
      const held = (await res.json()) as Array<{ labels: Record<string, string> }>;
      assert.deepEqual(held.map((a) => a.labels), [{ alertname: 'McpServerDown', cluster: 'test', mcp_server_name: 'github', mcp_transport: 'streamable_http', severity: 'critical' }]);

      // A barrier in the same group (alertname, mcp_server_name): its notification lists every alert
      // of the group, after every notification the group had before. Two alerts for github (labels
      // that told the replicas apart) would show here, or as a second notification before it.
      const barrier = { alertname: 'McpServerDown', mcp_server_name: 'github', barrier: 'true' };
      const posted = await fetch(`${am.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ labels: barrier }]) });
      assert.equal(posted.status, 200);
      const last = await am.waitFor((n) => n.labels.barrier === 'true', 'the barrier notification');
      const github = am.received.filter((n) => n.labels.mcp_server_name === 'github' && n.labels.barrier === undefined && n.status === 'firing');
      const before = new Set(github.filter((n) => n.notification < last.notification).map((n) => n.notification));
      assert.equal(before.size, 1, 'one page for github before the barrier');
      assert.equal(github.filter((n) => n.notification === last.notification).length, 1, 'one github alert in the group');
      assert.ok(!am.received.some((n) => n.labels.mcp_server_name === 'postgres-prod'), 'no agent of shard 1 runs: postgres-prod never pages');

      // The webhook kept to the first replica: sent by replica 0; replica 1 has no such notifier.
      await until(async () => sent(await metricsPage(first), 'webhook') >= 1, 'the webhook delivered by replica 0');
      assert.ok(hook.events.some((e) => e.server === 'github' && e.event === 'down'));
      assert.doesNotMatch(await metricsPage(second), /notifier="webhook"/);
    } finally {
      await stopAll(agents);
      await hook.close();
      await am.stop();
    }
  });

  it('warns when its shard probes none of the configured servers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-shard-'));
    dirs.push(dir);
    // With 2 shards postgres-prod is shard 1's; this agent is shard 0.
    const text = `sharding: { shards: 2, shard: 0 }
alerts: []
exporters: { prometheus: null }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: null }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
  - { name: postgres-prod, transport: streamable_http, url: "http://127.0.0.1:2/mcp", interval: 1h }
`;
    const lines: Array<{ level: number; msg: string; shard?: number; configured_servers?: number }> = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const agent = new Agent({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) }, { log });
    try {
      await agent.start();
      assert.deepEqual(Object.keys(agent.statuses()), []);
      const warned = lines.filter((l) => /probes none of the configured servers/.test(l.msg));
      assert.deepEqual(warned.map((l) => [l.level, l.shard, l.configured_servers]), [[40, 0, 1]]);
    } finally {
      await agent.stop();
    }
  });

  it('traffic is measured by the agent it is sent to, named after the configured server even when another shard probes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-shard-'));
    dirs.push(dir);
    // With 2 shards github is shard 0's and postgres-prod shard 1's; this agent is shard 1.
    const text = `sharding: { shards: 2, shard: 1 }
alerts: []
exporters: { prometheus: { endpoint: "127.0.0.1:0" } }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: null, http: { endpoint: "127.0.0.1:0" } } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
  - { name: github, transport: streamable_http, url: "http://127.0.0.1:1/mcp", interval: 1h, traffic: { service_names: [gh-bot] } }
  - { name: postgres-prod, transport: streamable_http, url: "http://127.0.0.1:2/mcp", interval: 1h }
`;
    const agent = new Agent({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) }, { log: pino({ level: 'silent' }) });
    try {
      const addr = await agent.start();
      assert.deepEqual(Object.keys(agent.statuses()), ['postgres-prod'], 'it probes its own shard only');
      // A client span that names the server only by address: github's, a server of shard 0.
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': 'my-agent' }),
        spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `http://127.0.0.1:${addr.otlp.http!.port}/v1/traces` }))],
      });
      const span = provider.getTracer('test').startSpan('tools/call search', { kind: SpanKind.CLIENT, attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'search', 'server.address': '127.0.0.1', 'server.port': 1 } });
      span.end();
      await provider.forceFlush();
      await provider.shutdown();
      // An OpenLLMetry span (no address) from an agent that github's traffic hint names.
      const hinted = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': 'gh-bot' }),
        spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `http://127.0.0.1:${addr.otlp.http!.port}/v1/traces` }))],
      });
      hinted.getTracer('test').startSpan('list_issues.tool', { kind: SpanKind.CLIENT, attributes: { 'traceloop.span.kind': 'tool', 'traceloop.entity.name': 'list_issues' } }).end();
      await hinted.forceFlush();
      await hinted.shutdown();
      const page = await (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text();
      assert.equal(sampleValue(page, 'mcp_tool_calls_total', { mcp_server_name: 'github', gen_ai_tool_name: 'search', source: 'traffic', shard: '1' }), 1);
      assert.equal(sampleValue(page, 'mcp_tool_calls_total', { mcp_server_name: 'github', gen_ai_tool_name: 'list_issues', source: 'traffic', shard: '1' }), 1, 'a hint of a server another shard probes');
      assert.deepEqual(labelValues(page, 'mcp_server_status', 'mcp_server_name'), new Set(['postgres-prod']));
    } finally {
      await agent.stop();
    }
  });
});
