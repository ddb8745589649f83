// Recognition of MCP activity in decoded spans, across the conventions instrumentations emit in
// practice (OpenTelemetry MCP + GenAI, OpenLLMetry, OpenInference). Pure: no I/O, no metrics.

import { errorCategory, isErrorType, type ErrorCategory, type ErrorType } from '../pipeline/error-types.js';
import type { AttrValue, DecodedSpan } from './decode.js';
import { CALLER_RESOURCE_KEYS } from '../pipeline/callers.js';

/**
 * Every span attribute recognition reads. The decoder keeps exactly these keys by default, so a
 * key read here but missing from this table would silently never be seen: all reads go through it.
 */
const KEY = {
  mcpMethod: 'mcp.method.name',
  genAiOperation: 'gen_ai.operation.name',
  traceloopKind: 'traceloop.span.kind',
  openInferenceKind: 'openinference.span.kind',
  genAiTool: 'gen_ai.tool.name',
  mcpTool: 'mcp.tool.name',
  traceloopEntity: 'traceloop.entity.name',
  openInferenceTool: 'tool.name',
  mcpServer: 'mcp.server.name',
  /** FastMCP's server spans name the server as it named itself in initialize (serverInfo.name). */
  fastmcpServer: 'fastmcp.server.name',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  errorType: 'error.type',
  rpcStatus: 'rpc.response.status_code',
  requestId: 'jsonrpc.request.id',
} as const;

export const RECOGNISER_SPAN_KEYS: readonly string[] = Object.values(KEY);
/** Keys among those whose values differ from span to span: the decoder does not intern them. */
export const RECOGNISER_SINGLE_USE_KEYS: readonly string[] = [KEY.requestId];
/**
 * Resource keys kept: service.name for server resolvers (a server-side instrumentation names itself
 * here), and the keys that name a calling agent (pipeline/callers.ts).
 */
export const RECOGNISER_RESOURCE_KEYS: readonly string[] = CALLER_RESOURCE_KEYS;

const TOOL_NAME_KEYS = [KEY.genAiTool, KEY.mcpTool, KEY.traceloopEntity, KEY.openInferenceTool] as const;

export interface Observation {
  kind: 'tool_call' | 'operation';
  server: string;
  /** An MCP method from the known list, or `_other`: unbounded values never reach a label. */
  method: string;
  tool: string | undefined;
  outcome: 'success' | 'error';
  errorType: ErrorType | undefined;
  errorCategory: ErrorCategory | undefined;
  durationSeconds: number;
  /**
   * Set (to true) only on a tool call left `unknown` because its tool name is listed by more than one
   * configured server: counted apart, so a user sees what hints (`servers[].traffic`) would settle.
   */
  ambiguous?: true;
  /**
   * The JSON-RPC id of the request the span describes (`jsonrpc.request.id`), as text, when it has
   * one: the client's span and the server's span of one call carry the same, and pairing matches
   * them by it (otlp/pairing.ts). Never a label.
   */
  requestId?: string;
  /**
   * Set (to true) on a client's span that knows less of its call than the server's span: the MCP
   * Python SDK's `MCP send` spans record no tool's `isError` result and no server address. Pairing
   * holds it for the server's span of its call (otlp/pairing.ts). Never a label.
   */
  awaitsServer?: true;
  /**
   * Set (to true) on a tool call span that names no tool: no tool attribute, and a name not of the
   * conventions' shapes, so that `tool` is its whole name (FastMCP's INTERNAL `delegate add` span
   * around a mounted server's call). Pairing counts the call from a span of it that names the tool
   * when one comes (otlp/pairing.ts). Never a label.
   */
  unnamedTool?: true;
}

/** What a resolver answers for a tool call whose only clue, its tool name, fits several servers. */
export const AMBIGUOUS: unique symbol = Symbol('ambiguous');

