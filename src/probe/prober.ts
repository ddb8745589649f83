// probe/ owns the synthetic receiver: opening MCP connections over stdio, SSE and Streamable HTTP,
// running initialize / tools/list / ping against them and classifying what went wrong. A target's
// failure is data in the outcome, never an exception. It must not touch metrics, alerts or state:
// one recorder downstream turns outcomes into those, so every transport emits the same names.
import type { Client, Transport } from '@modelcontextprotocol/client';
import type { CheckMethod, ServerConfig, TransportName } from '../config/schema.js';
import type { ErrorCategory, ErrorType } from '../pipeline/error-types.js';
import type { ProcessGroups } from './stdio.js';

/** `token`: time spent obtaining an OAuth token (discovery and the token request) during the probe. */
export type Phase = 'spawn' | 'connect' | 'token' | 'server/discover' | 'initialize' | 'tools/list' | 'ping' | 'close' | CheckMethod;

export type { CheckMethod };

/** `modern`: MCP 2026-07-28 and later (server/discover, stateless); `legacy`: the 2025 initialize handshake. */
export type ProtocolEra = 'modern' | 'legacy';

export interface ToolInfo {
  name: string;
  title?: string;
  description?: string;
  inputSchema: unknown;
  outputSchema?: unknown;
  annotations?: Record<string, unknown>;
}

export interface ServerInfo {
  name: string;
  version: string;
  title?: string;
}

export interface ProbeError {
  type: ErrorType;
  category: ErrorCategory;
  phase: Phase;
  message: string;
}

/**
 * One run of one configured check. `refused`: a configuration-level finding (a tool that may have
 * side effects, not allowed by the check), never a server failure; the tool was not called.
 */
export interface CheckRun {
  name: string;
  method: CheckMethod;
  /** The tool or prompt name, or the resource URI. */
  target: string;
  status: 'pass' | 'fail' | 'refused';
  onFailure: 'degraded' | 'down';
  /** Epoch ms when the request was sent (or the check was decided without one). */
  startedAt: number;
  /** The request's round trip; null when nothing was sent (refused, tool not listed). */
  latencyMs: number | null;
  error: ProbeError | null;
}

/** Everything one probe of one server learned. Timings are milliseconds. */
export interface ProbeOutcome {
  server: string;
  transport: TransportName;
  startedAt: number;
  phases: Partial<Record<Phase, number>>;
  /** handshake (server/discover or initialize) + tools/list: what an agent waits for, without spawn, connect or close. */
  latencyMs: number | null;
  protocolVersion: string | null;
  era: ProtocolEra | null;
  serverInfo: ServerInfo | null;
  capabilities: Record<string, unknown> | null;
  tools: ToolInfo[] | null;
  error: ProbeError | null;
  /** Findings that did not fail the probe (noise on stdout, a session left behind). */
  warnings: string[];
  /** The configured checks this probe ran, in configuration order (absent: none ran). */
  checks?: CheckRun[];
  /** When the server's configured credential expires (epoch ms), where known and not renewed by mcpwatch (probe/auth.ts). */
  credentialExpiresAt?: number;
}

/** Facts a transport gathered that explain a failure better than the SDK's error does. */
export interface TransportDiagnostics {
  spawnError?: NodeJS.ErrnoException;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  stderrTail?: string[];
  /** The last stdout lines that were not JSON-RPC: what a server that logs to stdout said before it ended. */
  stdoutTail?: string[];
  /** The first stdout line that was not JSON-RPC, or why stdout was abandoned. */
  invalidOutput?: string;
  /** mcpwatch gave up on the server itself (e.g. an unbounded stdout line) and ended it. */
  abandoned?: boolean;
  /** The last network-level failure (refused, DNS, TLS), which the SSE transport does not surface. */
  networkError?: { code: string | undefined; message: string };
  /**
   * The last request carried an Mcp-Session-Id (Streamable HTTP): a JSON-RPC error answering it that
   * says the session is unknown means the server forgot it, as a 404 would.
   */
  sentWithSession?: boolean;
  /** The most recent non-2xx (or non-MCP) HTTP response. */
  lastHttp?: HttpObservation;
  /** The SSE stream answered with something other than an event stream. */
  sseContentType?: string;
  /** Milliseconds spent on OAuth token requests (and discovery) since the probe last took them (probe/auth.ts). */
  tokenMs?: number;
  /** The last 401 answered a request that carried a configured credential: it was rejected, not missing. */
  credentialRejected?: boolean;
  /**
   * What mcpwatch knows of the credential refused at the last 401: a bearer token past its own `exp`
   * ("the token in token_file … expired at …"), said before the server's words (probe/auth.ts).
   */
  credentialExpired?: string;
  /** Why no credential could be had, where the transport's own error would only quote it (legacy SSE). */
  authFailure?: { type: 'auth_failed' | 'auth_unavailable'; message: string };
  /** The first redirect the connection followed (Streamable HTTP: same origin, 307/308), URLs redacted. */
  redirected?: { status: number; from: string; to: string };
}

