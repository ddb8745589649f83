import { hash, randomFillSync, randomUUID } from 'node:crypto';
import { Client, type JSONRPCMessage, type JsonSchemaValidator, type jsonSchemaValidator, type ListToolsResult, type MessageExtraInfo, type StandardSchemaV1, type Transport, type TransportSendOptions, type VersionNegotiationMode } from '@modelcontextprotocol/client';
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
  /**
   * The method of the last request sent: under `auto` the handshake is server/discover, then perhaps
   * initialize, and a deadline that cuts it short is named by the one it was waiting for.
   */
  lastRequest: string | undefined;

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
    if (!('method' in message)) return this.inner.send(message, options);
    if ('id' in message) this.lastRequest = message.method;
    // Notifications too: the Python SDK records notifications/initialized as a span of its own.
    return this.inner.send(notSampled(message), options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  /** The SDK reads it here to choose how a 2026-07-28 request is cancelled (StreamableHttpTransport). */
  get hasPerRequestStream(): boolean | undefined {
    return this.inner.hasPerRequestStream;
  }

  setProtocolVersion(version: string): void {
    this.inner.setProtocolVersion?.(version);
  }
}

/** Random trace and span ids as hex, drawn in bulk: one system call and one encoding per many requests. */
const TRACE_POOL = Buffer.alloc(24 * 256);
/** 48 hex digits per request: a 32-digit trace id, then a 16-digit span id. */
let tracePoolHex = '';
let tracePoolAt = 0;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/**
 * A fresh W3C traceparent whose trace-flags say "not sampled" (`00`). The trace id is new on every
 * request, so no two probes share a trace in a backend that records them anyway.
 */
export function notSampledTraceparent(): string {
  if (tracePoolAt === tracePoolHex.length) {
    tracePoolHex = randomFillSync(TRACE_POOL).toString('hex');
    tracePoolAt = 0;
  }
  const at = tracePoolAt;
  tracePoolAt += 48;
  let traceId = tracePoolHex.slice(at, at + 32);
  let spanId = tracePoolHex.slice(at + 32, at + 48);
  // An all-zero id is invalid: a propagator ignores the header, and the server samples a root span.
  if (traceId === ZERO_TRACE_ID) traceId = `${ZERO_TRACE_ID.slice(1)}1`;
  if (spanId === ZERO_SPAN_ID) spanId = `${ZERO_SPAN_ID.slice(1)}1`;
  return `00-${traceId}-${spanId}-00`;
}

type Outgoing = Extract<JSONRPCMessage, { method: string }>;

/**
 * The request or notification with `params._meta.traceparent` set to a not-sampled parent (MCP's trace-context
 * convention, which the SDKs' servers extract): an instrumented server's ParentBased sampler then
 * records no span for mcpwatch's probe, so its synthetic traffic, failing checks included, never
 * reaches the traffic metrics as the users'. A copy: the SDK may reuse a request's params (a check's
 * configured arguments), and a traceparent written into them would repeat on every check. A
 * traceparent already there is the sender's and stays.
 */
