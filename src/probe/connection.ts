import { Client, type JSONRPCMessage, type JsonSchemaValidator, type jsonSchemaValidator, type MessageExtraInfo, type Transport, type TransportSendOptions, type VersionNegotiationMode } from '@modelcontextprotocol/client';
import type { ProtocolMode } from '../config/schema.js';
import { VERSION } from '../wire/version.js';
import type { McpConnection, TransportDiagnostics } from './prober.js';

const CLIENT_INFO = { name: 'mcpwatch', version: VERSION } as const;

/**
 * The largest MCP message mcpwatch buffers from a server, on any transport (a stdout line, an HTTP
 * body, one server-sent event). Anything larger is refused, so one server cannot exhaust the agent.
 */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** The MCP revision of the stateless era (server/discover, no sessions). */
export const MODERN_PROTOCOL_VERSION = '2026-07-28';

/**
 * Wraps a transport so that it can be started before `Client.connect()` (which starts it again).
 * Starting first lets the probe time connect (SSE `endpoint`, stdio spawn) apart from the handshake.
 */
export class StartedTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;
  private started: Promise<void> | undefined;

  constructor(readonly inner: Transport) {
    inner.onclose = () => this.onclose?.();
    inner.onerror = (e) => this.onerror?.(e);
    inner.onmessage = (m, extra) => this.onmessage?.(m, extra);
  }

  start(): Promise<void> {
    this.started ??= this.inner.start();
    return this.started;
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    return this.inner.send(message, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  setProtocolVersion(version: string): void {
    this.inner.setProtocolVersion?.(version);
  }
}

/**
 * A child process's transport as the SDK's client recognises one (it looks for `pid` and `stderr`):
 * a server that does not answer `server/discover` on a pipe is then a 2025 server, not an outage, and
 * the discovery runs in place on this process rather than on a second one the SDK would spawn.
 */
export class ProcessStartedTransport extends StartedTransport {
  /** mcpwatch reads the child's stderr itself (ProcessTransport's ring); the SDK gets none. */
  readonly stderr = null;

  constructor(inner: Transport & { readonly pid: number | undefined }) {
    super(inner);
  }

  get pid(): number | null {
    return (this.inner as Transport & { readonly pid: number | undefined }).pid ?? null;
  }
}

/**
 * mcpwatch never calls tools, so tool output is never validated. The SDK's default compiles an Ajv
 * validator for every tool's outputSchema on each tools/list, inside the timed phase and per client:
 * 5000 compiles for 100 servers of 50 tools, tripling the latency mcpwatch reports.
 */
const NO_OUTPUT_VALIDATION: jsonSchemaValidator = {
  getValidator<T>(): JsonSchemaValidator<T> {
    return (input) => ({ valid: true, data: input as T, errorMessage: undefined });
  },
};

const NEGOTIATION: Record<ProtocolMode, VersionNegotiationMode> = {
  auto: 'auto',
  modern: { pin: MODERN_PROTOCOL_VERSION },
  legacy: 'legacy',
};

function newClient(protocol: ProtocolMode = 'legacy'): Client {
  // Capabilities are pinned to none: servers that vary their tool list by client capabilities would
  // otherwise show drift whenever the SDK's defaults change.
  return new Client({ ...CLIENT_INFO }, { capabilities: {}, jsonSchemaValidator: NO_OUTPUT_VALIDATION, versionNegotiation: { mode: NEGOTIATION[protocol] } });
}

/** Base for the per-transport connections: tracks unexpected close and keeps close() idempotent. */
export abstract class BaseConnection implements McpConnection {
  readonly client: Client;
  closed = false;
  onUnexpectedClose?: () => void;
  private closing: Promise<void> | undefined;

  constructor(
    readonly transport: StartedTransport,
    protocol: ProtocolMode = 'legacy',
  ) {
    this.client = newClient(protocol);
    // The SDK's Client sets transport.onclose when it connects; hooking the inner transport survives that.
    transport.inner.onclose = () => {
      transport.onclose?.();
      if (!this.closed) {
        this.closed = true;
        if (!this.closing) this.onUnexpectedClose?.();
      }
    };
  }

  abstract diagnostics(): TransportDiagnostics;
  protected abstract shutdown(): Promise<void>;

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.shutdown();
      } catch {
        // close() never throws: the probe has already recorded what matters.
      }
      this.closed = true;
    })();
    return this.closing;
  }
}
