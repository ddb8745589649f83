import { request as httpRequest, type Agent as HttpAgent, type ClientRequest, type ClientRequestArgs, type IncomingMessage, type OutgoingHttpHeaders, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createConnection, type NetConnectOpts, type Socket } from 'node:net';
import { urlToHttpOptions } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROTOCOL_VERSION_META_KEY, SdkError, SdkErrorCode, type JSONRPCMessage, type Transport, type TransportSendOptions } from '@modelcontextprotocol/client';
import type { ProtocolMode, ServerConfig } from '../config/schema.js';
import { BodyTooLargeError, declaredOver, readLimited } from '../wire/http.js';
import { InvalidResponse } from './classify.js';
import { BaseConnection, MAX_MESSAGE_BYTES, rememberResponseText, settlesWithin, StartedTransport, type PageAwareTransport } from './connection.js';
import { header, httpStatusError, keepAliveHintMs, nodeAgentFor, observeResponse, redirectSeen, sameOriginRedirect } from './http.js';
import type { Connector, StreamHooks, TransportDiagnostics, TransportKind } from './prober.js';
import { credentialsFor, type RequestAuth } from './auth.js';

/** How long ending a session (DELETE) may take before the probe lets it go. */
const TERMINATE_MS = 2000;
const MAX_MIB = MAX_MESSAGE_BYTES / 2 ** 20;
/**
 * What one `data:` line costs beyond its text, counted against the event's limit: an array slot and a
 * string. Without it a stream of empty `data:` lines would grow memory without reaching the limit.
 */
const DATA_LINE_COST = 16;
/** Resumptions of one response stream before the request is failed (its deadline usually comes first). */
const MAX_RESUMES = 20;
/**
 * The longest `retry` honoured before a resume. A probe's deadline is seconds; a server asking for
 * more would outlast it anyway, and Node's timers cannot take more than 2^31-1 ms.
 */
const MAX_RETRY_WAIT_MS = 60_000;

/** A request's destination, from its URL. */
interface Target {
  protocol: string | null | undefined;
  hostname: string | null | undefined;
  port: number | string | null | undefined;
  path: string | null | undefined;
  auth: string | null | undefined;
  /** The Host header node:http would send: the URL's host (the port only when not the scheme's default). */
  host: string;
}

/** Where a response stream got to: what a GET with Last-Event-ID resumes from (WHATWG `id`, `retry`). */
interface StreamPosition {
  lastEventId?: string;
  retryMs?: number;
}

interface StreamableOptions {
  /** Keep the standalone GET stream open for server notifications (tools/list_changed). */
  notifications?: boolean;
  /** Told about the standalone stream (StreamHooks.onStream). */
  onStream?: StreamHooks['onStream'];
  /** The server's credentials (`auth:`): an Authorization header per request and one retry after a 401. */
  auth?: RequestAuth;
  /**
   * Waits out the server's `retry` before a resume, rejecting when `signal` aborts (the transport
   * closed). Defaults to a timer; tests inject one to see the wait begin without timing it.
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Milliseconds on a monotonic clock (default performance.now); tests inject one to space requests out. */
  now?: () => number;
}

/**
 * A request sent this much later than its predecessor would have found their pooled connection closed:
 * Node's agent lets go of an idle one 1 s before the server's `Keep-Alive: timeout` hint.
 */
const HINT_MARGIN_MS = 1000;
/** Redirects followed for one request; the one past them is reported as it came. */
const MAX_REDIRECTS = 5;

/**
 * The MCP Streamable HTTP client transport (spec 2025-03-26 and later) on node:http.
 *
 * The SDK's StreamableHTTPClientTransport is built on fetch and web streams: at 300 kept sessions its
 * standalone GET streams alone held ~17 MiB and its response parsing was a tenth of the agent's CPU
 * (docs/benchmarks.md). This one speaks the same protocol with Node streams over one shared
 * keep-alive pool, records the HTTP facts the classifier needs (status, WWW-Authenticate, body start)
 * as it goes, and fails a request whose event stream ends before its response instead of leaving it
 * to the timeout. A response stream the server ends after giving event ids (the 2025-11-25 polling
 * pattern: a priming event, then the stream closed while the work goes on) is resumed with GET and
 * Last-Event-ID, after the server's `retry`. Not implemented, because a probe never needs them: interactive
 * OAuth flows (machine credentials only: probe/auth.ts), following redirects to another origin (one
 * within the origin is followed, as the SDK's clients do: follow()).
 */
