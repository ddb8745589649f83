// wire/tls.ts: every `tls:` block of the configuration as connection options, with one meaning for
// each setting wherever it appears (probes, the OTLP exporters and forwarder, the OTLP receivers).
// Files are read when the options are built; an unreadable one is a TlsFileError naming the setting.
import { readFileSync } from 'node:fs';
import type * as Grpc from '@grpc/grpc-js';

/** A TLS file named in the configuration that cannot be read. Probes report it as a `tls` failure. */
export class TlsFileError extends Error {
  readonly code = 'ERR_TLS_CONFIG';
  override name = 'TlsFileError';
}

/**
 * Reads a file named by a configuration key, or throws a TlsFileError that names the key, the path
 * and why: "receivers.otlp.http.tls.cert_file: cannot read /etc/x.pem (ENOENT)".
 */
function readTlsFile(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TlsFileError(`${setting}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The client side of a `tls:` block: `servers[].tls` and `exporters.otlp.tls` alike. */
export interface ClientTlsSettings {
  ca_file?: string | undefined;
  cert_file?: string | undefined;
  key_file?: string | undefined;
  insecure_skip_verify?: boolean | undefined;
}

/** Options for tls.connect, https.Agent and undici's `connect`, which all take these names. */
export interface ClientTlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
  checkServerIdentity?: () => undefined;
}

/**
 * A client `tls:` block as connection options. `at` is the block's path for error messages
 * ("exporters.otlp.tls").
 *
 * `insecure_skip_verify: true` means one thing everywhere: the peer's certificate is not verified at
 * all, neither its chain nor the name it was issued for (Go's InsecureSkipVerify, the Collector's
 * setting of the same name). Node already lets a wrong name through when rejectUnauthorized is off;
 * the name check is switched off explicitly as well, so no client library can read the setting as
 * "trust any CA but still check the name". A client certificate is still presented.
 */
export function clientTlsOptions(at: string, tls: ClientTlsSettings | undefined): ClientTlsOptions {
  const read = (file: string | undefined, key: string): Buffer | undefined => (file ? readTlsFile(`${at}.${key}`, file) : undefined);
  const options: ClientTlsOptions = { rejectUnauthorized: tls?.insecure_skip_verify !== true };
  const ca = read(tls?.ca_file, 'ca_file');
  const cert = read(tls?.cert_file, 'cert_file');
  const key = read(tls?.key_file, 'key_file');
  if (ca) options.ca = ca;
  if (cert) options.cert = cert;
  if (key) options.key = key;
  if (!options.rejectUnauthorized) options.checkServerIdentity = () => undefined;
  return options;
}

/** The `exporters.otlp.tls` block, whose `insecure` means plain text for gRPC. */
interface ExporterTlsSettings extends ClientTlsSettings {
  insecure?: boolean | undefined;
}

/**
 * Whether a gRPC client speaks plain text: an `http://` endpoint (a scheme often written by habit
 * for gRPC) or `tls.insecure`. Over HTTP the URL scheme alone decides.
 */
function grpcPlaintext(endpoint: string, tls: ExporterTlsSettings | undefined): boolean {
  return /^http:/i.test(endpoint) || tls?.insecure === true;
}

/**
 * gRPC channel credentials for an exporter endpoint. The grpc-js module is passed in, so a caller
 * that loads it lazily keeps doing so.
 */
export function grpcChannelCredentials(grpc: typeof Grpc, at: string, endpoint: string, tls: ExporterTlsSettings | undefined): Grpc.ChannelCredentials {
  if (grpcPlaintext(endpoint, tls)) return grpc.credentials.createInsecure();
  const o = clientTlsOptions(at, tls);
  const verify: Grpc.VerifyOptions = o.checkServerIdentity ? { rejectUnauthorized: o.rejectUnauthorized, checkServerIdentity: o.checkServerIdentity } : { rejectUnauthorized: o.rejectUnauthorized };
  return grpc.credentials.createSsl(o.ca ?? null, o.key ?? null, o.cert ?? null, verify);
}

/** The `tls:` block of a receiver: its own certificate, and a CA that makes client certificates mandatory. */
interface ServerTlsSettings {
  cert_file: string;
  key_file: string;
  client_ca_file?: string | undefined;
}

/** https.createServer options; with `client_ca_file`, a client without a certificate signed by it is refused. */
export function httpsServerOptions(at: string, tls: ServerTlsSettings): { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean; rejectUnauthorized?: boolean } {
  const cert = readTlsFile(`${at}.cert_file`, tls.cert_file);
  const key = readTlsFile(`${at}.key_file`, tls.key_file);
  if (!tls.client_ca_file) return { cert, key };
  return { cert, key, ca: readTlsFile(`${at}.client_ca_file`, tls.client_ca_file), requestCert: true, rejectUnauthorized: true };
}

/** The same for a gRPC server. */
export function grpcServerCredentials(grpc: typeof Grpc, at: string, tls: ServerTlsSettings): Grpc.ServerCredentials {
  const ca = tls.client_ca_file ? readTlsFile(`${at}.client_ca_file`, tls.client_ca_file) : null;
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: readTlsFile(`${at}.cert_file`, tls.cert_file), private_key: readTlsFile(`${at}.key_file`, tls.key_file) }], Boolean(ca));
}
