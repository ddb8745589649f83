// probe/checks.ts: the configured checks of a probe, run over a connection that has listed its
// tools: tools/call, resources/read or prompts/get, each timed and each failing with its own
// error.type. What the expectations mean is pipeline/expect.ts; what a failing check does to the
// server's state is pipeline/assess.ts.
import type { Client, JsonSchemaValidator, jsonSchemaValidator } from '@modelcontextprotocol/client';
import { checkTarget, durationText, type CheckConfig, type ServerConfig } from '../config/schema.js';
import { errorCategory, type ErrorType } from '../pipeline/error-types.js';
import { bounded, MAX_EXCERPT, unmet, type Observed } from '../pipeline/expect.js';
import { closestName } from '../config/similar.js';
import { argumentsRejected, NO_CLIENT_FEATURES, ProbeTimeout, rawFromError, rejectsArguments, toProbeError } from './classify.js';
import { ProbeClient } from './connection.js';
import { toolCallHeaders } from './streamable-http.js';
import { Deadline, elapsed } from './probe.js';
import type { CheckMethod, CheckRun, McpConnection, ProbeError, ToolInfo } from './prober.js';

function checkError(type: ErrorType, method: CheckMethod, message: string): ProbeError {
  return { type, category: errorCategory(type), phase: method, message };
}

/**
 * A deadline over a whole probe, its checks included, beside each check's own: `health --timeout`,
 * given to have an answer within that long, which a check with a longer timeout of its own outlasted.
 */
export interface ProbeBound {
  signal: AbortSignal;
  ms: number;
  /** How the user gave it, for the message of a check it cut short (`health --timeout 5s`). */
  name: string;
}

function cutByBound(bound: ProbeBound, method: CheckMethod, own: number, ran: boolean): ProbeError {
  const scope = `(it bounds the whole probe, checks included${own > bound.ms ? `; the check's own timeout is ${durationText(own)}` : ''})`;
  return checkError('timeout', method, ran ? `timeout waiting for ${method}: ${bound.name} ran out ${scope}` : `not run: ${bound.name} ran out before it ${scope}`);
}

/**
 * The AJV validator the v2 client ships (no dependency of mcpwatch's own), loaded the first time a
 * tool with an outputSchema answers a check: most agents never pay for it.
 */
let validatorProvider: Promise<jsonSchemaValidator> | undefined;
/** Compiled output schemas by their JSON text; bounded, since servers' schemas can change forever. */
const compiled = new Map<string, JsonSchemaValidator<unknown>>();
const MAX_COMPILED = 256;

/**
 * A schema without its top-level `$id`, its references to that id (`…/result.json#/$defs/x`, valid
 * JSON Schema) made local (`#/$defs/x`): without the id they would resolve nowhere. A part with an
 * `$id` of its own is a scope of its own, left as it is.
 */
function withoutId(schema: Record<string, unknown>): Record<string, unknown> {
  const { $id: id, ...rest } = schema;
  if (typeof id !== 'string' || id === '') return rest;
  const base = id.replace(/#$/, '');
  const local = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(local);
    if (node === null || typeof node !== 'object' || typeof (node as { $id?: unknown }).$id === 'string') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      out[k] = k === '$ref' && typeof v === 'string' && (v === base || v.startsWith(`${base}#`)) ? `#${v.slice(base.length + 1)}` : local(v);
    }
    return out;
  };
  return local(rest) as Record<string, unknown>;
}

async function outputValidator(schema: unknown): Promise<JsonSchemaValidator<unknown>> {
  const key = JSON.stringify(schema);
  const hit = compiled.get(key);
  if (hit) return hit;
  validatorProvider ??= import('@modelcontextprotocol/client/validators/ajv').then(({ AjvJsonSchemaValidator }) => new AjvJsonSchemaValidator());
  const provider = await validatorProvider;
  // The provider answers a schema with an `$id` from the schemas it compiled before under that id:
  // two tools (of any server) whose schemas share an id, or a tool whose schema changed under the same
  // id, were validated against the first one compiled. Compiled without it, each stands alone; its
  // `#/$defs/…` references resolve within it as before, and those that name it by its id are made so.
  const own = schema !== null && typeof schema === 'object' && !Array.isArray(schema) && '$id' in schema ? withoutId(schema as Record<string, unknown>) : schema;
  // The SDK's JsonSchemaType is a structural JSON Schema; a listed outputSchema is one by the spec.
  const validate = provider.getValidator(own as Parameters<jsonSchemaValidator['getValidator']>[0]);
  if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
  compiled.set(key, validate);
  return validate;
}