export class StreamableHttpTransport implements Transport, PageAwareTransport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  sessionId: string | undefined;
  private protocolVersion: string | undefined;
  private readonly open = new Set<ClientRequest>();
  /**
   * Answered request streams the server has not ended: let go when the next request goes out. A
   * server should end a request's stream after the response, but one that keeps it open (keep-alive
   * comments) would otherwise hold a connection per request for as long as the session lives.
   */
  private readonly lingering = new Set<IncomingMessage>();
  /**
   * Requests in flight, by JSON-RPC id, that the SDK gave no signal for. It gives one up by sending
   * `notifications/cancelled`, after which a 2025 server sends no response (as the spec says), so the
   * request's stream stayed open until the session ended: one connection per timed-out check of a
   * kept session. The cancellation lets go of it (send). The 2026-07-28 revision cancels by closing
   * the stream alone, so a modern request's cancellation is not POSTed. (Declaring
   * `hasPerRequestStream` would have the SDK do that with an AbortController and a listener on its
   * signal for every modern request, which cost more per check than this map.)
   */
  private readonly cancellable = new Map<string | number, GiveUp>();
  private closed = false;
  /** Aborted by close(): ends a wait for the server's `retry` with the probe that started it. */
  private readonly closing = new AbortController();
  /** Set from the DELETE on: the server then ends the standalone stream because we asked it to. */
  private ending = false;
  /** The standalone stream was open and ended while the session went on: reopenStandaloneStream() may open it again. */
  private standaloneEnded = false;
  /**
   * What the session's own streams (the standalone GET, subscriptions/listen) met, kept apart from
   * `diag`: they are opened again beside a check's requests, and their failure, read there, was
   * reported as the check's (a listen refused 503 named a failing tools/list), as was the time they
   * waited for a token (the check's token phase). Nobody reads it: a stream that cannot be had is
   * asked for again at the next check, and its error says why.
   */
  private streamDiag: TransportDiagnostics | undefined;
  /** How long the server keeps an idle connection, as its last answer said (Keep-Alive: timeout=N). */
  private serverIdleMs: number | undefined;
  /** When the last POST or DELETE was sent (opts.now's clock). */
  private lastSentAt: number | undefined;
  /**
   * The client's stand-in for a response text it validated before (ProbeClient.knownPageMessage),
   * consulted before parsing: an unchanged tools/list page is then neither parsed nor walked again.
   */
  knownPageMessage?: (text: string) => JSONRPCMessage | undefined;
  private readonly messagesOf = (text: string): JSONRPCMessage[] => {
    const known = this.knownPageMessage?.(text);
    return known ? [known] : parseMessages(text);
  };
  /** What node:http would derive from the URL on every request (host, port, path, userinfo), derived once. */
  private target: Target;
  /** No configured headers and no userinfo in the URL: the request's headers can go as a flat list (flatHeaders). */
  private readonly plainHeaders: boolean;
  /** The pool (and, for https, the pool-less agent) of this server's scheme and TLS setting. */
  private readonly agents = new Map<boolean, HttpAgent>();

  constructor(
    private url: URL,
    private readonly server: Pick<ServerConfig, 'headers' | 'tls'>,
    private readonly diag: TransportDiagnostics,
    private readonly opts: StreamableOptions = {},
  ) {
    // node:http's own derivation, copied into an object of one shape: its result has no prototype, so
    // V8 keeps it in dictionary mode, slow to read on every request.
    const { protocol, hostname, port, path, auth } = urlToHttpOptions(url);
    this.target = { protocol, hostname, port, path, auth, host: url.host };
    this.plainHeaders = Object.keys(server.headers ?? {}).length === 0 && !auth;
  }

  /** Nothing to open: a session starts with the initialize POST. */
  async start(): Promise<void> {}

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  async send(message: JSONRPCMessage | JSONRPCMessage[], options?: TransportSendOptions): Promise<void> {
    if (this.lingering.size > 0) {
      for (const res of this.lingering) res.destroy();
      this.lingering.clear();
    }
    if (!Array.isArray(message) && 'method' in message && message.method === 'notifications/cancelled') {
      const id = (message.params as { requestId?: unknown } | undefined)?.requestId;
      const giveUp = typeof id === 'string' || typeof id === 'number' ? this.cancellable.get(id) : undefined;
      giveUp?.abort();
      if (giveUp?.modern) return;
    }
    const withSession = this.sessionId !== undefined;
    const modern = modernHeaders(message);
    const lasting = !Array.isArray(message) && 'method' in message && message.method === 'subscriptions/listen';
    const requests = new Set<string | number>();
    for (const m of Array.isArray(message) ? message : [message]) if ('method' in m && 'id' in m) requests.add(m.id);
    // The SDK gives a request up with this signal (a listen never acknowledged, a subscription it
    // closed, a 2026-07-28 request timed out): its stream goes with it, or each one given up would
    // hold a connection for as long as the server, or a proxy that buffers event streams, keeps it open.
    const signal = options?.requestSignal;
    // What the caller adds to this one request (a tool call's `Mcp-Param-*` headers: probe/checks.ts).
    const asked = options?.headers;
    if (signal || lasting || requests.size === 0) return this.post(message, withSession, modern, asked, lasting, requests, signal);
    const giveUp = new GiveUp(modern !== undefined);
    // A copy: answers are taken off `requests` as they come.
    const ids = [...requests];
    for (const id of ids) this.cancellable.set(id, giveUp);
    try {
      await this.post(message, withSession, modern, asked, lasting, requests, giveUp);
    } finally {
      for (const id of ids) if (this.cancellable.get(id) === giveUp) this.cancellable.delete(id);
    }
  }

  private async post(message: JSONRPCMessage | JSONRPCMessage[], withSession: boolean, modern: OutgoingHttpHeaders | undefined, asked: Readonly<Record<string, string>> | undefined, lasting: boolean, requests: Set<string | number>, signal: Abandon | undefined): Promise<void> {
    const diag = lasting ? (this.streamDiag ??= {}) : this.diag;
    diag.sentWithSession = withSession;
    // A tool call is never sent twice: a connection reset before its answer may have come after the
    // server took it, and a tool a check may call with side effects would run twice.
    const once = !Array.isArray(message) && 'method' in message && message.method === 'tools/call';
    const res = await this.request('POST', 'application/json, text/event-stream', JSON.stringify(message), withTraceparent(message, asked ? { ...modern, ...asked } : modern), lasting, signal, diag, once);
    const sessionId = header(res, 'mcp-session-id');
    if (sessionId) this.sessionId = sessionId;
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      const seen = (diag.lastHttp = await observeResponse(res, this.url, 'POST', withSession));
      // A 2026-07-28 server answers a request it refuses (an unsupported version: -32022) with HTTP
      // 400 and the JSON-RPC error: that error is the answer to the request.
      if (status === 400 && modern && !Array.isArray(message) && 'id' in message && message.id !== undefined) {
        const answer = jsonRpcErrorFor(seen.body, message.id);
        if (answer) return void this.onmessage?.(answer);
      }
      throw httpStatusError(status, `Error POSTing to endpoint (HTTP ${status})`, seen.body);
    }
    if (status === 202 && requests.size > 0) {
      res.resume();
      throw new InvalidResponse(`HTTP 202 with no response to a request: a Streamable HTTP server answers requests with JSON or an event stream`);
    }
    if (status === 202 || requests.size === 0) {
      res.resume();
      if (status === 202 && this.opts.notifications && !Array.isArray(message) && 'method' in message && message.method === 'notifications/initialized') {
        void this.openStandaloneStream();
      }
      return;
    }
    const type = header(res, 'content-type') ?? '';
    if (/^\s*text\/event-stream/i.test(type)) return this.readResponseStream(res, requests, signal, diag);
    if (/^\s*application\/([\w.+-]*\+)?json/i.test(type)) {
      for (const m of this.messagesOf(await readBody(res))) {
        if (('result' in m || 'error' in m) && 'id' in m) requests.delete(m.id as string | number);
        this.onmessage?.(m);
      }
      // Otherwise the request would wait for an answer that cannot come until its deadline.
      if (requests.size > 0) throw new InvalidResponse(`the JSON answer holds no response to request ${[...requests].join(', ')}`);
      return;
    }
    diag.lastHttp = await observeResponse(res, this.url, 'POST', withSession);
    throw httpStatusError(status, `unexpected content type ${JSON.stringify(type)}`);
  }

  /** DELETE the session; a 405 means the server does not offer explicit termination. */
  async terminateSession(): Promise<void> {
    if (!this.sessionId) return;
    this.ending = true;
    const res = await this.request('DELETE', '*/*');
    res.resume();
    this.sessionId = undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    for (const req of this.open) req.destroy();
    this.open.clear();
    this.onclose?.();
  }

  /** Resolves with the response head; the body is the caller's to read or discard. */
  /**
   * `lasting`: a request whose answer is a stream kept open (GET, subscriptions/listen), see
   * requestOnce. `diag`: where what it meets is recorded (streamDiag for the session's own streams).
   */
  private request(method: string, accept: string, body?: string, extra?: OutgoingHttpHeaders, lasting = method === 'GET', signal?: Abandon, diag = this.diag, once = false): Promise<IncomingMessage> {
    return this.opts.auth ? this.authorizedRequest(this.opts.auth, method, accept, lasting, body, extra, signal, diag, once) : this.requestOnce(method, accept, lasting, body, extra, once, 0, signal, diag);
  }

  /**
   * With the server's credential; a 401 gets one retry with a renewed one (probe/auth.ts decides).
   * The time spent getting it goes to `diag` as the rest of what the request meets.
   */
  private async authorizedRequest(auth: RequestAuth, method: string, accept: string, lasting: boolean, body: string | undefined, extra: OutgoingHttpHeaders | undefined, signal: Abandon | undefined, diag: TransportDiagnostics, once: boolean): Promise<IncomingMessage> {
    const sent = await auth.authorization(diag);
    let res = await this.requestOnce(method, accept, lasting, body, sent ? { ...extra, authorization: sent } : extra, once, 0, signal, diag);
    if (res.statusCode !== 401) return res;
    let final = sent;
    let retry: boolean;
    // What the session's own streams meet is recorded apart (streamDiag): a refusal of theirs is not the checks'.
    const ownStream = diag === this.streamDiag;
    try {
      const www = header(res, 'www-authenticate');
      retry = await (ownStream ? auth.streamRetryAfter401(sent, www, diag) : auth.retryAfter401(sent, www, diag));
    } catch (err) {
      // No credential could be had: the 401 is not the caller's to read, and unread it holds its socket.
      res.resume();
      throw err;
    }
    if (retry) {
      res.resume();
      final = await auth.authorization(diag);
      res = await this.requestOnce(method, accept, lasting, body, final ? { ...extra, authorization: final } : extra, once, 0, signal, diag);
      if (res.statusCode === 401 && final !== undefined && !ownStream) auth.refusedAfterRetry(final);
    }
    diag.credentialRejected = res.statusCode === 401 && final !== undefined;
    return res;
  }

  /** `retried`: sent once already, or not to be sent twice (a tool call): not sent again after a reset. */
  private requestOnce(method: string, accept: string, lasting: boolean, body?: string, extra?: OutgoingHttpHeaders, retried = false, hops = 0, signal?: Abandon, diag = this.diag): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new SdkError(SdkErrorCode.ConnectionClosed, 'Connection closed'));
      if (signal?.aborted) return reject(new SdkError(SdkErrorCode.ConnectionClosed, 'the request was given up'));
      const headers: OutgoingHttpHeaders = { ...this.server.headers, ...extra, accept };
      if (this.sessionId) headers['mcp-session-id'] = this.sessionId;
      if (this.protocolVersion) headers['mcp-protocol-version'] = this.protocolVersion;
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(body);
      }
      // A stream kept open holds its connection for as long as the session: it never goes back to the
      // pool, and the pool's bookkeeping would stay with it (docs/benchmarks.md, "The kept stream
      // without the pool"). It is not a predecessor whose connection the next request could reuse.
      const reuse = !lasting && !this.reuseUnlikely();
      const t = this.target;
      const secure = t.protocol === 'https:';
      // A plain-HTTP request that will not be reused goes out without an agent, and without that
      // agent's per-request bookkeeping (docs/benchmarks.md, "The 2026-07-28 era's check"). TLS keeps
      // its agent, which caches sessions.
      const agentless = !reuse && !secure;
      const options: RequestOptions & { noDelay?: boolean } = { protocol: t.protocol, hostname: t.hostname, port: t.port, path: t.path, auth: t.auth, method, headers: this.plainHeaders ? flatHeaders(headers, t.host, agentless) : headers };
      if (agentless) {
        options.createConnection = connectWithoutAgent;
        // Handed on to the connection, as node:http's agents do: Nagle's algorithm off.
        options.noDelay = true;
      } else options.agent = this.agentFor(reuse);
      let req: ClientRequest;
      try {
        req = (secure ? httpsRequest : httpRequest)(options);
      } catch (err) {
        return reject(err);
      }
      this.open.add(req);
      if (signal instanceof GiveUp) signal.watch(req);
      else if (signal) destroyOnAbort(req, signal);
      let answered = false;
      req.once('response', (res) => {
        answered = true;
        // From here a broken connection is the body reader's to report. What stays on the request and
        // its answer is made outside this function (answeredError, forgetOnClose, destroyOnAbort): a
        // closure made here would hold its whole setting-up (headers, body, promise) for as long as
        // the answer lasts, a kept stream's for as long as the session.
        req.off('error', onError).on('error', answeredError);
        this.serverIdleMs = keepAliveHintMs(header(res, 'keep-alive')) ?? this.serverIdleMs;
        res.on('close', forgetOnClose(this.open, req));
        if (res.statusCode! >= 301 && res.statusCode! <= 308 && this.follow(res, method, hops)) {
          res.resume();
          this.requestOnce(method, accept, lasting, body, extra, retried, hops + 1, signal, diag).then(resolve, reject);
          return;
        }
        resolve(res);
      });
      const onError = (err: NodeJS.ErrnoException): void => {
        this.open.delete(req);
        // After the answer began, a broken connection is the body reader's to report (readEvents,
        // readBody); sending the request again would do it twice.
        if (answered) return;
        // Given up by the SDK: not a network failure of the server's.
        if (signal?.aborted) return reject(err);
        // A pooled connection the server closed just as it was reused: the request never reached it.
        if (req.reusedSocket && !retried && (err.code === 'ECONNRESET' || err.code === 'EPIPE') && !this.closed) {
          this.requestOnce(method, accept, lasting, body, extra, true, hops, signal, diag).then(resolve, reject);
          return;
        }
        if (!this.closed) diag.networkError = { code: err.code, message: err.message };
        reject(err);
      };
      req.on('error', onError);
      req.end(body);
    });
  }

  /** A redirect to follow (http.ts, sameOriginRedirect): the connection keeps the new URL. */
  private follow(res: IncomingMessage, method: string, hops: number): boolean {
    const to = hops < MAX_REDIRECTS ? sameOriginRedirect(res.statusCode!, method, header(res, 'location'), this.url) : undefined;
    if (!to) return false;
    this.diag.redirected ??= redirectSeen(res.statusCode!, this.url, to);
    if (to.protocol !== this.url.protocol) this.agents.clear();
    const { protocol, hostname, port, path } = urlToHttpOptions(to);
    this.target = { protocol, hostname, port, path, auth: this.target.auth, host: to.host };
    this.url = to;
    return true;
  }

  private agentFor(reuse: boolean): HttpAgent {
    let agent = this.agents.get(reuse);
    if (!agent) this.agents.set(reuse, (agent = nodeAgentFor(this.url, this.server.tls, reuse)));
    return agent;
  }

  /**
   * Whether the connection of this request will be closed by the server before the next request comes,
   * judged by the gap since the last one (a kept session's checks are an interval apart, a handshake's
   * requests milliseconds). Such a request goes out without the pool (`Connection: close`): kept, its
   * connection would idle until the server's keep-alive ran out (Node's: 5 s, shorter than most
   * intervals), long enough for its socket, parser and request objects to move into V8's old
   * generation and pile up there as garbage, one connection per check (docs/benchmarks.md, "Memory
   * per kept server"). Without a hint from the server, connections stay pooled.
   */
  private reuseUnlikely(): boolean {
    const now = this.opts.now ? this.opts.now() : performance.now();
    const gap = this.lastSentAt === undefined ? undefined : now - this.lastSentAt;
    this.lastSentAt = now;
    return gap !== undefined && this.serverIdleMs !== undefined && gap >= this.serverIdleMs - HINT_MARGIN_MS;
  }

  /**
   * An event-stream answer to a POST: delivers its messages, resumes the stream (GET with
   * Last-Event-ID) when the server ends or drops it after giving event ids, and fails when it ends
   * before the responses without them.
   */
  private async readResponseStream(first: IncomingMessage, requests: Set<string | number>, signal: Abandon | undefined, diag: TransportDiagnostics): Promise<void> {
    const deliver = (m: JSONRPCMessage): void => {
      if (('result' in m || 'error' in m) && 'id' in m) requests.delete(m.id as string | number);
      this.onmessage?.(m);
    };
    // Given up before its stream was read: its end may have passed already, unseen by readEvents.
    if (signal?.aborted) return void first.destroy();
    const position: StreamPosition = {};
    let res = first;
    for (let resumes = 0; ; resumes++) {
      let broken: unknown;
      try {
        await readEvents(res, this.messagesOf, deliver, undefined, position, { pending: requests, lingering: this.lingering });
      } catch (err) {
        broken = err;
      }
      if (requests.size === 0 || this.closed || signal?.aborted) return;
      // Only a stream that ended or broke can be resumed, not one the server sent garbage on; an empty
      // `id:` resets the last event id (WHATWG), leaving nothing to resume from.
      const resumable = !!position.lastEventId && resumes < MAX_RESUMES && (broken === undefined || broken instanceof SdkError);
      if (!resumable) throw broken ?? new SdkError(SdkErrorCode.ConnectionClosed, 'the event stream ended before the response');
      if (position.retryMs) {
        try {
          const ms = Math.min(position.retryMs, MAX_RETRY_WAIT_MS);
          await (this.opts.sleep ? this.opts.sleep(ms, this.closing.signal) : sleep(ms, undefined, { signal: this.closing.signal }));
        } catch {
          return; // closed while waiting: the probe is over, its deadline or its caller ended it
        }
      }
      res = await this.request('GET', 'text/event-stream', undefined, { 'last-event-id': position.lastEventId }, true, signal, diag);
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299 || !/event-stream/i.test(header(res, 'content-type') ?? '')) {
        diag.lastHttp = await observeResponse(res, this.url, 'GET', true);
        throw httpStatusError(status, `Failed to resume the event stream after event ${position.lastEventId} (HTTP ${status})`);
      }
    }
  }

  /**
   * The standalone GET stream, over which a server sends notifications (tools/list_changed) between
   * requests. Its end while the session is open is the earliest sign that the server went away.
   */
  private async openStandaloneStream(again = false): Promise<void> {
    this.standaloneEnded = false;
    let opened = false;
    /** The status the GET was answered with; undefined where no answer came (a refused or cut connection). */
    let status: number | undefined;
    try {
      const diag = (this.streamDiag ??= {});
      const res = await this.request('GET', 'text/event-stream', undefined, undefined, true, undefined, diag);
      status = res.statusCode ?? 0;
      if (status === 405) return void res.resume(); // the server offers no stream: allowed by the spec
      if (status < 200 || status > 299 || !/event-stream/i.test(header(res, 'content-type') ?? '')) {
        diag.lastHttp = await observeResponse(res, this.url, 'GET', true);
        throw httpStatusError(status, `Failed to open the standalone event stream (HTTP ${status})`);
      }
      const onStream = this.opts.onStream;
      opened = true;
      onStream?.('open');
      await readEvents(res, parseMessages, (m) => this.onmessage?.(m), onStream && (() => onStream('data')));
    } catch (err) {
      if (!this.closed && !this.ending) this.onerror?.(err as Error);
    }
    if (!this.closed && !this.ending) {
      // A stream the server gave is asked for again, and one it could not give just then: without it,
      // its tools/list_changed would never reach this session. One it refused at first for good (a
      // 4xx) would be refused at every check. A refused reopening (the SDK's 409 while it still holds
      // the stream a proxy cut on our side only, a proxy restarting) is tried again at a later check.
      const forNow = !opened && !again && status !== undefined && standaloneRetryable(status);
      this.standaloneEnded = opened || again || status === undefined || forNow;
      this.opts.onStream?.((again && !opened) || forNow ? 'refused' : 'end');
    }
  }

  /**
   * Opens the standalone stream again after it ended on a session that lives on (a proxy's idle or
   * stream timeout cuts it; the server still knows the session): without it, the server's
   * tools/list_changed would never reach this session again. A no-op while it is open or was never offered.
   */
  reopenStandaloneStream(): void {
    if (!this.standaloneEnded || this.closed || this.ending || !this.sessionId) return;
    void this.openStandaloneStream(true);
  }
}

