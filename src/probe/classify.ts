import { InsufficientScopeError, LATEST_PROTOCOL_VERSION, ProtocolError, SdkError, SdkErrorCode, SdkHttpError } from '@modelcontextprotocol/client';
import { errorCategory, type ErrorType } from '../pipeline/error-types.js';
import type { Phase, ProbeError, TransportDiagnostics } from './prober.js';
import { TlsFileError } from '../wire/tls.js';
import { authParam, SNIPPET_BYTES } from './http.js';
import { describeBody } from '../pipeline/http-body.js';
import { stderrPick } from '../pipeline/stderr.js';
import { SSE_ADVICE } from '../pipeline/hints.js';
import { redactText } from '../pipeline/redact.js';
import { AuthFailure } from './auth.js';
import { bounded } from '../pipeline/expect.js';

/** Why a tool that asks the client for sampling, elicitation or roots mid-call cannot be checked. */
export const NO_CLIENT_FEATURES = 'a monitor offers no sampling, elicitation or roots, so a tool that needs them cannot be checked';

/** What actually happened, before it is named. Built from SDK errors plus transport diagnostics. */
export type RawFailure =
  | { kind: 'spawn'; code: string | undefined; message: string; command: string }
  | { kind: 'exited'; code: number | null; signal: string | null; stderrTail: string[]; stdoutTail?: string[] }
  | { kind: 'network'; code: string | undefined; message: string }
  | { kind: 'http'; status: number; method: string; withSession: boolean; wwwAuthenticate: string | null; contentType: string | null; body: string; location?: string | null; withCredential?: boolean; credentialExpired?: string }
  /** No credential could be had for a server with `auth:` (probe/auth.ts said why). */
  | { kind: 'auth'; type: 'auth_failed' | 'auth_unavailable'; message: string }
  /** `withSession`: the request carried an Mcp-Session-Id (Streamable HTTP, 2025 era). */
  | { kind: 'rpc'; code: number; message: string; data?: unknown; withSession?: boolean }
  | { kind: 'invalid'; message: string }
  | { kind: 'timeout'; ms: number }
  | { kind: 'unsupported_version'; version: string }
  /** The server does not offer the era a pinned probe asked for (`protocol: modern` against a 2025 server). */
  | { kind: 'era_mismatch'; message: string }
  | { kind: 'closed'; message: string }
  /** A 2026-07-28 result asking the client for `method` (elicitation, sampling, roots) before it can complete. */
  | { kind: 'input_required'; method: string };

interface Verdict {
  type: ErrorType;
  message: string;
}

const NETWORK: Record<string, ErrorType> = {
  ECONNREFUSED: 'connection_refused',
  ECONNRESET: 'connection_refused',
  EHOSTUNREACH: 'connection_refused',
  ENETUNREACH: 'connection_refused',
  EPIPE: 'connection_refused',
  UND_ERR_SOCKET: 'connection_refused',
  UND_ERR_CLOSED: 'connection_refused',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_FAIL: 'dns',
  ETIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
};

const TLS_CODE = /^(CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_|ERR_TLS|ERR_SSL|EPROTO|HOSTNAME_MISMATCH)/;
const TLS_FILE_CODE: TlsFileError['code'] = 'ERR_TLS_CONFIG';

const NETWORK_WORDS: Partial<Record<ErrorType, string>> = {
  connection_refused: 'connection refused',
  dns: 'DNS lookup failed',
  timeout: 'connect timeout',
  tls: 'TLS handshake failed',
};

/**
 * The pure table: a raw failure in, an `error.type` and a human message out. The message quotes
 * what servers and libraries said, which can include a URL with its credentials: redacted here,
 * once, before it reaches alerts, logs, `health` output or the state file.
 */
export function classify(raw: RawFailure, phase: Phase): Verdict {
  const v = verdictOf(raw, phase);
  return { type: v.type, message: redactText(v.message) };
}

