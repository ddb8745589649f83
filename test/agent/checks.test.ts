// `mcpwatch run` with configured checks on real servers: a failing check degrades the server and
// names itself in the alert, passing again recovers it (through a real webhook); on_failure: down
// waits for consecutive_failures_before_down; /metrics carries the check series with source=probe;
// a reload that removes a failing check resolves its alert (webhook and a real Alertmanager).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { parseConfig } from '../../src/config/load.js';
import { CHECK_TOOLS } from '../fixtures/modern-servers.js';
import { startModernHttpFixture } from '../fixtures/modern-http-server.js';
import { until } from '../helpers.js';
import { webhookReceiver } from '../fixtures/webhook.js';
import { startAlertmanager } from '../fixtures/alertmanager.js';
import type { AlertEvent } from '../../src/pipeline/events.js';

const agents: Agent[] = [];
after(async () => {
  for (const a of agents) await a.stop();
});

describe('mcpwatch run with checks', () => {
  it('check_failed → degraded, then recovered when the check passes; down after N; metrics with source=probe', async (t) => {
    const http = await startModernHttpFixture('dual', { checks: true });
    const hook = await webhookReceiver();
    t.after(async () => {
      await http.close();
      await hook.close();
    });
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-run-checks-'));
    const text = `monitoring: { interval: 1s, timeout: 5s, consecutive_failures_before_down: 2 }
alerts: [{ type: webhook, url: "${hook.url}", retry: { max_attempts: 2, initial_backoff: 100ms } }]
exporters: { prometheus: { endpoint: "127.0.0.1:0" } }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: null }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
  - name: db
    transport: streamable_http
    url: ${http.url}
    checks:
      - { name: can-query, tool: query, arguments: { sql: "select 1" }, expect: { text_contains: "rows: 1" } }
      - { name: unsafe, tool: write }
  - name: critical
    transport: streamable_http
    url: ${http.url}
    checks:
      - { name: must-query, tool: query, on_failure: down }
`;
    const agent = new Agent({ file: 'x.yaml', text, config: parseConfig(text, 'x.yaml', {}) }, { log: pino({ level: 'silent' }), stdout: { write: () => true } });
    agents.push(agent);
    const addr = await agent.start();
    const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text();
    await until(() => agent.statuses().db === 'up' && agent.statuses().critical === 'up', 'both up with passing checks');
    assert.ok(/mcp_check_success\{[^}]*mcp_server_name="db"[^}]*check="can-query"[^}]*\} 1$/m.test(await scrape()));

    // The tool disappears (a deploy dropped it): the check fails as tool_not_found.
    http.setTools(CHECK_TOOLS.filter((tl) => tl.name !== 'query'));
    await until(() => hook.events.some((e) => e.server === 'db' && e.event === 'check_failed'), 'check_failed for db');
    const failed = hook.events.find((e) => e.server === 'db' && e.event === 'check_failed')!;
    assert.equal(failed.severity, 'warning');
    assert.equal(failed.current_state, 'degraded');
    assert.equal(failed.details.check, 'can-query');
    assert.equal(failed.details.error_type, 'tool_not_found');
    assert.match(failed.message, /^check can-query failed \(tool_not_found\): tool "query" is not in the server's tools\/list/);
    assert.equal(agent.statuses().db, 'degraded');

    // on_failure: down needs two failures in a row, and is then critical.
    await until(() => hook.events.some((e) => e.server === 'critical' && e.event === 'check_failed'), 'check_failed for critical');
    const down = hook.events.find((e) => e.server === 'critical' && e.event === 'check_failed')!;
    assert.deepEqual([down.severity, down.previous_state, down.current_state, down.details.consecutive_failures], ['critical', 'up', 'down', 2]);
    assert.equal(agent.statuses().critical, 'down');
    assert.ok(!hook.events.some((e) => e.event === 'down'), 'check failures are told as check_failed, not as a second down alert');
    const failing = await scrape();
    assert.match(failing, /^mcp_check_success\{[^}]*mcp_server_name="db"[^}]*check="can-query"[^}]*\} 0$/m);
    assert.match(failing, /^mcp_server_up\{[^}]*mcp_server_name="critical"[^}]*\} 0$/m);

    // The tool is back: each check recovers, naming itself.
    http.setTools(CHECK_TOOLS);
    await until(() => hook.events.filter((e) => e.event === 'recovered').length >= 2, 'both recovered');
    const rec = hook.events.filter((e) => e.event === 'recovered');
    assert.deepEqual(rec.map((e) => [e.server, e.details.check, e.previous_state, e.current_state]).sort(), [
      ['critical', 'must-query', 'down', 'up'],
      ['db', 'can-query', 'degraded', 'up'],
    ]);
    for (const e of rec) assert.equal(typeof e.downtime_seconds, 'number');
    await until(() => agent.statuses().db === 'up' && agent.statuses().critical === 'up', 'both up again');

    const m = await scrape();
    assert.match(m, /^mcp_check_success\{[^}]*mcp_server_name="db"[^}]*check="can-query"[^}]*\} 1$/m);
    assert.doesNotMatch(m, /check="unsafe"/, 'a refused check has no success series');
    assert.match(m, /^mcp_client_operation_duration_count\{[^}]*mcp_server_name="db"[^}]*mcp_method_name="tools\/call"[^}]*source="probe"[^}]*gen_ai_tool_name="query"[^}]*\} [1-9]/m);
    assert.match(m, /^mcp_tool_calls_total\{[^}]*mcp_server_name="db"[^}]*source="probe"[^}]*gen_ai_tool_name="query"[^}]*outcome="success"[^}]*\} [1-9]/m);
    assert.doesNotMatch(m, /gen_ai_tool_name="write"/, 'the unannotated tool was never called');
    assert.equal(http.calls.write ?? 0, 0);
  });

  it('a reload that removes a failing check recovers it at once and resolves its alert, also when the monitor is replaced or the check renamed', async (t) => {
    const http = await startModernHttpFixture('dual', { checks: true });
    const hook = await webhookReceiver();
    const am = await startAlertmanager();
    t.after(async () => {
      await http.close();
      await hook.close();
      await am.stop();
    });
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-run-reload-checks-'));
    // db: the reported case (checks: []); critical: on_failure down, renamed to a check that passes;
    // moved: new headers too, so the reload replaces its monitor.
    const config = (servers: string): string => `monitoring: { interval: 1s, timeout: 5s, consecutive_failures_before_down: 1 }
alerts:
  - { type: webhook, url: "${hook.url}", retry: { max_attempts: 2, initial_backoff: 100ms } }
  - { type: alertmanager, url: "${am.url}" }
exporters: { prometheus: null }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: null }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
${servers}`;
    const text = config(`  - { name: db, transport: streamable_http, url: "${http.url}", checks: [{ name: never, tool: query, expect: { text_contains: "rows: 2" } }] }
  - { name: critical, transport: streamable_http, url: "${http.url}", checks: [{ name: must, tool: broken, on_failure: down }] }
  - { name: moved, transport: streamable_http, url: "${http.url}", checks: [{ name: pool, tool: broken }] }
`);
    const agent = new Agent({ file: 'x.yaml', text, config: parseConfig(text, 'x.yaml', {}) }, { log: pino({ level: 'silent' }), stdout: { write: () => true } });
    agents.push(agent);
    await agent.start();
    await until(() => agent.statuses().db === 'degraded' && agent.statuses().critical === 'down' && agent.statuses().moved === 'degraded', 'each held by its failing check');
    const firing = [
      ['McpServerDegraded', 'db'],
      ['McpServerDown', 'critical'],
      ['McpServerDegraded', 'moved'],
    ];
    for (const [alertname, server] of firing) {
      await am.waitFor((n) => n.status === 'firing' && n.labels.alertname === alertname && n.labels.mcp_server_name === server, `${alertname} firing for ${server}`);
    }

    const next = config(`  - { name: db, transport: streamable_http, url: "${http.url}", checks: [] }
  - { name: critical, transport: streamable_http, url: "${http.url}", checks: [{ name: must-query, tool: query, on_failure: down }] }
  - { name: moved, transport: streamable_http, url: "${http.url}", headers: { x-moved: "1" } }
`);
    await agent.reload({ file: 'x.yaml', text: next, config: parseConfig(next, 'x.yaml', {}) });
    // At the reload, not at the next probe.
    assert.deepEqual(agent.statuses(), { db: 'up', critical: 'up', moved: 'up' });
    const recovered = (server: string): AlertEvent[] => hook.events.filter((e) => e.server === server && e.event === 'recovered');
    await until(() => ['db', 'critical', 'moved'].every((s) => recovered(s).length > 0), 'a recovered event for each removed check');
    assert.deepEqual(
      ['db', 'critical', 'moved'].map((s) => recovered(s).map((e) => [e.server, e.details.check, e.details.cause, e.previous_state, e.current_state])),
      [[['db', 'never', 'check_removed', 'degraded', 'up']], [['critical', 'must', 'check_removed', 'down', 'up']], [['moved', 'pool', 'check_removed', 'degraded', 'up']]],
    );
    for (const [alertname, server] of firing) {
      await am.waitFor((n) => n.status === 'resolved' && n.labels.alertname === alertname && n.labels.mcp_server_name === server, `${alertname} resolved for ${server}`);
    }

    // The next probe of each finds nothing more to say: the renamed check passes, no second recovery.
    const checkedAt = (name: string): string | null => agent.serversView().servers.find((s) => s.name === name)!.last_checked_at;
    const before = Object.fromEntries(['db', 'critical', 'moved'].map((s) => [s, checkedAt(s)]));
    await until(() => ['db', 'critical', 'moved'].every((s) => checkedAt(s) !== before[s]), 'a probe of each server after the reload');
    assert.deepEqual(agent.statuses(), { db: 'up', critical: 'up', moved: 'up' });
    assert.deepEqual(['db', 'critical', 'moved'].map((s) => recovered(s).length), [1, 1, 1]);
    assert.ok(!hook.events.some((e) => e.event === 'check_failed' && e.details.check === 'must-query'));
  });

  it('runs a check at its own interval, and a failing one at every probe until it passes', async (t) => {
    const http = await startModernHttpFixture('dual', { checks: true });
    t.after(() => http.close());
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-run-intervals-'));
    const text = `monitoring: { interval: 1s, timeout: 5s }
alerts: [{ type: stdout }]
exporters: { prometheus: null }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: null }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
  - name: db
    transport: streamable_http
    url: ${http.url}
    checks:
      - { name: hourly, tool: query, interval: 1h }
      - { name: failing, tool: broken, interval: 1h }
`;
    const agent = new Agent({ file: 'x.yaml', text, config: parseConfig(text, 'x.yaml', {}) }, { log: pino({ level: 'silent' }), stdout: { write: () => true } });
    agents.push(agent);
    await agent.start();
    await until(() => (http.requests['tools/list'] ?? 0) >= 5, 'five probes');
    await agent.stop();
    assert.equal(http.calls.query, 1, 'the hourly check ran once');
    assert.ok((http.calls.broken ?? 0) >= 4, `the failing check ran at every probe (${http.calls.broken} times for ${http.requests['tools/list']} lists)`);
  });
});
