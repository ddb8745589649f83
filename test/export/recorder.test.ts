import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Attributes } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { emptyResource } from '@opentelemetry/resources';
import { HotMetrics } from '../../src/export/aggregate.js';
import { Recorder } from '../../src/export/recorder.js';
import { ServerMetrics } from '../../src/export/server-metrics.js';
import { parseConfig } from '../../src/config/load.js';
import { resolveServer } from '../../src/config/schema.js';
import type { Observation } from '../../src/otlp/recognise.js';
import { TrafficRouter } from '../../src/pipeline/traffic.js';
import { emptyOutcome } from '../../src/probe/probe.js';

class Reader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

function setup() {
  const scope = { name: 'mcpwatch', version: '0' };
  const hot = new HotMetrics(emptyResource(), scope);
  const reader = new Reader({ metricProducers: [hot] });
  const recorder = new Recorder(new MeterProvider({ readers: [reader] }).getMeter('mcpwatch'), undefined, hot, new ServerMetrics(emptyResource(), scope));
  const points = async (name: string) => {
    const { resourceMetrics } = await reader.collect();
    const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).filter((m) => m.descriptor.name === name);
    return metrics.flatMap((m) => m.dataPoints as DataPoint<number | Histogram>[]);
  };
  return { recorder, points };
}

const call = (server: string, tool: string, extra: Partial<Observation> = {}): Observation => ({
  kind: 'tool_call',
  server,
  method: 'tools/call',
  tool,
  outcome: 'success',
  errorType: undefined,
  errorCategory: undefined,
  durationSeconds: 0.03,
  ...extra,
});

const sumOf = (pts: DataPoint<number | Histogram>[], match: (a: Attributes) => boolean): number =>
  pts.filter((p) => match(p.attributes)).reduce((n, p) => n + (typeof p.value === 'number' ? p.value : p.value.count), 0);

/** Traffic as the agent wires it: pipeline/ labels each observation, the recorder counts it. */
function trafficSetup(maxTools: number) {
  const { recorder, points } = setup();
  const configured = new Set<string>();
  const router = new TrafficRouter((name) => configured.has(name), (obs, labels) => recorder.trafficCells(obs, labels), maxTools);
  const traffic = (obs: Observation): void => recorder.traffic(router.route(obs), obs.durationSeconds);
  const configure = (server: ReturnType<typeof resolveServer>): void => {
    configured.add(server.name);
    recorder.register(server);
    router.reset();
  };
  const remove = (name: string): void => {
    configured.delete(name);
    recorder.unregister(name);
    router.reset();
  };
  return { traffic, configure, remove, points };
}