function verdictOf(raw: RawFailure, phase: Phase): Verdict {
  switch (raw.kind) {
    case 'spawn':
      return { type: 'spawn_failed', message: `cannot start ${JSON.stringify(raw.command)}: ${raw.code === 'ENOENT' ? 'command not found (ENOENT)' : raw.message}` };
    case 'exited': {
      const how = raw.signal ? `killed by ${raw.signal}` : `exited with code ${raw.code}`;
      const last = stderrPick(raw.stderrTail);
      if (last?.errorish) return { type: 'process_exited', message: `${how}: ${last.line}` };
      // A server that logs to stdout (where only JSON-RPC belongs) may have said why there, after a
      // banner on stderr or with nothing on stderr at all.
      const printed = stderrPick(raw.stdoutTail ?? []);
      if (printed?.errorish && last) return { type: 'process_exited', message: `${how}: ${printed.line} (on stdout, not as JSON-RPC; last on stderr: ${JSON.stringify(last.line)})` };
      if (last) return { type: 'process_exited', message: `${how} (last on stderr: ${JSON.stringify(last.line)})` };
      return { type: 'process_exited', message: printed ? `${how}: ${printed.line} (on stdout, not as JSON-RPC; nothing on stderr)` : `${how} (no stderr output)` };
    }
    case 'network': {
      const code = raw.code ?? '';
      const type: ErrorType = NETWORK[code] ?? (TLS_CODE.test(code) ? 'tls' : 'connection_refused');
      // A TLS file of the configuration that cannot be read: no connection was made, so no handshake failed.
      if (code === TLS_FILE_CODE) return { type, message: `TLS not set up (${code}): ${raw.message}` };
      return { type, message: `${NETWORK_WORDS[type] ?? 'network error'}${code ? ` (${code})` : ''}: ${raw.message}` };
    }
    case 'http':
      return classifyHttp(raw, phase);
    case 'input_required':
      return { type: 'protocol_error', message: `the server answered ${phase} with an input_required result asking mcpwatch for ${raw.method}: ${NO_CLIENT_FEATURES}` };
    case 'rpc':
      if ((raw.code === UNSUPPORTED_VERSION || raw.code === -32602) && hasSupportedList(raw.data)) {
        const data = raw.data as { supported: unknown; requested?: unknown };
        const asked = typeof data.requested === 'string' ? data.requested : LATEST_PROTOCOL_VERSION;
        return { type: 'unsupported_protocol_version', message: `server refused protocol version ${asked}; it supports ${JSON.stringify(data.supported)}${modernOnlyAdvice(asked, data.supported)}` };
      }
      // Answered, not cut off: the server's own "Session not found" (the SDK's -32001, which would
      // otherwise read as a timeout) over HTTP 200, where the spec has a 404. Not a check's call: its
      // tool's own error may speak of sessions of its own ("browser session not found").
      if (raw.withSession && !CALL_PHASES.has(phase) && SESSION_GONE.test(raw.message)) {
        return { type: 'session_expired', message: `JSON-RPC error ${raw.code} for the MCP session (HTTP 200): the server no longer knows it (${raw.message})` };
      }
      if (raw.code === -32001) return { type: 'timeout', message: `timeout waiting for ${phase}` };
      if (raw.code === -32602 && (phase === 'tools/call' || phase === 'prompts/get') && (ARGUMENTS_REJECTED.test(raw.message) || /^Invalid (?:params|parameters|arguments)\b/i.test(raw.message))) {
        return argumentsRejected(phase, `JSON-RPC error -32602 "${bounded(raw.message, 300)}"`);
      }
      return { type: 'protocol_error', message: `JSON-RPC error ${raw.code} in ${phase}: ${raw.message}` };
    case 'invalid':
      return { type: 'invalid_response', message: raw.message };
    case 'timeout':
      return { type: 'timeout', message: `timeout after ${raw.ms}ms waiting for ${phase}` };
    case 'unsupported_version':
      return { type: 'unsupported_protocol_version', message: `server answered protocol version ${JSON.stringify(raw.version)}, which mcpwatch does not speak (latest ${LATEST_PROTOCOL_VERSION})` };
    case 'closed':
      return { type: 'connection_refused', message: `connection closed by the server during ${phase}: ${raw.message}` };
    case 'era_mismatch':
      return { type: 'unsupported_protocol_version', message: raw.message };
    case 'auth':
      return { type: raw.type, message: raw.message };
  }
}

