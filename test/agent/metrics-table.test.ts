// The metrics table in docs/metrics.md is a contract: alert rules and the dashboard are checked
// against it (test/deploy/metrics-contract.test.ts). This holds the table against what a real agent
// actually serves on /metrics, in both directions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { parseConfig } from '../../src/config/load.js';
import { startOtlpUpstream } from '../fixtures/otlp-upstream.js';
import { startModernHttpFixture } from '../fixtures/modern-http-server.js';
import { fixedIdToolSpan, STDIO_FIXTURE, until } from '../helpers.js';
import { ROOT } from '../../scripts/gen-docs.js';

function documentedMetrics(): Map<string, string[]> {
  const doc = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
  const table = doc.slice(doc.indexOf('<!-- metrics-table:start -->'), doc.indexOf('<!-- metrics-table:end -->'));
  const out = new Map<string, string[]>();
  for (const line of table.split('\n').slice(3)) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 7) continue;
    const promName = /`([a-z_:]+)`/.exec(cells[2]!)![1]!.replace(/_bucket$/, '');
    // Label names are the backticked words outside parentheses; inside are their values.
    const labels = [...cells[5]!.replace(/\([^)]*\)/g, '').matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!);
    out.set(promName, labels);
  }
  return out;
}

describe('the metrics table and /metrics', () => {
  it('agree: every series served is documented, and every documented metric is served', async (t) => {
    const upstream = await startOtlpUpstream({ protocol: 'http' });
    // A failed assertion must not leave the upstream listening (the test file would never end).
    t.after(() => upstream.close());
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-table-'));
    const node = JSON.stringify(process.execPath);
    // A server with a bearer JWT whose expiry mcpwatch reads: mcp.server.credential.remaining.
    const http = await startModernHttpFixture('dual');
    t.after(() => http.close());
    const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const jwt = `${b64({ alg: 'none' })}.${b64({ exp: Math.floor(Date.now() / 1000) + 7 * 86_400 })}.x`;
    // A probe deadline no healthy probe comes near on a busy machine: a timeout would change the series.
    const text = `monitoring: { timeout: 60s }
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  otlp: { endpoint: "${upstream.endpoint}", protocol: http/protobuf, interval: 1h }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: null, http: { endpoint: "127.0.0.1:0" }, max_tools_per_server: 1 } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
alerts: [{ type: stdout }]
servers:
  - { name: ok, transport: stdio, command: ${node}, args: [${JSON.stringify(STDIO_FIXTURE)}, ok], tags: ["team:data"], checks: [{ name: sum, tool: add, arguments: { a: 1, b: 2 }, expect: { text_contains: "3" } }] }
  - { name: broken, transport: stdio, command: ${node}, args: [${JSON.stringify(STDIO_FIXTURE)}, exit-at-start] }
  - { name: authed, transport: streamable_http, url: "${http.url}", auth: { type: bearer, token: "${jwt}" } }
`;
    const agent = new Agent({ file: 'x.yaml', text, config: parseConfig(text, 'x.yaml', {}) }, { log: pino({ level: 'silent' }), stdout: { write: () => true } });
    const addr = await agent.start();
    const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text();
    // Traffic with two tool names for one server: the second overflows max_tools_per_server.
    const span = (tool: string, error?: string) => fixedIdToolSpan(tool, { 'mcp.server.name': 'ok', ...(error ? { 'error.type': error } : {}) });
    // Sent by an agent that names itself: the calls-by-agent series.
    const resource = {
      attributes: Object.entries({ 'service.name': 'support-bot', 'service.namespace': 'helpdesk', 'k8s.namespace.name': 'prod', 'k8s.deployment.name': 'support-bot' }).map(([key, v]) => ({ key, value: { stringValue: v } })),
    };
    const body = JSON.stringify({ resourceSpans: [{ resource, scopeSpans: [{ spans: [span('a'), span('b', 'tool_error')] }] }] });
    assert.equal((await fetch(`http://127.0.0.1:${addr.otlp.http!.port}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).status, 200);
    await until(async () => agent.ready && /mcpwatch_notifier_deliveries_total\{/.test(await scrape()) && /mcpwatch_forwarder_sent_total\{[^}]*signal="traces"[^}]*\} 1/.test(await scrape()));

    const served = new Map<string, Set<string>>();
    for (const line of (await scrape()).split('\n')) {
      const m = /^([a-z_:]+?)(_bucket|_sum|_count)?\{([^}]*)\}/.exec(line);
      if (!m || m[1] === 'target_info') continue;
      const labels = new Set([...m[3]!.matchAll(/([a-z_]+)="/g)].map((x) => x[1]!));
      served.set(m[1]!, new Set([...(served.get(m[1]!) ?? []), ...labels]));
    }
    const documented = documentedMetrics();
    const undocumented = [...served.keys()].filter((n) => !documented.has(n));
    assert.deepEqual(undocumented, [], 'served but not in docs/metrics.md');
    const missing = [...documented.keys()].filter((n) => !served.has(n));
    assert.deepEqual(missing, [], 'documented but not served');
    for (const [name, labels] of documented) {
      for (const label of labels) assert.ok(served.get(name)!.has(label), `${name} lacks label ${label}`);
    }
    await agent.stop();
    // exporters.otlp.compression defaults to gzip for everything sent there: the forwarded traffic,
    // and the metrics and probe spans the OpenTelemetry exporters flush on stop.
    assert.deepEqual([...new Set(upstream.requests.map((r) => r.signal))].sort(), ['metrics', 'traces']);
    for (const r of upstream.requests) assert.equal(r.headers['content-encoding'], 'gzip', `${r.signal} request sent gzip-compressed`);
  });

  it('lists every notifier type as a value of mcpwatch_notifier_deliveries_total{notifier}', () => {
    // The label is the notifier's type (Recorder.delivery): the choices of alerts[].type.
    const row = (file: string, key: string): string => readFileSync(join(ROOT, file), 'utf8').split('\n').find((l) => l.startsWith(`| ${key}`))!;
    const types = /\| enum \|  \| (.*) \|$/.exec(row('docs/configuration.md', '`alerts[].type`'))![1]!.split(' \\| ').map((t) => t.trim());
    const documented = /`notifier` \(([^)]*)\)/.exec(row('docs/metrics.md', '`mcpwatch.notifier.deliveries`'))![1]!.match(/[a-z]+/g)!;
    assert.deepEqual([...documented].sort(), [...types].sort());
  });
});
