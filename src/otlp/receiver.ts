// otlp/ owns the passive receiver: the OTLP gRPC and HTTP servers (this file), request decoding and
// MCP span recognition. It turns bytes into observations and nothing more: metric instruments belong
// to export/ and pipeline/, probing to probe/, forwarding to export/forwarder.ts; nothing here may
// create either. Names shared with the forwarder (signals, paths, content types) live in wire/.
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { timingSafeEqual } from 'node:crypto';
import { getHeapStatistics } from 'node:v8';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { Http2Server, Http2Session } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs/minimal.js';
import { parseListen, type Config } from '../config/schema.js';
import type { ReceiverProtocol, Recorder, RefusalReason } from '../export/recorder.js';
import { listen } from '../export/telemetry.js';
import { decodeTraceRequest, OtlpDecodeError, SPAN_KIND_CLIENT, SPAN_KIND_SERVER, type DecodedSpan, type DecodeResult } from './decode.js';
import { decodeParsedTraceRequest, parseJsonRequest } from './json.js';
import { checkRequest } from './validate.js';
import { jsonTextWithoutSpans, jsonWithoutSpans, protobufWithoutSpans } from './accepted.js';
import { recogniseSpan, type Observation, type ServerResolver } from './recognise.js';
import { CallPairing, type SpanOrigin } from './pairing.js';
import { declaredOver } from '../wire/http.js';
import { GRPC_EXPORT_PATH, httpExportPath, JSON_REJECTED_FIELD, mediaType as mediaTypeOf, OTLP_SIGNALS, otlpContentType, type OtlpContentType, type OtlpSignal } from '../wire/otlp.js';
import { grpcServerCredentials, httpsServerOptions } from '../wire/tls.js';

type OtlpReceiversConfig = NonNullable<Config['receivers']['otlp']>;
type ProtocolConfig = NonNullable<OtlpReceiversConfig['grpc']>;

interface ReceiverDeps {
  recorder: Recorder;
  resolveServer?: ServerResolver;
  /**
   * Where recognised MCP operations go (the agent: pipeline/traffic.ts decides their labels), each
   * call once (otlp/pairing.ts): a server's span that waits for its client's arrives later, alone.
   */
  traffic?: (obs: Observation, origin: SpanOrigin) => void;
  /**
   * Hands the (decompressed) request on to the backend; `parsed` is the body as JSON when the
   * receiver has parsed it. A body still to be written is a function, called only when the backend
   * takes the body as it is (a gRPC backend re-encodes `parsed` instead). Returns why the backend
   * cannot take it at all (JSON that cannot be re-encoded for a gRPC backend), which the sender is
   * told as bad input.
   */
  forward?: (signal: OtlpSignal, body: Buffer | (() => Buffer), contentType: OtlpContentType, parsed?: unknown) => string | undefined;
  log?: { warn(obj: object, msg: string): void; debug(obj: object, msg: string): void };
  /** JavaScript heap in use now, in bytes (tests inject it). */
  memoryUsage?: () => number;
  /** How long a request may take to arrive whole (REQUEST_TIMEOUT_MS; tests shorten it). */
  requestTimeoutMs?: number;
}

export interface ReceiverAddresses {
  grpc?: AddressInfo;
  http?: AddressInfo;
}

/** The outcome of one export request, independent of the protocol that carried it. */
type Handled =
  | { ok: true; rejected: number; message?: string }
  | { ok: false; reason: RefusalReason; message: string };

const MIB = 1024 * 1024;
/**
 * How long a request may take to arrive whole, on either protocol. An admitted request holds its
 * share of max_in_flight_mib until then: without a bound, a few calls that never finish their
 * message held the whole budget, and every sender was refused.
 */
const REQUEST_TIMEOUT_MS = 30_000;
/**
 * How long an idle HTTP connection is kept open for the sender's next export. Node's default (5 s)
 * is the schedule of the SDKs' batch span processors: an export sent as the server closed the
 * connection it was written on failed with ECONNRESET. Longer than a minute, the usual idle timeout
 * of clients and load balancers, so that it is the sender that lets an idle connection go.
 */
