import { describe, test } from 'node:test';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { SpanKind } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  classifyGrpcStatus,
  classifyHttpStatus,
  grpcRetryDelayMs,
  OtlpForwarder,
  partialSuccessOf,
  partialSuccessOfJson,
  queueCapacityBytes,
  type ForwarderConfig,
  type ForwarderDropReason,
  type ForwarderHooks,
  type ForwarderOptions,
} from '../../src/export/forwarder.js';
import { parseRetryAfter, readCapped } from '../../src/wire/http.js';
import type { OtlpSignal } from '../../src/wire/otlp.js';
import { decodeTraceRequest } from '../../src/otlp/decode.js';
import { logsBody, metricsBody } from '../fixtures/otlp-bodies.js';
import { encodeRetryInfoStatus, startOtlpUpstream, type OtlpUpstream, type UpstreamProtocol } from '../fixtures/otlp-upstream.js';

const PB = 'application/x-protobuf';
const JSON_CT = 'application/json';
const MIB = 1024 * 1024;

// ---- realistic request bodies from the real SDK -------------------------------------------------

const resource = resourceFromAttributes({ 'service.name': 'agent-under-test' });

/** Finished spans named `<prefix>-<i>`, with MCP attributes so the bodies look like real traffic. */
function sdkSpans(n: number, prefix: string): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('test-instrumentation', '1.0.0');
  for (let i = 0; i < n; i++) {
    tracer
      .startSpan(`tools/call ${prefix}-${i}`, {
        kind: SpanKind.CLIENT,
        attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': `${prefix}-${i}`, 'mcp.server.name': 'fs' },
      })
      .end();
  }
  return exporter.getFinishedSpans();
}

/** One ExportTraceServiceRequest per span: distinct bodies, so the test can tell which arrived. */
function traceBodies(n: number, prefix = 'req'): Buffer[] {
  return sdkSpans(n, prefix).map((s) => Buffer.from(ProtobufTraceSerializer.serializeRequest([s])!));
}

// ---- hooks that tests can wait on ---------------------------------------------------------------

class Counts implements ForwarderHooks {
  sentN = 0;
  failedN = 0;
  droppedBy = new Map<ForwarderDropReason, number>();
  lastQueueBytes = -1;
  private waiters = new Set<() => void>();

  sent(_signal: OtlpSignal): void {
    this.sentN++;
    this.notify();
  }
  failed(_signal: OtlpSignal): void {
    this.failedN++;
    this.notify();
  }
  dropped(_signal: OtlpSignal, reason: ForwarderDropReason): void {
    this.droppedBy.set(reason, this.drops(reason) + 1);
    this.notify();
  }
  queueBytes(n: number): void {
    this.lastQueueBytes = n;
  }
  drops(reason: ForwarderDropReason): number {
    return this.droppedBy.get(reason) ?? 0;
  }
  totalDrops(): number {
    let n = 0;
    for (const v of this.droppedBy.values()) n += v;
    return n;
  }

