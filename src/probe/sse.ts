import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import type { ServerConfig } from '../config/schema.js';
import { BaseConnection, StartedTransport } from './connection.js';
import { observingFetch } from './http.js';
import type { ConnectContext, Connector, TransportDiagnostics } from './prober.js';

class SseConnection extends BaseConnection {
  constructor(
    private readonly sse: SSEClientTransport,
    private readonly diag: TransportDiagnostics,
  ) {
    super(new StartedTransport(sse));
  }

  diagnostics(): TransportDiagnostics {
    return this.diag;
  }

  protected shutdown(): Promise<void> {
    return this.sse.close();
  }
}

/**
 * Legacy HTTP+SSE (2024-11-05). Starting the transport waits for the `endpoint` event, which the SDK
 * would wait for forever: the caller's deadline covers it, and a connection is closed on every path
 * because the SDK's EventSource otherwise reconnects every 3 s for ever.
 */
export function sseConnector(opts: { onStream?: (what: 'data' | 'end') => void } = {}): Connector {
  return (server, ctx) => connect(server, ctx, opts.onStream);
}

export const connectSse: Connector = sseConnector();

async function connect(server: ServerConfig, ctx: ConnectContext, onStream?: (what: 'data' | 'end') => void): Promise<SseConnection> {
  const diag: TransportDiagnostics = {};
  const sse = new SSEClientTransport(new URL(server.url!), {
    requestInit: { headers: server.headers },
    fetch: observingFetch(server, diag, { onStream }),
  });
  const conn = new SseConnection(sse, diag);
  const abort = () => void conn.close();
  ctx.signal.addEventListener('abort', abort, { once: true });
  try {
    await conn.transport.start();
  } catch (err) {
    await conn.close();
    throw Object.assign(err as Error, { diagnostics: diag });
  } finally {
    ctx.signal.removeEventListener('abort', abort);
  }
  return conn;
}