/**
 * Whether a standalone GET refused with `status` at its first opening may be given at a later one:
 * the server could not give it just then (a 5xx, a 408 or 429 asking to come back, a 401 that a token
 * renewed by a check answers). Any other refusal says the server does not give it, as 405 says
 * plainly, and asking again at every check would change nothing.
 */
export function standaloneRetryable(status: number): boolean {
  return status >= 500 || status === 401 || status === 408 || status === 429;
}

/** A request's error once its answer came: the answer's reader reports a broken connection. */
function answeredError(): void {}

/** The answer's 'close' listener: its request is no longer open. */
function forgetOnClose(open: Set<ClientRequest>, req: ClientRequest): () => void {
  return () => void open.delete(req);
}

/**
 * How the transport gives up a request the SDK gave no signal for (send): a plain object rather than
 * an AbortController, whose listener, added and removed on every request, cost more than the rest of
 * that bookkeeping. It destroys the request it last watched, a redirect's or a retry's. `modern`: a
 * 2026-07-28 request, which closing its stream cancels.
 */
class GiveUp {
  aborted = false;
  private req: ClientRequest | undefined;

  constructor(readonly modern: boolean) {}

  watch(req: ClientRequest): void {
    this.req = req;
  }

  abort(): void {
    this.aborted = true;
    this.req?.destroy();
  }
}

