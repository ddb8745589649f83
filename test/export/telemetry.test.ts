import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { Telemetry } from '../../src/export/telemetry.js';
import { makeCerts, type Certs } from '../fixtures/certs.js';
import { startTlsReceiverPair, type TlsReceiver } from '../fixtures/tls-receiver.js';

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
