import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { parseConfig } from '../../src/config/load.js';
import { Telemetry } from '../../src/export/telemetry.js';
import { makeCerts, type Certs } from '../fixtures/certs.js';
import { startOtlpUpstream } from '../fixtures/otlp-upstream.js';
import { startTlsReceiverPair, type TlsReceiver } from '../fixtures/tls-receiver.js';
import { until } from '../helpers.js';

/** Sends one metric and one probe span through a Telemetry built from `otlp`, and waits for shutdown's flush. */
async function exportOnce(otlp: string): Promise<void> {
  const telemetry = await Telemetry.create(parseConfig(`exporters: { prometheus: null, otlp: ${otlp} }\n`, 'x.yaml', {}));
  telemetry.meter.createCounter('wire_test_total').add(1);
  telemetry.tracer!.startSpan('probe').end();
  await telemetry.shutdown();
}

let certs: Certs;
before(() => {
  certs = makeCerts();
});

describe('Telemetry: exporters.otlp.tls applies to both protocols', () => {
  let named: TlsReceiver;
  let wrongName: TlsReceiver;
  let close: (() => Promise<void>) | undefined;
  before(async () => {
    ({ named, wrongName, close } = await startTlsReceiverPair(certs));
  });
  after(async () => close?.());

  for (const protocol of ['grpc', 'http/protobuf'] as const) {
    const port = (b: typeof named): number => (protocol === 'grpc' ? b.grpc : b.http);

    it(`${protocol}: metrics and spans reach an https backend signed by ca_file`, async () => {
      named.received.length = 0;
      await exportOnce(`{ endpoint: "https://127.0.0.1:${port(named)}", protocol: ${protocol}, tls: { ca_file: ${JSON.stringify(certs.ca)} } }`);
      assert.deepEqual([...new Set(named.received)].sort(), ['metrics', 'traces']);
    });

    it(`${protocol}: insecure_skip_verify accepts a certificate for another name`, async () => {
      wrongName.received.length = 0;
      await exportOnce(`{ endpoint: "https://127.0.0.1:${port(wrongName)}", protocol: ${protocol}, tls: { insecure_skip_verify: true } }`);
      assert.deepEqual([...new Set(wrongName.received)].sort(), ['metrics', 'traces']);
    });
  }

  it('an unreadable tls file names its setting, for http/protobuf as for grpc', async () => {
    for (const protocol of ['grpc', 'http/protobuf']) {
      await assert.rejects(
        Telemetry.create(parseConfig(`exporters: { prometheus: null, otlp: { endpoint: "https://127.0.0.1:1", protocol: ${protocol}, tls: { ca_file: /nonexistent/ca.pem } } }\n`, 'x.yaml', {})),
        { message: 'exporters.otlp.tls.ca_file: cannot read /nonexistent/ca.pem (ENOENT)' },
        protocol,
      );
    }
  });
});

describe('Telemetry: a backend that refuses exports', () => {
  for (const protocol of ['grpc', 'http/protobuf'] as const) {
    it(`${protocol}: the refusal is logged, once, with the backend's reason (the SDK tells only its diag logger)`, async () => {
      // UNAUTHENTICATED / 401: what a wrong API key in exporters.otlp.headers gets, on every export.
      const upstream = await startOtlpUpstream({ protocol: protocol === 'grpc' ? 'grpc' : 'http', failWith: protocol === 'grpc' ? 16 : 401, failNext: 100 });
      const warnings: Array<{ obj: Record<string, unknown>; msg: string }> = [];
      const log = { warn: (obj: object, msg: string) => void warnings.push({ obj: obj as Record<string, unknown>, msg }) };
      const telemetry = await Telemetry.create(parseConfig(`exporters: { prometheus: null, otlp: { endpoint: "${upstream.endpoint}", protocol: ${protocol} } }\n`, 'x.yaml', {}), log);
      telemetry.meter.createCounter('refused_total').add(1);
      telemetry.tracer!.startSpan('probe').end();
      // Shutdown's flush exports both signals, and both are refused.
      await telemetry.shutdown();
      await upstream.close();
      assert.ok(upstream.attempts.length >= 1, 'the backend was asked');
      assert.equal(warnings.length, 1, 'one line, the repeats counted into the next');
      assert.match(warnings[0]!.msg, /OpenTelemetry SDK error/);
      assert.match(String(warnings[0]!.obj.error), protocol === 'grpc' ? /UNAUTHENTICATED/ : /Unauthorized/);
    });
  }
});