const HTTP_KEEP_ALIVE_MS = 65_000;
/** How long an SDK should wait after a memory-limit refusal (HTTP Retry-After). */
const RETRY_AFTER_S = 5;
/** grpc-js refuses larger messages before our handler runs; ours answers (and counts) up to here. */
const GRPC_HARD_FACTOR = 2;
/** After max_connection_age, how long the calls in flight get before the connection is cut. */
const CONNECTION_AGE_GRACE_MS = 30_000;

/** HTTP/2's initial flow-control window, per stream and per connection (RFC 9113 §6.9.2). */
const HTTP2_DEFAULT_WINDOW = 65_535;
const HTTP2_MAX_WINDOW = 2 ** 31 - 1;

const identity = (b: Buffer): Buffer => b;

/** How often server spans whose wait for their client's is over are counted. */
const PAIRING_SWEEP_MS = 500;

/** gRPC declares no length up front: a call reserves the largest message grpc-js would take. */
function grpcReserve(cfg: ProtocolConfig): number {
  return Math.floor(cfg.max_recv_msg_size_mib * MIB) * GRPC_HARD_FACTOR;
}

/**
 * The flow-control window the gRPC receiver advertises, per stream and per connection: room for one
 * message of the largest accepted size. grpc-js keeps HTTP/2's 64 KiB default and, unlike grpc-go, has
 * no BDP probing to grow it, so a 200 KB export waited for several WINDOW_UPDATE round trips and
 * concurrent exporters on one connection shared 64 KiB. The window bounds nothing here: grpc-js reads
 * every message whole into memory anyway, and `limit_mib` / `max_recv_msg_size` are what bound that.
 */
/**
 * grpc-js wraps the socket's error in its own words ("No address added out of total 1 resolved
 * errors: [listen EADDRINUSE: …]"): said as the HTTP receiver says it (export/telemetry.ts listen).
 */
function bindFailure(err: Error): string {
  if (err.message.includes('EADDRINUSE')) return 'address already in use';
  if (err.message.includes('EACCES')) return 'permission denied';
  return err.message;
}

function grpcWindowBytes(maxBytes: number): number {
  return Math.min(HTTP2_MAX_WINDOW, Math.max(HTTP2_DEFAULT_WINDOW, maxBytes + 5));
}

/**
 * The passive receiver: OTLP/gRPC and OTLP/HTTP on their own listeners. Traces are decoded (only the
 * fields MCP recognition needs) and turned into tool-call metrics; metrics and logs are not decoded,
 * only checked to be requests of their signal (validate.ts).
 * Every accepted request is forwarded unchanged, except that spans rejected in a partial success are
 * left out (accepted.ts). Bad input is answered with INVALID_ARGUMENT / 400,
 * memory pressure with UNAVAILABLE / 503 + Retry-After so SDKs retry; nothing here is fatal.
 */
export class OtlpReceiver {
  private grpcServer: grpc.Server | undefined;
  private httpServer: HttpServer | undefined;
  private memorySampler: NodeJS.Timeout | undefined;
  private pairingSweep: NodeJS.Timeout | undefined;
  /** Counts each MCP call once however many of its spans arrive; undefined without a traffic sink. */
  private readonly pairing: CallPairing | undefined;
  private overLimit = false;
  private readonly memoryUsage: () => number;
  /** The heap in use at the last sample. */
  private heap = 0;
  /** Bytes admitted and not yet answered, across every request of both protocols. */
  private inFlight = 0;
  /** What admission reserves for the largest request of the configured protocols. */
  private readonly largestRequest: number;
  private readonly requestTimeoutMs: number;

  constructor(
    private readonly cfg: OtlpReceiversConfig,
    private readonly deps: ReceiverDeps,
  ) {
    this.memoryUsage = deps.memoryUsage ?? (() => getHeapStatistics().used_heap_size);
    this.requestTimeoutMs = deps.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    const traffic = deps.traffic;
    this.pairing = traffic && new CallPairing(cfg.server_span_wait, { count: traffic, duplicate: () => deps.recorder.duplicateSpan() });
    this.largestRequest = Math.max(cfg.grpc ? grpcReserve(cfg.grpc) : 0, cfg.http ? Math.floor(cfg.http.max_recv_msg_size_mib * MIB) : 0);
  }