/**
 * Maps a span to a configured server (by server.address:port, hints, command, service.name or, for a
 * tool call, the one server that lists its tool), if one matches. `tool` is the recognised tool name
 * of a tool call, undefined for other operations. `evidence`: the span may be no MCP call at all (a
 * GenAI execute_tool span without MCP attributes), so answer only where it shows that it is one of
 * a configured server's calls (pipeline/traffic.ts says which matches do).
 */
export type ServerResolver = (span: DecodedSpan, tool: string | undefined, evidence?: boolean) => string | typeof AMBIGUOUS | undefined;

/**
 * Methods of the MCP specification up to 2026-07-28 (which adds server/discover and the
 * subscriptions/listen stream). Anything else becomes `_other`, so a client sending made-up methods
 * cannot grow the method label without bound.
 */
const KNOWN_METHODS: ReadonlySet<string> = new Set([
  'server/discover',
  'subscriptions/listen',
  'notifications/subscriptions/acknowledged',
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'sampling/createMessage',
  'elicitation/create',
  'roots/list',
  'tasks/get',
  'tasks/list',
  'tasks/result',
  'tasks/cancel',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/message',
  'notifications/resources/updated',
  'notifications/resources/list_changed',
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/roots/list_changed',
  'notifications/elicitation/complete',
  'notifications/tasks/status',
]);

export function normaliseMethod(method: string): string {
  return KNOWN_METHODS.has(method) ? method : '_other';
}

const STATUS_ERROR = 2;
/** OTLP's SPAN_KIND_CLIENT, as decode.ts has it: decode.ts imports this module, so not imported from there. */
const KIND_CLIENT = 3;

/**
 * Turns one decoded span into an observation, or null when the span is not MCP activity. A GenAI
 * `execute_tool` span is made for every tool an agent runs, local functions included: without an MCP
 * attribute (`mcp.method.name`, `mcp.server.name`, `mcp.tool.name`) it is an MCP call only when the
 * resolver finds evidence that it is one of a configured server's (docs/traffic.md); otherwise it is
 * no MCP activity, not a call of server `unknown`.
 */
export function recogniseSpan(span: DecodedSpan, resolveServer?: ServerResolver): Observation | null {
  const attrs = span.attrs;
  const mcpMethod = nonEmptyString(attrs.get(KEY.mcpMethod));
  let kind: Observation['kind'];
  let method: string;
  let tool: string | undefined;
  let needsEvidence = false;
  if (mcpMethod === 'tools/call' || attrs.get(KEY.traceloopKind) === 'tool' || attrs.get(KEY.openInferenceKind) === 'TOOL') {
    kind = 'tool_call';
    method = 'tools/call';
    tool = toolName(span);
  } else if (attrs.get(KEY.genAiOperation) === 'execute_tool') {
    kind = 'tool_call';
    method = 'tools/call';
    tool = toolName(span);
    needsEvidence = mcpMethod === undefined && nonEmptyString(attrs.get(KEY.mcpServer)) === undefined && nonEmptyString(attrs.get(KEY.mcpTool)) === undefined;
  } else if (mcpMethod !== undefined) {
    kind = 'operation';
    method = normaliseMethod(mcpMethod);
  } else if (span.name.endsWith('.mcp') && KNOWN_METHODS.has(span.name.slice(0, -4))) {
    // OpenLLMetry names non-tool MCP requests `<method>.mcp` and sets no MCP attribute on them;
    // requiring a known method keeps unrelated spans that happen to end in `.mcp` out.
    kind = 'operation';
    method = span.name.slice(0, -4);
  } else {
    return null;
  }

  let server: string | typeof AMBIGUOUS;
  if (needsEvidence) {
    const evidence = resolveServer?.(span, tool, true);
    if (evidence === undefined) return null;
    server = evidence;
  } else {
    server = serverName(span, tool, resolveServer);
  }
  const errorAttr = attrs.get(KEY.errorType);
  const hasErrorType = errorAttr !== undefined && errorAttr !== '';
  let errorType: ErrorType | undefined;
  if (hasErrorType || span.statusCode === STATUS_ERROR) {
    errorType = classifySpanError(errorAttr, attrs.get(KEY.rpcStatus), kind === 'tool_call' ? 'tool_error' : '_other', span.statusMessage);
  }
  const obs: Observation = {
    kind,
    server: server === AMBIGUOUS ? 'unknown' : server,
    method,
    tool,
    outcome: errorType === undefined ? 'success' : 'error',
    errorType,
    errorCategory: errorType === undefined ? undefined : errorCategory(errorType),
    durationSeconds: span.durationSeconds,
  };
  if (server === AMBIGUOUS) obs.ambiguous = true;
  if (span.kind === KIND_CLIENT && span.name.startsWith(PYTHON_SDK_CLIENT_PREFIX)) obs.awaitsServer = true;
  // Recognised by the MCP convention's attribute alone: the tool conventions' wrappers name their tool.
  if (mcpMethod === 'tools/call' && tool === span.name && !needsEvidence && attrs.get(KEY.genAiOperation) !== 'execute_tool' && attrs.get(KEY.traceloopKind) !== 'tool' && attrs.get(KEY.openInferenceKind) !== 'TOOL' && !TOOL_NAME_KEYS.some((key) => attrs.has(key))) {
    obs.unnamedTool = true;
  }
  // Read here, where the attributes were just read: pairing reads only the observation.
  const id = attrs.get(KEY.requestId);
  if (typeof id === 'string' ? id !== '' : typeof id === 'number' && Number.isInteger(id)) obs.requestId = String(id);
  return obs;
}