/** What gives a request up: the SDK's signal, or the transport's own (GiveUp). */
type Abandon = AbortSignal | GiveUp;

/** Destroys the request when the SDK gives it up; destroying it ends its answer's stream too (readEvents sees it cut). */
function destroyOnAbort(req: ClientRequest, signal: AbortSignal): void {
  const cancel = (): void => void req.destroy();
  signal.addEventListener('abort', cancel, { once: true });
  req.once('close', () => signal.removeEventListener('abort', cancel));
}

/**
 * Reads a text/event-stream body to its end, handing each `message` event's JSON-RPC payload to
 * `deliver`. Rejects on a malformed payload (the stream is then dropped) or a broken connection.
 * `request`: a request's stream, which joins `lingering` once no response is `pending` on it, until
 * it ends (StreamableHttpTransport.lingering).
 */
function readEvents(
  res: IncomingMessage,
  parse: (text: string) => JSONRPCMessage[],
  deliver: (m: JSONRPCMessage) => void,
  onChunk?: () => void,
  position?: StreamPosition,
  request?: { pending: ReadonlySet<string | number>; lingering: Set<IncomingMessage> },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const parser = new EventStreamParser((data, event) => {
      if (event === 'message') for (const m of parse(data)) deliver(m);
    }, position);
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      request?.lingering.delete(res);
      if (err) {
        res.destroy();
        reject(err);
      } else resolve();
    };
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      onChunk?.();
      try {
        parser.push(chunk);
      } catch (err) {
        return finish(err as Error);
      }
      if (request && request.pending.size === 0 && !settled) request.lingering.add(res);
    });
    // `on`, not `once`: each `once` wraps its listener in two more objects, kept as long as the stream
    // (a kept session's, between checks); finish() settles once.
    res.on('end', () => finish());
    // An error or a 'close' without 'end': the connection broke mid-stream.
    const cut = (): void => finish(res.complete ? undefined : new SdkError(SdkErrorCode.ConnectionClosed, 'the event stream was cut off'));
    res.on('error', cut);
    res.on('close', cut);
  });
}

