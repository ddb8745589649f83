import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { probeServer } from '../src/probe/probe.js';
import { parseConfig } from '../src/config/load.js';
import { Recorder } from '../src/export/recorder.js';
import { OtlpReceiver } from '../src/otlp/receiver.js';
import { makeCerts, type Certs } from './fixtures/certs.js';
import { startHttpFixture, type HttpFixture } from './fixtures/http-server.js';
import { httpTarget } from './helpers.js';

let certs: Certs;
before(() => {
  certs = makeCerts();
});

describe('TLS to MCP servers', () => {
  let https: HttpFixture;
  before(async () => {
    https = await startHttpFixture('streamable', { tls: { cert: certs.serverCert, key: certs.serverKey } });
  });
  after(async () => https.close());

  it('is up with the CA configured', async () => {
    const out = await probeServer(httpTarget(https.url, 'streamable_http', { tls: { ca_file: certs.ca, insecure_skip_verify: false } }));
    assert.equal(out.error, null);
    assert.equal(out.tools?.length, 3);
  });

  it('classifies an untrusted certificate as tls (permanent)', async () => {
    const out = await probeServer(httpTarget(https.url));
    assert.equal(out.error?.type, 'tls', out.error?.message);
    assert.equal(out.error?.category, 'permanent');
    assert.match(out.error!.message, /^TLS handshake failed \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)\)/);
    const wrongCa = await probeServer(httpTarget(https.url, 'streamable_http', { tls: { ca_file: certs.otherCa, insecure_skip_verify: false } }));
    assert.equal(wrongCa.error?.type, 'tls');
  });

  it('reports an unreadable ca_file as a tls failure naming the setting', async () => {
    const out = await probeServer(httpTarget(https.url, 'streamable_http', { tls: { ca_file: '/nonexistent/ca.pem', insecure_skip_verify: false } }));
    assert.equal(out.error?.type, 'tls');
    assert.equal(out.error?.message, 'TLS not set up (ERR_TLS_CONFIG): tls.ca_file: cannot read /nonexistent/ca.pem (ENOENT)');
  });

  it('accepts any certificate with insecure_skip_verify', async () => {
    const out = await probeServer(httpTarget(https.url, 'streamable_http', { tls: { insecure_skip_verify: true } }));
    assert.equal(out.error, null);
  });
});

describe('TLS and mutual TLS on the OTLP receivers', () => {
  let receiver: OtlpReceiver;
  let httpPort: number;
  let grpcPort: number;
  before(async () => {
    const tls = `{ cert_file: ${JSON.stringify(certs.serverCert)}, key_file: ${JSON.stringify(certs.serverKey)}, client_ca_file: ${JSON.stringify(certs.ca)} }`;
    const cfg = parseConfig(`receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0", tls: ${tls} }, http: { endpoint: "127.0.0.1:0", tls: ${tls} } } }\n`, 'x.yaml', {});
    receiver = new OtlpReceiver(cfg.receivers.otlp!, { recorder: new Recorder(new MeterProvider().getMeter('t')), memoryUsage: () => 0 });
    const a = await receiver.start();
    httpPort = a.http!.port;
    grpcPort = a.grpc!.port;
  });
  after(async () => receiver.shutdown());

  const post = (connect: ConstructorParameters<typeof UndiciAgent>[0]) =>
    undiciFetch(`https://127.0.0.1:${httpPort}/v1/traces`, { method: 'POST', body: new Uint8Array(0), headers: { 'content-type': 'application/x-protobuf' }, dispatcher: new UndiciAgent(connect) });

  it('HTTP: accepts a client certificate signed by client_ca_file, refuses none', async () => {
    const ok = await post({ connect: { ca: readFileSync(certs.ca), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) } });
    assert.equal(ok.status, 200);
    await assert.rejects(post({ connect: { ca: readFileSync(certs.ca) } }));
  });

  it('gRPC: accepts a client certificate signed by client_ca_file, refuses none', async () => {
    const call = (creds: grpc.ChannelCredentials) =>
      new Promise<number>((resolve) => {
        const client = new grpc.Client(`127.0.0.1:${grpcPort}`, creds);
        client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), { deadline: Date.now() + 30_000 }, (err) => {
          client.close();
          resolve(err?.code ?? 0);
        });
      });
    assert.equal(await call(grpc.credentials.createSsl(readFileSync(certs.ca), readFileSync(certs.clientKey), readFileSync(certs.clientCert))), grpc.status.OK);
    assert.notEqual(await call(grpc.credentials.createSsl(readFileSync(certs.ca))), grpc.status.OK);
    assert.notEqual(await call(grpc.credentials.createInsecure()), grpc.status.OK);
  });
});