const PYTHON_SDK_CLIENT_PREFIX = 'MCP send ';

function toolName(span: DecodedSpan): string {
  for (const key of TOOL_NAME_KEYS) {
    const value = nonEmptyString(span.attrs.get(key));
    if (value !== undefined) return value;
  }
  // The MCP Python SDK (2.x) names its client spans `MCP send {method} {target}` and puts the tool
  // name nowhere else.
  const name = span.name.startsWith(PYTHON_SDK_CLIENT_PREFIX) ? span.name.slice(PYTHON_SDK_CLIENT_PREFIX.length) : span.name;
  // OpenTelemetry convention: `{mcp.method.name} {target}`.
  if (name.startsWith('tools/call ')) return name.slice('tools/call '.length).trim() || 'unknown';
  // OpenLLMetry: `<tool>.tool`.
  if (name.endsWith('.tool') && name.length > '.tool'.length) return name.slice(0, -'.tool'.length);
  return name === '' ? 'unknown' : name;
}

function serverName(span: DecodedSpan, tool: string | undefined, resolveServer: ServerResolver | undefined): string | typeof AMBIGUOUS {
  const attrs = span.attrs;
  const named = nonEmptyString(attrs.get(KEY.mcpServer));
  if (named !== undefined) return named;
  // The resolver maps server.address:port (or hints, the command, the resource's service.name, the
  // tool name) to a configured server, so traffic and probes of one server share its configured name.
  const configured = resolveServer?.(span, tool);
  if (configured) return configured;
  const address = nonEmptyString(attrs.get(KEY.serverAddress));
  if (address !== undefined) {
    const port = attrs.get(KEY.serverPort);
    if (typeof port !== 'number' && (typeof port !== 'string' || port === '')) return address;
    // An IPv6 address in brackets, as in a URL: `::1:47311` reads as an address without a port.
    return address.includes(':') && !address.startsWith('[') ? `[${address}]:${port}` : `${address}:${port}`;
  }
  return 'unknown';
}

/** JSON-RPC error codes with a catalogue entry of their own. */
const JSON_RPC_CODES: ReadonlyMap<number, ErrorType> = new Map<number, ErrorType>([
  [-32602, 'invalid_params'],
  [-32022, 'unsupported_protocol_version'],
  [-32601, 'method_not_found'],
  [-32603, 'internal_error'],
  [-32001, 'timeout'],
  [-32000, 'connection_closed'],
]);

/**
 * A JSON-RPC error code to the catalogue. Codes without an entry of their own (parse error,
 * invalid request, MCP's resource-not-found, server-defined codes) are still a JSON-RPC error
 * answer, which the catalogue calls `protocol_error`.
 */