/** A JSON answer's body, whole; refused past MAX_MESSAGE_BYTES, and a cut-off body is a closed connection. */
async function readBody(res: IncomingMessage): Promise<string> {
  const tooLarge = (): InvalidResponse => new InvalidResponse(`response body larger than ${MAX_MIB} MiB: not an MCP message`);
  if (declaredOver(header(res, 'content-length'), MAX_MESSAGE_BYTES) !== undefined) {
    res.destroy();
    throw tooLarge();
  }
  try {
    return (await readLimited(res, MAX_MESSAGE_BYTES, 'stop')).toString('utf8');
  } catch (err) {
    if (err instanceof BodyTooLargeError) {
      res.destroy();
      throw tooLarge();
    }
    // Node's "aborted": the connection broke during the body, as readEvents reports for a stream.
    throw new SdkError(SdkErrorCode.ConnectionClosed, 'the response body was cut off');
  }
}

/** The parts of the WHATWG event-stream format MCP uses: `event`, multi-line `data`, comments. */
export class EventStreamParser {
  /** The unfinished line's pieces, joined once its end arrives (a long line costs no rescans). */
  private parts: string[] = [];
  private partChars = 0;
  /** The last chunk ended with a CR: a LF opening the next one is the rest of that CRLF. */
  private afterCr = false;
  private data: string[] = [];
  /** The current event's size as counted against MAX_MESSAGE_BYTES. */
  private dataCost = 0;
  private event = '';
  private id: string | undefined;
  private first = true;

