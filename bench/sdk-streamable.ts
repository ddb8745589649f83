// The Streamable HTTP transport question of issue 13, in bench code only: a TransportKind built on
// SDK v2's `StreamableHTTPClientTransport` (fetch: undici's, on one shared keep-alive Agent), wired
// into the same probe code (openAndProbe, listTools, ServerSession) as mcpwatch's own node:http
// transport, so the two differ in the transport alone.
//
// - probe-overhead.ts uses `sdkStreamableTransport.connect` beside the own transport's.
// - agent-fleet.ts --transport sdk runs the real agent with `node --import dist/bench/use-sdk-transport.js`,
//   which puts this kind in the agent's transport table, so every check of `mcpwatch run` goes over it.
//
// Not wired, because a benchmark of the healthy path never needs them: the HTTP facts the classifier
// reads from the own transport (status, WWW-Authenticate, body start), TLS settings, and the end of
// the 2025 standalone GET stream as a check signal.
import { StreamableHTTPClientTransport, type FetchLike } from '@modelcontextprotocol/client';
import { Agent, fetch as undiciFetch } from 'undici';
import type { ProtocolMode, ServerConfig } from '../src/config/schema.js';
import { BaseConnection, StartedTransport } from '../src/probe/connection.js';
import { IDLE_SOCKET_MS } from '../src/probe/http.js';
import type { Connector, TransportDiagnostics, TransportKind } from '../src/probe/prober.js';

/** One pool for every server, as the own transport's shared node:http Agent. */
const dispatcher = new Agent({ keepAliveTimeout: IDLE_SOCKET_MS });

/**
 * undici's fetch on the shared Agent. For a one-shot probe, the 2025 standalone GET stream (which the
 * SDK opens right after initialize) is answered 405 locally, as the own transport does not open it
 * either: a 405 is the spec's way for a server to decline it.
 */
export function sharedFetch(url: URL, standaloneStream: boolean): FetchLike {
  const href = url.href;
  return async (input, init) => {
    if (!standaloneStream && (init?.method ?? 'GET') === 'GET' && String(input) === href) return new Response(null, { status: 405 });
    // undici's own fetch takes a dispatcher; its Request/Response types are structurally the web ones.
    return (await undiciFetch(input, { ...(init as object), dispatcher } as Parameters<typeof undiciFetch>[1])) as unknown as Response;
  };
}

class SdkStreamableConnection extends BaseConnection {
  private readonly diag: TransportDiagnostics = {};

  constructor(
    private readonly http: StreamableHTTPClientTransport,
    protocol: ProtocolMode,
  ) {
    // StartedTransport passes on the SDK transport's hasPerRequestStream: a cancelled request's stream is aborted.
    super(new StartedTransport(http), protocol);
  }

  diagnostics(): TransportDiagnostics {
    return this.diag;
  }

  /** DELETE a 2025 session (the SDK's close() does not), then close. */
  protected async shutdown(): Promise<void> {
    if (this.http.sessionId) await this.http.terminateSession().catch(() => {});
    await this.http.close();
  }
}

function sdkConnector(standaloneStream: boolean): Connector {
  return async (server: ServerConfig) => {
    const url = new URL(server.url!);
    const http = new StreamableHTTPClientTransport(url, { fetch: sharedFetch(url, standaloneStream), ...(server.headers ? { requestInit: { headers: server.headers } } : {}) });
    const conn = new SdkStreamableConnection(http, server.protocol);
    await conn.transport.start();
    return conn;
  };
}

export const sdkStreamableTransport: TransportKind = {
  connect: sdkConnector(false),
  keep: () => sdkConnector(true),
  processBound: false,
  staleAfter: () => undefined,
};