/**
 * How the SDKs word a call refused because its arguments do not match the tool's inputSchema (or the
 * prompt's arguments), the tool never run: the TypeScript SDK's McpServer, 1.x and 2.x ("Input
 * validation error: Invalid arguments for tool add: …"; 1.x puts "MCP error -32602: " before it), and
 * the Python SDK's low-level server ("Input validation error: 'id' is a required property"). Both
 * answer it as an `isError` result, where any other text is the tool's own failure; some servers as a
 * JSON-RPC error. Other -32602 wordings say other things: an unknown tool or prompt, the server's own
 * output failing its outputSchema ("Output validation error").
 */
const ARGUMENTS_REJECTED = /^(?:MCP error -32602: )?(?:Input validation error\b|Invalid arguments for (?:tool|prompt) )/;

/**
 * FastMCP validates arguments with pydantic against a model it builds from the tool function and
 * wraps the failure like any other exception of the tool: "Error executing tool add: 1 validation
 * error for addArguments" (the Python SDK's FastMCP, model `<function>Arguments`) or "Error calling
 * tool 'add': 1 validation error for call[add]" (FastMCP 2), or pydantic's words alone, "1 validation
 * error for call[add]" (FastMCP 4). Only that model's name tells it from a pydantic error of the
 * tool's own code, which stays the tool's failure.
 */
const FASTMCP_ARGUMENTS_REJECTED = /^(?:Error (?:executing|calling) tool .{1,200}?: )?\d+ validation errors? for (?:\w+Arguments|call\[[^\]\s]+\])\s/;

/** Whether a check's `isError` result is its server refusing the check's arguments (ARGUMENTS_REJECTED, FASTMCP_ARGUMENTS_REJECTED). */
export function rejectsArguments(text: string): boolean {
  return ARGUMENTS_REJECTED.test(text) || FASTMCP_ARGUMENTS_REJECTED.test(text);
}

/** A check's call refused for its arguments: the fix is in the check, so the message says so first. */
export function argumentsRejected(phase: 'tools/call' | 'prompts/get', said: string): Verdict {
  const accepted = phase === 'tools/call' ? "the tool's inputSchema" : 'the arguments the prompt declares';
  return { type: 'invalid_params', message: `the check's arguments do not match ${accepted}; the server answered ${said}` };
}

/** The requests a configured check makes: what their errors say is the called tool's, resource's or prompt's. */
const CALL_PHASES: ReadonlySet<Phase> = new Set<Phase>(['tools/call', 'resources/read', 'prompts/get']);

/** A JSON-RPC error message that says the session it came on is unknown (the SDKs' wordings, and the like). */
const SESSION_GONE = /\b(?:session (?:not found|unknown|expired|invalid|terminated|does not exist|no longer exists)|(?:unknown|invalid|expired|no valid) session)\b/i;

