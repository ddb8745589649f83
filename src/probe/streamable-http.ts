import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ServerConfig } from '../config/schema.js';
import { BaseConnection, StartedTransport } from './connection.js';
import { observingFetch } from './http.js';
import type { Connector, TransportDiagnostics } from './prober.js';

/** How long ending a session (DELETE) may take before the probe lets it go. */
const TERMINATE_MS = 2000;

export interface StreamableOptions {
  /** Keep the standalone GET stream open for server notifications (tools/list_changed). */
  notifications?: boolean;
  onStream?: (what: 'data' | 'end') => void;
}

class StreamableConnection extends BaseConnection {
  constructor(
    private readonly http: StreamableHTTPClientTransport,
    private readonly diag: TransportDiagnostics,
  ) {
    super(new StartedTransport(http));
  }

  diagnostics(): TransportDiagnostics {
    return this.diag;
  }

  get sessionId(): string | undefined {
    return this.http.sessionId;
  }

  /** DELETE the session so probes leave none behind (the SDK's close() does not), then close. */
  protected async shutdown(): Promise<void> {
    if (this.http.sessionId) {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, TERMINATE_MS)));
      await Promise.race([this.http.terminateSession().catch(() => {}), bound]);
      clearTimeout(timer);
    }
    await this.http.close();
  }
}

export function streamableConnector(opts: StreamableOptions = {}): Connector {
  return async (server: ServerConfig) => {
    const diag: TransportDiagnostics = {};
    const http = new StreamableHTTPClientTransport(new URL(server.url!), {
      requestInit: { headers: server.headers },
      fetch: observingFetch(server, diag, { skipStandaloneStream: !opts.notifications, onStream: opts.onStream }),
      // A probe wants to see a failed stream, not have the SDK retry it in the background.
      reconnectionOptions: { maxReconnectionDelay: 30_000, initialReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1.5, maxRetries: 0 },
    });
    const conn = new StreamableConnection(http, diag);
    await conn.transport.start();
    return conn;
  };
}

export const connectStreamableHttp: Connector = streamableConnector();