describe('traffic: TrafficRouter labels, Recorder counts', () => {
  it('counts every call once while tens of thousands of invented tool names pass through', async () => {
    const { traffic, points } = trafficSetup(5);
    const names = 25_000; // more distinct raw names than the route memo keeps
    for (let i = 0; i < names; i++) traffic(call('github', `tool-${i % names}`));
    for (let i = 0; i < 3; i++) traffic(call('github', 'tool-1', { outcome: 'error', errorType: 'timeout', errorCategory: 'transient' }));
    const calls = await points('mcp.tool.calls');
    assert.equal(sumOf(calls, () => true), names + 3);
    const tools = new Set(calls.map((p) => p.attributes['gen_ai.tool.name']));
    assert.deepEqual([...tools].sort(), ['_other', 'tool-0', 'tool-1', 'tool-2', 'tool-3', 'tool-4']);
    assert.equal(sumOf(calls, (a) => a['gen_ai.tool.name'] === '_other'), names - 5);
    assert.equal(sumOf(calls, (a) => a['error.type'] === 'timeout' && a['error.category'] === 'transient'), 3);
    assert.equal(sumOf(await points('mcpwatch.tool_names.overflow'), () => true), names - 5);
    assert.equal(sumOf(await points('mcp.client.operation.duration'), () => true), names + 3);
  });

  it('labels a server by its configured name once it is configured, and operations without a tool', async () => {
    const { traffic, configure, points } = trafficSetup(10);
    const config = parseConfig('servers:\n  - { name: files, transport: stdio, command: node }\n', 'mcpwatch.yaml', {});
    for (let i = 0; i < 101; i++) traffic(call(`made-up-${i}`, 'x'));
    traffic(call('files', 'read')); // not configured yet: one name too many, so _other
    configure(resolveServer(config, config.servers[0]!));
    traffic(call('files', 'read'));
    traffic({ ...call('files', 'read'), kind: 'operation', method: 'tools/list', tool: undefined });
    const calls = await points('mcp.tool.calls');
    assert.equal(sumOf(calls, (a) => a['mcp.server.name'] === 'files'), 1);
    assert.equal(sumOf(calls, (a) => a['mcp.server.name'] === '_other'), 2, 'the 101st unconfigured name and files before it was configured');
    const durations = await points('mcp.client.operation.duration');
    const list = durations.filter((p) => p.attributes['mcp.method.name'] === 'tools/list');
    assert.equal(list.length, 1);
    assert.equal(list[0]!.attributes['gen_ai.tool.name'], undefined);
    assert.equal(list[0]!.attributes['mcp.server.name'], 'files');
  });

  it('a server removed from the configuration takes its traffic series with it; the others keep theirs', async () => {
    const { traffic, configure, remove, points } = trafficSetup(10);
    const config = parseConfig('servers:\n  - { name: files, transport: stdio, command: node }\n  - { name: mail, transport: stdio, command: node }\n', 'mcpwatch.yaml', {});
    for (const s of config.servers) configure(resolveServer(config, s));
    for (const server of ['files', 'mail']) {
      traffic(call(server, 'read'));
      traffic({ ...call(server, 'read'), kind: 'operation', method: 'tools/list', tool: undefined });
    }
    const servers = async (name: string): Promise<unknown[]> => [...new Set((await points(name)).map((p) => p.attributes['mcp.server.name']))].sort();
    assert.deepEqual(await servers('mcp.tool.calls'), ['files', 'mail']);
    assert.deepEqual(await servers('mcpwatch.tool_names.overflow'), []);
    for (const server of ['files', 'mail']) for (let i = 0; i < 10; i++) traffic(call(server, `more-${i}`));
    assert.deepEqual(await servers('mcpwatch.tool_names.overflow'), ['files', 'mail']);
    remove('files');
    assert.deepEqual(await servers('mcp.tool.calls'), ['mail']);
    assert.deepEqual(await servers('mcp.client.operation.duration'), ['mail']);
    assert.deepEqual(await servers('mcpwatch.tool_names.overflow'), ['mail']);
    assert.equal(sumOf(await points('mcpwatch.tool_names.overflow'), () => true), 1, 'the eleventh tool name of mail');
    // Still called after its removal: counted afresh, as an unconfigured server.
    traffic(call('files', 'read'));
    assert.equal(sumOf(await points('mcp.tool.calls'), (a) => a['mcp.server.name'] === 'files'), 1);
    assert.equal(sumOf(await points('mcp.tool.calls'), (a) => a['mcp.server.name'] === 'mail'), 11);
  });
});

describe('Recorder.probe', () => {
  it('follows a server\'s labels: a relabelled server\'s durations start new series, a removed one\'s go', async () => {
    const { recorder, points } = setup();
    const yaml = (tags: string): string => `servers:\n  - { name: files, transport: stdio, command: node, tags: [${tags}] }\n`;
    const server = (tags: string) => {
      const config = parseConfig(yaml(tags), 'mcpwatch.yaml', {});
      return resolveServer(config, config.servers[0]!);
    };
    const probe = (s: ReturnType<typeof server>): void => recorder.probe(s, { ...emptyOutcome(s), phases: { initialize: 12, 'tools/list': 5 }, tools: [] });
    const teams = async (): Promise<unknown[]> => (await points('mcp.client.operation.duration')).map((p) => p.attributes['mcp.tag.team']);

    recorder.register(server('"team:data"'));
    probe(server('"team:data"'));
    assert.deepEqual(await teams(), ['data', 'data']);
    recorder.register(server('"team:data"')); // a reload that changes nothing keeps the series
    probe(server('"team:data"'));
    assert.equal(sumOf(await points('mcp.client.operation.duration'), () => true), 4);

    recorder.register(server('"team:platform"'));
    probe(server('"team:platform"'));
    assert.deepEqual(await teams(), ['platform', 'platform'], 'no series keeps the old labels');
    recorder.unregister('files');
    assert.deepEqual(await teams(), []);
  });
});
