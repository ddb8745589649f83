// The OTLP forwarder: hands requests the receiver accepted on to the user's backend
// (`exporters.otlp`) byte for byte, over OTLP/gRPC or OTLP/HTTP. It owns a bounded queue measured in
// bytes and the retry policy; it never decodes, re-encodes or creates metric instruments (the
// self-metrics go through the hooks the caller passes in).
//
// Decisions worth knowing before changing anything here:
// - gRPC carries protobuf only, so a JSON body bound for a gRPC backend is re-encoded when it is
//   queued (transcode.ts): the one place where "unchanged" means the same data, not the same bytes.
//   One that cannot be (not JSON, a value of the wrong type) is refused to the sender as bad input
//   when it comes through the receiver (admit), and dropped as `unsupported` otherwise. An HTTP
//   backend gets JSON as JSON.
// - Requests stay in the queue until the backend has answered, so a long outage fills the queue and
//   then the OLDEST requests go first; in-flight requests are cancelled when they are the oldest.
// - A backend's partial_success is a success for the queue (retrying would be rejected again) and a
//   warning for the user, at most once a minute per signal with the counts in between.
// - Back-off is one shared state, not per request: after a retryable failure nothing is sent until
//   the back-off ends, then the oldest request is retried alone, and full concurrency returns with
//   the first success. An outage therefore costs one attempt per back-off period, not one per
//   queued request, and recovery preserves the order.

import * as grpc from '@grpc/grpc-js';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Agent } from 'undici';
import { parseRetryAfter, readCapped } from '../wire/http.js';
import { GRPC_EXPORT_PATH, JSON_REJECTED_FIELD, type OtlpContentType, type OtlpSignal } from '../wire/otlp.js';
import { clientTlsOptions, grpcChannelCredentials } from '../wire/tls.js';
import { VERSION } from '../wire/version.js';
import { encodeParsedRequest, jsonToProtobuf, TranscodeError } from './transcode.js';
import { otlpBackend, otlpHttpUrl } from './telemetry.js';
import protobuf from 'protobufjs/minimal.js';

// protobufjs is CommonJS and assigns Reader at run time, which Node's ESM named exports cannot see.
const { Reader } = protobuf;

/**
 * Why a request was dropped. `queue_full` and `permanent_error` are the documented labels;
 * `unsupported` (JSON that could not be re-encoded for a gRPC backend) and `shutdown` (left over
 * when shutdown's time ran out, or enqueued after it began) keep those two honest.
 */
export type ForwarderDropReason = 'queue_full' | 'permanent_error' | 'unsupported' | 'shutdown';

/** Self-metric callbacks; each is optional so the caller maps only what it records. */
export interface ForwarderHooks {
  /** The backend accepted one request (partial success included: its rejections are not retryable). */
  sent(signal: OtlpSignal): void;
  /** One attempt failed; every retry counts again. */
  failed(signal: OtlpSignal): void;
  dropped(signal: OtlpSignal, reason: ForwarderDropReason): void;
  /** Bytes now held in the queue (including requests in flight), after every change. */
  queueBytes(bytes: number): void;
}

