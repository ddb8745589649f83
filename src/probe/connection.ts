import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { JsonSchemaValidator, jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';
import type { McpConnection, TransportDiagnostics } from './prober.js';

export const CLIENT_INFO = { name: 'mcpwatch', version: '0.1.0' } as const;

/**
 * The largest MCP message mcpwatch buffers from a server, on any transport (a stdout line, an HTTP
 * body, one server-sent event). Anything larger is refused, so one server cannot exhaust the agent.
 */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * Wraps a transport so that it can be started before `Client.connect()` (which starts it again), and
 * remembers the negotiated protocol version, which the SDK's Client does not expose. Starting first
 * lets the probe time connect (SSE `endpoint`, stdio spawn) apart from initialize.
 */
export class StartedTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;
  protocolVersion: string | undefined;
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
    this.protocolVersion = version;
    this.inner.setProtocolVersion?.(version);
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

export function newClient(): Client {
  // Capabilities are pinned to none: servers that vary their tool list by client capabilities would
  // otherwise show drift whenever the SDK's defaults change.
  return new Client({ ...CLIENT_INFO }, { capabilities: {}, jsonSchemaValidator: NO_OUTPUT_VALIDATION });
}

/** Base for the per-transport connections: tracks unexpected close and keeps close() idempotent. */
export abstract class BaseConnection implements McpConnection {
  readonly client = newClient();
  closed = false;
  onUnexpectedClose?: () => void;
  private closing: Promise<void> | undefined;

  constructor(readonly transport: StartedTransport) {
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