function classifyHttp(raw: Extract<RawFailure, { kind: 'http' }>, phase: Phase): Verdict {
  const s = raw.status;
  // A 2026-07-28 server refusing a 2025 initialize answers HTTP 400 with JSON-RPC -32022: a version
  // mismatch, never a transient HTTP failure.
  const rpc = s >= 400 && s < 500 ? rpcErrorIn(raw.body) : undefined;
  if (rpc && (rpc.code === UNSUPPORTED_VERSION || rpc.code === -32602) && hasSupportedList(rpc.data)) {
    return classify({ kind: 'rpc', code: rpc.code, message: rpc.message, data: rpc.data }, 'initialize');
  }
  if (s === 401) {
    const meta = challengeParam(raw.wwwAuthenticate, 'resource_metadata');
    if (raw.withCredential) {
      const error = challengeParam(raw.wwwAuthenticate, 'error');
      const why = challengeParam(raw.wwwAuthenticate, 'error_description');
      const said = error ? ` (${error}${why ? `: ${why}` : ''})` : '';
      if (raw.credentialExpired) return { type: 'auth_failed', message: `${raw.credentialExpired}; the server answered HTTP 401${said}` };
      // A token without the scope the server wants is refused 401 by some servers (FastMCP), not 403.
      const scope = challengeParam(raw.wwwAuthenticate, 'scope');
      return { type: 'auth_failed', message: `HTTP 401${said}: the server rejected the credential mcpwatch presented (a token just obtained, or the configured bearer token)${scope ? `; its challenge names scope "${scope}"` : ''}` };
    }
    const detail = meta ? ` (resource metadata: ${meta})` : raw.wwwAuthenticate ? ` (${raw.wwwAuthenticate})` : '';
    return { type: 'auth_required', message: `HTTP 401, auth required${detail}` };
  }
  if (s === 403) {
    // Read as a parameter, as the scope is: the words inside a quoted description are not the error.
    const insufficient = challengeParam(raw.wwwAuthenticate, 'error') === 'insufficient_scope' ? ', insufficient_scope' : '';
    const scope = challengeParam(raw.wwwAuthenticate, 'scope');
    // Without `scope`, the description may be what names it (the Python SDK: "Required scope: mcp:tools").
    const why = scope ? undefined : challengeParam(raw.wwwAuthenticate, 'error_description');
    return { type: 'forbidden', message: `HTTP 403, forbidden${insufficient}${scope ? ` (the server requires scope "${scope}")` : why ? ` (the server says "${why}")` : ''}` };
  }
  const body = describeBody(raw.contentType, raw.body, SNIPPET_BYTES);
  if ((s === 404 || s === 400) && raw.withSession) {
    return { type: 'session_expired', message: `HTTP ${s} for the MCP session: the server no longer knows it${body ? ` (${body})` : ''}` };
  }
  if (s >= 200 && s < 300) {
    return { type: 'invalid_response', message: `HTTP ${s} with content-type ${raw.contentType ?? 'none'}, not MCP${body ? `: ${body}` : ''}` };
  }
  // Revision 2026-07-28 puts some JSON-RPC errors on an HTTP status (-32601 "method not found" on
  // 404): an error response that answers the request (its id is not null) means the URL is served
  // and the server refused the method, so the finding is the JSON-RPC error, not the status. A 408 or
  // 429 stays what its status says, whatever its body: a request to come back later, not a refusal.
  if (rpc && rpc.id !== null && rpc.id !== undefined && s !== 408 && s !== 429) {
    return { type: 'protocol_error', message: `JSON-RPC error ${rpc.code} in ${phase} (HTTP ${s}): ${rpc.message}` };
  }
  if (s === 404) return { type: 'not_found', message: `HTTP 404 on ${raw.method}: nothing is served at the configured URL (check its path)${body ? `: ${body}` : ''}` };
  const hint =
    s === 405 && raw.method === 'POST'
      ? ` (${SSE_ADVICE})`
      : s >= 300 && s < 400 && raw.location
        ? ` (redirect to ${raw.location}; mcpwatch follows a redirect only within the same origin and with the same method, as the MCP SDK does: configure that URL)`
        : '';
  return { type: 'http_status', message: `HTTP ${s} on ${raw.method}${hint}${body ? `: ${body}` : ''}` };
}

/** One parameter of the WWW-Authenticate header, as one line for a message. */
function challengeParam(header: string | null, name: string): string | undefined {
  const v = authParam(header, name);
  return v === undefined ? undefined : oneLine(v);
}

/** The first revision of the stateless era: a server offering only it or later speaks no 2025 revision. */
const MODERN_ERA_FROM = '2026-07-28';

/** Said when a 2025 revision was asked of a server that offers only 2026-07-28 or later (`protocol: legacy` pinned). */
function modernOnlyAdvice(asked: string, supported: unknown): string {
  const offered = Array.isArray(supported) ? supported.filter((v): v is string => typeof v === 'string') : [];
  // Only where mcpwatch's modern era can meet it: a server offering revisions newer still is left to its list.
  if (asked >= MODERN_ERA_FROM || !offered.includes(MODERN_ERA_FROM) || offered.some((v) => v < MODERN_ERA_FROM)) return '';
  return ': a server of the 2026-07-28 era only; use protocol: auto or modern';
}

const PINNED_MODERN_REFUSED = 'the server does not speak MCP 2026-07-28 (server/discover offered no such version): a 2025-era server; use protocol: auto or legacy';

/** JSON-RPC -32022: the request's protocol version is unsupported (revision 2026-07-28). */
const UNSUPPORTED_VERSION = -32022;

function rpcErrorIn(body: string): { code: number; message: string; data?: unknown; id?: unknown } | undefined {
  try {
    const parsed = JSON.parse(body) as { id?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } };
    const e = parsed.error;
    return e && typeof e.code === 'number' ? { code: e.code, message: String(e.message ?? ''), data: e.data, id: parsed.id } : undefined;
  } catch {
    return undefined;
  }
}

