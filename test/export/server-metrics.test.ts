import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Attributes } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ServerMetrics, withAttributes } from '../../src/export/server-metrics.js';

const resource = resourceFromAttributes({ 'service.name': 'mcpwatch' });
const scope = { name: 'mcpwatch', version: '1.2.3' };

/** Built as PrometheusExporter builds its own with its default options. */
const serializer = new PrometheusSerializer(undefined, false, undefined, false, false);

/** The Prometheus page for a producer collected by the exporter, in the exporter's text. */
async function page(servers: ServerMetrics): Promise<string> {
  const exporter = new PrometheusExporter({ preventServerStart: true, metricProducers: [servers] });
  new MeterProvider({ resource, readers: [exporter] });
  return serializer.serialize((await exporter.collect()).resourceMetrics);
}

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const github: Attributes = { 'mcp.server.name': 'github', 'mcp.transport': 'streamable_http', 'mcp.tag.team': 'dev' };

describe('ServerMetrics', () => {
  it('writes the same page as the SDK instruments it replaced', async () => {
    // The contract of docs/metrics.md, as the SDK's own counters and observable gauges wrote it.
    const sdkExporter = new PrometheusExporter({ preventServerStart: true });
    const meter = new MeterProvider({ resource, readers: [sdkExporter] }).getMeter(scope.name, scope.version);
    const errors = meter.createCounter('mcp.probe.errors', { description: 'Failed probes by error type', unit: '{error}' });
    const changes = meter.createCounter('mcp.server.schema.changes', { description: 'Tool-schema changes detected', unit: '{change}' });
    const expirations = meter.createCounter('mcp.server.session.expirations', { description: 'Sessions the server forgot', unit: '{expiration}' });
    const incidents = meter.createCounter('mcp.server.incidents', { description: 'Transitions into down, degraded or stale', unit: '{incident}' });
    for (const change of ['breaking', 'compatible', 'warning']) changes.add(change === 'breaking' ? 2 : 0, { ...github, change });
    expirations.add(1, github);
    for (const status of ['down', 'degraded', 'stale']) incidents.add(status === 'down' ? 1 : 0, { ...github, 'mcp.server.status': status });
    errors.add(2, { ...github, 'error.type': 'timeout', 'error.category': 'transient' });
    meter.createObservableGauge('mcp.server.score', { description: 'Scorecard points 0-100 by dimension', unit: '1' }).addCallback((r) => r.observe(87, { ...github, dimension: 'overall' }));
    meter.createObservableGauge('mcp.server.up', { description: '1 while the server answers (up or degraded), 0 when down or stale', unit: '1' }).addCallback((r) => r.observe(1, github));
    meter.createObservableGauge('mcp.server.status', { description: '1 for the current status, 0 for the others', unit: '1' }).addCallback((r) => {
      for (const s of ['unknown', 'up', 'degraded', 'down', 'stale']) r.observe(s === 'up' ? 1 : 0, { ...github, 'mcp.server.status': s });
    });
    meter.createObservableGauge('mcp.server.tools', { description: 'Tools listed at the last successful probe', unit: '{tool}' }).addCallback((r) => r.observe(3, github));
    meter.createObservableGauge('mcp.server.availability', { description: 'Share of the observed time in the window the server was up', unit: '1' }).addCallback((r) => r.observe(0.5, { ...github, window: '1h' }));
    const expected = serializer.serialize((await sdkExporter.collect()).resourceMetrics);

    const servers = new ServerMetrics(resource, scope);
    servers.register('github', github);
    servers.schemaChange('github', 'breaking', 2);
    servers.sessionExpired('github');
    servers.incident('github', 'down');
    servers.probeError('github', 'timeout', 'transient');
    servers.probeError('github', 'timeout', 'transient');
    servers.setScore('github', { overall: 87 });
    servers.setStatus('github', 'up');
    servers.setTools('github', 3);
    servers.setAvailability('github', '1h', 0.5);
    assert.equal(await page(servers), expected);
  });

  it('starts counters at 0, leaves out what is not known yet, and follows scores', async () => {
    const servers = new ServerMetrics(resource, scope);
    servers.register('github', github);
    let text = await page(servers);
    assert.equal(sample(text, 'mcp_server_schema_changes_total', { change: 'breaking' }), 0);
    assert.equal(sample(text, 'mcp_server_incidents_total', { mcp_server_status: 'stale' }), 0);
    assert.equal(sample(text, 'mcp_server_session_expirations_total', {}), 0);
    assert.equal(sample(text, 'mcp_server_status', { mcp_server_status: 'unknown' }), 1);
    assert.ok(!text.includes('mcp_server_up{'), 'no up/down before the first verdict');
    assert.ok(!text.includes('mcp_server_tools{'));
    assert.ok(!text.includes('mcp_probe_errors_total{'));
    servers.setScore('github', { overall: 80, latency: 90 });
    servers.setScore('github', { overall: 70 });
    text = await page(servers);
    assert.equal(sample(text, 'mcp_server_score', { dimension: 'overall' }), 70);
    assert.equal(sample(text, 'mcp_server_score', { dimension: 'latency' }), undefined, 'a dimension left out is no longer exported');
  });

  it('keeps state across a reload, starts new series when the labels change, drops a removed server', async () => {
    const servers = new ServerMetrics(resource, scope);
    servers.register('github', github);
    servers.register('files', { 'mcp.server.name': 'files', 'mcp.transport': 'stdio' });
    servers.incident('github', 'down');
    servers.setStatus('github', 'down');
    servers.register('github', { ...github }); // a reload with the same server
    let text = await page(servers);
    assert.equal(sample(text, 'mcp_server_incidents_total', { mcp_server_name: 'github', mcp_server_status: 'down' }), 1);
    assert.equal(sample(text, 'mcp_server_up', { mcp_server_name: 'github' }), 0);

    servers.setScore('github', { overall: 90 });
    servers.register('github', { ...github, 'mcp.tag.team': 'platform' }); // its tags changed
    text = await page(servers);
    assert.equal(sample(text, 'mcp_server_score', { mcp_tag_team: 'platform', dimension: 'overall' }), 90, 'a score moves to the new labels');
    assert.equal(sample(text, 'mcp_server_score', { mcp_tag_team: 'dev' }), undefined);
    assert.equal(sample(text, 'mcp_server_incidents_total', { mcp_server_name: 'github', mcp_tag_team: 'platform', mcp_server_status: 'down' }), 0);
    assert.equal(sample(text, 'mcp_server_incidents_total', { mcp_tag_team: 'dev' }), undefined, 'the old label set is gone');
    assert.equal(sample(text, 'mcp_server_up', { mcp_server_name: 'github' }), 0, 'the status is kept');

    servers.unregister('files');
    servers.incident('files', 'down'); // late news about a removed server is ignored
    text = await page(servers);
    assert.ok(!text.includes('mcp_server_name="files"'));
  });
  it('hands the event loop back while it collects, and up and status always agree on one page', async () => {
    const servers = new ServerMetrics(resource, scope);
    for (let i = 0; i < 20; i++) servers.register(`s${i}`, { 'mcp.server.name': `s${i}` });
    // Every turn of the loop flips every server between up and down, as probes finishing would.
    let turns = 0;
    let done = false;
    const flip = (): void => {
      turns++;
      for (let i = 0; i < 20; i++) servers.setStatus(`s${i}`, turns % 2 ? 'down' : 'up');
      if (!done) setImmediate(flip);
    };
    setImmediate(flip);
    const { resourceMetrics } = await servers.collect();
    done = true;
    assert.ok(turns >= 1, 'the collection gave way to the loop at least once');
    const metrics = resourceMetrics.scopeMetrics[0]!.metrics;
    const points = (name: string) => metrics.find((m) => m.descriptor.name === name)!.dataPoints;
    for (const up of points('mcp.server.up')) {
      const name = up.attributes['mcp.server.name'];
      const current = points('mcp.server.status').filter((p) => p.attributes['mcp.server.name'] === name && p.value === 1);
      assert.equal(current.length, 1);
      assert.equal(up.value, current[0]!.attributes['mcp.server.status'] === 'up' ? 1 : 0, `${String(name)}: up ${String(up.value)} beside status ${String(current[0]!.attributes['mcp.server.status'])}`);
    }
  });
});

describe('withAttributes', () => {
  it('copies the base then each extra in order, skipping absent extras, and leaves the base alone', () => {
    const base: Attributes = { 'mcp.server.name': 'github', 'mcp.transport': 'streamable_http' };
    const out = withAttributes(base, { 'mcp.method.name': 'tools/list', source: 'probe' }, undefined, { 'error.type': 'timeout', source: 'traffic' });
    assert.deepEqual(Object.entries(out), [
      ['mcp.server.name', 'github'],
      ['mcp.transport', 'streamable_http'],
      ['mcp.method.name', 'tools/list'],
      ['source', 'traffic'],
      ['error.type', 'timeout'],
    ]);
    assert.deepEqual(base, { 'mcp.server.name': 'github', 'mcp.transport': 'streamable_http' });
    assert.notEqual(withAttributes(base), base);
  });
});
