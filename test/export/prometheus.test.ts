import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { Writable } from 'node:stream';
import type { Attributes } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, MeterProvider, type CollectionResult, type MetricData, type MetricProducer } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ServerResponse } from 'node:http';
import { LabelFragments, RESOURCE_CONSTANT_LABELS, serveMetrics } from '../../src/export/prometheus.js';

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<number> {
  const srv = createServer(handler);
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return (srv.address() as AddressInfo).port;
}

function get(port: number): Promise<{ type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ type: res.headers['content-type'], body: Buffer.concat(parts).toString() }));
    })
      .on('error', reject)
      .end();
  });
}

/** The exporter's own handler and serveMetrics over the same exporter. */
async function both(exporter: PrometheusExporter): Promise<[{ type: string | undefined; body: string }, { type: string | undefined; body: string }]> {
  const theirs = await serve((req, res) => exporter.getMetricsRequestHandler(req, res));
  const ours = await serve((_req, res) => void serveMetrics(exporter, res));
  return [await get(theirs), await get(ours)];
}

/** A producer whose one scope holds the metrics `metrics()` gives at each collection. */
function producerOf(metrics: () => MetricData[]): MetricProducer {
  return {
    collect: async (): Promise<CollectionResult> => ({
      resourceMetrics: {
        resource: resourceFromAttributes({ 'service.name': 'mcpwatch' }),
        scopeMetrics: [{ scope: { name: 'mcpwatch', version: '0.1.0' }, metrics: metrics() }],
      },
      errors: [],
    }),
  };
}

