// The rules against the real thing: a real `mcpwatch run` probing two fixture servers (one healthy,
// one that exits at start), scraped by a real Prometheus that loads deploy/prometheus/alerts.yaml and
// sends its alerts to a real Alertmanager (test/fixtures/alertmanager.ts).
// This catches what promtool's synthetic series cannot: a selector or label that the agent's actual
// /metrics output does not match. Prometheus comes from Debian's `prometheus` package, which .ci/run
// installs together with promtool; it is required, never skipped.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './common.js';
import { startAlertmanager, type Alertmanager } from '../fixtures/alertmanager.js';
import { startAgent, type AgentProcess } from '../fixtures/agent-process.js';
import { listeningPort } from '../fixtures/listening.js';

const FIXTURE = join(ROOT, 'dist', 'test', 'fixtures', 'stdio-server.js');

interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

/** Polls until `check` returns a value (not undefined) or the deadline passes. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.fail(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

async function api<T>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const body = (await res.json()) as { status: string; data: T };
  assert.equal(body.status, 'success', path);
  return body.data;
}

describe('alert rules on a real Prometheus scraping a real mcpwatch, paging through a real Alertmanager', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-prom-e2e-'));
  let agent: AgentProcess | undefined;
  let prometheus: ChildProcess | undefined;
  let promPort = 0;
  let promLogs = '';
  let am: Alertmanager | undefined;

  before(async () => {
    const which = spawnSync('prometheus', ['--version'], { encoding: 'utf8' });
    if (which.error) assert.fail('prometheus is not installed. .ci/run installs it (apt-get install prometheus); this test never skips.');
    am = await startAlertmanager();
    // One failure is down here, so the deadline is far beyond any probe of the healthy fixture, even
    // on a busy machine. Every listener is on port 0: the agent names the ports it got when it has
    // started, and Prometheus is configured once the agent's /metrics port is known.
    const config = [
      'monitoring: { interval: 1s, timeout: 30s, consecutive_failures_before_down: 1 }',
      'servers:',
      `  - { name: ok-mcp, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FIXTURE)}, ok], tags: ["team:data"] }`,
      `  - { name: dead-mcp, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FIXTURE)}, exit-at-start] }`,
      'receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0" }, http: { endpoint: "127.0.0.1:0" } } }',
      'exporters: { prometheus: { endpoint: "127.0.0.1:0" } }',
      'health: { endpoint: "127.0.0.1:0" }',
      `state: { path: ${JSON.stringify(join(dir, 'state.db'))} }`,
      // The line that names the bound ports is at info.
      'log: { level: info }',
    ].join('\n');
    writeFileSync(join(dir, 'mcpwatch.yaml'), config);
    agent = startAgent(join(dir, 'mcpwatch.yaml'));
    const { metrics } = JSON.parse(await agent.waitLog(/"msg":"mcpwatch agent started"/)) as { metrics: string };
    writeFileSync(
      join(dir, 'prometheus.yml'),
      JSON.stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [join(ROOT, 'deploy', 'prometheus', 'alerts.yaml')],
        alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${am.port}`] }] }] },
        scrape_configs: [{ job_name: 'mcpwatch', static_configs: [{ targets: [metrics] }] }],
      }),
    );
    prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, '--web.listen-address=127.0.0.1:0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer): void => {
      promLogs = (promLogs + b.toString()).slice(-8000);
    };
    prometheus.stdout?.on('data', keep);
    prometheus.stderr?.on('data', keep);
    const port = await listeningPort(prometheus);
    if (port === undefined) assert.fail(`Prometheus did not say which port it listens on:\n${promLogs}`);
    promPort = port;
  });

  after(async () => {
    for (const c of [agent?.proc, prometheus]) {
      if (c && c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }
    }
    await am?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads every rule healthy, sees McpServerDown for the dead server only, and records probe p95', async () => {
    try {
      await eventually('Prometheus ready', async () => ((await fetch(`http://127.0.0.1:${promPort}/-/ready`)).ok ? true : undefined));
      const alerts = await eventually('McpServerDown for dead-mcp', async () => {
        const data = await api<{ alerts: PromAlert[] }>(promPort, '/api/v1/alerts');
        return data.alerts.some((a) => a.labels.alertname === 'McpServerDown' && a.labels.mcp_server_name === 'dead-mcp') ? data.alerts : undefined;
      });
      const down = alerts.find((a) => a.labels.alertname === 'McpServerDown')!;
      assert.equal(down.labels.severity, 'critical');
      assert.equal(down.labels.mcp_transport, 'stdio');
      assert.ok(!alerts.some((a) => a.labels.mcp_server_name === 'ok-mcp'), 'the healthy server raises nothing');
      // absent(up) is pending until the first scrape, and rule groups are evaluated apart: the
      // pending alert may still be listed beside McpServerDown. It must never fire, and up must be 1.
      assert.ok(!alerts.some((a) => a.labels.alertname === 'McpwatchAbsent' && a.state === 'firing'), 'McpwatchAbsent is not firing');
      const up = await api<{ result: Array<{ value: [number, string] }> }>(promPort, `/api/v1/query?query=${encodeURIComponent('up{job="mcpwatch"}')}`);
      assert.equal(up.result[0]?.value[1], '1', 'mcpwatch is scraped');

      const p95 = await eventually('mcp:probe_duration_seconds:p95_5m for ok-mcp', async () => {
        const q = encodeURIComponent('mcp:probe_duration_seconds:p95_5m{mcp_server_name="ok-mcp"}');
        const data = await api<{ result: Array<{ value: [number, string] }> }>(promPort, `/api/v1/query?query=${q}`);
        const v = Number(data.result[0]?.value[1]);
        return Number.isFinite(v) ? v : undefined;
      });
      assert.ok(p95 > 0 && p95 < 30, `probe p95 ${p95}s: in seconds, within the deadline`);

      // Through the user's Alertmanager, with mcpwatch's labels and none of the exporter's scope labels.
      const paged = await am!.waitFor((n) => n.status === 'firing' && n.labels.alertname === 'McpServerDown' && n.labels.mcp_server_name === 'dead-mcp', 'McpServerDown at the Alertmanager receiver');
      assert.equal(paged.labels.severity, 'critical');
      assert.deepEqual(Object.keys(paged.labels).filter((k) => k.startsWith('otel_scope')), []);

      const rules = await api<{ groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> }>(promPort, '/api/v1/rules');
      const all = rules.groups.flatMap((g) => g.rules);
      assert.ok(all.length >= 16, `${all.length} rules loaded`);
      assert.deepEqual(all.filter((r) => r.health === 'err').map((r) => `${r.name}: ${r.lastError ?? ''}`), []);
    } catch (err) {
      (err as Error).message += `\n--- mcpwatch (tail) ---\n${agent?.logs.slice(-40).join('\n') ?? ''}\n--- prometheus (tail) ---\n${promLogs}\n--- alertmanager ---\n${am?.logs() ?? ''}`;
      throw err;
    }
  });
});
