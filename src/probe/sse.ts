import type { FetchLike, SSEClientTransport } from '@modelcontextprotocol/client';
import type { Dispatcher } from 'undici';
import type { ServerConfig, TlsConfig } from '../config/schema.js';
import { userinfoAsBasic } from '../wire/http.js';
import { clientTlsOptions } from '../wire/tls.js';
import { BaseConnection, MAX_MESSAGE_BYTES, StartedTransport } from './connection.js';
import { BODY_WAIT_MS, IDLE_SOCKET_MS, resolveLocation, SNIPPET_BYTES } from './http.js';
import type { ConnectContext, Connector, HttpObservation, TransportDiagnostics, TransportKind } from './prober.js';
import { AuthFailure, credentialsFor, type RequestAuth } from './auth.js';
import { InvalidResponse } from './classify.js';

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
function sseConnector(opts: { onStream?: (what: 'data' | 'end') => void } = {}): Connector {
  return (server, ctx) => connect(server, ctx, opts.onStream);
}

export const sseTransport: TransportKind = {
  connect: sseConnector(),
  keep: ({ onStream }) => sseConnector({ onStream }),
  processBound: false,
  // The legacy EventSource retries a dropped stream silently: silence is how a dead server shows.
  staleAfter: (server) => server.stale_after,
};

/**
 * The SDK's SSE transport and undici (about 8 MiB of modules) are loaded the first time a server
 * needs them, so fleets without SSE servers never pay for them.
 */
let modules: Promise<[typeof import('@modelcontextprotocol/client'), typeof import('undici')]> | undefined;

async function connect(server: ServerConfig, ctx: ConnectContext, onStream?: (what: 'data' | 'end') => void): Promise<SseConnection> {
  const [{ SSEClientTransport }, undici] = await (modules ??= Promise.all([import('@modelcontextprotocol/client'), import('undici')]));
  const diag: TransportDiagnostics = {};
  // A server abandoned mid-stream is closed at once: the SDK's EventSource would reconnect to it.
  const abandon = (): void => void conn.close();
  let started = false;
  // The session lives as long as its stream (the server drops it when the stream closes), and the
  // EventSource would reconnect to a new, uninitialized one that later posts cannot use (a server
  // that restarted may never answer them). So the stream's end closes the connection, as if by the
  // server: the request in flight fails at once and a kept session opens a new one.
  const streamEvents = (what: 'data' | 'end'): void => {
    onStream?.(what);
    if (what === 'end' && started) void sse.close();
  };
  const sse = new SSEClientTransport(new URL(server.url!), {
    requestInit: { headers: server.headers },
    fetch: observingFetch(undici, server, diag, streamEvents, abandon, credentialsFor(server)?.forConnection(diag)),
  });
  const conn = new SseConnection(sse, diag);
  const abort = () => void conn.close();
  ctx.signal.addEventListener('abort', abort, { once: true });
  try {
    await conn.transport.start();
    started = true;
  } catch (err) {
    await conn.close();
    throw Object.assign(otherOrigin(err, server.url!) ?? (err as Error), { diagnostics: diag });
  } finally {
    ctx.signal.removeEventListener('abort', abort);
  }
  return conn;
}

/**
 * The SDK refuses an `endpoint` event naming another origin than the stream's, in words that do not
 * say what to do. It is usually a server behind a proxy or in a container announcing its own address
 * (`http://0.0.0.0:8000/messages/…`).
 */
function otherOrigin(err: unknown, url: string): InvalidResponse | undefined {
  const origin = /^Endpoint origin does not match connection origin: (\S+)/.exec((err as Error)?.message ?? '')?.[1];
  if (origin === undefined) return undefined;
  return new InvalidResponse(
    `the server's endpoint event names ${origin}, not the configured URL's origin ${new URL(url).origin}: messages go only to the stream's origin. Configure the URL with the host the server names, or have the server announce a relative endpoint (behind a proxy: its public URL)`,
  );
}

const dispatchers = new Map<string, Dispatcher>();