export function jsonRpcCodeToErrorType(code: number): ErrorType {
  return JSON_RPC_CODES.get(code) ?? 'protocol_error';
}

/**
 * The prefix the MCP TypeScript SDK 1.x puts on every JSON-RPC error it throws (`McpError`: "MCP error
 * -32602: …"). Instrumentations that record only the exception (OpenLLMetry) leave it in the span's
 * status message, the one place the code survives.
 */
const MCP_ERROR_MESSAGE = /^MCP error (-?\d{1,9}):/;

/**
 * The `error.type` of a failed span, always a catalogue value:
 * 1. the `error.type` attribute: catalogue values kept, integer strings (JSON-RPC codes, as the
 *    MCP convention records them) mapped, known exception class names mapped, anything else `_other`;
 * 2. else `rpc.response.status_code` when it holds an integer code;
 * 3. else the JSON-RPC code of an SDK `McpError` at the start of the status message;
 * 4. else `fallback` (`tool_error` for tool calls: a failed tool with no more specific type).
 */
export function classifySpanError(
  errorTypeAttr: AttrValue | undefined,
  rpcStatusCode: AttrValue | undefined,
  fallback: ErrorType = 'tool_error',
  statusMessage = '',
): ErrorType {
  if (errorTypeAttr !== undefined && errorTypeAttr !== '') {
    if (typeof errorTypeAttr === 'string' && isErrorType(errorTypeAttr)) return errorTypeAttr;
    const code = integerCode(errorTypeAttr);
    if (code !== undefined) return jsonRpcCodeToErrorType(code);
    const named = typeof errorTypeAttr === 'string' ? exceptionErrorType(errorTypeAttr, rpcStatusCode, fallback) : undefined;
    return named ?? '_other';
  }
  const code = integerCode(rpcStatusCode);
  if (code !== undefined) return jsonRpcCodeToErrorType(code);
  const sdk = MCP_ERROR_MESSAGE.exec(statusMessage);
  return sdk ? jsonRpcCodeToErrorType(Number(sdk[1])) : fallback;
}

/**
 * Exception classes whose name Python instrumentations record as `error.type` (the convention's
 * fallback: the exception's class), where the class says what went wrong. FastMCP 4's server span
 * names pydantic's `ValidationError` for refused arguments, `NotFoundError` for an unknown tool, and
 * `MCPError` (no code) for a JSON-RPC error it answered; other classes (`ValueError` from a handler)
 * say nothing the catalogue can use and stay `_other`.
 */
const EXCEPTION_TYPES: ReadonlyMap<string, ErrorType> = new Map<string, ErrorType>([
  ['ValidationError', 'invalid_params'],
  ['ToolError', 'tool_error'],
  ['TimeoutError', 'timeout'],
  ['MCPError', 'protocol_error'],
  ['McpError', 'protocol_error'],
]);

function exceptionErrorType(name: string, rpcStatusCode: AttrValue | undefined, fallback: ErrorType): ErrorType | undefined {
  // A fully qualified name (`pydantic_core._pydantic_core.ValidationError`) by its class.
  const cls = name.slice(name.lastIndexOf('.') + 1);
  const code = integerCode(rpcStatusCode);
  if (code !== undefined && (cls === 'MCPError' || cls === 'McpError')) return jsonRpcCodeToErrorType(code);
  // Unknown tool for a tool call; an unknown resource or prompt has no catalogue entry of its own.
  if (cls === 'NotFoundError') return fallback === 'tool_error' ? 'method_not_found' : undefined;
  return EXCEPTION_TYPES.get(cls);
}

const INTEGER = /^[+-]?\d{1,16}$/;

function integerCode(value: AttrValue | undefined): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined;
  if (typeof value === 'string') {
    const trimmed = value.trim();
    return INTEGER.test(trimmed) ? Number(trimmed) : undefined;
  }
  return undefined;
}

function nonEmptyString(value: AttrValue | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
