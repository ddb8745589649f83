import { readFileSync } from 'node:fs';

/**
 * Reads a file named by a configuration key (certificates, keys), or throws an error that names the
 * key, the path and why: "receivers.otlp.http.tls.cert_file: cannot read /etc/x.pem (ENOENT)".
 */
export function readConfiguredFile(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${setting}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