describe('Telemetry: user:password and a query in exporters.otlp.endpoint', () => {
  for (const protocol of ['grpc', 'http/protobuf'] as const) {
    it(`${protocol}: the userinfo goes as Basic authorization and the query stays after the signal path; the password is never logged`, async () => {
      const upstream = await startOtlpUpstream({ protocol: protocol === 'grpc' ? 'grpc' : 'http', basePath: '/base' });
      const endpoint = upstream.endpoint.replace('http://', 'http://mcp%20user:p%40ss-s3cret@');
      await exportOnce(`{ endpoint: "${endpoint}/base?api_key=k1", protocol: ${protocol} }`);
      assert.deepEqual([...new Set(upstream.requests.map((r) => r.signal))].sort(), ['metrics', 'traces']);
      for (const got of upstream.requests) {
        assert.equal(got.headers['authorization'], `Basic ${Buffer.from('mcp user:p@ss-s3cret').toString('base64')}`);
        if (protocol === 'http/protobuf') assert.equal(got.target, `/base/v1/${got.signal}?api_key=k1`);
      }
      // Refused, the SDK's error is logged: without the credential.
      upstream.setFailure({ status: protocol === 'grpc' ? 16 : 401 });
      const warnings: string[] = [];
      const log = { warn: (obj: object, msg: string) => void warnings.push(JSON.stringify(obj), msg) };
      const telemetry = await Telemetry.create(parseConfig(`exporters: { prometheus: null, otlp: { endpoint: "${endpoint}/base?api_key=k1", protocol: ${protocol} } }\n`, 'x.yaml', {}), log);
      telemetry.meter.createCounter('refused_total').add(1);
      await telemetry.shutdown();
      await upstream.close();
      assert.ok(warnings.length > 0, 'the refusal was logged');
      assert.ok(!warnings.some((line) => /s3cret|p%40ss|Basic/.test(line)), warnings.join('\n'));
    });
  }
});

/** What the agent's log got from the SDK while one metric export was answered 200 with `body`. */
async function sdkWarningsAnswered(body: string): Promise<Array<{ obj: Record<string, unknown>; msg: string }>> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const warnings: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const log = { warn: (obj: object, msg: string) => void warnings.push({ obj: obj as Record<string, unknown>, msg }) };
  try {
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const telemetry = await Telemetry.create(parseConfig(`exporters: { prometheus: null, otlp: { endpoint: "${endpoint}", protocol: http/protobuf } }\n`, 'x.yaml', {}), log);
    telemetry.meter.createCounter('answered_total').add(1);
    await telemetry.shutdown();
  } finally {
    server.close();
  }
  return warnings;
}

describe('Telemetry: what the SDK says through a component logger', () => {
  it('logs its message and error, not only the component\'s name, and as a warning when it is one', async () => {
    // Answers every export 200 with a body that is not an OTLP response: the SDK's export delegate
    // warns (its name first, then the message) that it could not read the answer.
    const warnings = await sdkWarningsAnswered('{}');
    assert.ok(warnings.length >= 1, 'the SDK\'s warning was logged');
    const first = warnings[0]!;
    assert.equal(first.msg, 'OpenTelemetry SDK warning about exports to exporters.otlp');
    assert.match(String(first.obj.error), /^OTLPExportDelegate: .*deserialize/i);
  });
});

describe('Telemetry: what the SDK says about an answer it could not read', () => {
  it('quotes the answer as text, cut short, not its bytes one by one', async () => {
    // A proxy's page answered 200 to an export: the SDK hands the body over as bytes.
    const page = `<html><body>${'<p>gateway says hello</p>\n'.repeat(2000)}</body></html>`;
    const warnings = await sdkWarningsAnswered(page);
    assert.ok(warnings.length >= 1, 'the SDK\'s warning was logged');
    const error = String(warnings[0]!.obj.error);
    assert.match(error, /deserialize.*: <html><body><p>gateway says hello<\/p>/i);
    assert.doesNotMatch(error, /"0":/);
    assert.ok(error.length < 1000, `one line of reasonable length, not ${error.length} characters`);
  });
});

describe('Telemetry: stopping while a scrape is under way', () => {
  it('finishes the scrape being written, then closes the scraper\'s kept-alive connection, and shuts the readers down after', async () => {
    const telemetry = await Telemetry.create(parseConfig('exporters: { prometheus: { endpoint: "127.0.0.1:0" } }\n', 'x.yaml', {}));
    // A page far larger than the socket buffers (2000 series, the SDK's limit for one metric, of 5 KB
    // each): a scraper that stops reading holds it half-written.
    const big = telemetry.meter.createCounter('big_total');
    const pad = 'x'.repeat(5000);
    for (let i = 0; i < 2000; i++) big.add(1, { series: `${i}-${pad}` });
    telemetry.meter.createCounter('scraped_total').add(1);
    const addr = (await telemetry.start())!;
    const sock = connect(addr.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closedByServer = false;
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.once('data', () => sock.pause());
    sock.on('end', () => (closedByServer = true));
    sock.write('GET /metrics HTTP/1.1\r\nhost: agent\r\nconnection: keep-alive\r\n\r\n');
    await until(() => chunks.length > 0, 'the page under way');
    assert.match(chunks[0]!.toString('latin1'), /^HTTP\/1\.1 200 [^]*keep-alive/i, 'answered on a kept-alive connection');

    const stopping = telemetry.shutdown();
    sock.resume();
    await until(() => closedByServer, 'the server closing the connection once the page is out');
    await stopping;
    const page = Buffer.concat(chunks).toString('latin1');
    assert.match(page, /^scraped_total(\{[^}]*\})? 1$/m, 'the whole page');
    assert.equal(page.match(/^big_total\{/gm)?.length, 2000);
    sock.destroy();
  });

  it('answers a scrape whose collection fails with 503, not an empty 200 page', async () => {
    const telemetry = await Telemetry.create(parseConfig('exporters: { prometheus: { endpoint: "127.0.0.1:0" } }\n', 'x.yaml', {}));
    telemetry.servers.collect = () => Promise.reject(new Error('collection broke'));
    const addr = (await telemetry.start())!;
    const res = await fetch(`http://127.0.0.1:${addr.port}/metrics`);
    assert.equal(res.status, 503);
    assert.match(await res.text(), /collection broke/);
    await telemetry.shutdown();
  });
});
