// What a probe's configured checks become in metrics and spans (export/recorder.ts): durations and
// tool calls with source=probe, the per-check success gauge, one CLIENT span per request sent.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { emptyResource } from '@opentelemetry/resources';
import { HotMetrics } from '../../src/export/aggregate.js';
import { Recorder } from '../../src/export/recorder.js';
import { ServerMetrics } from '../../src/export/server-metrics.js';
import { parseConfig } from '../../src/config/load.js';
import { resolveServer } from '../../src/config/schema.js';
import { emptyOutcome } from '../../src/probe/probe.js';
import type { CheckRun } from '../../src/probe/prober.js';

class Reader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const TEXT = `servers:
  - name: db
    transport: stdio
    command: python
    checks:
      - { name: q, tool: query }
      - { name: s, resource: "file:///status" }
      - { name: w, tool: write }
`;

function run(name: string, c: Partial<CheckRun>): CheckRun {
  return { name, method: 'tools/call', target: 'query', status: 'pass', onFailure: 'degraded', startedAt: 1_700_000_000_000, latencyMs: 120, error: null, ...c };
}

describe('check metrics and spans', () => {
  it('records durations and tool calls with source=probe, the success gauge and a span per request', async () => {
    const scope = { name: 'mcpwatch', version: '0' };
    const hot = new HotMetrics(emptyResource(), scope);
    const servers = new ServerMetrics(emptyResource(), scope);
    const reader = new Reader({ metricProducers: [hot, servers] });
    const spans = new InMemorySpanExporter();
    const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }).getTracer('mcpwatch');
    const recorder = new Recorder(new MeterProvider({ readers: [reader] }).getMeter('mcpwatch'), tracer, hot, servers);
    const config = parseConfig(TEXT, 'x.yaml', {});
    const server = resolveServer(config, config.servers[0]!);
    recorder.register(server);
    const out = emptyOutcome(server, 1_700_000_000_000);
    out.checks = [
      run('q', { status: 'fail', error: { type: 'assertion_failed', category: 'permanent', phase: 'tools/call', message: 'text_contains: …' } }),
      run('s', { method: 'resources/read', target: 'file:///status', latencyMs: 30 }),
      run('w', { target: 'write', status: 'refused', latencyMs: null, error: { type: 'side_effects_refused', category: 'permanent', phase: 'tools/call', message: 'not called' } }),
    ];
    recorder.probe(server, out);

    const { resourceMetrics } = await reader.collect();
    const points = (name: string) => resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints as DataPoint<number | Histogram>[]);
    assert.deepEqual(points('mcp.check.success').map((p) => [p.attributes.check, p.value]), [['q', 0], ['s', 1]], 'a refused check has no series; a passing one is 1');
    const durations = points('mcp.client.operation.duration');
    assert.deepEqual(
      durations.map((p) => [p.attributes['mcp.method.name'], p.attributes['gen_ai.tool.name'] ?? null, p.attributes['error.type'] ?? null, p.attributes.source, (p.value as Histogram).count]),
      [
        ['tools/call', 'query', 'assertion_failed', 'probe', 1],
        ['resources/read', null, null, 'probe', 1],
      ],
    );
    assert.deepEqual(points('mcp.tool.calls').map((p) => [p.attributes['gen_ai.tool.name'], p.attributes.outcome, p.attributes['error.type'], p.attributes.source, p.attributes['mcp.server.name'], p.value]), [
      ['query', 'error', 'assertion_failed', 'probe', 'db', 1],
    ]);
    assert.deepEqual(
      spans.getFinishedSpans().map((s) => [s.name, s.attributes['mcp.method.name'], s.attributes['mcpwatch.check.name'], s.attributes['error.type'] ?? null, s.attributes['mcp.resource.uri'] ?? null]),
      [
        ['tools/call query', 'tools/call', 'q', 'assertion_failed', null],
        ['resources/read', 'resources/read', 's', null, 'file:///status'],
      ],
    );

    // A second run passes; a reload that drops a check drops its series.
    out.checks = [run('q', {}), run('s', { method: 'resources/read', target: 'file:///status' })];
    recorder.probe(server, out);
    const again = await reader.collect();
    const gauge = again.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'mcp.check.success')!;
    assert.deepEqual(gauge.dataPoints.map((p) => [p.attributes.check, p.value]), [['q', 1], ['s', 1]]);
    recorder.register({ ...server, checks: server.checks!.filter((c) => c.name !== 's') });
    const after = await reader.collect();
    const g2 = after.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'mcp.check.success')!;
    assert.deepEqual(g2.dataPoints.map((p) => p.attributes.check), ['q']);
  });
});