  constructor(
    private readonly onEvent: (data: string, event: string) => void,
    /** Updated as events are dispatched, for resuming the stream. */
    private readonly position: StreamPosition = {},
  ) {}

  push(chunk: string): void {
    if (this.first && chunk) {
      this.first = false;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    let start = 0;
    if (this.afterCr) {
      this.afterCr = false;
      if (chunk.charCodeAt(0) === 10) start = 1;
    }
    // Each search runs again only once the parser has passed what it found: one pass per chunk.
    let lf = chunk.indexOf('\n', start);
    let cr = chunk.indexOf('\r', start);
    for (;;) {
      if (lf >= 0 && lf < start) lf = chunk.indexOf('\n', start);
      if (cr >= 0 && cr < start) cr = chunk.indexOf('\r', start);
      const end = cr >= 0 && (lf < 0 || cr < lf) ? cr : lf;
      if (end < 0) break;
      let line = chunk.slice(start, end);
      if (this.parts.length) {
        this.parts.push(line);
        line = this.parts.join('');
        this.parts = [];
        this.partChars = 0;
      }
      this.line(line);
      start = end + 1;
      if (end === cr) {
        if (start === chunk.length) this.afterCr = true;
        else if (chunk.charCodeAt(start) === 10) start++;
      }
    }
    if (start < chunk.length) {
      this.parts.push(start === 0 ? chunk : chunk.slice(start));
      this.partChars += chunk.length - start;
    }
    if (this.partChars + this.dataCost > MAX_MESSAGE_BYTES) {
      this.parts = [];
      this.data = [];
      throw new InvalidResponse(`server-sent event larger than ${MAX_MIB} MiB: not an MCP message`);
    }
  }

  private line(line: string): void {
    if (line === '') {
      // The id counts even for an event with empty data, which dispatches nothing (WHATWG): the
      // `id: …` + empty `data:` priming event a resumable server sends first.
      if (this.id !== undefined) this.position.lastEventId = this.id;
      const data = this.data.join('\n');
      if (data !== '') this.onEvent(data, this.event || 'message');
      this.data = [];
      this.dataCost = 0;
      this.event = '';
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' comment, e.g. a keep-alive */) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') {
      this.data.push(value);
      this.dataCost += value.length + DATA_LINE_COST;
    } else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\u0000')) this.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.position.retryMs = Number(value);
  }
}

/**
 * Headers as node:http's flat list, in the order it would send them given as an object, then the Host
 * it would add (the URL's host: the port only when not the scheme's default) and, without an agent,
 * its `Connection: close`. The list skips the
 * object form's per-header bookkeeping; node:http still validates every name and value. Only for a
 * request without configured headers or userinfo in its URL: a configured name may repeat one of
 * ours in another case, which the object form merges into one, and node:http adds the userinfo's
 * Basic credential to object headers only.
 */
function flatHeaders(headers: OutgoingHttpHeaders, host: string, agentless: boolean): string[] {
  const list: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    list.push(name, typeof value === 'number' ? String(value) : (value as string));
  }
  list.push('Host', host);
  // node:http renders a flat list at once, before it knows a request without an agent will not keep
  // its connection; given as an object, the headers would get this `Connection: close` from it.
  if (agentless) list.push('Connection', 'close');
  return list;
}

/** A new TCP connection for a request that has no agent. */
function connectWithoutAgent(options: ClientRequestArgs): Socket {
  // node:http has filled in host and port (the URL's, or the scheme's default) before it calls this.
  return createConnection(options as NetConnectOpts);
}

/** The params field a 2026-07-28 request's `Mcp-Name` header mirrors, by method. */
const MCP_NAME_SOURCE: Record<string, string> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

/**
 * The standard headers of a 2026-07-28 request, derived from its body: the revision requires
 * `MCP-Protocol-Version` and `Mcp-Method` on every request POST (and `Mcp-Name` where the method names
 * something), and servers check them against the body. A message without a modern `_meta` version
 * claim is a 2025 exchange and gets none.
 */