/** One undici pool per distinct TLS setting, shared by every SSE server that uses it. */
function dispatcherFor(undici: typeof import('undici'), tls: TlsConfig | undefined): Dispatcher {
  const key = JSON.stringify(tls ?? {});
  let agent = dispatchers.get(key);
  if (!agent) {
    agent = new undici.Agent({ keepAliveTimeout: IDLE_SOCKET_MS, connect: tls ? clientTlsOptions('tls', tls) : undefined });
    dispatchers.set(key, agent);
  }
  return agent;
}

/**
 * The fetch given to the SDK's SSE transport. It applies TLS settings and records the last
 * unsuccessful response with the headers the SDK does not expose (`WWW-Authenticate`), so a failure
 * can be classified from what the server actually said. `onStream` is told about every chunk of the
 * event stream and about its end: the legacy EventSource retries a dropped stream silently, and
 * keep-alive comments never reach the SDK as events, so this is how the agent notices a dead server
 * between probes and a silent, stale one.
 */
function observingFetch(
  undici: typeof import('undici'),
  server: Pick<ServerConfig, 'tls' | 'url'>,
  diag: TransportDiagnostics,
  onStream: ((what: 'data' | 'end') => void) | undefined,
  abandon: () => void,
  auth: RequestAuth | undefined,
): FetchLike {
  const dispatcher = dispatcherFor(undici, server.tls);
  /** A post to the stream's endpoint was accepted: the session it names existed. */
  let posted = false;
  return async (given: string | URL, init?: RequestInit): Promise<Response> => {
    const method = (init?.method ?? 'GET').toUpperCase();
    const headers = new Headers(init?.headers);
    const traceparent = method === 'POST' ? traceparentOf(init?.body) : undefined;
    if (traceparent) headers.set('traceparent', traceparent);
    // fetch refuses a URL with `user:password@` (the endpoint's URL inherits it from the stream's):
    // sent as Basic authorization instead, unless a header or `auth:` says otherwise.
    const { url, authorization: basic } = userinfoAsBasic(String(given));
    if (basic && !headers.has('authorization')) headers.set('authorization', basic);
    // undici's own fetch takes a dispatcher; its Request/Response types are structurally the web ones.
    const once = async (authorization: string | undefined): Promise<Response> => {
      if (authorization) headers.set('authorization', authorization);
      return (await undici.fetch(url, { ...(init as object), headers, dispatcher } as Parameters<typeof undici.fetch>[1])) as unknown as Response;
    };
    let res: Response;
    try {
      res = auth ? await authorizedFetch(auth, once, diag) : await once(undefined);
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      if (cause && (err as Error).name !== 'AbortError') diag.networkError = { code: cause.code, message: cause.message ?? String(err) };
      throw err;
    }
    const contentType = res.headers.get('content-type');
    const isStream = /event-stream/i.test(contentType ?? '');
    const unexpectedType = res.ok && res.status !== 202 && contentType !== null && !/json|event-stream/i.test(contentType);
    if (!res.ok || unexpectedType || (method === 'GET' && res.ok && !isStream)) {
      // A POST goes to the endpoint the stream named, which carries the session (`?sessionId=…`): a
      // 404 there, once posts to it were accepted, is a server that forgot it (a restart), not a
      // wrong URL.
      diag.lastHttp = await observe(res, method, (method === 'POST' && posted) || headers.has('mcp-session-id'));
    } else if (method === 'POST') posted = true;
    if (method === 'GET' && res.ok && res.body && isStream) return watchStream(res, diag, onStream, abandon);
    return res;
  };
}

/** What a W3C traceparent looks like in a JSON body, from its member's opening quote. */
const TRACEPARENT_MEMBER = '"traceparent":"';
const TRACEPARENT = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}"/;

/**
 * The `_meta.traceparent` of a posted request (connection.ts sets a not-sampled one on each), for the
 * `traceparent` header HTTP auto-instrumentation reads: the SDK's SSE transport builds the body itself
 * and hands its fetch no message. Its last such member: `_meta` follows a request's other params.
 */
function traceparentOf(body: unknown): string | undefined {
  if (typeof body !== 'string') return undefined;
  const at = body.lastIndexOf(TRACEPARENT_MEMBER);
  if (at < 0) return undefined;
  const value = body.slice(at + TRACEPARENT_MEMBER.length, at + TRACEPARENT_MEMBER.length + 56);
  return TRACEPARENT.test(value) ? value.slice(0, 55) : undefined;
}

