import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';
import { GRPC_EXPORT_PATH } from '../../src/wire/otlp.js';
import { clientTlsOptions, grpcChannelCredentials, httpsServerOptions, TlsFileError, type ClientTlsOptions, type ClientTlsSettings } from '../../src/wire/tls.js';
import { makeCerts, type Certs } from '../fixtures/certs.js';
import { startTlsReceiverPair, type TlsReceiver } from '../fixtures/tls-receiver.js';

type Result = 'ok' | `refused: ${string}`;

function viaNodeHttps(port: number, o: ClientTlsOptions): Promise<Result> {
  const agent = new HttpsAgent(o);
  return new Promise<Result>((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/v1/traces', method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf' } }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? 'ok' : `refused: HTTP ${res.statusCode}`);
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`refused: ${err.code ?? err.message}`));
    req.end();
  }).finally(() => agent.destroy());
}

async function viaUndici(port: number, o: ClientTlsOptions): Promise<Result> {
  const dispatcher = new UndiciAgent({ connect: o });
  try {
    const res = await undiciFetch(`https://127.0.0.1:${port}/v1/traces`, { method: 'POST', body: new Uint8Array(0), headers: { 'content-type': 'application/x-protobuf' }, dispatcher });
    await res.arrayBuffer();
    return res.status === 200 ? 'ok' : `refused: HTTP ${res.status}`;
  } catch (err) {
    const cause = (err as Error).cause as NodeJS.ErrnoException | undefined;
    return `refused: ${cause?.code ?? (err as Error).message}`;
  } finally {
    await dispatcher.close();
  }
}

/**
 * The call's deadline is one no local handshake comes near, even on a loaded machine: an accepted
 * call must not end as DEADLINE_EXCEEDED. A refused one ends on the handshake, without waiting.
 */
function viaGrpc(port: number, settings: ClientTlsSettings): Promise<Result> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpcChannelCredentials(grpc, 'exporters.otlp.tls', `https://127.0.0.1:${port}`, settings));
  return new Promise<Result>((resolve) => {
    client.makeUnaryRequest(GRPC_EXPORT_PATH.traces, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), { deadline: Date.now() + 60_000 }, (err) => {
      resolve(err ? `refused: ${grpc.status[err.code]} ${err.details}` : 'ok');
    });
  }).finally(() => client.close());
}

let certs: Certs;
before(() => {
  certs = makeCerts();
});

describe('wire/tls: insecure_skip_verify has one meaning for every client library', () => {
  let named: TlsReceiver;
  let wrongName: TlsReceiver;
  let close: (() => Promise<void>) | undefined;
  before(async () => {
    ({ named, wrongName, close } = await startTlsReceiverPair(certs));
  });
  after(async () => close?.());

  // [what, settings, server, accepted]: the CA checks the chain, the name is checked too, and
  // insecure_skip_verify turns both off, even with a ca_file that does not match.
  const rows: Array<[string, () => ClientTlsSettings, () => typeof named, boolean]> = [
    ['no CA, certificate from an unknown CA', () => ({}), () => named, false],
    ['ca_file, right name', () => ({ ca_file: certs.ca }), () => named, true],
    ['ca_file, wrong name', () => ({ ca_file: certs.ca }), () => wrongName, false],
    ['skip verify, unknown CA', () => ({ insecure_skip_verify: true }), () => named, true],
    ['skip verify, wrong name', () => ({ insecure_skip_verify: true }), () => wrongName, true],
    ['skip verify with a CA that does not match, wrong name', () => ({ ca_file: certs.otherCa, insecure_skip_verify: true }), () => wrongName, true],
  ];
  for (const [what, settings, server, accepted] of rows) {
    it(`${what}: ${accepted ? 'accepted' : 'refused'} by node:https, undici and grpc-js alike`, async () => {
      const o = clientTlsOptions('tls', settings());
      const results = { https: await viaNodeHttps(server().http, o), undici: await viaUndici(server().http, o), grpc: await viaGrpc(server().grpc, settings()) };
      for (const [client, result] of Object.entries(results)) {
        if (accepted) assert.equal(result, 'ok', `${client}: ${result}`);
        else assert.match(result, /^refused: /, client);
      }
      if (!accepted && server() === wrongName) {
        // Refused for the name, not the chain: the CA is the right one.
        assert.equal(results.https, 'refused: ERR_TLS_CERT_ALTNAME_INVALID');
        assert.equal(results.undici, 'refused: ERR_TLS_CERT_ALTNAME_INVALID');
      }
    });
  }
});

describe('wire/tls: unreadable files', () => {
  it('name the setting, the path and why, as a TlsFileError', () => {
    assert.throws(
      () => clientTlsOptions('exporters.otlp.tls', { ca_file: '/nonexistent/ca.pem' }),
      (err: unknown) => err instanceof TlsFileError && err.code === 'ERR_TLS_CONFIG' && err.message === 'exporters.otlp.tls.ca_file: cannot read /nonexistent/ca.pem (ENOENT)',
    );
    assert.throws(
      () => httpsServerOptions('receivers.otlp.http.tls', { cert_file: certs.serverCert, key_file: '/nonexistent/key.pem' }),
      (err: unknown) => err instanceof TlsFileError && err.message === 'receivers.otlp.http.tls.key_file: cannot read /nonexistent/key.pem (ENOENT)',
    );
  });

  it('are read only when named: no tls block means library defaults and verification on', () => {
    assert.deepEqual(clientTlsOptions('tls', undefined), { rejectUnauthorized: true });
    assert.deepEqual(clientTlsOptions('tls', { insecure_skip_verify: false }), { rejectUnauthorized: true });
  });
});