function hasSupportedList(data: unknown): boolean {
  return typeof data === 'object' && data !== null && Array.isArray((data as { supported?: unknown }).supported);
}

function oneLine(s: string): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > 160 ? flat.slice(0, 160) + '…' : flat;
}

/** The probe's own deadline expired; thrown by the deadline, never by the SDK. */
export class ProbeTimeout extends Error {
  constructor(readonly ms: number) {
    super(`timeout after ${ms}ms`);
    this.name = 'ProbeTimeout';
  }
}

/** A server that answered, but not as MCP requires (broken pagination, malformed results). */
export class InvalidResponse extends Error {
  override name = 'InvalidResponse';
}

/**
 * Turns whatever a probe caught into a RawFailure. Transport diagnostics win over the SDK's error:
 * the SDK reports a dead process as "Connection closed" and a 401 without its WWW-Authenticate.
 */
export function rawFromError(err: unknown, diag: TransportDiagnostics, command = ''): RawFailure {
  const e = err as (Error & { code?: unknown; cause?: { code?: string; message?: string } }) | undefined;
  if (diag.spawnError) {
    return { kind: 'spawn', code: diag.spawnError.code, message: diag.spawnError.message, command };
  }
  // A pinned modern probe that a 2025 server answered (with an error or a result that is not a
  // discovery): settled before the process's end, which is only the SDK closing it afterwards.
  if (err instanceof SdkError && err.code === SdkErrorCode.EraNegotiationFailed && /server did not offer pinned protocol version/.test(err.message)) {
    return { kind: 'era_mismatch', message: PINNED_MODERN_REFUSED };
  }
  if (diag.abandoned && diag.invalidOutput) return { kind: 'invalid', message: diag.invalidOutput };
  if (err instanceof AuthFailure) return { kind: 'auth', type: err.type, message: err.message };
  if (diag.authFailure) return { kind: 'auth', ...diag.authFailure };
  if (diag.exit) {
    return { kind: 'exited', code: diag.exit.code, signal: diag.exit.signal, stderrTail: diag.stderrTail ?? [], ...(diag.stdoutTail?.length ? { stdoutTail: diag.stdoutTail } : {}) };
  }
  if (err instanceof ProbeTimeout) {
    if (diag.invalidOutput) return { kind: 'invalid', message: diag.invalidOutput };
    return { kind: 'timeout', ms: err.ms };
  }
  if (err instanceof InvalidResponse) return { kind: 'invalid', message: err.message };
  if (err instanceof TlsFileError) return { kind: 'network', code: err.code, message: err.message };
  // The version negotiation wraps what stopped it: the cause is the finding.
  if (err instanceof SdkError && err.code === SdkErrorCode.EraNegotiationFailed && !(err instanceof SdkHttpError)) {
    if (err.cause !== undefined) return rawFromError(err.cause, diag, command);
    // A stdio server that printed garbage fails the pinned discovery the same way as a 2025 one.
    if (diag.invalidOutput) return { kind: 'invalid', message: diag.invalidOutput };
    // Nothing went wrong on the wire: the server simply does not offer the pinned era.
    return { kind: 'era_mismatch', message: PINNED_MODERN_REFUSED };
  }
  // The SDK's SseError has no name of its own; its message starts with "SSE error:".
  if (diag.lastHttp && (err instanceof SdkHttpError || /^SSE error:|HTTP \d{3}|Non-200|content type/i.test(e?.message ?? ''))) {
    const h = diag.lastHttp;
    const withCredential = h.status === 401 && diag.credentialRejected === true;
    const expired = withCredential && diag.credentialExpired ? { credentialExpired: diag.credentialExpired } : {};
    return { kind: 'http', status: h.status, method: h.method, withSession: h.withSession, wwwAuthenticate: h.wwwAuthenticate, contentType: h.contentType, body: h.body ?? h.bodySnippet, location: h.location, ...(withCredential ? { withCredential } : {}), ...expired };
  }
  if (err instanceof SdkHttpError) {
    if (err.status < 200 || err.status > 299) {
      return { kind: 'http', status: err.status, method: 'POST', withSession: false, wwwAuthenticate: null, contentType: null, body: typeof err.data.text === 'string' ? err.data.text : '' };
    }
    return { kind: 'invalid', message: err.message };
  }
  if (err instanceof InsufficientScopeError) {
    return { kind: 'http', status: 403, method: 'POST', withSession: false, wwwAuthenticate: 'Bearer error="insufficient_scope"', contentType: null, body: '' };
  }
  if (err instanceof SdkError) {
    if (err.code === SdkErrorCode.RequestTimeout) return { kind: 'rpc', code: -32001, message: err.message };
    if (err.code === SdkErrorCode.ConnectionClosed || err.code === SdkErrorCode.NotConnected) return { kind: 'closed', message: err.message };
    if (err.code === SdkErrorCode.InvalidResult || err.code === SdkErrorCode.ListPaginationExceeded) return { kind: 'invalid', message: oneLine(err.message) };
    // The SDK v2 client meets an input_required result it has no handler for (mcpwatch registers none).
    const asked = (err.data as { method?: unknown } | undefined)?.method;
    if (err.code === SdkErrorCode.CapabilityNotSupported && typeof asked === 'string') return { kind: 'input_required', method: asked };
  }
  if (diag.networkError) return { kind: 'network', code: diag.networkError.code, message: diag.networkError.message };
  if (e?.cause && typeof e.cause === 'object' && (e.cause.code || e.message === 'fetch failed')) {
    return { kind: 'network', code: e.cause.code, message: e.cause.message ?? e.message };
  }
  if (err instanceof ProtocolError) {
    return { kind: 'rpc', code: err.code, message: err.message.replace(/^MCP error -?\d+: /, ''), data: err.data, ...(diag.sentWithSession ? { withSession: true } : {}) };
  }
  const unsupported = /protocol version is not supported: (.*)$/.exec(e?.message ?? '');
  if (unsupported) return { kind: 'unsupported_version', version: unsupported[1]! };
  if (e instanceof SyntaxError || e?.name === 'ZodError' || e?.name === '$ZodError') {
    return { kind: 'invalid', message: `malformed MCP message: ${oneLine(e.message)}` };
  }
  if (diag.invalidOutput) return { kind: 'invalid', message: diag.invalidOutput };
  return { kind: 'invalid', message: oneLine(e?.message ?? String(err)) };
}