  /** The limit only turns a hang into a message: no wait here comes near it, even on a busy machine. */
  until(cond: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    return new Promise((resolve, reject) => {
      if (cond()) return resolve();
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what} (sent ${this.sentN}, failed ${this.failedN}, dropped ${this.totalDrops()})`));
      }, timeoutMs);
      const check = (): void => {
        if (!cond()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

interface Harness {
  f: OtlpForwarder;
  counts: Counts;
}

/**
 * A forwarder aimed at the upstream, with fast back-off unless the test says otherwise, and an
 * attempt timeout that a busy machine never reaches (an attempt timing out would be counted failed).
 */
function forwarderFor(up: OtlpUpstream, config: Partial<ForwarderConfig> = {}, options: ForwarderOptions = {}): Harness {
  const counts = new Counts();
  const f = new OtlpForwarder(
    { endpoint: up.endpoint, protocol: up.protocol === 'grpc' ? 'grpc' : 'http/protobuf', headers: {}, timeout: 60_000, queue_size_mib: 4, ...config },
    { hooks: counts, initialBackoffMs: 10, maxBackoffMs: 40, jitter: 0, ...options },
  );
  return { f, counts };
}

/**
 * A TCP relay in front of `target` that counts the bytes clients send through it: what the
 * forwarder puts on the wire, after compression.
 */
async function countingRelay(target: URL): Promise<{ endpoint: string; sent: () => number; close: () => Promise<void> }> {
  let sent = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (c: Buffer) => (sent += c.length));
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `${target.protocol}//127.0.0.1:${port}`,
    sent: () => sent,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function indexOfBody(bodies: Buffer[], body: Buffer): number {
  return bodies.findIndex((b) => b.equals(body));
}

// ---- against a real upstream, over both protocols -----------------------------------------------

const PROTOCOLS: UpstreamProtocol[] = ['grpc', 'http'];
const STATUS = {
  grpc: { retryable: grpc.status.UNAVAILABLE, permanent: grpc.status.INVALID_ARGUMENT },
  http: { retryable: 503, permanent: 400 },
} as const;

for (const protocol of PROTOCOLS) {
  describe(`forwarder over ${protocol}`, () => {
    test('forwards every signal byte for byte, with the configured headers, and counts it', async (t) => {
      const up = await startOtlpUpstream({ protocol });
      const { f, counts } = forwarderFor(up, { headers: { 'X-Api-Key': 'k-123', Authorization: 'Bearer tok' } });
      t.after(async () => {
        await f.shutdown(1_000);
        await up.close();
      });
      f.start();
      const traces = traceBodies(5);
      const sent: Array<{ signal: OtlpSignal; body: Buffer }> = [
        ...traces.map((body) => ({ signal: 'traces' as const, body })),
        { signal: 'metrics', body: await metricsBody() },
        { signal: 'logs', body: logsBody() },
      ];
      for (const s of sent) assert.equal(f.enqueue(s.signal, s.body, PB), true);
      await up.waitForRequests(sent.length);
      await counts.until(() => counts.sentN === sent.length, 'all sent');

      assert.equal(up.requests.length, sent.length);
      for (const s of sent) {
        const got = up.requests.find((r) => r.body.equals(s.body));
        assert.ok(got, `a ${s.signal} request of ${s.body.length} bytes arrived unchanged`);
        assert.equal(got.signal, s.signal, 'on the service / path of its signal');
        assert.equal(got.headers['x-api-key'], 'k-123');
        assert.equal(got.headers['authorization'], 'Bearer tok');
        assert.match(got.headers['user-agent'] ?? '', /^mcpwatch\/\d+\.\d+\.\d+/, 'the sender named, as the Collector\'s exporters name themselves');
        if (protocol === 'http') assert.equal(got.contentType, PB);
      }
      assert.equal(counts.failedN, 0);
      assert.equal(counts.totalDrops(), 0);
      assert.equal(f.queuedRequests, 0);
      assert.equal(f.queuedBytes, 0);
      assert.equal(counts.lastQueueBytes, 0);
    });

    test('sends user:password in the endpoint as Basic authorization, and over HTTP keeps its path and query, never logging the password', async (t) => {
      const up = await startOtlpUpstream({ protocol, basePath: '/base' });
      const logged: string[] = [];
      const log = { warn: (obj: object, msg: string) => void logged.push(JSON.stringify(obj), msg), debug: (obj: object, msg: string) => void logged.push(JSON.stringify(obj), msg) };
      const withUser = (path: string): string => up.endpoint.replace('http://', 'http://mcp%20user:p%40ss-s3cret@') + path;
      const { f } = forwarderFor(up, { endpoint: withUser('/base/?api_key=k%2F1&x=2') }, { log });
      const configured = forwarderFor(up, { endpoint: withUser('/base'), headers: { AUTHORIZATION: 'Bearer tok' } });
      t.after(async () => {
        await f.shutdown(1_000);
        await configured.f.shutdown(1_000);
        await up.close();
      });
      // The first attempt is refused, so the forwarder has something to log.
      up.setFailure({ status: STATUS[protocol].retryable, count: 1 });
      f.start();
      assert.equal(f.enqueue('traces', traceBodies(1)[0]!, PB), true);
      assert.equal(f.enqueue('metrics', await metricsBody(), PB), true);
      await up.waitForRequests(2);
      for (const got of up.requests) {
        // As Go's HTTP client sends a URL's userinfo for the Collector, decoded first.
        assert.equal(got.headers['authorization'], `Basic ${Buffer.from('mcp user:p@ss-s3cret').toString('base64')}`);
        if (protocol === 'http') assert.equal(got.target, `/base/v1/${got.signal}?api_key=k%2F1&x=2`, 'the signal path before the query');
      }
      configured.f.start();
      assert.equal(configured.f.enqueue('logs', logsBody(), PB), true);
      await up.waitForRequests(3);
      assert.equal(up.requests[2]!.headers['authorization'], 'Bearer tok', 'a configured Authorization header wins');
      assert.ok(logged.length > 0, 'the refusal was logged');
      assert.ok(!logged.some((line) => /s3cret|p%40ss|Basic/.test(line)), logged.join('\n'));
    });

    test('sends gzip by default and uncompressed with compression: none; the backend gets the same bytes', async (t) => {
      const up = await startOtlpUpstream({ protocol });
      const relay = await countingRelay(new URL(up.endpoint));
      t.after(async () => {
        await relay.close();
        await up.close();
      });
      // Batches as an SDK sends them (200 spans each), so that framing is small beside the bodies.
      const bodies = [0, 1, 2, 3].map((k) => Buffer.from(ProtobufTraceSerializer.serializeRequest(sdkSpans(200, `zip${k}`))!));
      const raw = bodies.reduce((n, b) => n + b.length, 0);
      const wire: Record<string, number> = {};
      for (const compression of ['gzip', 'none'] as const) {
        const before = relay.sent();
        const seen = up.requests.length;
        const { f, counts } = forwarderFor(up, { endpoint: relay.endpoint, compression });
        f.start();
        for (const b of bodies) f.enqueue('traces', b, PB);
        await counts.until(() => counts.sentN === bodies.length, `all sent with ${compression}`);
        await f.shutdown(1_000);
        wire[compression] = relay.sent() - before;
        const got = up.requests.slice(seen);
        assert.deepEqual(got.map((r) => indexOfBody(bodies, r.body)).sort(), [0, 1, 2, 3], `${compression}: every body arrived unchanged`);
        if (protocol === 'http') assert.equal(got[0]!.headers['content-encoding'], compression === 'gzip' ? 'gzip' : undefined);
      }
      assert.ok(wire.none! > raw, `uncompressed: ${wire.none} bytes on the wire for ${raw} bytes of bodies`);
      assert.ok(wire.gzip! < raw / 3, `gzip: ${wire.gzip} bytes on the wire for ${raw} bytes of bodies`);
    });

    test('warns of a backend\'s partial_success once a minute, with the counts, and neither retries nor drops', async (t) => {
      const up = await startOtlpUpstream({ protocol });
      const warnings: Array<{ obj: Record<string, unknown>; msg: string }> = [];
      const log = { warn: (obj: object, msg: string) => void warnings.push({ obj: obj as Record<string, unknown>, msg }), debug: () => undefined };
      const { f, counts } = forwarderFor(up, {}, { log, concurrency: 1 });
      t.after(async () => {
        await f.shutdown(1_000);
        await up.close();
      });
      f.start();
      up.setPartialSuccess({ rejected: 2, message: 'span too old' });
      const bodies = traceBodies(3, 'partial');
      for (const b of bodies) f.enqueue('traces', b, PB);
      await counts.until(() => counts.sentN === 3, 'all sent');
      assert.equal(up.attempts.length, 3, 'none retried');
      assert.equal(counts.failedN, 0);
      assert.equal(counts.totalDrops(), 0);
      const partial = warnings.filter((w) => w.msg.includes('partial_success'));
      assert.equal(partial.length, 1, 'one warning for three partial successes within a minute');
      assert.deepEqual(partial[0]!.obj, { signal: 'traces', rejected: 2, error: 'span too old', requests_since_last_warning: 1, rejected_since_last_warning: 2 });

      // A backend answering without partial_success says nothing.
      up.setPartialSuccess(null);
      f.enqueue('logs', logsBody(), PB);
      await counts.until(() => counts.sentN === 4, 'sent');
      assert.equal(warnings.length, 1);
    });

    test('keeps the order with one request in flight', async (t) => {
      const up = await startOtlpUpstream({ protocol });
      const { f, counts } = forwarderFor(up, {}, { concurrency: 1 });
      t.after(async () => {
        await f.shutdown(1_000);
        await up.close();
      });
      f.start();
      const bodies = traceBodies(12);
      for (const b of bodies) f.enqueue('traces', b, PB);
      await counts.until(() => counts.sentN === bodies.length, 'all sent');
      assert.deepEqual(
        up.requests.map((r) => indexOfBody(bodies, r.body)),
        bodies.map((_, i) => i),
      );
    });

    test('loses nothing that fits in the queue while the upstream is down, and sends it all after restart', async (t) => {
      const up = await startOtlpUpstream({ protocol });
      const { f, counts } = forwarderFor(up);
      t.after(async () => {
        await f.shutdown(1_000);
        await up.close();
      });
      f.start();
      // Up first, so the client has a live connection that the outage then cuts.
      const warm = traceBodies(1, 'warm')[0]!;
      f.enqueue('traces', warm, PB);
      await counts.until(() => counts.sentN === 1, 'warm-up sent');

      await up.stop();
      const bodies = traceBodies(10, 'outage');
      for (const b of bodies) f.enqueue('traces', b, PB);
      // Until nothing is in flight: a request sent before the outage was noticed may still be
      // connecting (a loaded machine), and would reach the restarted upstream first on its own.
      await counts.until(() => counts.failedN >= 3 && f.inFlightRequests === 0, 'several failed attempts while down, none in flight');
      assert.equal(up.requests.length, 1, 'only the warm-up arrived');
      assert.equal(f.queuedRequests, bodies.length, 'everything stays queued');
      assert.equal(f.queuedBytes, bodies.reduce((n, b) => n + b.length, 0));

      await up.restart();
      await up.waitForRequests(1 + bodies.length);
      await counts.until(() => counts.sentN === 1 + bodies.length, 'all sent after restart');
      const arrived = up.requests.slice(1).map((r) => indexOfBody(bodies, r.body));
      assert.deepEqual([...arrived].sort((a, b) => a - b), bodies.map((_, i) => i), 'each request exactly once');
      assert.equal(arrived[0], 0, 'recovery starts with the oldest request');
      assert.equal(counts.totalDrops(), 0);
      assert.equal(f.queuedBytes, 0);
    });

    test('an upstream that is down from the start gets everything once it comes up', async (t) => {
      const up = await startOtlpUpstream({ protocol, down: true });
      const { f, counts } = forwarderFor(up);
      t.after(async () => {
        await f.shutdown(1_000);
        await up.close();
      });
      f.start();
      const bodies = [...traceBodies(3), await metricsBody(), logsBody()];
      const signals: OtlpSignal[] = ['traces', 'traces', 'traces', 'metrics', 'logs'];
      bodies.forEach((b, i) => f.enqueue(signals[i]!, b, PB));
      await counts.until(() => counts.failedN >= 2, 'failed attempts while down');
      await up.restart();
      await up.waitForRequests(bodies.length);
      await counts.until(() => counts.sentN === bodies.length, 'all sent');
      for (const [i, b] of bodies.entries()) {
        const got = up.requests.filter((r) => r.body.equals(b));
        assert.equal(got.length, 1, `request ${i} arrived once`);
        assert.equal(got[0]!.signal, signals[i]);
      }
    });

    test('a small queue with the upstream down drops the oldest, and counts exactly how many', async (t) => {
      const up = await startOtlpUpstream({ protocol, down: true });
      const bodies = traceBodies(12, 'small');
      const keep = 4;
      // Exactly the last four fit: greedy oldest-first dropping must leave precisely those.
      const capacity = bodies.slice(-keep).reduce((n, b) => n + b.length, 0);
      const { f, counts } = forwarderFor(up, { queue_size_mib: capacity / MIB });
      t.after(async () => {
        await f.shutdown(1_000);
        await up.close();
      });
      assert.equal(f.capacityBytes, capacity);
      f.start();
      for (const b of bodies) assert.equal(f.enqueue('traces', b, PB), true);
      assert.equal(counts.drops('queue_full'), bodies.length - keep);
      assert.equal(f.queuedRequests, keep);
      assert.equal(f.queuedBytes, capacity);
      assert.ok(f.queuedBytes <= f.capacityBytes);

      // A single request larger than the whole queue is dropped itself; the queue is untouched.
      assert.equal(f.enqueue('traces', Buffer.alloc(capacity + 1, 1), PB), false);
      assert.equal(counts.drops('queue_full'), bodies.length - keep + 1);
      assert.equal(f.queuedRequests, keep);

      await up.restart();
      await counts.until(() => counts.sentN === keep && f.queuedRequests === 0, 'the kept requests sent');
      assert.deepEqual(
        up.requests.map((r) => indexOfBody(bodies, r.body)).sort((a, b) => a - b),
        [8, 9, 10, 11],
        'the newest four arrived, the oldest eight were dropped',
      );
      assert.equal(counts.drops('permanent_error'), 0);
    });

    test('a permanent error drops the request without retrying it', async (t) => {
      const up = await startOtlpUpstream({ protocol, failNext: 1, failWith: STATUS[protocol].permanent });
      const { f, counts } = forwarderFor(up);
      t.after(async () => {
        await f.shutdown(1_000);
        await up.close();
      });
      f.start();
      const [bad, good] = traceBodies(2, 'perm') as [Buffer, Buffer];
      f.enqueue('traces', bad, PB);
      await counts.until(() => counts.drops('permanent_error') === 1, 'the refused request dropped');
      f.enqueue('traces', good, PB);
      await up.waitForRequests(1);
      await counts.until(() => counts.sentN === 1, 'the next request sent');
      // A retried request goes out before the ones behind it: once a later one is through as well, a
      // retry of the refused request would have shown.
      const [later] = traceBodies(1, 'perm-later') as [Buffer];
      f.enqueue('traces', later, PB);
      await counts.until(() => counts.sentN === 2, 'a later request sent');
      assert.equal(up.attempts.filter((a) => a.body.equals(bad)).length, 1, 'the refused request was tried once');
      assert.ok(up.attempts[0]!.body.equals(bad));
      assert.ok(up.requests[0]!.body.equals(good));
      assert.equal(counts.failedN, 1);
      assert.equal(f.queuedRequests, 0);
    });

    test('a retryable error is retried until it succeeds', async (t) => {
      const up = await startOtlpUpstream({ protocol, failNext: 2, failWith: STATUS[protocol].retryable });
      const { f, counts } = forwarderFor(up);
      t.after(async () => {
        await f.shutdown(1_000);
        await up.close();
      });
      f.start();
      const [body] = traceBodies(1, 'retry') as [Buffer];
      f.enqueue('traces', body, PB);
      await up.waitForRequests(1);
      await counts.until(() => counts.sentN === 1, 'sent');
      assert.equal(up.attempts.length, 3);
      assert.ok(up.attempts.every((a) => a.body.equals(body)), 'every attempt carries the same bytes');
      assert.equal(counts.failedN, 2);
      assert.equal(counts.totalDrops(), 0);
    });

    test('after a failure, the oldest request is retried alone before the rest resume', async (t) => {
      const up = await startOtlpUpstream({ protocol });
      const { f, counts } = forwarderFor(up, {}, { concurrency: 4, initialBackoffMs: 30, maxBackoffMs: 60 });
      t.after(async () => {
        await f.shutdown(1_000);
        await up.close();
      });
      f.start();
      // Four in flight fail together; then two more retries fail; then all succeed.
      up.setFailure({ status: STATUS[protocol].retryable, count: 6 });
      const bodies = traceBodies(8, 'ordered');
      for (const b of bodies) f.enqueue('traces', b, PB);
      await up.waitForRequests(bodies.length);
      await counts.until(() => counts.sentN === bodies.length, 'all sent');
      const attempted = up.attempts.map((a) => indexOfBody(bodies, a.body));
      assert.deepEqual([...attempted.slice(0, 4)].sort(), [0, 1, 2, 3], 'the first burst is the four oldest');
      assert.deepEqual(attempted.slice(4, 7), [0, 0, 0], 'then only the oldest, one at a time, until it succeeds');
      assert.equal(indexOfBody(bodies, up.requests[0]!.body), 0);
      assert.equal(up.attempts.length, bodies.length + 6, 'an outage costs one attempt per back-off, not one per request');
      assert.equal(counts.failedN, 6);
    });

    test('an attempt that exceeds the timeout is retried', async (t) => {
      const up = await startOtlpUpstream({ protocol });
      const { f, counts } = forwarderFor(up, { timeout: 100 });
      t.after(async () => {
        await f.shutdown(1_000);
        await up.close();
      });
      f.start();
      up.setDelay(400);
      const [body] = traceBodies(1, 'slow') as [Buffer];
      f.enqueue('traces', body, PB);
      await counts.until(() => counts.failedN >= 1, 'the slow attempt timed out');
      up.setDelay(0);
      await counts.until(() => counts.sentN === 1, 'sent once the upstream is fast again');
      assert.ok(up.requests.some((r) => r.body.equals(body)));
      assert.equal(counts.totalDrops(), 0);
    });

    test('shutdown drains the queue within its timeout', async (t) => {
      const up = await startOtlpUpstream({ protocol });
      const { f, counts } = forwarderFor(up);
      t.after(() => up.close());
      f.start();
      up.setDelay(20);
      const bodies = traceBodies(10, 'drain');
      for (const b of bodies) f.enqueue('traces', b, PB);
      assert.ok(f.queuedRequests > 0, 'still queued when shutdown begins');
      // A timeout far beyond the ten 20 ms answers: draining, not the timeout, ends the shutdown.
      await f.shutdown(60_000);
      assert.equal(up.requests.length, bodies.length);
      assert.equal(counts.sentN, bodies.length);
      assert.equal(counts.totalDrops(), 0);
      assert.equal(f.queuedRequests, 0);
    });

    test('shutdown retries at once even in a long back-off', async (t) => {
      const up = await startOtlpUpstream({ protocol, failNext: 1, failWith: STATUS[protocol].retryable });
      const { f, counts } = forwarderFor(up, {}, { initialBackoffMs: 600_000, maxBackoffMs: 600_000 });
      t.after(() => up.close());
      f.start();
      const [body] = traceBodies(1, 'flush') as [Buffer];
      f.enqueue('traces', body, PB);
      await counts.until(() => counts.failedN === 1, 'first attempt failed');
      const started = Date.now();
      await f.shutdown(60_000);
      assert.ok(Date.now() - started < 60_000, 'did not wait out the back-off (10 min)');
      assert.equal(counts.sentN, 1);
      assert.ok(up.requests[0]!.body.equals(body));
    });

    test('shutdown gives up at its timeout and counts what it could not send', async (t) => {
      const up = await startOtlpUpstream({ protocol, down: true });
      const { f, counts } = forwarderFor(up);
      t.after(() => up.close());
      f.start();
      const bodies = traceBodies(5, 'lost');
      for (const b of bodies) f.enqueue('traces', b, PB);
      const started = Date.now();
      await f.shutdown(150);
      const took = Date.now() - started;
      // Not before its timeout; after it, as soon as a busy machine lets it (the upstream never comes back).
      assert.ok(took >= 140 && took < 150 + 15_000, `shutdown took ${took} ms`);
      assert.equal(counts.drops('shutdown'), bodies.length);
      assert.equal(counts.sentN, 0);
      assert.equal(f.queuedRequests, 0);
      assert.equal(f.queuedBytes, 0);
      assert.equal(counts.lastQueueBytes, 0);
      // Closed: later requests are refused and counted, never thrown.
      assert.equal(f.enqueue('traces', bodies[0]!, PB), false);
      assert.equal(counts.drops('shutdown'), bodies.length + 1);
      await f.shutdown(10); // twice is fine
    });
  });
}

// ---- protocol-specific behaviour ---------------------------------------------------------------

describe('forwarder: JSON bodies', () => {
  test('an HTTP backend gets OTLP/JSON as JSON, unchanged', async (t) => {
    const up = await startOtlpUpstream({ protocol: 'http' });
    const { f, counts } = forwarderFor(up);
    t.after(async () => {
      await f.shutdown(1_000);
      await up.close();
    });
    f.start();
    const body = Buffer.from(JsonTraceSerializer.serializeRequest(sdkSpans(2, 'json'))!);
    assert.ok(body.toString('utf8').startsWith('{'), 'a JSON body');
    f.enqueue('traces', body, JSON_CT);
    await counts.until(() => counts.sentN === 1, 'sent');
    assert.ok(up.requests[0]!.body.equals(body));
    assert.equal(up.requests[0]!.contentType, JSON_CT);
  });

  test('reads an OTLP/JSON partialSuccess from an HTTP backend', async (t) => {
    const up = await startOtlpUpstream({ protocol: 'http' });
    const warnings: Array<Record<string, unknown>> = [];
    const { f, counts } = forwarderFor(up, {}, { log: { warn: (obj: object) => void warnings.push(obj as Record<string, unknown>), debug: () => undefined } });
    t.after(async () => {
      await f.shutdown(1_000);
      await up.close();
    });
    f.start();
    up.setPartialSuccess({ rejected: 1, message: 'unknown metric type' });
    f.enqueue('metrics', Buffer.from('{"resourceMetrics":[]}'), JSON_CT);
    await counts.until(() => counts.sentN === 1, 'sent');
    assert.deepEqual(warnings, [{ signal: 'metrics', rejected: 1, error: 'unknown metric type', requests_since_last_warning: 1, rejected_since_last_warning: 1 }]);
  });

  test('a gRPC backend gets OTLP/JSON re-encoded as protobuf; JSON that cannot be is dropped as unsupported', async (t) => {
    const up = await startOtlpUpstream({ protocol: 'grpc' });
    const { f, counts } = forwarderFor(up);
    t.after(async () => {
      await f.shutdown(1_000);
      await up.close();
    });
    f.start();
    const spans = sdkSpans(3, 'json');
    const json = Buffer.from(JsonTraceSerializer.serializeRequest(spans)!);
    assert.equal(f.enqueue('traces', json, JSON_CT), true);
    await counts.until(() => counts.sentN === 1, 'the JSON request sent');
    const got = decodeTraceRequest(up.requests[0]!.body, { ids: true }).spans;
    assert.deepEqual(
      got.map((s) => [s.name, s.traceId, s.spanId]),
      spans.map((s) => [s.name, s.spanContext().traceId, s.spanContext().spanId]),
      'the same spans, as protobuf',
    );

    assert.equal(f.enqueue('traces', Buffer.from('{"resourceSpans": ['), JSON_CT), false);
    assert.equal(counts.drops('unsupported'), 1);
    assert.equal(f.queuedRequests, 0);
    const [pb] = traceBodies(1, 'after-json') as [Buffer];
    f.enqueue('traces', pb, PB);
    await counts.until(() => counts.sentN === 2, 'the protobuf request sent');
    assert.equal(up.attempts.length, 2, 'the bad JSON never went out');
    assert.ok(up.attempts[1]!.body.equals(pb));
  });
});

describe('forwarder: server-given retry delays', () => {
  test('gRPC RESOURCE_EXHAUSTED without RetryInfo is permanent', async (t) => {
    const up = await startOtlpUpstream({ protocol: 'grpc', failNext: 1, failWith: grpc.status.RESOURCE_EXHAUSTED });
    const { f, counts } = forwarderFor(up);
    t.after(async () => {
      await f.shutdown(1_000);
      await up.close();
    });
    f.start();
    f.enqueue('traces', traceBodies(1, 'exhausted')[0]!, PB);
    await counts.until(() => counts.drops('permanent_error') === 1, 'dropped');
    assert.equal(up.attempts.length, 1);
  });

  test('gRPC RESOURCE_EXHAUSTED with RetryInfo is retried after the delay it names', async (t) => {
    const up = await startOtlpUpstream({ protocol: 'grpc' });
    const { f, counts } = forwarderFor(up, {}, { initialBackoffMs: 1, maxBackoffMs: 1 });
    t.after(async () => {
      await f.shutdown(1_000);
      await up.close();
    });
    up.setFailure({ status: grpc.status.RESOURCE_EXHAUSTED, count: 1, retryDelayMs: 150 });
    f.start();
    f.enqueue('traces', traceBodies(1, 'throttled')[0]!, PB);
    await counts.until(() => counts.sentN === 1, 'sent after the delay');
    assert.equal(up.attempts.length, 2);
    const gap = up.attempts[1]!.at - up.attempts[0]!.at;
    assert.ok(gap >= 140, `waited ${gap} ms, RetryInfo asked for 150`);
  });

  test('HTTP 429 Retry-After overrides a longer back-off', async (t) => {
    const up = await startOtlpUpstream({ protocol: 'http' });
    const { f, counts } = forwarderFor(up, {}, { initialBackoffMs: 600_000, maxBackoffMs: 600_000 });
    t.after(async () => {
      await f.shutdown(1_000);
      await up.close();
    });
    up.setFailure({ status: 429, count: 1, retryAfter: '0' });
    f.start();
    f.enqueue('traces', traceBodies(1, 'rate-limited')[0]!, PB);
    await counts.until(() => counts.sentN === 1, 'sent at once, as Retry-After said, not after the 10 min back-off');
    assert.equal(counts.failedN, 1);
  });

  test('HTTP 413 is permanent', async (t) => {
    const up = await startOtlpUpstream({ protocol: 'http', failNext: 1, failWith: 413 });
    const { f, counts } = forwarderFor(up);
    t.after(async () => {
      await f.shutdown(1_000);
      await up.close();
    });
    f.start();
    f.enqueue('traces', traceBodies(1, 'too-big')[0]!, PB);
    await counts.until(() => counts.drops('permanent_error') === 1, 'dropped');
    assert.equal(up.attempts.length, 1);
  });
});

describe('forwarder: lifecycle and robustness', () => {
  test('requests queue before start and go out after it', async (t) => {
    const up = await startOtlpUpstream({ protocol: 'http' });
    const { f, counts } = forwarderFor(up);
    t.after(async () => {
      await f.shutdown(1_000);
      await up.close();
    });
    const bodies = traceBodies(3, 'early');
    for (const b of bodies) f.enqueue('traces', b, PB);
    // A started forwarder gets a request through to the same upstream meanwhile: had f sent at
    // enqueue, its requests, begun earlier, would be there too.
    const other = forwarderFor(up);
    t.after(() => other.f.shutdown(1_000));
    other.f.start();
    const [probe] = traceBodies(1, 'early-other') as [Buffer];
    other.f.enqueue('traces', probe, PB);
    await other.counts.until(() => other.counts.sentN === 1, 'the other forwarder\'s request sent');
    assert.deepEqual(up.attempts.map((a) => a.body.equals(probe)), [true], 'nothing sent before start');
    f.start();
    await counts.until(() => counts.sentN === 3, 'sent after start');
  });

  test('shutdown without start drops (and counts) what was queued', async () => {
    const f = new OtlpForwarder({ endpoint: 'http://127.0.0.1:1', protocol: 'grpc' }, { hooks: new Counts() });
    const counts = new Counts();
    const g = new OtlpForwarder({ endpoint: 'http://127.0.0.1:1', protocol: 'http/protobuf' }, { hooks: counts });
    await f.shutdown(100);
    g.enqueue('logs', logsBody(), PB);
    await g.shutdown(100);
    assert.equal(counts.drops('shutdown'), 1);
    assert.equal(g.queuedRequests, 0);
  });

  test('a JSON body still to be written is written only for a backend that takes it as it is', async () => {
    const parsed = { resourceSpans: [] };
    for (const [protocol, writes] of [['grpc', 0], ['http/protobuf', 1]] as const) {
      const f = new OtlpForwarder({ endpoint: 'http://127.0.0.1:1', protocol }, { hooks: new Counts() });
      let written = 0;
      assert.equal(f.admit('traces', () => (written++, Buffer.from(JSON.stringify(parsed))), 'application/json', parsed), undefined);
      assert.deepEqual([written, f.queuedRequests], [writes, 1], protocol);
      await f.shutdown(100);
    }
  });

  test('hooks that throw never reach the caller of enqueue', async () => {
    const throwing: ForwarderHooks = {
      sent: () => {
        throw new Error('boom');
      },
      failed: () => {
        throw new Error('boom');
      },
      dropped: () => {
        throw new Error('boom');
      },
      queueBytes: () => {
        throw new Error('boom');
      },
    };
    const f = new OtlpForwarder({ endpoint: 'http://127.0.0.1:1', protocol: 'grpc', queue_size_mib: 1 / 1024 }, { hooks: throwing });
    assert.doesNotThrow(() => f.enqueue('traces', Buffer.alloc(10), JSON_CT));
    assert.doesNotThrow(() => f.enqueue('traces', Buffer.alloc(2_000), PB));
    assert.doesNotThrow(() => f.enqueue('traces', Buffer.alloc(100), PB));
    await f.shutdown(10);
  });

  test('empty requests are charged a minimum, so even they cannot grow the queue without bound', () => {
    const counts = new Counts();
    const f = new OtlpForwarder({ endpoint: 'http://127.0.0.1:1', protocol: 'http/protobuf', queue_size_mib: 640 / MIB }, { hooks: counts });
    for (let i = 0; i < 25; i++) f.enqueue('traces', Buffer.alloc(0), PB);
    assert.equal(f.queuedRequests, 10);
    assert.equal(f.queuedBytes, 640);
    assert.equal(counts.drops('queue_full'), 15);
  });

  test('a permanent failure whose error page never ends is dropped at once, quoting its start, not held until the deadline', async (t) => {
    // A backend (or a proxy in front of it) that answers 400 and streams its error page without end:
    // reading the whole page held all of it in memory and the attempt until its deadline (60 s here),
    // when it counted as a timeout and was retried.
    const { createServer } = await import('node:http');
    const page = Buffer.alloc(64 * 1024, 'x');
    page.write('<html>bad request: no such tenant');
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(400, { 'content-type': 'text/html' });
        res.write(page);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const counts = new Counts();
    const warnings: Array<Record<string, unknown>> = [];
    const f = new OtlpForwarder(
      { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, protocol: 'http/protobuf', timeout: 60_000 },
      { hooks: counts, log: { warn: (obj) => void warnings.push(obj as Record<string, unknown>), debug: () => undefined } },
    );
    t.after(() => f.shutdown(100));
    f.start();
    f.enqueue('traces', traceBodies(1)[0]!, PB);
    await counts.until(() => counts.drops('permanent_error') === 1, 'dropped as permanent');
    assert.equal(counts.failedN, 1, 'one attempt, not retried');
    assert.match(String(warnings.at(-1)?.error), /^HTTP 400: <html>bad request: no such tenantx+$/);
    assert.equal(String(warnings.at(-1)?.error).length, 'HTTP 400: '.length + 200);
  });

  test('an unreadable CA file is a start-up error that names the setting', () => {
    const f = new OtlpForwarder({ endpoint: 'https://127.0.0.1:4317', protocol: 'grpc', tls: { ca_file: '/nonexistent/ca.pem' } });
    assert.throws(() => f.start(), /exporters\.otlp\.tls\.ca_file/);
  });

  test('a header gRPC cannot carry as metadata is a start-up error that names it', () => {
    const f = new OtlpForwarder({ endpoint: 'http://127.0.0.1:4317', protocol: 'grpc', headers: { 'bad key': 'v' } });
    assert.throws(() => f.start(), /exporters\.otlp\.headers\.bad key/);
  });

  test('queueCapacityBytes follows queue_size_mib', () => {
    assert.equal(queueCapacityBytes(64), 64 * MIB);
    assert.equal(queueCapacityBytes(0.5), MIB / 2);
    assert.equal(new OtlpForwarder({ endpoint: 'http://x:4317', protocol: 'grpc' }).capacityBytes, 64 * MIB);
  });
});

// ---- the retry table, row by row -----------------------------------------------------------------

describe('forwarder: partial_success parsing', () => {
  test('reads rejected counts and messages from protobuf and JSON answers, and nothing from empty ones', () => {
    assert.equal(partialSuccessOf(Buffer.alloc(0)), undefined);
    assert.equal(partialSuccessOfJson('{}'), undefined);
    assert.equal(partialSuccessOfJson('not json'), undefined);
    assert.deepEqual(partialSuccessOfJson('{"partialSuccess":{"rejectedLogRecords":"7","errorMessage":"too big"}}'), { rejected: 7, message: 'too big' });
    // A partial_success with zero rejected and no message is "fully accepted" in the spec.
    assert.equal(partialSuccessOfJson('{"partialSuccess":{}}'), undefined);
    // rejected_spans = 3, error_message = "x", inside field 1, written by hand.
    assert.deepEqual(partialSuccessOf(Buffer.from([0x0a, 0x05, 0x08, 0x03, 0x12, 0x01, 0x78])), { rejected: 3, message: 'x' });
    assert.equal(partialSuccessOf(Buffer.from([0x0a, 0x09])), undefined, 'a truncated answer is not an error');
  });

  test('keeps at most the cap of an answer but reads it to the end', async () => {
    let read = 0;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 10; i++) {
        read++;
        yield Buffer.alloc(30_000, i);
      }
    }
    const kept = await readCapped(chunks(), 64 * 1024);
    assert.equal(kept.length, 64 * 1024);
    assert.equal(read, 10, 'the whole answer was consumed');
    assert.equal(kept[64 * 1024 - 1], 2, 'the kept bytes are the first ones');
  });
});

describe('forwarder: classification', () => {
  const grpcRows: Array<[string, number, number | undefined, boolean]> = [
    ['UNAVAILABLE', grpc.status.UNAVAILABLE, undefined, true],
    ['DEADLINE_EXCEEDED', grpc.status.DEADLINE_EXCEEDED, undefined, true],
    ['ABORTED', grpc.status.ABORTED, undefined, true],
    ['CANCELLED', grpc.status.CANCELLED, undefined, true],
    ['OUT_OF_RANGE', grpc.status.OUT_OF_RANGE, undefined, true],
    ['DATA_LOSS', grpc.status.DATA_LOSS, undefined, true],
    ['RESOURCE_EXHAUSTED with RetryInfo', grpc.status.RESOURCE_EXHAUSTED, 1_000, true],
    ['RESOURCE_EXHAUSTED without RetryInfo', grpc.status.RESOURCE_EXHAUSTED, undefined, false],
    ['INVALID_ARGUMENT', grpc.status.INVALID_ARGUMENT, undefined, false],
    ['UNAUTHENTICATED', grpc.status.UNAUTHENTICATED, undefined, false],
    ['PERMISSION_DENIED', grpc.status.PERMISSION_DENIED, undefined, false],
    ['UNIMPLEMENTED', grpc.status.UNIMPLEMENTED, undefined, false],
    ['INTERNAL', grpc.status.INTERNAL, undefined, false],
    ['UNKNOWN', grpc.status.UNKNOWN, undefined, false],
  ];
  for (const [name, code, delay, retryable] of grpcRows) {
    test(`gRPC ${name} → ${retryable ? 'retry' : 'drop'}`, () => {
      const o = classifyGrpcStatus(code, delay);
      assert.equal(o.ok, false);
      if (!o.ok) {
        assert.equal(o.retryable, retryable);
        assert.equal(o.retryAfterMs, retryable ? delay : undefined);
      }
    });
  }
  test('gRPC OK is success', () => assert.deepEqual(classifyGrpcStatus(grpc.status.OK, undefined), { ok: true }));

  const httpRows: Array<[number, boolean]> = [
    [429, true],
    [502, true],
    [503, true],
    [504, true],
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [413, false],
    [500, false],
    [301, false],
  ];
  for (const [status, retryable] of httpRows) {
    test(`HTTP ${status} → ${retryable ? 'retry' : 'drop'}`, () => {
      const o = classifyHttpStatus(status, undefined, 0);
      assert.equal(o.ok, false);
      if (!o.ok) assert.equal(o.retryable, retryable);
    });
  }
  test('HTTP 2xx is success', () => {
    assert.deepEqual(classifyHttpStatus(200, undefined, 0), { ok: true });
    assert.deepEqual(classifyHttpStatus(202, undefined, 0), { ok: true });
  });

  test('Retry-After: seconds, HTTP dates, garbage', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('7', now), 7_000);
    assert.equal(parseRetryAfter('0', now), 0);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2025 00:00:30 GMT', now), 0, 'a date in the past means now');
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
    const o = classifyHttpStatus(503, '2', now);
    assert.ok(!o.ok && o.retryAfterMs === 2_000);
    const p = classifyHttpStatus(400, '2', now);
    assert.ok(!p.ok && p.retryAfterMs === undefined, 'no delay on a permanent error');
  });

  test('RetryInfo in grpc-status-details-bin', () => {
    assert.equal(grpcRetryDelayMs(encodeRetryInfoStatus(8, 'slow down', 1_500)), 1_500);
    assert.equal(grpcRetryDelayMs(encodeRetryInfoStatus(8, 'slow down', 0)), 0);
    assert.equal(grpcRetryDelayMs(encodeRetryInfoStatus(8, 'slow down', 62_250)), 62_250);
    assert.equal(grpcRetryDelayMs(undefined), undefined);
    assert.equal(grpcRetryDelayMs(Buffer.from([0xff, 0xff, 0xff])), undefined, 'garbage is ignored');
    // A Status with no details at all.
    assert.equal(grpcRetryDelayMs(Buffer.from([0x08, 0x0e])), undefined);
  });
});
