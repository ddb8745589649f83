import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { parseConfig } from '../../src/config/load.js';
import { startModernHttpFixture, type ModernHttpFixture } from '../fixtures/modern-http-server.js';
import { MODERN_TOOLS } from '../fixtures/modern-servers.js';
import { startFront } from '../fixtures/front.js';
import { FIXTURES, STDIO_FIXTURE, until } from '../helpers.js';
import { webhookReceiver } from '../fixtures/webhook.js';

const node = JSON.stringify(process.execPath);
const agents: Agent[] = [];
after(async () => {
  for (const a of agents) await a.stop();
});

/** The value of the series of `metric` carrying every one of `labels`, in any order. */
function sample(page: string, metric: string, labels: Record<string, string>): string | undefined {
  for (const line of page.split('\n')) {
    if (!line.startsWith(metric + '{')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return line.slice(line.lastIndexOf(' ') + 1);
  }
  return undefined;
}

function agentFor(dir: string, hookUrl: string, servers: string): Agent {
  const text = `monitoring: { interval: 120s, timeout: 60s, consecutive_failures_before_down: 3 }
alerts: [{ type: webhook, url: "${hookUrl}" }]
exporters: { prometheus: { endpoint: "127.0.0.1:0" } }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: null, http: { endpoint: "127.0.0.1:0" } } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
${servers}`;
  const agent = new Agent({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) }, { log: pino({ level: 'silent' }), stdout: { write: () => true } });
  agents.push(agent);
  return agent;
}

describe('mcpwatch run: 2026-07-28 servers beside 2025 ones', () => {
  it('reports each era and version, notices a modern server die through its listen stream, sees drift, and remembers eras across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-modern-'));
    const hook = await webhookReceiver();
    let strict: ModernHttpFixture = await startModernHttpFixture('strict');
    // strict dies and comes back at the same URL: behind a front that keeps its port.
    const front = await startFront(strict.port);
    const dual = await startModernHttpFixture('dual');
    const servers = `  - { name: strict, transport: streamable_http, url: "${front.url}" }
  - { name: dual, transport: streamable_http, url: "${dual.url}" }
  - { name: modern-stdio, transport: stdio, command: ${node}, args: [${JSON.stringify(join(FIXTURES, 'modern-stdio-server.js'))}, modern] }
  - { name: classic, transport: stdio, command: ${node}, args: [${JSON.stringify(STDIO_FIXTURE)}, ok] }`;
    let agent = agentFor(dir, hook.url, servers);
    let addr = await agent.start();
    const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text();
    await until(() => agent.ready, 'the first probe round');
    assert.deepEqual(agent.statuses(), { strict: 'up', dual: 'up', 'modern-stdio': 'up', classic: 'up' });
    const page = await scrape();
    for (const name of ['strict', 'dual', 'modern-stdio']) {
      assert.equal(sample(page, 'mcp_server_protocol', { mcp_server_name: name, mcp_protocol_version: '2026-07-28', mcp_protocol_era: 'modern' }), '1', name);
    }
    assert.equal(sample(page, 'mcp_server_protocol', { mcp_server_name: 'classic', mcp_protocol_version: '2025-11-25', mcp_protocol_era: 'legacy' }), '1');
    for (const name of ['strict', 'dual', 'modern-stdio']) assert.equal(sample(page, 'mcp_server_tools', { mcp_server_name: name }), String(MODERN_TOOLS.length), name);
    assert.equal(sample(page, 'mcp_server_tools', { mcp_server_name: 'classic' }), '3');
    assert.ok(Number(sample(page, 'mcp_client_operation_duration_count', { mcp_server_name: 'strict', mcp_method_name: 'server/discover', source: 'probe' })) >= 1);

    // Drift: the listen stream announces the change, and the agent lists again at once.
    await until(() => strict.openStreams() === 1, 'the listen stream of strict');
    strict.setTools(MODERN_TOOLS.slice(1));
    await until(() => hook.events.some((e) => e.server === 'strict' && e.event === 'schema_drift'), 'a schema_drift alert (interval is 120 s: only the listen stream can bring it)');
    const drift = hook.events.find((e) => e.server === 'strict' && e.event === 'schema_drift')!;
    assert.deepEqual((drift.details.diff as { tools_removed: string[] }).tools_removed, [MODERN_TOOLS[0]!.name]);

    // Death: at a 120 s interval, only the dropped listen stream can make this `down` before the bound.
    front.crash();
    await strict.close('crash');
    await until(() => hook.events.some((e) => e.server === 'strict' && e.event === 'down'), 'strict down', 60_000);
    const down = hook.events.find((e) => e.server === 'strict' && e.event === 'down')!;
    assert.equal(down.details.error_type, 'connection_refused');
    assert.equal(hook.events.filter((e) => e.event === 'session_expired').length, 0, 'session_expired is a 2025-era event');
    strict = await startModernHttpFixture('strict');
    front.revive(strict.port);
    await until(() => hook.events.some((e) => e.server === 'strict' && e.event === 'recovered'), 'strict recovered', 60_000);

    // Traffic of the modern era: no session id, server/discover and subscriptions/listen, tool_error.
    const span = (method: string, extra: Array<{ key: string; value: { stringValue: string } }> = []) => ({
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: 'eee19b7ec3c1b174',
      name: method,
      kind: 3,
      startTimeUnixNano: '1700000000000000000',
      endTimeUnixNano: '1700000000050000000',
      attributes: [{ key: 'mcp.method.name', value: { stringValue: method } }, { key: 'mcp.protocol.version', value: { stringValue: '2026-07-28' } }, { key: 'mcp.server.name', value: { stringValue: 'strict' } }, ...extra],
    });
    const body = JSON.stringify({
      resourceSpans: [{ scopeSpans: [{ spans: [span('server/discover'), span('subscriptions/listen'), span('tools/call', [{ key: 'gen_ai.tool.name', value: { stringValue: 'fail' } }, { key: 'error.type', value: { stringValue: 'tool_error' } }])] }] }],
    });
    assert.equal((await fetch(`http://127.0.0.1:${addr.otlp.http!.port}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).status, 200);
    const traffic = await scrape();
    for (const method of ['server/discover', 'subscriptions/listen']) {
      assert.equal(sample(traffic, 'mcp_client_operation_duration_count', { mcp_server_name: 'strict', mcp_method_name: method, source: 'traffic' }), '1', method);
    }
    assert.equal(sample(traffic, 'mcp_tool_calls_total', { mcp_server_name: 'strict', gen_ai_tool_name: 'fail', error_type: 'tool_error', source: 'traffic' }), '1');

    // A restarted agent knows the eras from its state file: no server/discover to find them again.
    await agent.stop();
    const before = strict.requests['server/discover'] ?? 0;
    agent = agentFor(dir, hook.url, servers);
    addr = await agent.start();
    await until(() => agent.ready, 'the first probe round after the restart');
    assert.equal(agent.statuses().strict, 'up');
    assert.equal(strict.requests['server/discover'] ?? 0, before);
    await agent.stop();
    await front.close();
    await strict.close();
    await dual.close();
    await hook.close();
  });
});