  /**
   * Why the receiver refuses requests now (for /readyz), or undefined while it accepts them: memory
   * pressure, or an in-flight budget without room for the largest request it takes. The latter is
   * what held partial requests do: every gRPC call was refused while /readyz still said ready.
   */
  refusing(): string | undefined {
    if (this.overLimit) return this.overLimitMessage();
    if (this.inFlight + this.largestRequest > this.cfg.max_in_flight_mib * MIB) return this.inFlightMessage();
    return undefined;
  }

  /**
   * Admission: reserves `bytes` of the in-flight budget, or says why not. Memory pressure is what is
   * really held, the heap in use plus the bytes of requests in flight, not RSS, which does not come
   * down after a burst and kept refusing every request for good. The reservation grows as a request's
   * bytes arrive (`take`): an HTTP body holds its share only once it is in memory.
   */
  private admit(bytes: number): Reservation | { refused: string } {
    const refused = this.noRoom(bytes);
    if (refused !== undefined) return { refused };
    this.inFlight += bytes;
    let held = bytes;
    let released = false;
    return {
      take: (more) => {
        // The request's answer is gone (its connection closed): a decompressor still running
        // would otherwise count bytes that nothing gives back.
        if (released) return { status: 400, message: 'the connection closed before the body was read' };
        const why = this.noRoom(more);
        if (why !== undefined) return { status: 503, message: why };
        this.inFlight += more;
        held += more;
        return undefined;
      },
      giveBack: (less) => {
        const back = Math.min(less, held);
        this.inFlight -= back;
        held -= back;
      },
      release: () => {
        this.inFlight -= held;
        held = 0;
        released = true;
      },
    };
  }

  /** Why `bytes` more cannot be taken into memory now, or undefined when they can. */
  private noRoom(bytes: number): string | undefined {
    if (this.overLimit || this.heap + this.inFlight + bytes > this.cfg.limit_mib * MIB) return this.overLimitMessage();
    if (this.inFlight + bytes > this.cfg.max_in_flight_mib * MIB) return this.inFlightMessage();
    return undefined;
  }

  async start(): Promise<ReceiverAddresses> {
    const addresses: ReceiverAddresses = {};
    // Sampled, not read per request: RSS is a syscall, and a refusal a few ms late is harmless.
    this.sampleMemory();
    this.memorySampler = setInterval(() => this.sampleMemory(), 250);
    this.memorySampler.unref();
    if (this.pairing) {
      const pairing = this.pairing;
      this.pairingSweep = setInterval(() => pairing.expire(performance.now()), PAIRING_SWEEP_MS);
      this.pairingSweep.unref();
    }
    try {
      if (this.cfg.grpc) {
        addresses.grpc = await this.startGrpc(this.cfg.grpc);
        this.deps.recorder.receiverStarted('grpc');
      }
      if (this.cfg.http) {
        addresses.http = await this.startHttp(this.cfg.http);
        this.deps.recorder.receiverStarted('http');
      }
    } catch (err) {
      await this.shutdown();
      throw err;
    }
    return addresses;
  }