/**
 * A request with the server's credential, retried once after a 401 when probe/auth.ts says a renewed
 * one is worth it. The SDK's SSE transport reports what its fetch threw only as text, so a failure to
 * get a credential is also kept in the diagnostics.
 */
async function authorizedFetch(auth: RequestAuth, once: (authorization: string | undefined) => Promise<Response>, diag: TransportDiagnostics): Promise<Response> {
  try {
    const sent = await auth.authorization();
    let res = await once(sent);
    delete diag.authFailure;
    if (res.status !== 401) return res;
    let final = sent;
    let retry: boolean;
    try {
      retry = await auth.retryAfter401(sent, res.headers.get('www-authenticate'));
    } catch (err) {
      // No credential could be had: nobody reads this 401, and unread it holds its connection.
      await res.body?.cancel().catch(() => undefined);
      throw err;
    }
    if (retry) {
      await res.body?.cancel().catch(() => undefined);
      final = await auth.authorization();
      res = await once(final);
      if (res.status === 401 && final !== undefined) auth.refusedAfterRetry(final);
    }
    diag.credentialRejected = res.status === 401 && final !== undefined;
    return res;
  } catch (err) {
    if (err instanceof AuthFailure) diag.authFailure = { type: err.type, message: err.message };
    throw err;
  }
}

async function observe(res: Response, method: string, withSession: boolean): Promise<HttpObservation> {
  let bodySnippet = '';
  try {
    // Bounded: an error body that never ends must not hold the probe past its deadline.
    const text = res.clone().text();
    const giveUp = new Promise<string>((resolve) => setTimeout(resolve, BODY_WAIT_MS, '').unref());
    bodySnippet = (await Promise.race([text, giveUp])).slice(0, SNIPPET_BYTES);
  } catch {
    // A body that cannot be read twice is not needed for the diagnosis.
  }
  return {
    method,
    status: res.status,
    contentType: res.headers.get('content-type'),
    wwwAuthenticate: res.headers.get('www-authenticate'),
    withSession,
    bodySnippet,
    location: resolveLocation(res.headers.get('location'), res.url),
  };
}

/**
 * The event stream as the SDK's EventSource reads it, bounded: its parser buffers a line, and an
 * event's data lines, without limit, so one endless line grew the agent by hundreds of MiB while
 * the data kept the session looking alive. An event (every byte up to the blank line that ends it)
 * larger than MAX_MESSAGE_BYTES is not an MCP message: the stream is cut and the server abandoned,
 * as stdio does with an endless stdout line and Streamable HTTP with an endless event.
 */
function watchStream(res: Response, diag: TransportDiagnostics, onStream: ((what: 'data' | 'end') => void) | undefined, abandon: () => void): Response {
  const reader = res.body!.getReader();
  const size = new EventSize();
  let ended = false;
  const end = (): void => {
    if (!ended) {
      ended = true;
      onStream?.('end');
    }
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          end();
          controller.close();
        } else if (size.add(value) > MAX_MESSAGE_BYTES) {
          const what = `server-sent event larger than ${MAX_MESSAGE_BYTES / 2 ** 20} MiB: not an MCP message`;
          diag.invalidOutput ??= what;
          diag.abandoned = true;
          end();
          reader.cancel().catch(() => undefined);
          controller.error(new Error(what));
          abandon();
        } else {
          onStream?.('data');
          controller.enqueue(value);
        }
      } catch (err) {
        end();
        controller.error(err);
      }
    },
    cancel(reason) {
      end();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

/** Bytes of the event being received: reset by a blank line (LF, CR or CRLF line ends). */
class EventSize {
  private bytes = 0;
  /** Bytes in the current line, to tell a blank line (which ends the event) from a line's end. */
  private line = 0;
  private afterCr = false;

  /** Counts `chunk` in; returns the current event's size. */
  add(chunk: Uint8Array): number {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === 10 && this.afterCr) {
        this.afterCr = false;
        continue;
      }
      this.afterCr = b === 13;
      if (b === 10 || b === 13) {
        if (this.line === 0) this.bytes = 0;
        else this.bytes++;
        this.line = 0;
      } else {
        this.line++;
        this.bytes++;
      }
    }
    return this.bytes;
  }
}
