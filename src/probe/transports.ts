import type { TransportName } from '../config/schema.js';
import type { TransportKind } from './prober.js';
import { sseTransport } from './sse.js';
import { stdioTransport } from './stdio.js';
import { streamableHttpTransport } from './streamable-http.js';

/** The one table of transports, shared by one-shot probes (probe.ts) and kept sessions (session.ts). */
export const TRANSPORTS: Record<TransportName, TransportKind> = {
  stdio: stdioTransport,
  sse: sseTransport,
  streamable_http: streamableHttpTransport,
};