  async shutdown(): Promise<void> {
    clearInterval(this.memorySampler);
    clearInterval(this.pairingSweep);
    const grpcServer = this.grpcServer;
    this.grpcServer = undefined;
    if (grpcServer) {
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => (grpcServer.forceShutdown(), resolve()), 1000);
        grpcServer.tryShutdown(() => (clearTimeout(force), resolve()));
      });
    }
    const http = this.httpServer;
    this.httpServer = undefined;
    if (http) {
      // As gRPC above: uploads under way get a second to finish, idle connections go at once, and
      // a client that stopped sending half-way does not hold the agent's last export behind it.
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => (http.closeAllConnections(), resolve()), 1000);
        http.close(() => (clearTimeout(force), resolve()));
        http.closeIdleConnections();
      });
    }
    // Server spans still waiting for their client's are counted now, alone, rather than never.
    this.pairing?.drain(performance.now());
  }

  private sampleMemory(): void {
    this.heap = this.memoryUsage();
    this.overLimit = this.heap + this.inFlight > this.cfg.limit_mib * MIB;
  }

  /** The protocol-independent core: limits, decoding, recognition, forwarding. */
  private handle(protocol: ReceiverProtocol, signal: OtlpSignal, body: Buffer, contentType: OtlpContentType, maxBytes: number): Handled {
    const { recorder } = this.deps;
    if (this.overLimit) return { ok: false, reason: 'memory_limit', message: this.overLimitMessage() };
    if (body.length > maxBytes) return { ok: false, reason: 'too_large', message: `request of ${body.length} bytes exceeds max_recv_msg_size_mib (${maxBytes} bytes)` };
    let decoded: DecodeResult | undefined;
    let parsed: unknown;
    try {
      if (signal !== 'traces') ({ parsed } = checkRequest(signal, body, contentType));
      else if (contentType === 'application/json') decoded = decodeParsedTraceRequest((parsed = parseJsonRequest(body)));
      else decoded = decodeTraceRequest(body);
    } catch (err) {
      if (err instanceof OtlpDecodeError) return { ok: false, reason: err.code === 'OTLP_TOO_MANY_ENTRIES' ? 'too_large' : 'invalid', message: err.message };
      throw err;
    }
    // Before anything is counted: a request the backend cannot take is refused whole.
    const unforwardable = this.forward(signal, body, contentType, parsed, decoded);
    if (unforwardable !== undefined) return { ok: false, reason: 'invalid', message: unforwardable };
    let rejected = 0;
    let message: string | undefined;
    if (decoded) {
      rejected = decoded.rejected;
      message = decoded.rejectionMessage;
      recorder.spansAccepted(protocol, decoded.spans.length);
      recorder.spansRefused(protocol, 'invalid', rejected);
      if (this.pairing) this.recognise(decoded.spans, this.pairing);
    }
    return { ok: true, rejected, message };
  }

  /**
   * Hands the request to the forwarder as it came, or, when some of its spans were rejected, with
   * only the spans accepted (accepted.ts); one whose every span was rejected is not forwarded.
   */
  private forward(signal: OtlpSignal, body: Buffer, contentType: OtlpContentType, parsed: unknown, decoded: DecodeResult | undefined): string | undefined {
    const forward = this.deps.forward;
    if (!forward) return undefined;
    const rejected = decoded?.rejectedSpans;
    if (!rejected) return forward(signal, body, contentType, parsed);
    if (decoded.spans.length === 0) return undefined;
    if (contentType === 'application/x-protobuf') return forward(signal, protobufWithoutSpans(body, rejected), contentType);
    const accepted = jsonWithoutSpans(parsed, rejected);
    return forward(signal, () => jsonTextWithoutSpans(body, rejected) ?? Buffer.from(JSON.stringify(accepted)), contentType, accepted);
  }

  /**
   * The MCP spans of one request, to be counted once per call. Client spans go first, then server
   * spans, then the rest: when a request holds several spans of one call, the client's is the one
   * counted, and a server's own spans inside a call wait with its server span.
   */
  private recognise(spans: readonly DecodedSpan[], pairing: CallPairing): void {
    const now = performance.now();
    let later: Array<[Observation, DecodedSpan]> | undefined;
    for (const span of spans) {
      const obs = recogniseSpan(span, this.deps.resolveServer);
      if (!obs) continue;
      if (span.kind === SPAN_KIND_CLIENT) pairing.add(obs, span, now);
      else (later ??= []).push([obs, span]);
    }
    if (!later) return;
    for (const [obs, span] of later) if (span.kind === SPAN_KIND_SERVER) pairing.add(obs, span, now);
    for (const [obs, span] of later) if (span.kind !== SPAN_KIND_SERVER) pairing.add(obs, span, now);
  }

  private refuse(protocol: ReceiverProtocol, signal: OtlpSignal, reason: RefusalReason, message: string): void {
    this.deps.recorder.receiverRequest(protocol, signal, 'refused');
    this.deps.recorder.spansRefused(protocol, reason, 1);
    this.deps.log?.debug({ protocol, signal, reason, message }, 'OTLP request refused');
  }

  // ---- gRPC ------------------------------------------------------------------------------------

  private async startGrpc(cfg: ProtocolConfig): Promise<AddressInfo> {
    const maxBytes = Math.floor(cfg.max_recv_msg_size_mib * MIB);
    const server = new grpc.Server({
      'grpc.max_receive_message_length': maxBytes * GRPC_HARD_FACTOR,
      'grpc.max_send_message_length': 4 * MIB,
      // One connection may not hold more than this many calls, each up to a message's size.
      'grpc.max_concurrent_streams': this.cfg.max_concurrent_streams,
      'grpc.max_connection_idle_ms': this.cfg.max_connection_idle,
      'grpc.max_connection_age_ms': this.cfg.max_connection_age,
      'grpc.max_connection_age_grace_ms': CONNECTION_AGE_GRACE_MS,
      interceptors: [this.grpcAdmission(cfg)],
    });
    for (const signal of OTLP_SIGNALS) {
      const definition: grpc.ServiceDefinition = {
        Export: { path: GRPC_EXPORT_PATH[signal], requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity, originalName: 'Export' },
      };
      server.addService(definition, { Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => this.onGrpc(signal, cfg, maxBytes, call, callback) });
    }
    const { host, port } = parseListen(cfg.endpoint)!;
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpcCredentials(cfg), (err, p) =>
        err ? reject(new Error(`receivers.otlp.grpc.endpoint: cannot listen on ${cfg.endpoint}: ${bindFailure(err)}`)) : resolve(p),
      ),
    );
    this.grpcServer = server;
    this.widenGrpcWindows(server, grpcWindowBytes(maxBytes));
    return { address: host, family: host.includes(':') ? 'IPv6' : 'IPv4', port: bound };
  }

  /**
   * grpc-js has no option for the server's HTTP/2 window, so each session it accepts gets one here,
   * through the `http2Servers` map it keeps (not public API). If a grpc-js upgrade drops that map, the
   * receiver keeps working at the default window, a warning says so, and the test that checks the
   * advertised window fails.
   */
  private widenGrpcWindows(server: grpc.Server, window: number): void {
    const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
    const h2s = servers instanceof Map ? ([...servers.keys()] as unknown[]) : [];
    if (h2s.length === 0 || !h2s.every((h2) => typeof (h2 as Http2Server | undefined)?.on === 'function')) {
      this.deps.log?.warn({ window }, 'cannot set the gRPC receiver\'s HTTP/2 window (grpc-js internals changed); ingest will be slower');
      return;
    }
    for (const h2 of h2s as Http2Server[]) {
      h2.on('session', (session: Http2Session) => {
        try {
          session.settings({ initialWindowSize: window });
          session.setLocalWindowSize(window);
        } catch (err) {
          // A session that is already closing refuses new settings; there is nothing to widen.
          this.deps.log?.debug({ err: (err as Error).message }, 'HTTP/2 window not set on a closing session');
        }
      });
    }
  }

  /**
   * Admission on the call's metadata, before grpc-js reads a byte of its message: the stream stays
   * paused until the handler asks for the message, so a call refused here (no or wrong token, memory
   * pressure) costs no buffer. Without this, grpc-js read whole messages of unauthenticated callers.
   * An admitted call whose message has not arrived within the request timeout is ended, as HTTP's
   * requestTimeout ends a request: grpc-js shows no bytes before the whole message, so the call
   * holds its reservation until then, and calls that never finished held it until
   * max_connection_age.
   */
  private grpcAdmission(cfg: ProtocolConfig): grpc.ServerInterceptor {
    const reserve = grpcReserve(cfg);
    return (method, call) => {
      const signal = OTLP_SIGNALS.find((s) => GRPC_EXPORT_PATH[s] === method.path) ?? 'traces';
      let timer: NodeJS.Timeout | undefined;
      let held: (() => void) | undefined;
      const release = (): void => {
        clearTimeout(timer);
        held?.();
        held = undefined;
      };
      const late = (): void => {
        const message = `the request did not arrive whole within ${this.requestTimeoutMs / 1000} s`;
        this.refuse('grpc', signal, 'invalid', message);
        call.sendStatus({ code: grpc.status.DEADLINE_EXCEEDED, details: message });
      };
      return new grpc.ServerInterceptingCall(call, {
        start: (next) =>
          next(
            new grpc.ServerListenerBuilder()
              .withOnReceiveMetadata((metadata, proceed) => {
                if (cfg.auth && !bearerMatches(metadata.get('authorization')[0], cfg.auth.bearer_token)) {
                  this.refuse('grpc', signal, 'unauthorized', 'missing or wrong bearer token');
                  call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong bearer token' });
                  return;
                }
                const admitted = this.admit(reserve);
                if ('refused' in admitted) {
                  this.refuse('grpc', signal, 'memory_limit', admitted.refused);
                  call.sendStatus({ code: grpc.status.UNAVAILABLE, details: admitted.refused });
                  return;
                }
                held = admitted.release;
                timer = setTimeout(late, this.requestTimeoutMs);
                proceed(metadata);
              })
              .withOnReceiveMessage((message, next) => {
                clearTimeout(timer);
                next(message);
              })
              .withOnCancel(() => release())
              .build(),
          ),
        sendStatus: (status, next) => {
          release();
          next(status);
        },
      });
    };
  }

  private inFlightMessage(): string {
    return `mcpwatch has ${this.cfg.max_in_flight_mib} MiB of requests in flight (max_in_flight_mib); retry later`;
  }

  private overLimitMessage(): string {
    return `mcpwatch is over its memory limit (${this.cfg.limit_mib} MiB); retry later`;
  }

  private onGrpc(signal: OtlpSignal, cfg: ProtocolConfig, maxBytes: number, call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>): void {
    let result: Handled;
    try {
      result = this.handle('grpc', signal, call.request, 'application/x-protobuf', maxBytes);
    } catch (err) {
      this.deps.log?.warn({ err, signal }, 'OTLP request failed');
      callback({ code: grpc.status.INTERNAL, details: 'internal error' });
      return;
    }
    if (!result.ok) {
      this.refuse('grpc', signal, result.reason, result.message);
      const code = result.reason === 'memory_limit' ? grpc.status.UNAVAILABLE : result.reason === 'too_large' ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.INVALID_ARGUMENT;
      callback({ code, details: result.message });
      return;
    }
    this.deps.recorder.receiverRequest('grpc', signal, 'accepted');
    callback(null, encodeResponse(result.rejected, result.message));
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private async startHttp(cfg: ProtocolConfig): Promise<AddressInfo> {
    const maxBytes = Math.floor(cfg.max_recv_msg_size_mib * MIB);
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.onHttp(cfg, maxBytes, req, res, false);
    const server = cfg.tls ? createHttpsServer(httpsServerOptions('receivers.otlp.http.tls', cfg.tls), handler) : createHttpServer(handler);
    // Without it Node answers `100 Continue` at once, and a sender was told to send a body that was
    // then refused (401, 413, 415, 503) after it had been sent.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => void this.onHttp(cfg, maxBytes, req, res, true));
    server.requestTimeout = this.requestTimeoutMs;
    server.keepAliveTimeout = HTTP_KEEP_ALIVE_MS;
    const { host, port } = parseListen(cfg.endpoint)!;
    await listen(server, host, port, 'receivers.otlp.http.endpoint');
    this.httpServer = server;
    return server.address() as AddressInfo;
  }

  /**
   * `expectsContinue`: the sender waits for `100 Continue` before it sends the body, which it gets
   * only once every check that can be made on the head has passed. A refusal instead closes the
   * connection: whether the sender then sends the body anyway is unknown, and the next request on
   * it would be read from the middle of that body.
   */
  private async onHttp(cfg: ProtocolConfig, maxBytes: number, req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    if (expectsContinue) res.setHeader('connection', 'close');
    const path = (req.url ?? '/').split('?')[0]!;
    const signal = OTLP_SIGNALS.find((s) => path === httpExportPath(s));
    if (!signal) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('mcpwatch receives OTLP on /v1/traces, /v1/metrics and /v1/logs\n');
    if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain' }).end('use POST\n');
    const mediaType = mediaTypeOf(req.headers['content-type']);
    const contentType = otlpContentType(mediaType);
    const fail = (status: number, reason: RefusalReason, message: string, headers: Record<string, string> = {}): void => {
      this.refuse('http', signal, reason, message);
      sendStatus(res, status, contentType ?? 'application/json', message, headers);
    };
    if (cfg.auth && !bearerMatches(req.headers.authorization, cfg.auth.bearer_token)) {
      return fail(401, 'unauthorized', 'missing or wrong bearer token', { 'www-authenticate': 'Bearer realm="mcpwatch"' });
    }
    if (!contentType) return fail(415, 'invalid', `unsupported content type "${mediaType || 'none'}": use application/x-protobuf or application/json`);
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'gzip' && encoding !== 'identity') return fail(415, 'invalid', `unsupported content encoding "${encoding}": use gzip or none`);
    const declared = declaredOver(req.headers['content-length'], maxBytes);
    if (declared !== undefined) {
      req.resume();
      return fail(413, 'too_large', `request of ${declared} bytes exceeds max_recv_msg_size_mib (${maxBytes} bytes)`);
    }
    // Nothing is reserved before a byte arrives, only room looked for: reserving the declared length
    // let senders that declare large bodies and trickle them hold the whole budget, and every
    // request on both protocols was refused until their request timeout. A body that cannot fit
    // now is refused before it is read all the same.
    const length = Number(req.headers['content-length']);
    const noRoom = this.noRoom(Number.isInteger(length) && length > 0 ? length : 0);
    const admitted = noRoom === undefined ? this.admit(0) : { refused: noRoom };
    if ('refused' in admitted) {
      req.resume();
      return fail(503, 'memory_limit', admitted.refused, { 'retry-after': String(RETRY_AFTER_S) });
    }
    res.once('close', admitted.release);
    if (expectsContinue) {
      res.removeHeader('connection');
      res.writeContinue();
    }
    let body: Buffer;
    try {
      body = await readReserved(req, maxBytes, admitted, 'request body', 'drain');
      if (encoding === 'gzip') {
        const compressed = body.length;
        body = await readReserved(createGunzip().end(body), maxBytes, admitted, 'decompressed body', 'destroy');
        admitted.giveBack(compressed);
      }
    } catch (err) {
      const e = err as BodyError;
      const status = e.status ?? 400;
      return fail(status, status === 413 ? 'too_large' : status === 503 ? 'memory_limit' : 'invalid', e.message, status === 503 ? { 'retry-after': String(RETRY_AFTER_S) } : {});
    }
    let result: Handled;
    try {
      result = this.handle('http', signal, body, contentType, maxBytes);
    } catch (err) {
      this.deps.log?.warn({ err, signal }, 'OTLP request failed');
      return void sendStatus(res, 500, contentType, 'internal error');
    }
    if (!result.ok) {
      const status = result.reason === 'memory_limit' ? 503 : result.reason === 'too_large' ? 413 : 400;
      return fail(status, result.reason, result.message, status === 503 ? { 'retry-after': String(RETRY_AFTER_S) } : {});
    }
    this.deps.recorder.receiverRequest('http', signal, 'accepted');
    if (contentType === 'application/json') {
      const partial = result.rejected > 0 ? { partialSuccess: { [JSON_REJECTED_FIELD[signal]]: String(result.rejected), errorMessage: result.message ?? '' } } : {};
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(partial));
    } else {
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(encodeResponse(result.rejected, result.message));
    }
  }
}

