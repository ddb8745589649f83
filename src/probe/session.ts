import { McpError, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { ServerConfig } from '../config/schema.js';
import { ProbeTimeout, rawFromError, toProbeError } from './classify.js';
import { closeTimed, DEFAULT_MAX_TOOL_PAGES, Deadline, emptyOutcome, fail, lazySseConnector, listTools, openAndProbe, probeServer } from './probe.js';
import type { Connector, McpConnection, ProbeError, ProbeOutcome } from './prober.js';
import { connectStdio } from './stdio.js';
import { streamableConnector } from './streamable-http.js';

/** Why a session asks to be checked now rather than at its next interval. */
export type SessionSignal = 'closed' | 'stream_end' | 'list_changed';

/** A probe outcome plus what it means for the state machine. */
export interface CheckOutcome extends ProbeOutcome {
  /** The stdio process is gone: down without waiting for more failures. */
  definitive: boolean;
  /** The server answered but tools/list failed. */
  partial: boolean;
  /** SSE stream silent for this long while open. */
  staleMs?: number;
  /** The server forgot the session during this check (the check re-initialized). */
  sessionExpired: boolean;
}

export interface SessionOptions {
  onSignal: (signal: SessionSignal) => void;
  maxToolPages?: number;
  now?: () => number;
}

const MAX_RESTART_DELAY = 60_000;

/**
 * Keeps one live MCP session per server and checks over it, the way an agent holds its connections:
 * a stdio server keeps running (its exit is noticed at once), a Streamable HTTP session is reused
 * (a 404 for it is a `session_expired` finding), an SSE stream is watched for silence. A broken
 * session is replaced on the next check; stdio restarts back off exponentially.
 */
export class ServerSession {
  private conn: McpConnection | undefined;
  private lastActivity = 0;
  private restartDelay = 0;
  private nextRestartAt = 0;
  private lastFailure: ProbeError | null = null;
  private closed = false;
  private readonly now: () => number;

  constructor(
    private server: ServerConfig,
    private readonly opts: SessionOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** PID of the stdio server this session keeps running, if any (for tests and logs). */
  get pid(): number | undefined {
    return (this.conn as { pid?: number } | undefined)?.pid;
  }

  async check(): Promise<CheckOutcome> {
    if (this.server.fresh_connection) {
      const out = await probeServer(this.server, { maxToolPages: this.opts.maxToolPages });
      return { ...out, definitive: false, partial: false, sessionExpired: false };
    }
    const dead = await this.reapDeadConnection();
    if (dead) return dead;
    if (!this.conn && this.server.transport === 'stdio' && this.lastFailure && this.now() < this.nextRestartAt) {
      // Back-off: repeat the known failure rather than respawning a crash-looping server every second.
      return { ...emptyOutcome(this.server, this.now()), error: this.lastFailure, definitive: true, partial: false, sessionExpired: false };
    }
    if (this.conn && this.server.transport === 'sse' && this.server.stale_after !== undefined) {
      const silent = this.now() - this.lastActivity;
      if (silent > this.server.stale_after) {
        await this.dropConnection();
        return { ...emptyOutcome(this.server, this.now()), definitive: false, partial: false, sessionExpired: false, staleMs: silent };
      }
    }
    const out = await (this.conn ? this.listOverSession(this.conn) : this.openAndList());
    if (out.error?.type === 'session_expired' && !out.partial) {
      // The server forgot us (restart, rolling deploy): report it, and see whether a new session works.
      await this.dropConnection();
      const again = await this.openAndList();
      return { ...again, sessionExpired: true };
    }
    return out;
  }

  /** Ends the session: the stdio process group is killed, the HTTP session DELETEd. */
  async close(): Promise<void> {
    this.closed = true;
    await this.dropConnection();
  }

  private async reapDeadConnection(): Promise<CheckOutcome | undefined> {
    const conn = this.conn;
    if (!conn?.closed) return undefined;
    this.conn = undefined;
    // The server's own process is gone, but a wrapper's children may not be: clear the whole group.
    await conn.close();
    const diag = conn.diagnostics();
    const out = emptyOutcome(this.server, this.now());
    out.error = toProbeError(rawFromError(new McpError(-32000, 'Connection closed'), diag, this.server.command ?? ''), 'tools/list');
    const definitive = this.server.transport === 'stdio';
    if (definitive) this.backOff(out.error);
    return { ...out, definitive, partial: false, sessionExpired: false };
  }

  private backOff(error: ProbeError): void {
    this.lastFailure = error;
    this.restartDelay = Math.min(Math.max(1000, this.restartDelay * 2), Math.max(1000, Math.min(this.server.interval, MAX_RESTART_DELAY)));
    this.nextRestartAt = this.now() + this.restartDelay;
  }

  private connector(): Connector {
    const onStream = (what: 'data' | 'end'): void => {
      this.lastActivity = this.now();
      if (what === 'end' && this.conn && !this.conn.closed && !this.closed) this.opts.onSignal('stream_end');
    };
    switch (this.server.transport) {
      case 'stdio':
        return connectStdio;
      case 'sse':
        return lazySseConnector(onStream);
      case 'streamable_http':
        return streamableConnector({ notifications: true, onStream });
    }
  }

  private async openAndList(): Promise<CheckOutcome> {
    const { out, conn } = await openAndProbe(this.server, this.connector(), { maxToolPages: this.opts.maxToolPages });
    this.lastActivity = this.now();
    if (!conn || this.closed) {
      if (conn) await closeTimed(conn, out);
      if (out.error && this.server.transport === 'stdio') this.backOff(out.error);
      return { ...out, definitive: out.error?.type === 'process_exited' || out.error?.type === 'spawn_failed', partial: false, sessionExpired: false };
    }
    this.adopt(conn);
    return { ...out, definitive: false, partial: false, sessionExpired: false };
  }

  private adopt(conn: McpConnection): void {
    this.conn = conn;
    this.restartDelay = 0;
    this.lastFailure = null;
    conn.onUnexpectedClose = () => {
      if (this.conn === conn && !this.closed) this.opts.onSignal('closed');
    };
    conn.client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      if (this.conn === conn && !this.closed) this.opts.onSignal('list_changed');
    });
  }

  private async listOverSession(conn: McpConnection): Promise<CheckOutcome> {
    const out = emptyOutcome(this.server, this.now());
    const deadline = new Deadline(this.server.timeout);
    out.protocolVersion = (conn.transport as { protocolVersion?: string }).protocolVersion ?? null;
    const info = conn.client.getServerVersion();
    out.serverInfo = info ? { name: info.name, version: info.version } : null;
    out.capabilities = (conn.client.getServerCapabilities() as Record<string, unknown> | undefined) ?? null;
    try {
      await listTools(conn, deadline, out, this.opts.maxToolPages ?? DEFAULT_MAX_TOOL_PAGES);
      out.latencyMs = out.phases['tools/list'] ?? null;
    } catch (err) {
      fail(out, deadline.expiredAlready ? new ProbeTimeout(deadline.ms) : err, conn.diagnostics(), 'tools/list', this.server);
    } finally {
      deadline.clear();
    }
    if (!out.error) return { ...out, definitive: false, partial: false, sessionExpired: false };
    // A JSON-RPC error or a malformed page on a live session: the server answers, but not fully.
    const partial = out.error.type === 'protocol_error' || out.error.type === 'invalid_response';
    if (partial) return { ...out, latencyMs: out.phases['tools/list'] ?? null, definitive: false, partial: true, sessionExpired: false };
    const dead = conn.closed || out.error.type === 'process_exited';
    await this.dropConnection();
    if (dead && this.server.transport === 'stdio') this.backOff(out.error);
    return { ...out, definitive: dead && this.server.transport === 'stdio', partial: false, sessionExpired: false };
  }

  private async dropConnection(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    if (conn) await conn.close();
  }

  /** The configuration changed in place (SIGHUP) without touching what the connection depends on. */
  update(server: ServerConfig): void {
    this.server = server;
  }
}