interface CallOutcome {
  isError: boolean;
  observed: Observed;
}

function textsOf(blocks: unknown): string[] {
  if (!Array.isArray(blocks)) return [];
  const out: string[] = [];
  for (const b of blocks as Array<{ type?: unknown; text?: unknown; resource?: { text?: unknown } }>) {
    if (b?.type === 'text' && typeof b.text === 'string') out.push(b.text);
    else if (b?.type === 'resource' && typeof b.resource?.text === 'string') out.push(b.resource.text);
  }
  return out;
}

/**
 * Sends the check's request. `client.request` rather than callTool/readResource: those answer from
 * the v2 client's response cache (a dead server would pass) and validate output with the
 * connection's validator, which mcpwatch leaves a no-op (connection.ts) and does here itself.
 */
async function send(client: Client, check: CheckConfig, method: CheckMethod, target: string, signal: AbortSignal, timeout: number, headers: Record<string, string> | undefined): Promise<{ result: Record<string, unknown>; ms: number }> {
  const t = performance.now();
  const opts = headers ? { signal, timeout, headers } : { signal, timeout };
  let result: Record<string, unknown>;
  if (method === 'tools/call') result = (await client.request({ method, params: { name: target, arguments: check.arguments } }, opts)) as Record<string, unknown>;
  else if (method === 'resources/read') result = (await client.request({ method, params: { uri: target } }, opts)) as Record<string, unknown>;
  else result = (await client.request({ method, params: { name: target, arguments: check.arguments } }, opts)) as Record<string, unknown>;
  return { result, ms: elapsed(t) };
}

function observe(method: CheckMethod, result: Record<string, unknown>, ms: number): CallOutcome {
  if (method === 'tools/call') {
    const structured = result.structuredContent;
    return { isError: result.isError === true, observed: { texts: textsOf(result.content), latencyMs: ms, ...(structured !== undefined ? { structured } : {}) } };
  }
  if (method === 'resources/read') {
    const contents = Array.isArray(result.contents) ? (result.contents as Array<{ text?: unknown }>) : [];
    return { isError: false, observed: { texts: contents.flatMap((c) => (typeof c.text === 'string' ? [c.text] : [])), latencyMs: ms } };
  }
  const messages = Array.isArray(result.messages) ? (result.messages as Array<{ content?: unknown }>) : [];
  return { isError: false, observed: { texts: messages.flatMap((m) => textsOf(Array.isArray(m.content) ? m.content : [m.content])), latencyMs: ms } };
}

/**
 * What 2026-07-28 servers say when a tool asks the client mid-call the 2025 way: the Python SDK 2.x
 * (`Cannot send 'elicitation/create': this transport context has no back-channel …`, JSON-RPC -32600)
 * and FastMCP 4 (`elicitation via server-initiated requests is unavailable on 2026-07-28 connections`).
 */
const COULD_NOT_ASK = /Cannot send '(?:elicitation\/create|sampling\/createMessage|roots\/list)'|(?:elicitation|sampling|roots)\b[^.]*\bserver-initiated requests is unavailable/i;

/** Tool names that speak of a client feature mcpwatch does not offer. */
const CLIENT_FEATURE_NAME = /sampl|elicit|roots?(?![a-z])/i;

/**
 * Why a check's tool is not called: the listed name it most likely meant first (a typo, `-` for `_`),
 * then the names listed, whole ones only, as many as fit an excerpt: a server with fifty tools would
 * otherwise bury the one that matters behind a cut-off list.
 */