describe('serveMetrics', () => {
  it("writes exactly the exporter's page, in pieces, across many series of every kind", async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'mcpwatch' }), readers: [exporter] });
    const meter = provider.getMeter('mcpwatch', '0.1.0');
    const counter = meter.createCounter('mcp.test.calls', { description: 'Calls "quoted"\nand a newline' });
    const histogram = meter.createHistogram('mcp.test.duration', { unit: 's', advice: { explicitBucketBoundaries: [0.01, 0.1, 1] } });
    meter.createObservableGauge('mcp.test.empty', { description: 'No points' });
    const gauge = meter.createObservableGauge('mcp.test.up');
    const upDown = meter.createUpDownCounter('mcp.test.open');
    upDown.add(-2, { port: 8443, secure: true, hosts: ['a', 'b'] });
    upDown.add(5, {});
    // 173 series each: more than three pieces, the last one partial.
    for (let i = 0; i < 173; i++) {
      counter.add(i + 1, { 'mcp.server.name': `server-${i}`, note: i % 7 === 0 ? 'back\\slash "q"' : 'plain' });
      histogram.record(i / 100, { 'mcp.server.name': `server-${i}` });
    }
    gauge.addCallback((r) => {
      for (let i = 0; i < 173; i++) r.observe(i % 2, { 'mcp.server.name': `server-${i}` });
    });
    const [theirs, ours] = await both(exporter);
    assert.equal(ours.type, theirs.type);
    assert.ok(theirs.body.length > 60_000, `a page of ${theirs.body.length} bytes`);
    assert.equal(ours.body, theirs.body);
    assert.equal(ours.body.match(/^# TYPE mcp_test_duration histogram$/gm)?.length, 1, 'one TYPE line per metric');
    await provider.shutdown();
  });

  it('a sharded agent\'s `shard` resource attribute is a label on every series, as the exporter renders it', async () => {
    const page = async (attributes: Record<string, string>): Promise<string> => {
      const exporter = new PrometheusExporter({ preventServerStart: true, withResourceConstantLabels: RESOURCE_CONSTANT_LABELS });
      const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'mcpwatch', ...attributes }), readers: [exporter] });
      const meter = provider.getMeter('mcpwatch', '0.1.0');
      meter.createCounter('mcp.test.calls').add(1, { 'mcp.server.name': 'a' });
      meter.createHistogram('mcp.test.duration', { unit: 's', advice: { explicitBucketBoundaries: [0.1, 1] } }).record(0.5, { 'mcp.server.name': 'a' });
      meter.createObservableGauge('mcp.test.up').addCallback((r) => r.observe(1));
      const [theirs, ours] = await both(exporter);
      assert.equal(ours.body, theirs.body);
      await provider.shutdown();
      return ours.body;
    };
    const samples = (body: string): string[] => body.split('\n').filter((l) => l && !l.startsWith('#'));
    const sharded = await page({ shard: '2' });
    assert.equal(samples(sharded).length, 8, "target_info, the counter, the histogram (count, sum, 3 buckets), the gauge");
    for (const line of samples(sharded)) assert.match(line, /[{,]shard="2"[,}]/, line);
    // Without sharding there is no such label, on any line.
    assert.doesNotMatch(await page({}), /shard=/);
  });

  it('settles when the scraper hangs up while the exporter collects', async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const provider = new MeterProvider({ readers: [exporter] });
    // The collection is held open until the scraper has hung up, so the hang-up always falls inside it.
    let collecting!: () => void;
    const collectionBegan = new Promise<void>((resolve) => (collecting = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    provider
      .getMeter('mcpwatch')
      .createObservableGauge('mcp.test.slow')
      .addCallback(async (r) => {
        collecting();
        await released;
        r.observe(1);
      });
    let served: Promise<void> | undefined;
    let hungUp!: Promise<unknown>;
    const port = await serve((_req, res) => {
      hungUp = once(res, 'close');
      served = serveMetrics(exporter, res);
    });
    const req = request({ host: '127.0.0.1', port, path: '/metrics' });
    req.on('error', () => {});
    req.end();
    await collectionBegan;
    assert.ok(served, 'the request reached the handler');
    req.destroy();
    await hungUp;
    release();
    // Only a handler that never settles reaches this limit.
    const outcome = await Promise.race([served.then(() => 'settled'), new Promise((r) => setTimeout(r, 30_000, 'pending').unref())]);
    assert.equal(outcome, 'settled');
    await provider.shutdown();
  });

  it("follows series that move, vanish, come back or change labels between scrapes, with the exporter's bytes each time", async () => {
    // mcpwatch's producers hand out the same attributes object for a series on every collection,
    // usually in the same order; here the order, the set and the objects change from scrape to scrape.
    const series = (name: string, extra: Attributes = {}): Attributes => ({ 'mcp.server.name': name, ...extra });
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => series(n));
    const scrapes: Attributes[][] = [
      [a!, b!, c!, d!],
      [b!, a!, d!],
      [a!, series('b', { 'mcp.tag.team': 'new' }), c!, d!, series('e')],
      [d!],
      [a!, b!, c!, d!],
    ];
    let step = 0;
    const producer = producerOf(() => [
      {
        descriptor: { name: 'mcp.test.up', description: '', unit: '1', valueType: 1 },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.GAUGE,
        dataPoints: scrapes[step]!.map((attributes, i) => ({ attributes, startTime: [0, 0], endTime: [0, 0], value: step * 10 + i })),
      },
      {
        descriptor: { name: 'mcp.test.duration', description: '', unit: 's', valueType: 1 },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: scrapes[step]!.map((attributes, i) => ({
          attributes,
          startTime: [0, 0],
          endTime: [0, 0],
          // Boundaries that differ from point to point, one set with an explicit +Inf.
          value: i % 2 ? { buckets: { boundaries: [0.1, 1], counts: [i, step, 1] }, sum: i + step, count: i + step + 1, min: 0, max: 2 } : { buckets: { boundaries: [0.5, 2, Infinity], counts: [1, i, step, 2] }, sum: i, count: i + step + 3, min: 0, max: 9 },
        })),
      },
    ]);
    const exporter = new PrometheusExporter({ preventServerStart: true, metricProducers: [producer] });
    const provider = new MeterProvider({ readers: [exporter] });
    for (step = 0; step < scrapes.length; step++) {
      const [theirs, ours] = await both(exporter);
      assert.equal(ours.body, theirs.body, `scrape ${step}`);
      assert.equal(ours.body.match(/^mcp_test_up\{/gm)?.length, scrapes[step]!.length);
    }
    await provider.shutdown();
  });

  it("two scrapes at once, the series shrinking between their collections, leave the next scrapes whole and the exporter's bytes", async () => {
    // Two Prometheus replicas scrape one agent; a server is removed between their collections.
    const all: Attributes[] = Array.from({ length: 100 }, (_, i) => ({ 'mcp.server.name': `s${i}` }));
    let current = all;
    const producer = producerOf(() => [
      {
        descriptor: { name: 'mcp.test.up', description: '', unit: '1', valueType: 1 },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.GAUGE,
        dataPoints: current.map((attributes, i) => ({ attributes, startTime: [0, 0], endTime: [0, 0], value: i })),
      },
    ]);
    const exporter = new PrometheusExporter({ preventServerStart: true, metricProducers: [producer] });
    const provider = new MeterProvider({ readers: [exporter] });
    const sink = (): ServerResponse & { text(): string } => {
      const parts: Buffer[] = [];
      const w = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          parts.push(chunk);
          callback();
        },
      });
      const res = Object.assign(w, { writeHead: () => res, text: () => Buffer.concat(parts).toString() });
      return res as unknown as ServerResponse & { text(): string };
    };
    // The first scrape gives way after every piece of 50 series; the second runs whole meanwhile.
    const first = sink();
    const slow = serveMetrics(exporter, first, { sliceMs: 0 });
    await new Promise((resolve) => setImmediate(resolve));
    current = all.slice(0, 40);
    const second = sink();
    await serveMetrics(exporter, second, { sliceMs: 1e9 });
    await slow;
    assert.equal(first.text().match(/^mcp_test_up\{/gm)?.length, 100);
    assert.equal(second.text().match(/^mcp_test_up\{/gm)?.length, 40);
    // Afterwards, with every server back and then one gone, each page is still the exporter's.
    const theirs = await serve((req, res) => exporter.getMetricsRequestHandler(req, res));
    for (const next of [all, all.slice(1)]) {
      current = next;
      const ours = sink();
      await serveMetrics(exporter, ours);
      assert.equal(ours.text(), (await get(theirs)).body);
      assert.equal(ours.text().match(/^mcp_test_up\{/gm)?.length, next.length);
    }
    await provider.shutdown();
  });

  it('hands the event loop back between pieces, even to a socket that never fills', async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const provider = new MeterProvider({ readers: [exporter] });
    const counter = provider.getMeter('mcpwatch').createCounter('mcp.test.calls');
    // 10 pieces of 50 points.
    for (let i = 0; i < 500; i++) counter.add(1, { 'mcp.server.name': `server-${i}` });
    // A response that takes every write at once, as loopback does: 'drain' then comes from the
    // nextTick queue, which alone never lets the loop read a probe's response.
    const written: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        written.push(chunk);
        callback();
      },
    });
    const res = Object.assign(sink, { writeHead: () => res }) as unknown as ServerResponse;
    let turns = 0;
    let done = false;
    const turn = (): void => {
      turns++;
      if (!done) setImmediate(turn);
    };
    setImmediate(turn);
    // A slice of 0 ms: give way after every piece, whatever this machine's speed.
    await serveMetrics(exporter, res, { sliceMs: 0 });
    done = true;
    assert.ok(turns >= 9, `${turns} turns of the event loop while 10 pieces were written`);
    const page = Buffer.concat(written).toString();
    assert.equal(page.match(/^mcp_test_calls_total\{/gm)?.length, 500);
    await provider.shutdown();
  });

  it("writes the exporter's page when nothing is registered", async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const provider = new MeterProvider({ readers: [exporter] });
    const [theirs, ours] = await both(exporter);
    assert.equal(ours.body, theirs.body);
    assert.match(ours.body, /target_info/);
    await provider.shutdown();
  });

  it('lets go of label values no series carried for a whole scrape (a server removed by a reload)', () => {
    const fragments = new LabelFragments();
    assert.equal(fragments.get('mcp.server.name', 'a "b"'), 'mcp_server_name="a \\"b\\""');
    fragments.get('mcp.server.name', 'gone');
    fragments.get('port', 8443);
    fragments.rotate();
    // The next scrape carries 'a "b"' and a new server; 'gone' and the port are still held, unused.
    fragments.get('mcp.server.name', 'a "b"');
    fragments.get('mcp.server.name', 'new');
    assert.deepEqual(fragments.held('mcp.server.name').sort(), ['a "b"', 'gone', 'new']);
    fragments.rotate();
    assert.deepEqual(fragments.held('mcp.server.name').sort(), ['a "b"', 'new']);
    assert.deepEqual(fragments.held('port'), []);
    assert.equal(fragments.get('port', 8443), 'port="8443"');
  });
});