/** Words of a 2025 server refusing a request that came without its session (the SDKs' "No valid session ID provided", "Server not initialized", "Missing session ID"). */
const SESSION_WORDS = /\bsession\b|\binitiali[sz]/i;

/**
 * What a failure has in common with its repeats: what kind of answer it was, its HTTP status and
 * JSON-RPC code, and whether it speaks of a session, without the rest of its words, which may carry
 * a request id or a time and differ at every request. A 2026-07-28 server's bare 400 and a 2025
 * server's 400 refusing a request without its session still differ.
 */
export function failureShape(raw: RawFailure): string {
  switch (raw.kind) {
    case 'http': {
      const rpc = rpcErrorIn(raw.body);
      const said = rpc ? rpc.message : raw.body;
      const what = rpc ? `JSON-RPC ${rpc.code}` : raw.body.trim() ? 'text' : 'bare';
      const challenge = authParam(raw.wwwAuthenticate, 'error');
      return `HTTP ${raw.status} ${what}${SESSION_WORDS.test(said) ? ' session' : ''}${challenge ? ` ${challenge}` : ''}`;
    }
    case 'rpc':
      return `JSON-RPC ${raw.code}${SESSION_WORDS.test(raw.message) ? ' session' : ''}`;
    case 'exited':
      return `exited ${raw.signal ?? raw.code}`;
    case 'network':
    case 'spawn':
      return `${raw.kind} ${raw.code}`;
    case 'auth':
      return `auth ${raw.type}`;
    case 'unsupported_version':
      return `version ${raw.version}`;
    default:
      return raw.kind;
  }
}

/** `said`: the request the message names, where it is not the phase the error is counted under. */
export function toProbeError(raw: RawFailure, phase: Phase, said: Phase = phase): ProbeError {
  const v = classify(raw, said);
  return { type: v.type, category: errorCategory(v.type), phase, message: v.message };
}