function notSampled(message: Outgoing): Outgoing {
  const params = message.params;
  const meta = params?._meta;
  if (meta !== undefined && meta.traceparent !== undefined) return message;
  const traceparent = notSampledTraceparent();
  // Object.assign rather than spreads: V8 copies these small objects several times faster so.
  const tagged = meta === undefined ? { traceparent } : Object.assign({}, meta, { traceparent });
  return Object.assign({}, message, { params: Object.assign({}, params, { _meta: tagged }) });
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

/**
 * The digest of each tools/list page a transport parsed, its text without the JSON-RPC id, keyed by
 * the page's `tools` array (the object the SDK's Client hands to result validation, in both eras).
 * A page is known by its digest, not by its text: the text of a server's tool list, kept for every
 * kept session between checks, is as large as the list itself (docs/benchmarks.md, "Memory
 * per kept server (fourteenth session)").
 */
const pageDigests = new WeakMap<object, string>();
/** The same digest, keyed by the validated result the Client resolves with. */
const validatedDigests = new WeakMap<object, string>();

/**
 * A page's id-less text as a digest: its length, then its SHA-256, so no server can give two pages
 * one digest. The length lets a client skip hashing an answer no kept page is as long as.
 */
function pageDigest(rest: string): string {
  return `${rest.length}:${hash('sha256', rest, 'base64')}`;
}

/** A JSON-RPC id as JSON text: a number without exponent or fraction, or a string. */
const ID = String.raw`(-?(?:0|[1-9]\d*)|"(?:[^"\\]|\\.)*")`;
const ID_FIRST = new RegExp(String.raw`^\{"jsonrpc":"2\.0","id":${ID},`);
const ID_TAIL = new RegExp(String.raw`^${ID}\}$`);
const ID_MEMBER = ',"id":';

/**
 * A response text's id (as JSON text) and every other byte of it, cut without parsing when the id is
 * its first member after `jsonrpc` or its last member. A valid JSON text ending in `,"id":N}` has
 * `id` as its last top-level member (the last `}` closes the object, and that `,"id"` cannot be
 * inside a string), which is the member JSON.parse keeps. The two forms never share a rest: the
 * rest of the last-member form starts with the object's `{`, that of the first-member form cannot
 * (it is what follows a comma inside the object), so a rest and an id always give back one text.
 */
function splitId(text: string): { id: string; rest: string } | undefined {
  const body = text.trim();
  const first = ID_FIRST.exec(body);
  if (first && body.charCodeAt(first[0].length) !== 123 /* { */) return { id: first[1]!, rest: body.slice(first[0].length) };
  if (body.charCodeAt(0) !== 123) return undefined;
  const at = body.lastIndexOf(ID_MEMBER);
  const last = at < 0 ? null : ID_TAIL.exec(body.slice(at + ID_MEMBER.length));
  return last ? { id: last[1]!, rest: body.slice(0, at) } : undefined;
}

/**
 * Called by a transport with a response it parsed from `text` (one JSON-RPC message, the whole text):
 * a tools/list page is remembered by the digest of its text without the id (splitId), so that
 * ProbeClient can tell a page that is byte for byte one it validated. A text whose id is neither its first nor its last
 * member is not remembered, and is validated as usual.
 */
export function rememberResponseText(message: JSONRPCMessage, text: string): void {
  const m = message as { id?: unknown; result?: { tools?: unknown } };
  if (!m.result || !Array.isArray(m.result.tools) || (typeof m.id !== 'number' && typeof m.id !== 'string')) return;
  const cut = splitId(text);
  if (cut && cut.id === JSON.stringify(m.id)) pageDigests.set(m.result.tools, pageDigest(cut.rest));
}

/** The digest of a tools/list result ProbeClient validated, when its transport gave its text. */
export function toolsPageDigest(result: object): string | undefined {
  return validatedDigests.get(result);
}

type StandardResult<T> = StandardSchemaV1.Result<T>;

/** A page this client validated, and the name of the stand-in tool that carries it through the SDK. */
interface KnownPage {
  result: ListToolsResult;
  token: string;
  /** Of its id-less text (pageDigest). */
  length: number;
}

const METHOD_NOT_FOUND = -32601;
/** Methods of refused server requests kept per connection (a check names the few it saw). */
const MAX_REFUSED_KEPT = 8;

/**
 * The SDK's Client, validating tools/list results as the SDK does for the negotiated era, except
 * that a page whose text is byte for byte one validated before on this connection gets that
 * validation's result again: a kept session lists the same tools every interval, and re-validating
 * an unchanged list with zod was the largest single cost of a check after the HTTP exchange itself.
 *
 * Such a page is not even parsed: the transport asks knownPageMessage() first, and hands the SDK a
 * stand-in answer with the same id whose one tool's name is a token only this client knows (a
 * random nonce: a server cannot forge it). The SDK checks and decodes that stand-in as it would the
 * page, in both eras, at the cost of one tiny object instead of the whole list (its envelope check
 * and the 2026-07-28 wire schema each walk and copy every tool), and validateToolsPage turns it back
 * into the page's validated result. A stand-in whose token this client no longer holds fails the
 * request instead of passing for an empty or one-tool list.
 */
export class ProbeClient extends Client {
  /** Validated pages by their digest; pruned to the last listing's pages by keepPages(). */
  private readonly pages = new Map<string, KnownPage>();
  /** The same pages by their stand-in's token. */
  private readonly tokens = new Map<string, ListToolsResult>();
  /**
   * How many kept pages have each text length: every answer over the connection (tools/call's too)
   * is asked about, and only one as long as a kept page is worth hashing.
   */
  private readonly lengths = new Map<number, number>();
  private readonly nonce = `\u0000mcpwatch:${randomUUID()}:`;
  private issued = 0;

  /**
   * Requests the server sent mcpwatch (sampling/createMessage, elicitation/create, roots/list…): a
   * monitor has no model, user or roots to answer them with, and declares none of those capabilities.
   * Each is answered -32601 with a message that says so, and counted, so a check whose tool needed
   * one can say why it failed: the SDK's bare "Method not found" came back from the server as
   * `JSON-RPC error -32601 in tools/call: Method not found`, as if tools/call were unknown.
   */
  refusedRequests = 0;
  /** The methods of the last few of them (created on the first: most servers never send one). */
  private refusedMethods: string[] | undefined;

  constructor(...args: ConstructorParameters<typeof Client>) {
    super(...args);
    this.fallbackRequestHandler = async (request) => {
      this.refusedRequests++;
      const methods = (this.refusedMethods ??= []);
      methods.push(request.method);
      if (methods.length > MAX_REFUSED_KEPT) methods.shift();
      // A plain Error with a code: the SDK's ProtocolError would put "MCP error -32601:" into the text.
      throw Object.assign(new Error(`Method not found: mcpwatch, a monitor, does not answer ${request.method}`), { code: METHOD_NOT_FOUND });
    };
  }

  /** The distinct methods of the server's requests refused since `mark` (a `refusedRequests` read before). */
  refusedSince(mark: number): string[] {
    const methods = this.refusedMethods ?? [];
    const n = Math.min(this.refusedRequests - mark, methods.length);
    return n > 0 ? [...new Set(methods.slice(methods.length - n))] : [];
  }

  readonly toolsListSchema: StandardSchemaV1<unknown, ListToolsResult> = {
    '~standard': { version: 1, vendor: 'mcpwatch', validate: (value) => this.validateToolsPage(value) },
  };

  /** The stand-in for a response text that is byte for byte a page validated before, else undefined. */
  knownPageMessage(text: string): JSONRPCMessage | undefined {
    if (this.pages.size === 0) return undefined;
    const cut = splitId(text);
    // The SDK's client numbers its requests: a string id is never one of its answers.
    const page = cut && /^\d+$/.test(cut.id) && this.lengths.has(cut.rest.length) ? this.pages.get(pageDigest(cut.rest)) : undefined;
    if (!cut || !page) return undefined;
    return { jsonrpc: '2.0', id: Number(cut.id), result: { resultType: 'complete', ttlMs: 0, cacheScope: 'private', tools: [{ name: page.token, inputSchema: { type: 'object' } }] } };
  }

  private validateToolsPage(value: unknown): StandardResult<ListToolsResult> {
    const tools = typeof value === 'object' && value !== null ? (value as { tools?: unknown }).tools : undefined;
    const standIn = Array.isArray(tools) && tools.length === 1 ? (tools[0] as { name?: unknown }).name : undefined;
    if (typeof standIn === 'string' && standIn.startsWith(this.nonce)) {
      const known = this.tokens.get(standIn);
      return known ? { value: known } : { issues: [{ message: 'mcpwatch: a cached tools/list page was forgotten before its answer was read' }] };
    }
    const digest = Array.isArray(tools) ? pageDigests.get(tools) : undefined;
    const seen = digest === undefined ? undefined : this.pages.get(digest);
    if (seen) return { value: seen.result };
    const outcome = this._wireCodec().validateResult('tools/list', value);
    // The SDK's own validator reports a failure in these words (a test holds the two together).
    if (!outcome.ok) return { issues: [{ message: outcome.reason === 'invalid' ? (toolsPageProblem(value) ?? outcome.message) : 'not-in-era: tools/list' }] };
    if (digest !== undefined) {
      validatedDigests.set(outcome.value, digest);
      const token = `${this.nonce}${++this.issued}`;
      const length = Number.parseInt(digest, 10);
      this.pages.set(digest, { result: outcome.value, token, length });
      this.tokens.set(token, outcome.value);
      this.lengths.set(length, (this.lengths.get(length) ?? 0) + 1);
    }
    return { value: outcome.value };
  }

  /** How many validated pages it holds (at most the last listing's and the attempt since). */
  get pagesKept(): number {
    return this.pages.size;
  }

  /** Forgets validated pages other than these (the listing just made), by digest. */
  keepPages(digests: readonly (string | undefined)[]): void {
    if (this.pages.size <= digests.length) return;
    const keep = new Set(digests);
    for (const [digest, page] of this.pages) {
      if (keep.has(digest)) continue;
      this.pages.delete(digest);
      this.tokens.delete(page.token);
      const left = (this.lengths.get(page.length) ?? 1) - 1;
      if (left > 0) this.lengths.set(page.length, left);
      else this.lengths.delete(page.length);
    }
  }
}

/**
 * The first tool of a tools/list page that breaks the specification's rules for every tool, named
 * with the field at fault: the SDK's own message is its schema library's list of issues. Undefined
 * when no tool is at fault (the SDK's message stands).
 */
export function toolsPageProblem(page: unknown): string | undefined {
  const tools = typeof page === 'object' && page !== null ? (page as { tools?: unknown }).tools : undefined;
  if (!Array.isArray(tools)) return undefined;
  for (const [i, tool] of tools.entries()) {
    if (typeof tool !== 'object' || tool === null || Array.isArray(tool)) return `tools[${i}] is not an object (got ${JSON.stringify(tool)?.slice(0, 40)})`;
    const { name, inputSchema } = tool as { name?: unknown; inputSchema?: unknown };
    if (typeof name !== 'string') return `tools[${i}] has no name (a tool's name is a required string)`;
    // Short enough that the classifier's bound on a message (160 characters) keeps the field.
    const which = `tool ${JSON.stringify(name.slice(0, 60))} (tools[${i}])`;
    if (inputSchema === undefined) return `${which} has no inputSchema, which MCP requires of every tool`;
    if (typeof inputSchema !== 'object' || inputSchema === null || Array.isArray(inputSchema)) return `${which}: inputSchema must be a JSON Schema object (got ${Array.isArray(inputSchema) ? 'an array' : JSON.stringify(inputSchema)})`;
    const type = (inputSchema as { type?: unknown }).type;
    if (type !== 'object') return `${which}: inputSchema.type must be "object" (got ${type === undefined ? 'none' : JSON.stringify(type)?.slice(0, 40)})`;
  }
  return undefined;
}

function newClient(protocol: ProtocolMode = 'legacy'): ProbeClient {
  // Capabilities are pinned to none: servers that vary their tool list by client capabilities would
  // otherwise show drift whenever the SDK's defaults change.
  return new ProbeClient({ ...CLIENT_INFO }, { capabilities: {}, jsonSchemaValidator: NO_OUTPUT_VALIDATION, versionNegotiation: { mode: NEGOTIATION[protocol] } });
}

/** A transport that hands the client a stand-in for a response text the client validated before. */
export interface PageAwareTransport {
  knownPageMessage?: (text: string) => JSONRPCMessage | undefined;
}

/** Base for the per-transport connections: tracks unexpected close and keeps close() idempotent. */
export abstract class BaseConnection implements McpConnection {
  readonly client: ProbeClient;
  closed = false;
  onUnexpectedClose?: () => void;
  private closing: Promise<void> | undefined;

  /** `pages`: the transport that asks the client for a stand-in before parsing (ProbeClient.knownPageMessage). */
  constructor(
    readonly transport: StartedTransport,
    protocol: ProtocolMode = 'legacy',
    pages?: PageAwareTransport,
  ) {
    this.client = newClient(protocol);
    if (pages) pages.knownPageMessage = (text) => this.client.knownPageMessage(text);
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
  protected abstract shutdown(deadline?: AbortSignal): Promise<void>;

  close(deadline?: AbortSignal): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.shutdown(deadline);
      } catch {
        // close() never throws: the probe has already recorded what matters.
      }
      this.closed = true;
    })();
    return this.closing;
  }
}

/**
 * Whether `work` settles within `ms`, a wait that `deadline` cuts short (at once if it has fired): a
 * close is best-effort, and under a probe's deadline (`health --timeout`) it waits no longer than
 * the probe may.
 */
export async function settlesWithin(work: Promise<unknown>, ms: number, deadline?: AbortSignal): Promise<boolean> {
  if (deadline?.aborted) return false;
  let timer: NodeJS.Timeout | undefined;
  let cut: (() => void) | undefined;
  const giveUp = new Promise<false>((resolve) => {
    timer = setTimeout(resolve, ms, false);
    cut = () => resolve(false);
    deadline?.addEventListener('abort', cut, { once: true });
  });
  try {
    return await Promise.race([work.then(() => true as const, () => true as const), giveUp]);
  } finally {
    clearTimeout(timer);
    deadline?.removeEventListener('abort', cut!);
  }
}