export interface HttpObservation {
  method: string;
  status: number;
  contentType: string | null;
  wwwAuthenticate: string | null;
  /** Whether the request carried an Mcp-Session-Id: a 404/400 then means the session is gone. */
  withSession: boolean;
  bodySnippet: string;
  /** The body as far as it was read (a JSON-RPC error answer in full), for parsing, not for showing. */
  body?: string;
  /** Where a 3xx answer pointed: a redirect mcpwatch does not follow (another origin, or past the limit) is reported. */
  location?: string | null;
}

/**
 * An open MCP connection: the transport is started (process spawned, SSE endpoint received), the
 * client is not yet initialized. The scheduler keeps one of these per server; `health` opens one per
 * probe.
 */
export interface McpConnection {
  readonly transport: Transport;
  readonly client: Client;
  diagnostics(): TransportDiagnostics;
  /** True once the transport closed on its own (process exit, stream end). */
  readonly closed: boolean;
  /** Called once when the transport closes on its own (not through close()). */
  onUnexpectedClose?: () => void;
  /**
   * Opens the server's notification stream again after it ended while the connection lives on (the
   * 2025 Streamable HTTP standalone GET stream); absent where a stream's end ends the connection.
   */
  watchAgain?(): void;
  /**
   * Ends the session: DELETE for Streamable HTTP, the whole process group for stdio. Never throws.
   * `deadline`: the probe's, which the close shares (`health --timeout`): once it has fired nothing
   * is waited for, a session is left to the server to expire and a process group is killed at once.
   */
  close(deadline?: AbortSignal): Promise<void>;
}

export interface ConnectContext {
  signal: AbortSignal;
  /** Where a stdio server's process group is kept while it runs, for its owner (an agent) to end them all. */
  processGroups?: ProcessGroups;
}

/** The one shape every transport implements. Resolves once the transport is started. */
export type Connector = (server: ServerConfig, ctx: ConnectContext) => Promise<McpConnection>;

/** What a kept session hears from its connection between checks. */
export interface StreamHooks {
  /**
   * Every chunk of the server's stream (`data`) and its end (a server gone between checks); where
   * the stream is opened again on a live connection (the 2025 standalone GET), also that it opened
   * (`open`), and a reopening the server refused (`refused`, in place of `end`).
   */
  onStream(what: 'data' | 'open' | 'end' | 'refused'): void;
}

/**
 * What is special to one transport, behind the one interface: how to connect for a one-shot probe
 * and for a kept session, and the check policy of a kept session over it. Each transport's file
 * exports its own; probe/transports.ts is the one table of them.
 */
export interface TransportKind {
  /** Connects for a one-shot probe (`health`, `fresh_connection`). */
  readonly connect: Connector;
  /** Connects for a session the agent keeps, which watches the server's stream between checks. */
  keep(hooks: StreamHooks): Connector;
  /**
   * The connection is the server (a child process): its end means down without confirmation, and
   * restarts back off instead of respawning a crash-looping server on every check.
   */
  readonly processBound: boolean;
  /** How long a kept session's stream may stay silent before the server is stale; undefined: not watched. */
  staleAfter(server: ServerConfig): number | undefined;
}