function modernHeaders(message: JSONRPCMessage | JSONRPCMessage[]): OutgoingHttpHeaders | undefined {
  if (Array.isArray(message) || !('method' in message) || !('id' in message)) return undefined;
  const params = message.params as { _meta?: Record<string, unknown> } & Record<string, unknown> | undefined;
  const version = params?._meta?.[PROTOCOL_VERSION_META_KEY];
  if (typeof version !== 'string') return undefined;
  const headers: OutgoingHttpHeaders = { 'mcp-protocol-version': version, 'mcp-method': message.method };
  const field = MCP_NAME_SOURCE[message.method];
  const name = field ? params?.[field] : undefined;
  if (typeof name === 'string') headers['mcp-name'] = headerValue(name);
  return headers;
}

/**
 * A value as a 2026-07-28 `Mcp-Name` or `Mcp-Param-*` header carries it: header values must be
 * visible ASCII, space or tab, without whitespace at either end (which field parsing strips); anything
 * else, and a value that looks like the sentinel itself, travels as the UTF-8 bytes in base64 between
 * `=?base64?` and `?=`.
 */
function headerValue(value: string): string {
  return plainHeaderValue(value) ? value : `=?base64?${Buffer.from(value).toString('base64')}?=`;
}

/** Where a tool's `x-mcp-header` declaration finds its argument: the `properties` keys from the schema's root. */
interface ParamDeclaration {
  header: string;
  path: string[];
}

/** An HTTP field name (RFC 9110 token): what `x-mcp-header` may name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** The schema types a header may mirror; `number` is excluded by the revision (no portable decimal form). */
const HEADER_TYPES: ReadonlySet<unknown> = new Set(['string', 'integer', 'boolean']);
/**
 * JSON Schema keywords holding subschemas that are not reached by `properties` alone: a declaration
 * under one of them makes the tool invalid. `$ref` is not followed (the revision forbids the chain to
 * pass it), and keywords holding data (`const`, `enum`, `default`, `examples`) are not schemas.
 */
const ONE_SCHEMA = new Set(['items', 'contains', 'additionalProperties', 'unevaluatedProperties', 'unevaluatedItems', 'propertyNames', 'not', 'if', 'then', 'else', 'contentSchema']);
const SCHEMA_LIST = new Set(['prefixItems', 'allOf', 'anyOf', 'oneOf']);
const SCHEMA_MAP = new Set(['patternProperties', 'dependentSchemas', '$defs', 'definitions']);

/**
 * The `x-mcp-header` declarations of a tool's inputSchema (revision 2026-07-28, Streamable HTTP), or
 * why they make the tool invalid: a name that is no HTTP token or repeats another in any case, a
 * property that is not a string, integer or boolean, or one not reached from the root through
 * `properties` keys alone. A Streamable HTTP client must drop such a tool from its tools/list.
 */
/** A property's place under the schema's root: its name and its parent's place (ROOT: the root). */
interface PathLink {
  parent: PathLink | undefined;
  name: string;
}

const ROOT: PathLink = { parent: undefined, name: '' };

function spelt(link: PathLink): string[] {
  const names: string[] = [];
  for (let at: PathLink = link; at !== ROOT && at.parent !== undefined; at = at.parent) names.push(at.name);
  return names.reverse();
}

function paramDeclarations(inputSchema: unknown): { declarations: ParamDeclaration[] } | { invalid: string } {
  const declarations: ParamDeclaration[] = [];
  const seen = new Map<string, string>();
  // `path` undefined: off the `properties` chain. A queue rather than recursion: a schema's depth is the
  // server's choice; taken in order, so a repeated name is reported on its second property.
  // A property's path is a link to its parent's, spelt out only for a declaration: copied at each
  // level, a schema a few tens of thousands of properties deep took the agent's whole heap.
  const queue: Array<{ node: unknown; path: PathLink | undefined }> = [{ node: inputSchema, path: ROOT }];
  for (let i = 0; i < queue.length; i++) {
    const { node, path: link } = queue[i]!;
    if (node === null || typeof node !== 'object' || Array.isArray(node)) continue;
    const schema = node as Record<string, unknown>;
    if (Object.hasOwn(schema, 'x-mcp-header')) {
      const path = link && spelt(link);
      const where = path?.join('.');
      if (!path || path.length === 0) return { invalid: `an x-mcp-header ${path ? 'on the schema\'s root' : 'not reached from the root through properties alone'}` };
      const header = schema['x-mcp-header'];
      if (typeof header !== 'string' || !TOKEN.test(header)) return { invalid: `property ${JSON.stringify(where)}: x-mcp-header ${JSON.stringify(header)} is not an HTTP field name` };
      if (!HEADER_TYPES.has(schema.type)) return { invalid: `property ${JSON.stringify(where)}: x-mcp-header on a property of type ${JSON.stringify(schema.type) ?? 'none'} (only string, integer and boolean)` };
      const other = seen.get(header.toLowerCase());
      if (other !== undefined) return { invalid: `x-mcp-header ${JSON.stringify(header)} on property ${JSON.stringify(where)} repeats the one on ${JSON.stringify(other)}` };
      seen.set(header.toLowerCase(), where!);
      declarations.push({ header, path });
    }
    for (const [key, value] of Object.entries(schema)) {
      if (key === 'properties' && value !== null && typeof value === 'object') {
        for (const [name, child] of Object.entries(value)) queue.push({ node: child, path: link && { parent: link, name } });
      } else if (ONE_SCHEMA.has(key)) queue.push({ node: value, path: undefined });
      else if (SCHEMA_LIST.has(key) && Array.isArray(value)) for (const child of value) queue.push({ node: child, path: undefined });
      else if (SCHEMA_MAP.has(key) && value !== null && typeof value === 'object') for (const child of Object.values(value)) queue.push({ node: child, path: undefined });
    }
  }
  return { declarations };
}