/** The pino-shaped logger the receiver also takes. */
interface ForwarderLog {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** The `exporters.otlp` settings the forwarder reads; the parsed config section fits as is. */
export interface ForwarderConfig {
  endpoint: string;
  protocol: 'grpc' | 'http/protobuf';
  headers?: Record<string, string>;
  /** How requests travel to the backend (decompressed, they are the bytes received); default gzip. */
  compression?: 'gzip' | 'none';
  tls?: {
    insecure?: boolean;
    ca_file?: string | undefined;
    cert_file?: string | undefined;
    key_file?: string | undefined;
    insecure_skip_verify?: boolean;
  };
  /** Deadline of one attempt, in milliseconds. */
  timeout?: number;
  queue_size_mib?: number;
}

export interface ForwarderOptions {
  hooks?: Partial<ForwarderHooks>;
  log?: ForwarderLog;
  /** Requests in flight at once while the backend is healthy. */
  concurrency?: number;
  /** First back-off after a retryable failure; doubles per consecutive failure. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** ±fraction of each back-off, so many agents do not retry in step. */
  jitter?: number;
  /** For tests: a fixed random source makes the jitter predictable. */
  random?: () => number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_QUEUE_SIZE_MIB = 64;
const DEFAULT_CONCURRENCY = 4;
const DEFAULT_INITIAL_BACKOFF_MS = 500;
const DEFAULT_MAX_BACKOFF_MS = 30_000;
/** A Retry-After / RetryInfo is honoured up to here; beyond it the backend is more likely confused. */
const MAX_SERVER_DELAY_MS = 300_000;
const MIB = 1024 * 1024;
/**
 * What an entry is charged at least: its bookkeeping outlives an empty body, and a flood of empty
 * requests must still fill the queue rather than grow it without bound.
 */
const MIN_ENTRY_COST = 64;
/** Enough of an error body to explain a permanent failure in the log. */
const SNIPPET_CHARS = 200;
/** The bytes of an error body read for it: 200 characters of UTF-8 at most. */
const SNIPPET_BYTES = SNIPPET_CHARS * 4;

/** Capacity in bytes for a `queue_size_mib`, so the caller can publish it before building the forwarder. */
export function queueCapacityBytes(queueSizeMib: number = DEFAULT_QUEUE_SIZE_MIB): number {
  return Math.max(1, Math.floor(queueSizeMib * MIB));
}

/** What one attempt came to, independent of the protocol. */
type AttemptOutcome =
  | { ok: true; partial?: PartialSuccess }
  | { ok: false; retryable: boolean; message: string; retryAfterMs?: number };

/** A backend's `partial_success`: it accepted the request but rejected this many items of it. */
interface PartialSuccess {
  rejected: number;
  message: string;
}

/**
 * The partial_success of an Export{Trace,Metrics,Logs}ServiceResponse (field 1: rejected items as
 * int64 field 1, error_message field 2; the same numbers for all three signals). Undefined when the
 * backend reported none (the spec's "fully accepted" also covers zero rejected with no message).
 */
export function partialSuccessOf(response: Buffer): PartialSuccess | undefined {
  try {
    const [partial] = fieldsOf(response, 1);
    if (!partial) return undefined;
    const r = Reader.create(partial);
    let rejected = 0;
    let message = '';
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag === (1 << 3)) rejected = Number(r.int64().toString());
      else if (tag === ((2 << 3) | 2)) message = r.string();
      else r.skipType(tag & 7);
    }
    return rejected > 0 || message ? { rejected, message } : undefined;
  } catch {
    return undefined;
  }
}