export function toolNotFound(target: string, listed: readonly string[]): string {
  const near = closestName(target, listed);
  const head = `tool ${JSON.stringify(target)} is not in the server's tools/list${near ? `: did you mean ${JSON.stringify(near)}?` : ''}`;
  if (listed.length === 0) return `${head} (no tools)`;
  const shown: string[] = [];
  let length = 0;
  for (const name of listed) {
    if (shown.length > 0 && length + name.length + 2 > MAX_EXCERPT) break;
    shown.push(name);
    length += name.length + 2;
  }
  const rest = listed.length - shown.length;
  // server-everything lists its sampling, elicitation and roots tools only to clients declaring those
  // capabilities; said only for names like theirs, since a tool gone in a schema change is the common case.
  const hidden = !near && CLIENT_FEATURE_NAME.test(target) ? '; a server may list such a tool only to clients that declare sampling, elicitation or roots, which mcpwatch does not' : '';
  return `${head} (${listed.length} ${listed.length === 1 ? 'tool' : 'tools'}: ${bounded(shown.join(', '))}${rest > 0 ? ` and ${rest} more` : ''}${hidden})`;
}

/**
 * The `Mcp-Param-*` headers a tools/call of `tool` carries, or the check's failure when the tool's
 * `x-mcp-header` declarations are invalid. Only on a 2026-07-28 connection over Streamable HTTP: the
 * 2025 revisions have no such headers, and stdio has no headers at all (the revision lets a stdio
 * client ignore the declarations). The schema is the one the probe has just listed.
 */
function paramHeaders(conn: McpConnection, server: Pick<ServerConfig, 'transport'>, check: CheckConfig, tool: ToolInfo): { headers?: Record<string, string>; error?: ProbeError } {
  if (server.transport !== 'streamable_http' || conn.client.getProtocolEra() !== 'modern') return {};
  const mirrored = toolCallHeaders(tool.inputSchema, check.arguments);
  if ('headers' in mirrored) return Object.keys(mirrored.headers).length > 0 ? { headers: mirrored.headers } : {};
  // The revision has a Streamable HTTP client drop such a tool from what tools/list gives it: for every
  // client of this server the tool is not there, so calling it would check nothing they can use.
  const message = `not called: tool ${JSON.stringify(tool.name)} is listed with an invalid x-mcp-header declaration (${bounded(mirrored.invalid, 300)}); MCP 2026-07-28 has every Streamable HTTP client leave such a tool out of its tools/list`;
  return { error: checkError('tool_not_found', 'tools/call', message) };
}