/** An argument as its header's text: strings as they are, integers in decimal, booleans as `true`/`false`; none for anything else. */
function argumentText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  // An integer past 2^53 has no exact form here (the revision bounds them to that range).
  if (typeof value === 'number' && Number.isFinite(value) && (!Number.isInteger(value) || Number.isSafeInteger(value))) return String(value);
  return undefined;
}

/**
 * The `Mcp-Param-{Name}` headers of a 2026-07-28 tools/call over Streamable HTTP, mirroring the
 * arguments the tool's inputSchema declares with `x-mcp-header` (a server checks each against the
 * body and refuses a call without them: -32020). An argument absent or null gets no header. Or why
 * the declarations make the tool one no Streamable HTTP client may call (paramDeclarations).
 */
export function toolCallHeaders(inputSchema: unknown, args: Readonly<Record<string, unknown>> | undefined): { headers: Record<string, string> } | { invalid: string } {
  const scan = paramDeclarations(inputSchema);
  if ('invalid' in scan) return scan;
  const headers: Record<string, string> = {};
  for (const { header, path } of scan.declarations) {
    let value: unknown = args;
    for (const key of path) value = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
    const text = argumentText(value);
    if (text !== undefined) headers[`Mcp-Param-${header}`] = headerValue(text);
  }
  return { headers };
}

/**
 * A request's or notification's headers with `traceparent` mirroring its `_meta.traceparent`
 * (connection.ts sets a not-sampled one on every request and notification): HTTP auto-instrumentation reads the header, not the body, and
 * would otherwise start a sampled root span for each probe.
 */
function withTraceparent(message: JSONRPCMessage | JSONRPCMessage[], headers: OutgoingHttpHeaders | undefined): OutgoingHttpHeaders | undefined {
  if (Array.isArray(message) || !('method' in message)) return headers;
  const traceparent = (message.params as { _meta?: { traceparent?: unknown } } | undefined)?._meta?.traceparent;
  if (typeof traceparent !== 'string' || !plainHeaderValue(traceparent)) return headers;
  if (!headers) return { traceparent };
  headers.traceparent = traceparent;
  return headers;
}

function plainHeaderValue(s: string): boolean {
  return s !== '' && s.trim() === s && /^[\t\x20-\x7e]*$/.test(s) && !(s.startsWith('=?base64?') && s.endsWith('?='));
}

/** A JSON-RPC error answer to request `id` in an HTTP error body, if that is what the body is. */
function jsonRpcErrorFor(body: string | undefined, id: string | number): JSONRPCMessage | undefined {
  try {
    const m = JSON.parse(body ?? '') as Record<string, unknown>;
    return m.jsonrpc === '2.0' && m.id === id && typeof m.error === 'object' && m.error !== null ? (m as unknown as JSONRPCMessage) : undefined;
  } catch {
    return undefined;
  }
}

/** The messages of one JSON body or event; a lone response's text is remembered (rememberResponseText). */
function parseMessages(text: string): JSONRPCMessage[] {
  const data: unknown = JSON.parse(text);
  const messages = toMessages(data);
  if (!Array.isArray(data)) rememberResponseText(messages[0]!, text);
  return messages;
}

/**
 * The JSON-RPC envelope check: the SDK's Client validates each result against its method's schema,
 * so a second full zod parse (and deep copy) of every message here would only cost time.
 */
function toMessages(data: unknown): JSONRPCMessage[] {
  const list: unknown[] = Array.isArray(data) ? data : [data];
  for (const m of list) {
    if (!isMessage(m)) {
      // A cut is marked where it is: a configured secret it cuts is then masked (pipeline/redact.ts).
      const shown = JSON.stringify(m) ?? String(m);
      throw new InvalidResponse(`malformed MCP message: not JSON-RPC 2.0: ${shown.length > 120 ? `${shown.slice(0, 120)}…` : shown}`);
    }
  }
  return list as JSONRPCMessage[];
}

function isMessage(m: unknown): boolean {
  if (typeof m !== 'object' || m === null) return false;
  const o = m as Record<string, unknown>;
  if (o.jsonrpc !== '2.0') return false;
  if (typeof o.method === 'string') return true;
  if (typeof o.id !== 'string' && typeof o.id !== 'number') return false;
  return (typeof o.result === 'object' && o.result !== null) || (typeof o.error === 'object' && o.error !== null);
}


class StreamableConnection extends BaseConnection {
  constructor(
    private readonly http: StreamableHttpTransport,
    private readonly diag: TransportDiagnostics,
    protocol: ProtocolMode,
  ) {
    super(new StartedTransport(http), protocol, http);
  }

  diagnostics(): TransportDiagnostics {
    return this.diag;
  }

  get sessionId(): string | undefined {
    return this.http.sessionId;
  }

  watchAgain(): void {
    this.http.reopenStandaloneStream();
  }

  /**
   * DELETE the session so probes leave none behind, then close. Under a deadline that has fired
   * (McpConnection.close) no DELETE is sent, and one under way is given up: the server's own expiry
   * ends the session, where waiting for it would outlast `health --timeout`.
   */
  protected async shutdown(deadline?: AbortSignal): Promise<void> {
    if (this.http.sessionId && !deadline?.aborted) await settlesWithin(this.http.terminateSession(), TERMINATE_MS, deadline);
    await this.http.close();
  }
}

export function streamableConnector(opts: StreamableOptions = {}): Connector {
  return async (server: ServerConfig) => {
    const diag: TransportDiagnostics = {};
    const auth = credentialsFor(server)?.forConnection(diag);
    const conn = new StreamableConnection(new StreamableHttpTransport(new URL(server.url!), server, diag, auth ? { ...opts, auth } : opts), diag, server.protocol);
    await conn.transport.start();
    return conn;
  };
}

export const streamableHttpTransport: TransportKind = {
  connect: streamableConnector(),
  keep: ({ onStream }) => streamableConnector({ notifications: true, onStream }),
  processBound: false,
  staleAfter: () => undefined,
};