interface BodyError extends Error {
  status?: number;
}

function bodyError(status: number, message: string): BodyError {
  return Object.assign(new Error(message), { status });
}

/** A request's share of the in-flight budget (OtlpReceiver.admit). */
interface Reservation {
  /** Takes `bytes` more, or says why not (and takes nothing): no room (503), or released (400). */
  take(bytes: number): { status: number; message: string } | undefined;
  /** Gives back `bytes` the request no longer holds. */
  giveBack(bytes: number): void;
  release(): void;
}

/**
 * A stream's bytes, each chunk reserved as it arrives, so a body holds its share of the budget only
 * once it is in memory. Past `max` the answer is 413, past the budget 503 (the request that would
 * grow past it is the one refused: what is held stays bounded). A request's rest is then read and
 * discarded, never held, so its connection stays usable (`drain`); a decompressor is stopped
 * (`destroy`). Its own errors (a connection cut, broken gzip) are 400.
 */
function readReserved(source: Readable, max: number, reservation: Reservation, what: 'request body' | 'decompressed body', onRefused: 'drain' | 'destroy'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (err?: BodyError): void => {
      if (settled) return;
      settled = true;
      source.off('data', onData);
      if (!err) return resolve(Buffer.concat(chunks, size));
      chunks.length = 0;
      reservation.giveBack(size);
      if (onRefused === 'destroy') source.destroy();
      else source.resume();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      if (size + chunk.length > max) return settle(bodyError(413, `${what} exceeds max_recv_msg_size_mib (${max} bytes)`));
      const refused = reservation.take(chunk.length);
      if (refused !== undefined) return settle(bodyError(refused.status, refused.message));
      chunks.push(chunk);
      size += chunk.length;
    };
    source.on('data', onData);
    source.once('end', () => settle());
    const failed = (message: string): BodyError => bodyError(400, what === 'request body' ? `reading the request failed: ${message}` : `invalid gzip body: ${message}`);
    source.on('error', (err) => settle(failed(err.message)));
    // A connection cut mid-body can end in 'close' alone: that is a failure, never a short body.
    source.once('close', () => settle(source.readableEnded ? undefined : failed('the body was cut off')));
  });
}

