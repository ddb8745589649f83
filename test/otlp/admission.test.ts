// The receiver under attack: gRPC callers that open many streams declaring large messages and never
// finish them. A real HTTP/2 client holds the partial messages; the receiver must refuse on the
// metadata, before it buffers them, and then serve a legitimate caller.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as connectHttp2, type ClientHttp2Stream } from 'node:http2';
import { connect as connectTcp, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { parseConfig } from '../../src/config/load.js';
import { Recorder } from '../../src/export/recorder.js';
import { OtlpReceiver } from '../../src/otlp/receiver.js';
import { until } from '../helpers.js';

const EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** gRPC status of a stream: from a trailers-only response's headers, or from its trailers. */
function statusOf(stream: ClientHttp2Stream): Promise<string> {
  return new Promise((resolve, reject) => {
    stream.once('response', (headers) => {
      if (headers['grpc-status'] !== undefined) resolve(String(headers['grpc-status']));
    });
    stream.once('trailers', (trailers) => resolve(String(trailers['grpc-status'])));
    stream.once('error', reject);
    stream.resume();
  });
}

/** A raw HTTP/1.1 connection: what the server has sent so far, and when it ended the connection. */
function rawConnection(port: number): { socket: Socket; received: () => string; ended: Promise<void> } {
  const socket = connectTcp(port, '127.0.0.1');
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  const ended = new Promise<void>((resolve, reject) => {
    socket.once('end', () => resolve());
    socket.once('error', reject);
  });
  return { socket, received: () => text, ended };
}

describe('gRPC admission', () => {
  it('refuses unauthenticated calls on their metadata, before their messages are read, then serves a caller with the token', { timeout: 60_000 }, async () => {
    const cfg = parseConfig('receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0", auth: { bearer_token: tok } }, http: null } }\n', 'x.yaml', {}).receivers.otlp!;
    const receiver = new OtlpReceiver(cfg, { recorder: new Recorder(new MeterProvider().getMeter('t')), memoryUsage: () => 0 });
    const { grpc: address } = await receiver.start();
    const session = connectHttp2(`http://127.0.0.1:${address!.port}`);
    await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
    assert.equal(session.remoteSettings.maxConcurrentStreams, 16, 'the server bounds calls per connection');
    // Each call declares a 4 MiB message and sends 256 KiB of it, never the rest.
    const prefix = Buffer.from([0, 0x00, 0x40, 0x00, 0x00]);
    const part = Buffer.alloc(256 * 1024);
    const streams: ClientHttp2Stream[] = [];
    for (let i = 0; i < 16; i++) {
      const s = session.request({ ':method': 'POST', ':path': EXPORT, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
      s.write(prefix);
      s.write(part);
      streams.push(s);
    }
    const statuses = await Promise.all(streams.map(statusOf));
    assert.deepEqual(new Set(statuses), new Set([String(grpc.status.UNAUTHENTICATED)]));
    session.destroy();

    const client = new grpc.Client(`127.0.0.1:${address!.port}`, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer tok');
    const code = await new Promise<number>((resolve) =>
      client.makeUnaryRequest(EXPORT, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), md, (err) => resolve(err?.code ?? grpc.status.OK)),
    );
    assert.equal(code, grpc.status.OK);
    client.close();
    await receiver.shutdown();
  });

  it('ends gRPC calls whose message does not arrive within the request timeout, giving back their share of the budget', { timeout: 60_000 }, async () => {
    // Two calls reserve the whole budget (twice the 4 MiB message each) and never finish their message.
    const cfg = parseConfig('receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0" }, http: null, max_in_flight_mib: 16 } }\n', 'x.yaml', {}).receivers.otlp!;
    const receiver = new OtlpReceiver(cfg, { recorder: new Recorder(new MeterProvider().getMeter('t')), memoryUsage: () => 0, requestTimeoutMs: 3000 });
    const { grpc: address } = await receiver.start();
    const session = connectHttp2(`http://127.0.0.1:${address!.port}`);
    const streams: ClientHttp2Stream[] = [];
    for (let i = 0; i < 2; i++) {
      const s = session.request({ ':method': 'POST', ':path': EXPORT, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
      s.write(Buffer.from([0, 0x00, 0x40, 0x00, 0x00, 0x0a]));
      streams.push(s);
    }
    const statuses = Promise.all(streams.map(statusOf));
    await until(() => receiver.refusing() !== undefined, 'the held calls to take the budget');
    // Before, they held it until max_connection_age (30 minutes), and every sender was refused.
    assert.deepEqual(new Set(await statuses), new Set([String(grpc.status.DEADLINE_EXCEEDED)]));
    assert.equal(receiver.refusing(), undefined, 'the budget is back');
    const client = new grpc.Client(`127.0.0.1:${address!.port}`, grpc.credentials.createInsecure());
    const code = await new Promise<number>((resolve) => client.makeUnaryRequest(EXPORT, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (err) => resolve(err?.code ?? grpc.status.OK)));
    assert.equal(code, grpc.status.OK);
    client.close();
    session.destroy();
    await receiver.shutdown();
  });

  it('counts an HTTP body against the in-flight budget as it is read, refusing the requests that do not fit, and accepts again once the held ones end', { timeout: 60_000 }, async () => {
    const cfg = parseConfig('receivers: { otlp: { grpc: null, http: { endpoint: "127.0.0.1:0" }, max_in_flight_mib: 8 } }\n', 'x.yaml', {}).receivers.otlp!;
    let heap = 0;
    const receiver = new OtlpReceiver(cfg, { recorder: new Recorder(new MeterProvider().getMeter('t')), memoryUsage: () => heap });
    const { http: address } = await receiver.start();
    const url = `http://127.0.0.1:${address!.port}/v1/traces`;
    const post = (body: RequestInit['body'] = '{"resourceSpans":[]}', headers: Record<string, string> = {}): Promise<Response> =>
      fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, duplex: 'half' } as RequestInit);
    // Two senders declare 4 MiB each (the largest body) and send 3 MiB of it: 6 MiB held, 2 MiB left.
    const held: Socket[] = [];
    for (let i = 0; i < 2; i++) {
      const socket = connectTcp(address!.port, '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      socket.write(`POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: 4194304\r\n\r\n`);
      socket.write(Buffer.alloc(3 * 1024 * 1024));
      held.push(socket);
    }
    await until(() => receiver.refusing() !== undefined, 'the held bodies to be read');
    // A body declared larger than the room left is refused before it is read.
    const declared = await post(Buffer.alloc(3 * 1024 * 1024), { 'content-type': 'application/x-protobuf' });
    assert.equal(declared.status, 503);
    assert.equal(declared.headers.get('retry-after'), '5');
    assert.match(Buffer.from(await declared.arrayBuffer()).toString('latin1'), /max_in_flight_mib/);
    // One that declares no length is refused once what it has sent no longer fits.
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 48; i++) controller.enqueue(new Uint8Array(64 * 1024));
        controller.close();
      },
    });
    const unsized = await post(chunked, { 'content-type': 'application/x-protobuf' });
    assert.equal(unsized.status, 503);
    assert.equal(unsized.headers.get('retry-after'), '5');
    await unsized.arrayBuffer();
    // A small one still fits, also gzipped: the room for it decompressed is taken as it is inflated.
    assert.equal((await post()).status, 200);
    assert.equal((await post(gzipSync('{"resourceSpans":[]}'), { 'content-encoding': 'gzip' })).status, 200);
    for (const s of held) s.destroy();
    await until(() => receiver.refusing() === undefined, 'the held bodies to be given back');
    assert.equal((await post(Buffer.alloc(4 * 1024 * 1024), { 'content-type': 'application/x-protobuf' })).status, 400, 'a whole 4 MiB body is read again');

    // Memory pressure is the heap in use plus the bytes in flight, and it passes by itself.
    heap = 300 * 1024 * 1024;
    await until(() => receiver.refusing() !== undefined, 'the next memory sample to refuse');
    assert.equal((await post()).status, 503);
    heap = 10 * 1024 * 1024;
    await until(() => receiver.refusing() === undefined, 'the next memory sample to accept again');
    assert.equal((await post()).status, 200);
    await receiver.shutdown();
  });

  it('serves other senders on both protocols while slow senders trickle large declared bodies', { timeout: 60_000 }, async () => {
    const cfg = parseConfig('receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0" }, http: { endpoint: "127.0.0.1:0" }, max_in_flight_mib: 16 } }\n', 'x.yaml', {}).receivers.otlp!;
    const receiver = new OtlpReceiver(cfg, { recorder: new Recorder(new MeterProvider().getMeter('t')), memoryUsage: () => 0 });
    const { grpc: grpcAddress, http: address } = await receiver.start();
    const url = `http://127.0.0.1:${address!.port}/v1/traces`;
    const post = (): Promise<Response> => fetch(url, { method: 'POST', body: '{"resourceSpans":[]}', headers: { 'content-type': 'application/json' } });
    const client = new grpc.Client(`127.0.0.1:${grpcAddress!.port}`, grpc.credentials.createInsecure());
    const call = (): Promise<number> => new Promise((resolve) => client.makeUnaryRequest(EXPORT, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (err) => resolve(err?.code ?? grpc.status.OK)));
    // Each declares the largest body. `100 Continue` says the receiver has taken the request in
    // (it used to reserve the declared 4 MiB there: four of them held the whole 16 MiB).
    const slow: Socket[] = [];
    for (let i = 0; i < 20; i++) {
      const socket = connectTcp(address!.port, '127.0.0.1');
      socket.write(`POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: 4194304\r\nexpect: 100-continue\r\n\r\n`);
      let said = '';
      await new Promise<void>((resolve, reject) => {
        socket.on('data', (d: Buffer) => {
          said += d.toString('latin1');
          if (said.includes('\r\n\r\n')) resolve();
        });
        socket.once('error', reject);
      });
      assert.match(said, /^HTTP\/1\.1 100 Continue\r\n/, `slow sender ${i} is taken in`);
      slow.push(socket);
    }
    for (let byte = 0; byte < 3; byte++) {
      for (const s of slow) await new Promise((resolve) => s.write(Buffer.from([0x0a]), resolve));
      assert.equal((await post()).status, 200, `HTTP after byte ${byte}`);
      assert.equal(await call(), grpc.status.OK, `gRPC after byte ${byte}`);
      assert.equal(receiver.refusing(), undefined, '/readyz says ready');
    }
    client.close();
    for (const s of slow) s.destroy();
    await receiver.shutdown();
  });

  it('answers `Expect: 100-continue` with the refusal, not `100 Continue`, when the head already decides it', { timeout: 60_000 }, async () => {
    const cfg = parseConfig('receivers: { otlp: { grpc: null, http: { endpoint: "127.0.0.1:0", auth: { bearer_token: tok } } } }\n', 'x.yaml', {}).receivers.otlp!;
    let heap = 0;
    const receiver = new OtlpReceiver(cfg, { recorder: new Recorder(new MeterProvider().getMeter('t')), memoryUsage: () => heap });
    const { http: address } = await receiver.start();
    const body = '{"resourceSpans":[]}';
    const head = (headers: Record<string, string | number>): string =>
      `POST /v1/traces HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n${Object.entries({ authorization: 'Bearer tok', 'content-type': 'application/json', 'content-length': body.length, ...headers })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('')}\r\n`;
    const refusedWith = async (headers: Record<string, string | number>): Promise<string> => {
      const raw = rawConnection(address!.port);
      raw.socket.write(head(headers));
      // The body is never sent: the connection ends once the refusal is written.
      await raw.ended;
      return raw.received();
    };
    assert.match(await refusedWith({ authorization: 'Bearer nope' }), /^HTTP\/1\.1 401 /);
    assert.match(await refusedWith({ 'content-type': 'text/plain' }), /^HTTP\/1\.1 415 /);
    assert.match(await refusedWith({ 'content-length': 5 * 1024 * 1024 }), /^HTTP\/1\.1 413 /);
    heap = 300 * 1024 * 1024;
    await until(() => receiver.refusing() !== undefined, 'the next memory sample to refuse');
    const busy = await refusedWith({});
    assert.match(busy, /^HTTP\/1\.1 503 /);
    assert.match(busy, /\r\nretry-after: 5\r\n/i);
    heap = 0;
    await until(() => receiver.refusing() === undefined, 'the next memory sample to accept again');

    const raw = rawConnection(address!.port);
    raw.socket.write(head({}));
    await until(() => raw.received().includes('\r\n\r\n'), '100 Continue');
    assert.match(raw.received(), /^HTTP\/1\.1 100 Continue\r\n\r\n$/);
    raw.socket.write(body);
    await until(() => /\r\n\r\n[^]*\r\n\r\n/.test(raw.received()), 'the answer');
    assert.match(raw.received(), /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    raw.socket.destroy();
    await receiver.shutdown();
  });

  it('gives back the whole share of a gzipped request whose sender goes away while it is inflated', { timeout: 60_000 }, async (t) => {
    // The budget leaves room for 1 MiB beside the largest request: past 1 MiB inflated, refusing() says so.
    const cfg = parseConfig('receivers: { otlp: { grpc: null, http: { endpoint: "127.0.0.1:0", max_recv_msg_size_mib: 32 }, max_in_flight_mib: 33 } }\n', 'x.yaml', {}).receivers.otlp!;
    const refused: string[] = [];
    const log = { warn: (): void => undefined, debug: (obj: object): void => void refused.push((obj as { message: string }).message) };
    const receiver = new OtlpReceiver(cfg, { recorder: new Recorder(new MeterProvider().getMeter('t')), memoryUsage: () => 0, log });
    const { http: address } = await receiver.start();
    t.after(() => receiver.shutdown());
    const bomb = gzipSync(Buffer.alloc(32 * 1024 * 1024 - 1024));
    const raw = rawConnection(address!.port);
    raw.socket.on('error', () => undefined);
    raw.socket.write(`POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-encoding: gzip\r\ncontent-length: ${bomb.length}\r\n\r\n`);
    raw.socket.write(bomb);
    // Checked at every turn of the event loop: the sender leaves while the body is being inflated.
    while (receiver.refusing() === undefined) await new Promise((r) => setImmediate(r));
    raw.socket.destroy();
    await until(() => refused.length > 0, 'the request to end');
    // What was inflated after the connection closed stayed counted for good, and the receiver
    // refused every request the budget then had no room for.
    assert.equal(receiver.refusing(), undefined, 'the budget is back');
  });

  it('bounds the work of one request by its entries, not only its bytes', { timeout: 60_000 }, async () => {
    const cfg = parseConfig('receivers: { otlp: { grpc: null, http: { endpoint: "127.0.0.1:0" } } }\n', 'x.yaml', {}).receivers.otlp!;
    const receiver = new OtlpReceiver(cfg, { recorder: new Recorder(new MeterProvider().getMeter('t')), memoryUsage: () => 0 });
    const { http: address } = await receiver.start();
    const url = `http://127.0.0.1:${address!.port}/v1/traces`;
    // Two million empty ResourceSpans (field 1, length 0) in 4 MiB.
    const protobuf = Buffer.alloc(4 * 1024 * 1024 - 2, Buffer.from([0x0a, 0x00]));
    const json = JSON.stringify({ resourceSpans: Array.from({ length: 100_001 }, () => ({})) });
    for (const [type, body] of [['application/x-protobuf', protobuf], ['application/json', json]] as const) {
      const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': type } });
      assert.equal(res.status, 413, type);
      if (type === 'application/json') assert.match(((await res.json()) as { message: string }).message, /more than 100000 resource, scope and span entries/);
      else await res.arrayBuffer();
    }
    const ok = await fetch(url, { method: 'POST', body: '{"resourceSpans":[{}]}', headers: { 'content-type': 'application/json' } });
    assert.equal(ok.status, 200);
    await receiver.shutdown();
  });
});