/** The same from an OTLP/JSON response body (`partialSuccess.rejectedSpans` and its kin). */
export function partialSuccessOfJson(text: string): PartialSuccess | undefined {
  try {
    const partial = (JSON.parse(text) as { partialSuccess?: Record<string, unknown> } | null)?.partialSuccess;
    if (!partial || typeof partial !== 'object') return undefined;
    const count = Object.values(JSON_REJECTED_FIELD).map((field) => partial[field]).find((v) => v !== undefined) ?? 0;
    const rejected = Number(count) || 0;
    const message = typeof partial.errorMessage === 'string' ? partial.errorMessage : '';
    return rejected > 0 || message ? { rejected, message } : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Classification: pure, so the retry table can be tested row by row.

const GRPC_RETRYABLE = new Set<number>([
  grpc.status.CANCELLED,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.ABORTED,
  grpc.status.OUT_OF_RANGE,
  grpc.status.UNAVAILABLE,
  grpc.status.DATA_LOSS,
]);

/**
 * The OTLP/gRPC retry table. RESOURCE_EXHAUSTED is retryable only when the server sent RetryInfo
 * (it says recovery is possible); without it the spec treats it as permanent.
 */
export function classifyGrpcStatus(code: number, retryDelayMs: number | undefined, details = ''): AttemptOutcome {
  if (code === grpc.status.OK) return { ok: true };
  const name = grpc.status[code] ?? `code ${code}`;
  const message = details ? `gRPC ${name}: ${details}` : `gRPC ${name}`;
  const retryable = GRPC_RETRYABLE.has(code) || (code === grpc.status.RESOURCE_EXHAUSTED && retryDelayMs !== undefined);
  const delay = retryable && retryDelayMs !== undefined ? { retryAfterMs: retryDelayMs } : {};
  return { ok: false, retryable, message, ...delay };
}

/** The OTLP/HTTP retry table: 429, 502, 503 and 504 are "not now"; every other non-2xx is final. */
export function classifyHttpStatus(status: number, retryAfter: string | undefined, nowMs: number, snippet = ''): AttemptOutcome {
  if (status >= 200 && status < 300) return { ok: true };
  const retryable = status === 429 || status === 502 || status === 503 || status === 504;
  const message = `HTTP ${status}${snippet ? `: ${snippet}` : ''}`;
  const delay = retryable ? parseRetryAfter(retryAfter, nowMs) : undefined;
  return delay === undefined ? { ok: false, retryable, message } : { ok: false, retryable, message, retryAfterMs: delay };
}

/**
 * The delay of a google.rpc.RetryInfo inside `grpc-status-details-bin`, in milliseconds. Read by hand
 * (google.rpc.Status: details = 3, Any: type_url = 1, value = 2; RetryInfo: retry_delay = 1;
 * Duration: seconds = 1, nanos = 2) because no package here ships those messages. Garbage is ignored.
 */
export function grpcRetryDelayMs(statusDetails: Buffer | undefined): number | undefined {
  if (!statusDetails || statusDetails.length === 0) return undefined;
  try {
    for (const detail of fieldsOf(statusDetails, 3)) {
      const [typeUrl] = fieldsOf(detail, 1);
      if (!typeUrl || !typeUrl.toString('utf8').endsWith('/google.rpc.RetryInfo')) continue;
      const [value] = fieldsOf(detail, 2);
      const [duration] = value ? fieldsOf(value, 1) : [];
      if (!duration) return 0;
      const r = Reader.create(duration);
      let seconds = 0;
      let nanos = 0;
      while (r.pos < r.len) {
        const tag = r.uint32();
        // uint32 keeps the low 32 bits: a delay beyond 136 years is nonsense either way.
        if (tag === (1 << 3)) seconds = r.uint32();
        else if (tag === (2 << 3)) nanos = r.int32();
        else r.skipType(tag & 7);
      }
      return Math.max(0, seconds * 1000 + Math.floor(nanos / 1e6));
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** The length-delimited occurrences of one field number in a message. */
function fieldsOf(buf: Buffer, field: number): Buffer[] {
  const r = Reader.create(buf);
  const out: Buffer[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === field && (tag & 7) === 2) out.push(Buffer.from(r.bytes()));
    else r.skipType(tag & 7);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Transports: one attempt each, never throwing; `send` returns a cancel function.

interface Transport {
  send(signal: OtlpSignal, body: Buffer, contentType: OtlpContentType, done: (o: AttemptOutcome) => void): () => void;
  close(): Promise<void>;
}

const TLS_AT = 'exporters.otlp.tls';

const identity = (b: Buffer): Buffer => b;

const okWith = (partial: PartialSuccess | undefined): AttemptOutcome => (partial ? { ok: true, partial } : { ok: true });

/**
 * How much of a success answer is kept to look for partial_success (a few hundred bytes in
 * practice); the rest of an oversized answer is read and discarded, never held.
 */
const MAX_ANSWER_BYTES = 64 * 1024;

/** At most one partial_success warning a minute per signal; the rest are counted into it. */
const PARTIAL_WARN_INTERVAL_MS = 60_000;

/** grpc-js's CompressionAlgorithms.gzip, which it does not export. */
const GRPC_GZIP = 2;
/**
 * zlib's fastest level: 512-span batches of MCP spans shrink 9.4 times there and 11.6 times at the
 * default level 6, which takes 2.5 times the CPU (0.36 vs 0.92 ms a batch, bench/forward-cost.ts).
 * grpc-js has no level setting and compresses at 6.
 */
const GZIP_LEVEL = 1;
const USER_AGENT = `mcpwatch/${VERSION}`;
const gzipAsync = promisify(gzip);

class GrpcTransport implements Transport {
  private readonly client: grpc.Client;
  private readonly metadata: grpc.Metadata;

  constructor(url: URL, headers: Record<string, string>, cfg: ForwarderConfig, private readonly timeoutMs: number, backoff: { initial: number; max: number }) {
    // Metadata first: a bad header must fail start() before a channel exists to leak.
    this.metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(headers)) {
      const k = key.toLowerCase();
      try {
        if (k.endsWith('-bin')) this.metadata.set(k, Buffer.from(value, 'base64'));
        else this.metadata.set(k, value);
      } catch (err) {
        throw new Error(`exporters.otlp.headers.${key}: not valid as gRPC metadata: ${(err as Error).message}`);
      }
    }
    const creds = grpcChannelCredentials(grpc, TLS_AT, url.href, cfg.tls);
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    // grpc-js reconnects on its own schedule (1 s → 120 s by default); tie it to ours so a backend
    // that comes back is used within one of our back-off periods, not two minutes later.
    this.client = new grpc.Client(`${url.hostname}:${port}`, creds, {
      // Names the sender to the backend, as the Collector's exporters do (grpc-js appends its own).
      'grpc.primary_user_agent': USER_AGENT,
      'grpc.initial_reconnect_backoff_ms': Math.max(1, backoff.initial),
      'grpc.max_reconnect_backoff_ms': Math.max(1, backoff.max),
      ...(cfg.compression === 'none' ? {} : { 'grpc.default_compression_algorithm': GRPC_GZIP }),
    });
  }

  send(signal: OtlpSignal, body: Buffer, _contentType: OtlpContentType, done: (o: AttemptOutcome) => void): () => void {
    let call: grpc.ClientUnaryCall;
    try {
      call = this.client.makeUnaryRequest<Buffer, Buffer>(
        GRPC_EXPORT_PATH[signal],
        identity,
        identity,
        body,
        // grpc-js may add to the metadata it is given; each call gets its own copy.
        this.metadata.clone(),
        { deadline: Date.now() + this.timeoutMs },
        (err, response) => {
          if (!err) return done(okWith(response ? partialSuccessOf(response) : undefined));
          const raw = err.metadata?.get('grpc-status-details-bin')[0];
          done(classifyGrpcStatus(err.code, grpcRetryDelayMs(Buffer.isBuffer(raw) ? raw : undefined), err.details));
        },
      );
    } catch (err) {
      // Only a closed client throws here; report it like any other failed attempt.
      queueMicrotask(() => done({ ok: false, retryable: true, message: `gRPC call not started: ${(err as Error).message}` }));
      return () => undefined;
    }
    return () => call.cancel();
  }

  close(): Promise<void> {
    this.client.close();
    return Promise.resolve();
  }
}

class HttpTransport implements Transport {
  private readonly agent: Agent;
  private readonly origin: string;
  /** Each signal's path and query (otlpHttpUrl). */
  private readonly paths: Record<OtlpSignal, string>;
  private readonly headers: Record<string, string>;
  private readonly gzip: boolean;

  constructor(url: URL, headers: Record<string, string>, cfg: ForwarderConfig, private readonly timeoutMs: number) {
    // The URL scheme decides plain or TLS over HTTP; `tls.insecure` only matters to gRPC, whose
    // endpoint scheme is often written as http:// by habit.
    if (url.protocol === 'https:') {
      this.agent = new Agent({ connect: clientTlsOptions(TLS_AT, cfg.tls) });
    } else {
      this.agent = new Agent();
    }
    this.origin = url.origin;
    const pathOf = (signal: OtlpSignal): string => {
      const target = otlpHttpUrl(url, signal);
      return `${target.pathname}${target.search}`;
    };
    this.paths = { traces: pathOf('traces'), metrics: pathOf('metrics'), logs: pathOf('logs') };
    // Lower-case keys so the content type set per request replaces, never duplicates, a configured one.
    // What the backend's logs and rate limits see as the sender, unless a configured User-Agent says otherwise.
    this.headers = { 'user-agent': USER_AGENT };
    for (const [k, v] of Object.entries(headers)) this.headers[k.toLowerCase()] = v;
    this.gzip = cfg.compression !== 'none';
  }

  send(signal: OtlpSignal, body: Buffer, contentType: OtlpContentType, done: (o: AttemptOutcome) => void): () => void {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    const attempt = async (): Promise<AttemptOutcome> => {
      try {
        const res = await this.agent.request({
          origin: this.origin,
          path: this.paths[signal],
          method: 'POST',
          headers: { ...this.headers, 'content-type': contentType, ...(this.gzip ? { 'content-encoding': 'gzip' } : {}) },
          // On libuv's thread pool, not the event loop that receives and decodes.
          body: this.gzip ? await gzipAsync(body, { level: GZIP_LEVEL }) : body,
          signal: controller.signal,
        });
        const ok = res.statusCode >= 200 && res.statusCode < 300;
        // Always consume the body: an unread body pins the connection in undici's pool.
        if (ok) {
          const answer = await readCapped(res.body, MAX_ANSWER_BYTES);
          const json = String(res.headers['content-type'] ?? '').startsWith('application/json');
          return okWith(json ? partialSuccessOfJson(answer.toString('utf8')) : partialSuccessOf(answer));
        }
        // Only the start is quoted: the whole of a large error page was held in memory to keep 200 characters of it.
        const text = (await readCapped(res.body, SNIPPET_BYTES, 'cut')).toString('utf8').slice(0, SNIPPET_CHARS);
        const retryAfter = res.headers['retry-after'];
        return classifyHttpStatus(res.statusCode, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, Date.now(), text.trim());
      } catch (err) {
        if (timedOut) return { ok: false, retryable: true, message: `no answer within ${this.timeoutMs} ms` };
        const code = (err as { code?: unknown }).code;
        const detail = typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
        // Refused, reset, DNS and TLS failures alike: the backend may be back (or fixed) later.
        return { ok: false, retryable: true, message: `network error: ${detail}` };
      } finally {
        clearTimeout(timer);
      }
    };
    void attempt().then(done);
    return () => controller.abort();
  }

  async close(): Promise<void> {
    await this.agent.destroy().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------

interface Entry {
  readonly seq: number;
  readonly signal: OtlpSignal;
  readonly body: Buffer;
  readonly contentType: OtlpContentType;
  /** Bytes charged against the queue: the body, at least MIN_ENTRY_COST. */
  readonly cost: number;
  /** Cancels the attempt in flight; undefined while waiting. */
  cancel: (() => void) | undefined;
  /** Set once the entry has left the queue, so a late answer to a cancelled attempt is ignored. */
  removed: boolean;
}

/**
 * Forwards OTLP export requests to `exporters.otlp` unchanged. `enqueue` never throws and never
 * blocks; what cannot be sent is counted through the hooks. Component-style lifecycle: requests
 * queue up before `start()`, and `shutdown()` is safe without it.
 */
export class OtlpForwarder {
  /** Queue capacity in bytes (`queue_size_mib`). */
  readonly capacityBytes: number;

  private readonly config: ForwarderConfig;
  /** The endpoint without its userinfo, which went into `headers` (otlpBackend). */
  private readonly url: URL;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private readonly hooks: Partial<ForwarderHooks>;
  private readonly log: ForwarderLog | undefined;

  /** Insertion-ordered, so the first key is the oldest request. */
  private readonly queue = new Map<number, Entry>();
  private bytes = 0;
  private seq = 0;
  private inFlight = 0;
  private transport: Transport | undefined;
  private state: 'new' | 'running' | 'stopping' | 'closed' = 'new';
  /** Consecutive back-off periods without a success; > 0 means "recovering": one request at a time. */
  private streak = 0;
  private pauseTimer: NodeJS.Timeout | undefined;
  private resumeAt = 0;
  private drainedWaiters: Array<() => void> = [];
  private shutdownPromise: Promise<void> | undefined;
  /** Log the start of an outage or of dropping once, not once per request. */
  private warnedQueueFull = false;
  private warnedUnsupported = false;
  private readonly partials = new Map<OtlpSignal, { lastWarnAt: number; requests: number; rejected: number }>();

  constructor(config: ForwarderConfig, options: ForwarderOptions = {}) {
    ({ url: this.url, headers: this.headers } = otlpBackend(config.endpoint, config.headers));
    this.timeoutMs = config.timeout ?? DEFAULT_TIMEOUT_MS;
    this.capacityBytes = queueCapacityBytes(config.queue_size_mib);
    this.concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
    this.initialBackoffMs = Math.max(0, options.initialBackoffMs ?? DEFAULT_INITIAL_BACKOFF_MS);
    this.maxBackoffMs = Math.max(this.initialBackoffMs, options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS);
    this.jitter = Math.min(1, Math.max(0, options.jitter ?? 0.2));
    this.random = options.random ?? Math.random;
    this.hooks = options.hooks ?? {};
    this.log = options.log;
    this.config = config;
  }

  /**
   * Bytes held, including requests in flight (they stay until the backend answers): the sum of the
   * bodies, where a body under 64 bytes is charged 64.
   */
  get queuedBytes(): number {
    return this.bytes;
  }

  /** Requests held, including those in flight. */
  get queuedRequests(): number {
    return this.queue.size;
  }

  /** Requests being sent now. */
  get inFlightRequests(): number {
    return this.inFlight;
  }

  /**
   * Builds the client and starts sending what is queued. Throws only for configuration the
   * schema cannot check (unreadable TLS files, headers gRPC refuses as metadata).
   */
  start(): void {
    if (this.state !== 'new') return;
    const backoff = { initial: this.initialBackoffMs, max: this.maxBackoffMs };
    this.transport =
      this.config.protocol === 'grpc'
        ? new GrpcTransport(this.url, this.headers, this.config, this.timeoutMs, backoff)
        : new HttpTransport(this.url, this.headers, this.config, this.timeoutMs);
    this.state = 'running';
    this.pump();
  }

  /**
   * The receiver's way in: queues the request like enqueue(), but a JSON body that cannot be
   * re-encoded for a gRPC backend is neither queued nor counted as dropped: the returned message,
   * naming the field, goes back to the sender as bad input. `parsed` is the body already parsed,
   * when the receiver had to parse it anyway, so it is not parsed twice; with it, `body` may be a
   * function that writes the body, called only when the backend takes the JSON as it is.
   */
  admit(signal: OtlpSignal, body: Buffer | (() => Buffer), contentType: OtlpContentType, parsed?: unknown): string | undefined {
    const ready = this.forBackend(signal, body, contentType, parsed);
    if (typeof ready === 'string') return ready;
    this.enqueue(signal, ready.body, ready.contentType);
    return undefined;
  }

  /**
   * Queues one export request (an ExportTrace/Metrics/LogsServiceRequest body). Returns whether it
   * was queued; a refusal has already been counted. Older requests may be dropped to make room.
   */
  enqueue(signal: OtlpSignal, body: Buffer, contentType: OtlpContentType): boolean {
    try {
      if (this.state === 'stopping' || this.state === 'closed') {
        this.drop(signal, 'shutdown');
        return false;
      }
      const ready = this.forBackend(signal, body, contentType);
      if (typeof ready === 'string') {
        // A caller other than the receiver has no sender to tell: counted and logged instead.
        if (!this.warnedUnsupported) {
          this.warnedUnsupported = true;
          this.log?.warn({ signal, error: ready }, 'OTLP/JSON request dropped');
        }
        this.drop(signal, 'unsupported');
        return false;
      }
      ({ body, contentType } = ready);
      const cost = Math.max(body.length, MIN_ENTRY_COST);
      if (cost > this.capacityBytes) {
        this.log?.warn({ signal, bytes: body.length, capacity: this.capacityBytes }, 'OTLP request larger than the whole forwarding queue; dropped');
        this.drop(signal, 'queue_full');
        return false;
      }
      while (this.bytes + cost > this.capacityBytes) {
        const oldest = this.queue.values().next().value as Entry;
        this.remove(oldest);
        oldest.cancel?.();
        if (!this.warnedQueueFull) {
          this.warnedQueueFull = true;
          this.log?.warn({ capacity: this.capacityBytes }, 'forwarding queue full; dropping the oldest requests');
        }
        this.drop(oldest.signal, 'queue_full');
      }
      const entry: Entry = { seq: this.seq++, signal, body, contentType, cost, cancel: undefined, removed: false };
      this.queue.set(entry.seq, entry);
      this.bytes += cost;
      this.hook(() => this.hooks.queueBytes?.(this.bytes));
      this.pump();
      return true;
    } catch (err) {
      // A hook or logger that throws must not reach the receiver's request handler.
      this.log?.warn({ err: String(err) }, 'forwarder enqueue failed');
      return false;
    }
  }

  /** The body as the backend takes it (gRPC carries protobuf only), or why it cannot be. */
  private forBackend(signal: OtlpSignal, body: Buffer | (() => Buffer), contentType: OtlpContentType, parsed?: unknown): { body: Buffer; contentType: OtlpContentType } | string {
    if (contentType !== 'application/json' || this.config.protocol !== 'grpc') return { body: typeof body === 'function' ? body() : body, contentType };
    try {
      if (parsed !== undefined) return { body: encodeParsedRequest(signal, parsed), contentType: 'application/x-protobuf' };
      return { body: jsonToProtobuf(signal, typeof body === 'function' ? body() : body), contentType: 'application/x-protobuf' };
    } catch (err) {
      // Anything else the input provokes is still the input's doing: it must reach the sender as a
      // refusal, not the receiver's handler as an exception.
      const why = err instanceof TranscodeError ? err.message : `${signal}: ${err instanceof Error ? err.message : String(err)}`;
      return `cannot be re-encoded as protobuf for the gRPC backend: ${why}`;
    }
  }

  /**
   * Tries to send what is queued within `timeoutMs` (one immediate retry even if backing off), then
   * drops the rest (counted, reason `shutdown`) and closes the client. Safe to call twice or
   * without `start()`; never rejects.
   */
  shutdown(timeoutMs = 5_000): Promise<void> {
    this.shutdownPromise ??= this.stop(timeoutMs);
    return this.shutdownPromise;
  }

  private async stop(timeoutMs: number): Promise<void> {
    const wasRunning = this.state === 'running';
    this.state = 'stopping';
    if (wasRunning && this.queue.size > 0) {
      if (this.pauseTimer) {
        clearTimeout(this.pauseTimer);
        this.pauseTimer = undefined;
      }
      this.pump();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.drainedWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ]);
      clearTimeout(timer);
    }
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.pauseTimer = undefined;
    const left = [...this.queue.values()];
    for (const entry of left) {
      this.remove(entry);
      entry.cancel?.();
      this.drop(entry.signal, 'shutdown');
    }
    if (left.length > 0) this.log?.warn({ requests: left.length }, 'forwarder shut down with requests unsent; dropped');
    this.state = 'closed';
    await this.transport?.close().catch(() => undefined);
  }

  /** Starts attempts up to the concurrency the current state allows, oldest first. */
  private pump(): void {
    if ((this.state !== 'running' && this.state !== 'stopping') || !this.transport || this.pauseTimer) return;
    const limit = this.streak > 0 ? 1 : this.concurrency;
    if (this.inFlight >= limit) return;
    for (const entry of this.queue.values()) {
      if (this.inFlight >= limit) break;
      if (entry.cancel) continue;
      this.attempt(entry);
    }
  }

  private attempt(entry: Entry): void {
    const transport = this.transport!;
    this.inFlight++;
    let settled = false;
    const done = (outcome: AttemptOutcome): void => {
      if (settled) return;
      settled = true;
      this.inFlight--;
      entry.cancel = undefined;
      // This runs inside grpc-js callbacks and promise chains: a throw here would be an
      // uncaught exception or an unhandled rejection, i.e. a crash on a backend answer.
      try {
        if (!entry.removed) this.settle(entry, outcome);
        this.pump();
        this.checkDrained();
      } catch (err) {
        this.log?.warn({ err: String(err) }, 'forwarder failed to settle an attempt');
      }
    };
    // Marked in flight before sending, so a re-entrant pump() (from an answer that arrives
    // synchronously) cannot start the same entry twice.
    entry.cancel = () => undefined;
    entry.cancel = transport.send(entry.signal, entry.body, entry.contentType, done);
    if (settled) entry.cancel = undefined;
  }

  private settle(entry: Entry, outcome: AttemptOutcome): void {
    if (outcome.ok) {
      if (outcome.partial) this.notePartial(entry.signal, outcome.partial);
      this.remove(entry);
      this.streak = 0;
      this.warnedQueueFull = false;
      this.hook(() => this.hooks.sent?.(entry.signal));
      return;
    }
    this.hook(() => this.hooks.failed?.(entry.signal));
    if (!outcome.retryable) {
      this.remove(entry);
      this.log?.warn({ signal: entry.signal, error: outcome.message }, 'backend refused an OTLP request; dropped, not retried');
      this.drop(entry.signal, 'permanent_error');
      return;
    }
    this.backOff(entry.signal, outcome);
  }

  /**
   * A partial success is a success for the queue (retrying would only be rejected again, as the
   * spec says), but the user must hear of it: their backend is throwing away part of their data.
   */
  private notePartial(signal: OtlpSignal, partial: PartialSuccess): void {
    const now = Date.now();
    const p = this.partials.get(signal) ?? { lastWarnAt: -Infinity, requests: 0, rejected: 0 };
    p.requests++;
    p.rejected += partial.rejected;
    if (now - p.lastWarnAt >= PARTIAL_WARN_INTERVAL_MS) {
      this.log?.warn(
        { signal, rejected: partial.rejected, error: partial.message || undefined, requests_since_last_warning: p.requests, rejected_since_last_warning: p.rejected },
        'backend accepted an OTLP request but rejected part of it (partial_success)',
      );
      p.lastWarnAt = now;
      p.requests = 0;
      p.rejected = 0;
    }
    this.partials.set(signal, p);
  }

  /** One shared pause: concurrent failures of one outage extend it, they do not each double it. */
  private backOff(signal: OtlpSignal, outcome: Extract<AttemptOutcome, { ok: false }>): void {
    const now = Date.now();
    const fresh = this.pauseTimer === undefined;
    if (!fresh && outcome.retryAfterMs === undefined) return;
    if (fresh) this.streak++;
    const delay =
      outcome.retryAfterMs !== undefined ? Math.min(outcome.retryAfterMs, MAX_SERVER_DELAY_MS) : this.backoffDelay(this.streak);
    const resumeAt = fresh ? now + delay : Math.max(this.resumeAt, now + delay);
    const log = this.streak === 1 && fresh ? this.log?.warn : this.log?.debug;
    log?.call(this.log, { signal, error: outcome.message, retryInMs: resumeAt - now, queued: this.queue.size }, 'OTLP backend failed; retrying');
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.resumeAt = resumeAt;
    this.pauseTimer = setTimeout(() => {
      this.pauseTimer = undefined;
      this.pump();
    }, resumeAt - now);
    // The receivers keep the agent alive; a pending retry alone must not (shutdown has its own timer).
    this.pauseTimer.unref();
  }

  private backoffDelay(streak: number): number {
    const base = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(streak - 1, 30));
    const spread = 1 - this.jitter + 2 * this.jitter * this.random();
    return Math.min(this.maxBackoffMs, Math.round(base * spread));
  }

  private remove(entry: Entry): void {
    if (entry.removed) return;
    entry.removed = true;
    this.queue.delete(entry.seq);
    this.bytes -= entry.cost;
    this.hook(() => this.hooks.queueBytes?.(this.bytes));
  }

  private drop(signal: OtlpSignal, reason: ForwarderDropReason): void {
    this.hook(() => this.hooks.dropped?.(signal, reason));
  }

  /** A hook that throws must not leave the queue half-updated or reach the receiver. */
  private hook(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log?.debug({ err: String(err) }, 'forwarder self-metric hook threw');
    }
  }

  private checkDrained(): void {
    if (this.queue.size > 0 || this.drainedWaiters.length === 0) return;
    const waiters = this.drainedWaiters;
    this.drainedWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