/** Export*ServiceResponse: empty, or `partial_success` (field 1) with the rejected count and why. */
function encodeResponse(rejected: number, message: string | undefined): Buffer {
  if (rejected <= 0) return Buffer.alloc(0);
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).fork();
  w.uint32((1 << 3) | 0).int64(rejected);
  if (message) w.uint32((2 << 3) | 2).string(message);
  w.ldelim();
  return Buffer.from(w.finish());
}

/** An error body as google.rpc.Status in the request's encoding, as OTLP/HTTP specifies. */
function sendStatus(res: ServerResponse, status: number, contentType: OtlpContentType, message: string, headers: Record<string, string> = {}): void {
  const code = status === 503 ? 14 : status === 413 ? 8 : status === 401 ? 16 : status >= 500 ? 13 : 3;
  let body: Buffer | string;
  if (contentType === 'application/x-protobuf') {
    const w = protobuf.Writer.create();
    w.uint32((1 << 3) | 0).int32(code);
    w.uint32((2 << 3) | 2).string(message);
    body = Buffer.from(w.finish());
  } else {
    body = JSON.stringify({ code, message });
  }
  res.writeHead(status, { 'content-type': contentType, ...headers }).end(body);
}

/**
 * The scheme is matched in any case (RFC 9110 §11.1: `bearer`, `BEARER` are the same scheme) and may
 * be followed by several spaces (RFC 6750 §2.1: 1*SP); only the token is secret, so only it is
 * compared in constant time.
 */
function bearerMatches(header: unknown, token: string): boolean {
  if (typeof header !== 'string') return false;
  const scheme = /^bearer +/i.exec(header);
  if (!scheme) return false;
  const got = Buffer.from(header.slice(scheme[0].length));
  const expected = Buffer.from(token);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

function grpcCredentials(cfg: ProtocolConfig): grpc.ServerCredentials {
  return cfg.tls ? grpcServerCredentials(grpc, 'receivers.otlp.grpc.tls', cfg.tls) : grpc.ServerCredentials.createInsecure();
}
