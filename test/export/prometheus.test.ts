import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { RESOURCE_CONSTANT_LABELS, serveMetrics } from '../../src/export/prometheus.js';

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

  it("writes the exporter's page when nothing is registered", async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const provider = new MeterProvider({ readers: [exporter] });
    const [theirs, ours] = await both(exporter);
    assert.equal(ours.body, theirs.body);
    assert.match(ours.body, /target_info/);
    await provider.shutdown();
  });
});