/** Runs one check; never throws for a target failure. */
export async function runCheck(conn: McpConnection, server: Pick<ServerConfig, 'command' | 'transport'>, check: CheckConfig, tools: readonly ToolInfo[], bound?: ProbeBound): Promise<CheckRun> {
  const { method, target } = checkTarget(check);
  const run: CheckRun = { name: check.name, method, target, status: 'pass', onFailure: check.on_failure, startedAt: Date.now(), latencyMs: null, error: null };
  const failed = (error: ProbeError): CheckRun => ({ ...run, status: 'fail', error });
  let tool: ToolInfo | undefined;
  let headers: Record<string, string> | undefined;
  if (method === 'tools/call') {
    tool = tools.find((t) => t.name === target);
    if (!tool) {
      return failed(checkError('tool_not_found', method, toolNotFound(target, tools.map((t) => t.name))));
    }
    const mirrored = paramHeaders(conn, server, check, tool);
    if (mirrored.error) return failed(mirrored.error);
    headers = mirrored.headers;
    if (tool.annotations?.readOnlyHint !== true && !check.allow_side_effects) {
      const message = `not called: tool ${JSON.stringify(target)} is not annotated readOnlyHint: true, so it may have side effects; set allow_side_effects: true on check ${JSON.stringify(check.name)} to call it anyway`;
      return { ...run, status: 'refused', error: checkError('side_effects_refused', method, message) };
    }
  }
  if (bound?.signal.aborted) return failed(cutByBound(bound, method, check.timeout, false));
  const deadline = new Deadline(check.timeout, bound?.signal);
  const client = conn.client instanceof ProbeClient ? conn.client : undefined;
  const mark = client?.refusedRequests ?? 0;
  // A tool that needs the client to sample, elicit or list roots fails in whatever way its server
  // chooses (a JSON-RPC -32601, an isError, a hang): the request mcpwatch refused is the reason. In
  // the 2026-07-28 era no such request reaches mcpwatch: the server says it could not send one.
  const failedWithRefusals = (error: ProbeError): CheckRun => {
    const refused = client?.refusedSince(mark) ?? [];
    if (refused.length > 0) return failed({ ...error, message: `${error.message} (the server asked mcpwatch for ${refused.join(', ')} during the call: ${NO_CLIENT_FEATURES})` });
    if (COULD_NOT_ASK.test(error.message)) return failed({ ...error, message: `${error.message} (${NO_CLIENT_FEATURES})` });
    return failed(error);
  };
  const t = performance.now();
  let sent: { result: Record<string, unknown>; ms: number };
  try {
    sent = await deadline.run(send(conn.client, check, method, target, deadline.signal, deadline.remaining(), headers));
  } catch (err) {
    // How long it took to fail is part of the finding (a JSON-RPC error, or the whole deadline).
    run.latencyMs = elapsed(t);
    if (bound?.signal.aborted) return failedWithRefusals(cutByBound(bound, method, check.timeout, true));
    return failedWithRefusals(toProbeError(rawFromError(deadline.expiredAlready ? new ProbeTimeout(deadline.ms) : err, conn.diagnostics(), server.command ?? ''), method));
  } finally {
    deadline.clear();
  }
  run.latencyMs = sent.ms;
  const { isError, observed } = observe(method, sent.result, sent.ms);
  const expect = check.expect;
  const wantError = expect.is_error ?? false;
  const said = isError ? observed.texts.join(' | ') : '';
  // A tool that refused the check's arguments never ran: `is_error: true` asks for the tool's own
  // error, and a refusal met it by saying only that the check is wrong, as a JSON-RPC -32602 fails it.
  if (isError && method === 'tools/call' && rejectsArguments(said)) {
    const v = argumentsRejected(method, `isError "${bounded(said, 300)}"`);
    const why = wantError ? ' (is_error: true expects the tool\'s own error; the tool never ran)' : '';
    return failed(checkError(v.type, method, `${v.message}${why}`));
  }
  if (isError && !wantError) {
    return failedWithRefusals(checkError('tool_error', method, `tool returned isError: ${observed.texts.length ? `"${bounded(said, 300)}"` : 'no text'}`));
  }
  if (!isError && wantError) return failed(checkError('assertion_failed', method, 'is_error: expected true, got false'));
  if (tool?.outputSchema !== undefined && !isError) {
    const violation = await schemaViolation(tool.outputSchema, observed.structured);
    if (violation) return failed(checkError('schema_violation', method, violation));
  }
  const misses = unmet(expect, observed);
  if (misses.length) return failed(checkError('assertion_failed', method, misses.length > 1 ? `${misses[0]} (and ${misses.length - 1} more: ${bounded(misses.slice(1).join('; '))})` : misses[0]!));
  return run;
}

async function schemaViolation(schema: unknown, structured: unknown): Promise<string | undefined> {
  if (structured === undefined) return 'the tool declares an outputSchema but returned no structuredContent';
  let validate: JsonSchemaValidator<unknown>;
  try {
    validate = await outputValidator(schema);
  } catch (err) {
    return `the tool's outputSchema does not compile: ${bounded((err as Error).message ?? String(err))}`;
  }
  const v = validate(structured);
  return v.valid ? undefined : `structuredContent does not match the outputSchema: ${bounded(v.errorMessage ?? 'invalid')}`;
}

/** Runs checks one after another (a server is not hammered by its own monitor). */
export async function runChecks(conn: McpConnection, server: Pick<ServerConfig, 'command' | 'transport'>, checks: readonly CheckConfig[], tools: readonly ToolInfo[], bound?: ProbeBound): Promise<CheckRun[]> {
  const runs: CheckRun[] = [];
  for (const check of checks) {
    if (conn.closed) break;
    runs.push(await runCheck(conn, server, check, tools, bound));
  }
  return runs;
}
