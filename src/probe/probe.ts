import { ProtocolError, SdkErrorCode, SdkHttpError, type Client, type PriorDiscovery } from '@modelcontextprotocol/client';
import type { CheckConfig, ServerConfig } from '../config/schema.js';
import { failureShape, InvalidResponse, ProbeTimeout, rawFromError, toProbeError } from './classify.js';
import { ProbeClient, toolsPageDigest, type StartedTransport } from './connection.js';
import { runChecks, type ProbeBound } from './checks.js';
import type { CheckRun, Connector, McpConnection, Phase, ProbeError, ProbeOutcome, ServerInfo, ToolInfo, TransportDiagnostics } from './prober.js';
import type { ErrorType } from '../pipeline/error-types.js';
import { TRANSPORTS } from './transports.js';
import type { ProcessGroups } from './stdio.js';
import { credentialsFor } from './auth.js';
import { maskSecrets } from './secrets.js';
import { configFailure, slowStartNote, startBudgetMs } from '../pipeline/start.js';
import { transportHint } from '../pipeline/hints.js';

export const DEFAULT_MAX_TOOL_PAGES = 50;

export interface ProbeOptions {
  /** Ends the probe as its own deadline would, and bounds the close after a failure too (McpConnection.close). */
  signal?: AbortSignal;
  /** The era this server was found to speak before: the handshake skips finding it out again. */
  prior?: PriorDiscovery;
  /**
   * The era the server spoke when last reached, where the prior was dropped to find it out again:
   * names a handshake that fails anyway, which a probe without a prior would call `initialize`.
   */
  lastEra?: PriorDiscovery['kind'];
  maxToolPages?: number;
  /** The configured checks to run after tools/list (default: all of the server's; [] skips them). */
  checks?: readonly CheckConfig[];
  /** The owner's record of the stdio servers it runs (ConnectContext.processGroups). */
  processGroups?: ProcessGroups;
  /** probeServer: a deadline over the whole probe, its checks and its close included (`health --timeout`). */
  bound?: ProbeBound;
}

/**
 * One deadline for a whole probe. `run` races a phase against it, so a phase the SDK would wait on
 * forever (SSE `endpoint`, a hung child) still ends on time and the phase is named in the verdict.
 */
export class Deadline {
  readonly controller = new AbortController();
  private readonly expired: Promise<never>;
  private timer!: NodeJS.Timeout;
  private readonly end: number;
  /** Lets go of the outer signal: one outlives many deadlines (a probe's phases and checks). */
  private unlisten: (() => void) | undefined;

  constructor(readonly ms: number, outer?: AbortSignal) {
    this.end = performance.now() + ms;
    this.expired = new Promise<never>((_, reject) => {
      this.timer = setTimeout(() => {
        reject(new ProbeTimeout(ms));
        this.controller.abort();
      }, ms);
      if (!outer) return;
      const cut = (): void => {
        reject(new ProbeTimeout(ms));
        this.controller.abort();
      };
      // A signal that fired before (a second attempt of a probe) fires no event again.
      if (outer.aborted) return cut();
      outer.addEventListener('abort', cut, { once: true });
      this.unlisten = () => outer.removeEventListener('abort', cut);
    });
    // Nobody may be racing when it fires (between phases); that is not an unhandled rejection.
    this.expired.catch(() => {});
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * Time left, plus a margin, for the SDK's own request timeout: the deadline must fire first so the
   * verdict names mcpwatch's timeout and phase, not the SDK's generic -32001.
   */
  remaining(): number {
    // Rounded up to whole seconds: Node keeps one timer list per distinct duration, and a fleet's
    // checks then share a few lists instead of opening one per millisecond value.
    return Math.max(1, Math.ceil((this.end - performance.now()) / 1000)) * 1000 + 1000;
  }

  get expiredAlready(): boolean {
    return this.controller.signal.aborted;
  }

  run<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.expired]);
  }

  clear(): void {
    clearTimeout(this.timer);
    this.unlisten?.();
  }
}

/** The last complete listing over a client, by its pages' digests, to hand back when it recurs. */
const lastListing = new WeakMap<Client, { pages: string[]; tools: ToolInfo[] }>();

/**
 * Lists every page of tools, stopping on a repeated cursor or at the page cap. When every page is
 * byte for byte the last listing's over the same connection, that listing's ToolInfo array itself is
 * returned, so a caller can tell "unchanged" by identity (nobody mutates a listing).
 */
export async function listAllTools(client: Client, opts: { signal: AbortSignal; timeout: () => number; maxPages: number }): Promise<ToolInfo[]> {
  const tools: ToolInfo[] = [];
  const seen = new Set<string>();
  const probeClient = client instanceof ProbeClient ? client : undefined;
  const digests: Array<string | undefined> = [];
  let cursor: string | undefined;
  let complete = false;
  try {
    for (let page = 1; ; page++) {
      // One request per page, even the first: the v2 client's listTools() walks every page itself when
      // given no cursor (hiding a looping cursor), and may answer from its cache (a dead server would
      // then look alive).
      const request = { method: 'tools/list', params: cursor === undefined ? {} : { cursor } };
      const options = { signal: opts.signal, timeout: opts.timeout() };
      const res = probeClient ? await probeClient.request(request, probeClient.toolsListSchema, options) : await client.request({ ...request, method: 'tools/list' }, options);
      if (probeClient) digests.push(toolsPageDigest(res));
      for (const t of res.tools) tools.push(pickTool(t));
      const next = res.nextCursor;
      // An empty cursor ends the list too: servers send `""` for "no more", and asking with it
      // would only fetch the first page again.
      if (next === undefined || next === null || next === '') {
        complete = true;
        return probeClient ? settleListing(probeClient, digests, tools) : tools;
      }
      if (seen.has(next) || next === cursor) {
        throw Object.assign(new InvalidResponse(`tools/list pagination repeated cursor ${JSON.stringify(next)} on page ${page}; stopped after ${tools.length} tools`), { tools });
      }
      if (page >= opts.maxPages) {
        throw Object.assign(new InvalidResponse(`tools/list returned more than ${opts.maxPages} pages; stopped after ${tools.length} tools`), { tools });
      }
      seen.add(next);
      cursor = next;
    }
  } finally {
    // A listing that failed part-way keeps the session (a partial answer), so its pages would pile up
    // check after check when they change (a cursor carrying a counter): only they and the last
    // complete listing's stay.
    if (probeClient && !complete) probeClient.keepPages([...digests, ...(lastListing.get(probeClient)?.pages ?? [])]);
  }
}

/** The last listing's array when every page's digest is the last listing's, else `tools`, remembered. */
function settleListing(client: ProbeClient, digests: Array<string | undefined>, tools: ToolInfo[]): ToolInfo[] {
  client.keepPages(digests);
  const last = lastListing.get(client);
  if (last && last.pages.length === digests.length && digests.every((d, i) => d !== undefined && d === last.pages[i])) return last.tools;
  if (digests.every((d) => d !== undefined)) lastListing.set(client, { pages: digests as string[], tools });
  else lastListing.delete(client);
  return tools;
}

function pickTool(t: Record<string, unknown>): ToolInfo {
  const tool: ToolInfo = { name: String(t.name), inputSchema: t.inputSchema };
  if (typeof t.title === 'string') tool.title = t.title;
  if (typeof t.description === 'string') tool.description = t.description;
  if (t.outputSchema !== undefined) tool.outputSchema = t.outputSchema;
  if (t.annotations && typeof t.annotations === 'object') tool.annotations = t.annotations as Record<string, unknown>;
  return tool;
}

export function emptyOutcome(server: Pick<ServerConfig, 'name' | 'transport'>, startedAt = Date.now()): ProbeOutcome {
  return {
    server: server.name,
    transport: server.transport,
    startedAt,
    phases: {},
    latencyMs: null,
    protocolVersion: null,
    era: null,
    serverInfo: null,
    capabilities: null,
    tools: null,
    error: null,
    warnings: [],
  };
}

/**
 * The phase a failed handshake is named by: `server/discover` where the modern era is pinned or
 * known, `initialize` otherwise (under `auto` the era is not known until the handshake succeeds, and
 * most servers in the field still speak 2025). A successful one is timed under the era it found.
 */
export function handshakePhase(server: Pick<ServerConfig, 'protocol'>, prior?: Pick<PriorDiscovery, 'kind'>): Phase {
  if (prior) return prior.kind === 'modern' ? 'server/discover' : 'initialize';
  return server.protocol === 'modern' ? 'server/discover' : 'initialize';
}

/** Opens the MCP connection in the era the server speaks (2025 initialize or 2026 server/discover) and fills the outcome's server facts. */
export async function handshake(conn: McpConnection, deadline: Deadline, out: ProbeOutcome, prior?: PriorDiscovery): Promise<void> {
  const t = performance.now();
  await deadline.run(conn.client.connect(conn.transport, { signal: deadline.signal, timeout: deadline.remaining(), ...(prior ? { prior } : {}) }));
  const ms = elapsed(t);
  serverFacts(conn, out);
  // A 2026-07-28 era already known sends nothing to connect: no server/discover to time, count or trace.
  if (out.era === 'modern' && prior?.kind === 'modern') return;
  out.phases[out.era === 'modern' ? 'server/discover' : 'initialize'] = ms;
}

/** The era verdict to keep for a connected client, so the next connection skips finding it out. */
export function verdictOf(client: Client): PriorDiscovery | undefined {
  const era = client.getProtocolEra();
  if (era === 'legacy') return { kind: 'legacy' };
  const discover = client.getDiscoverResult();
  return era === 'modern' && discover ? { kind: 'modern', discover } : undefined;
}

/**
 * Whether a failure is the server refusing the era it was spoken to in, which it may no longer speak
 * (restarted on another SDK): a version mismatch, or, for a 2026-07-28 request (which needs no
 * session), the HTTP 4xx a 2025 server gives any request but `initialize` without its session ("no
 * valid session ID", "server not initialized"). Not auth (401/403), a 404 (its own finding), or a
 * request to come back later (408/429).
 */
export function refusesEra(error: ProbeError | null, era: PriorDiscovery['kind'] | null | undefined, diag: TransportDiagnostics): boolean {
  if (!error || !era) return false;
  if (error.type === 'unsupported_protocol_version') return true;
  const status = diag.lastHttp?.status;
  return era === 'modern' && error.type === 'http_status' && status !== undefined && status >= 400 && status < 500 && ![401, 403, 404, 408, 429].includes(status);
}

/** What the server said about itself when the connection was initialized, into the outcome. */
export function serverFacts(conn: McpConnection, out: ProbeOutcome): void {
  const info = conn.client.getServerVersion();
  out.serverInfo = info ? pickServerInfo(info) : null;
  out.capabilities = (conn.client.getServerCapabilities() as Record<string, unknown> | undefined) ?? null;
  out.protocolVersion = conn.client.getNegotiatedProtocolVersion() ?? null;
  out.era = conn.client.getProtocolEra() ?? null;
}

/**
 * The redirect the connection followed when it was opened, as a warning: said at every check over it,
 * not only the one that opened it, so the live view (`health --from`) shows it too.
 */
export function noteRedirect(conn: McpConnection, out: ProbeOutcome): void {
  const redirected = conn.diagnostics().redirected;
  if (redirected) out.warnings.push(`HTTP ${redirected.status} redirect from ${redirected.from} to ${redirected.to}, followed: set url to the latter (clients that do not follow redirects fail on the former)`);
}

/** Lists tools over an initialized connection (none when the server declares no tools capability). */
export async function listTools(conn: McpConnection, deadline: Deadline, out: ProbeOutcome, maxPages: number): Promise<void> {
  const t = performance.now();
  try {
    out.tools = out.capabilities && !('tools' in out.capabilities) ? [] : await deadline.run(listAllTools(conn.client, { signal: deadline.signal, timeout: () => deadline.remaining(), maxPages }));
  } catch (err) {
    const partial = (err as { tools?: ToolInfo[] }).tools;
    if (partial) out.tools = partial;
    throw err;
  } finally {
    out.phases['tools/list'] = elapsed(t);
  }
}

/**
 * Whether a server that offers no tools is still there, over a connection opened earlier: listing
 * them sends nothing, so a kept session would report a dead server up. `ping` in the 2025 era;
 * `server/discover` in 2026-07-28, which has no ping.
 */
export async function confirmAlive(conn: McpConnection, deadline: Deadline, out: ProbeOutcome, phase: 'ping' | 'server/discover'): Promise<void> {
  const t = performance.now();
  const options = { signal: deadline.signal, timeout: deadline.remaining() };
  try {
    await deadline.run(phase === 'ping' ? conn.client.ping(options) : conn.client.discover(options));
    out.tools = [];
  } catch (err) {
    // Any JSON-RPC answer is one: a server that does not implement ping (-32601) is still there.
    if (!(err instanceof ProtocolError)) throw err;
    out.tools = [];
  } finally {
    out.phases[phase] = elapsed(t);
  }
}

/** The request a check over a kept session makes: tools/list, or where there are no tools, the one that says the server is there. */
export function sessionCheckPhase(out: ProbeOutcome): 'tools/list' | 'ping' | 'server/discover' {
  if (!out.capabilities || 'tools' in out.capabilities) return 'tools/list';
  return out.era === 'modern' ? 'server/discover' : 'ping';
}

function pickServerInfo(info: { name: string; version: string; title?: string }): ServerInfo {
  return info.title ? { name: info.name, version: info.version, title: info.title } : { name: info.name, version: info.version };
}

export function elapsed(since: number): number {
  return Math.round((performance.now() - since) * 1000) / 1000;
}

/**
 * `said`: the request the message names, where it is not `phase` (handshakeUnderWay). Returns the
 * failure's shape (failureShape): what tells it from another failure where its words vary.
 */
export function fail(out: ProbeOutcome, err: unknown, diag: TransportDiagnostics, phase: Phase, server: Pick<ServerConfig, 'command'>, said?: Phase): string {
  const raw = rawFromError(err, diag, server.command ?? '');
  // No token could be had: the request that needed it never reached the server.
  out.error = raw.kind === 'auth' ? toProbeError(raw, 'token') : toProbeError(raw, phase, said);
  return failureShape(raw);
}

/**
 * The handshake request a failure cut short, where the phase it is counted under (handshakePhase)
 * may not be it: under `auto` the era is not known until the handshake ends, so a server/discover
 * left unanswered was counted, and said, as `initialize`.
 */
function handshakeUnderWay(conn: McpConnection | undefined, phase: Phase): Phase | undefined {
  if (!conn || (phase !== 'initialize' && phase !== 'server/discover')) return undefined;
  const sent = (conn.transport as Partial<Pick<StartedTransport, 'lastRequest'>>).lastRequest;
  return sent === 'initialize' || sent === 'server/discover' ? sent : undefined;
}

/** The time spent obtaining OAuth tokens since the last probe took it, as the `token` phase. */
export function takeTokenPhase(diag: TransportDiagnostics, out: ProbeOutcome): void {
  if (diag.tokenMs === undefined) return;
  out.phases.token = diag.tokenMs;
  delete diag.tokenMs;
}

/**
 * Connect → initialize → tools/list under one deadline. On success the connection is returned open
 * (the caller keeps or closes it); on failure it is already closed and the outcome says why.
 */
/**
 * What openAndProbe opened: the connection, open, where all went well. On a failure, `eraRefused`
 * where the server refused the remembered era (refusesEra), and `spoke` where the handshake itself
 * succeeded and a later request failed: the era the server spoke, so a failure is known to be its
 * own in that era.
 */
export interface Opened {
  out: ProbeOutcome;
  conn: McpConnection | undefined;
  eraRefused?: boolean;
  spoke?: PriorDiscovery;
  /** The failure's shape (failureShape); absent where the configuration could not be used. */
  shape?: string;
  /**
   * The 2025 era was found by a second handshake, server/discover having ended the process or got a
   * 5xx: asking it again costs the server a crash or an error, not one request.
   */
  discoveryFailed?: boolean;
}

export async function openAndProbe(server: ServerConfig, connector: Connector, opts: ProbeOptions = {}): Promise<Opened> {
  const out = emptyOutcome(server);
  out.error = configFailure(server);
  if (out.error) return { out, conn: undefined };
  let deadline = new Deadline(startBudgetMs(server), opts.signal);
  let conn: McpConnection | undefined;
  let phase: Phase = server.transport === 'stdio' ? 'spawn' : 'connect';
  let phaseStart = performance.now();
  /** The server/discover of an `auto` handshake got a 5xx, which the SDK takes for an outage, not a 2025 server. */
  let discoveryFailed = false;
  let shape: string | undefined;
  try {
    conn = await deadline.run(connector(server, { signal: deadline.signal, processGroups: opts.processGroups }));
    out.phases[phase] = elapsed(phaseStart);
    phase = handshakePhase(server, opts.prior ?? (opts.lastEra && { kind: opts.lastEra }));
    phaseStart = performance.now();
    await handshake(conn, deadline, out, opts.prior);
    noteRedirect(conn, out);
    if (deadline.ms !== server.timeout) {
      // The handshake is timed under the era it found (handshake()): under auto, that is known only now.
      const note = slowStartNote(server, (out.phases.spawn ?? 0) + (out.phases[out.era === 'modern' ? 'server/discover' : 'initialize'] ?? 0));
      if (note) out.warnings.push(note);
      deadline.clear();
      deadline = new Deadline(server.timeout, opts.signal);
    }
    phase = 'tools/list';
    await listTools(conn, deadline, out, opts.maxToolPages ?? DEFAULT_MAX_TOOL_PAGES);
    out.latencyMs = round3((out.phases['server/discover'] ?? 0) + (out.phases.initialize ?? 0) + (out.phases['tools/list'] ?? 0));
  } catch (err) {
    // The failed phase's time is kept too: how long it took to fail is part of the finding.
    out.phases[phase] ??= elapsed(phaseStart);
    const diag = conn?.diagnostics() ?? (err as { diagnostics?: TransportDiagnostics }).diagnostics ?? {};
    discoveryFailed = err instanceof SdkHttpError && err.code === SdkErrorCode.EraNegotiationFailed && err.status >= 500;
    shape = fail(out, deadline.expiredAlready ? new ProbeTimeout(deadline.ms) : err, diag, phase, server, handshakeUnderWay(conn, phase));
    out.error!.message += transportHint(server, out.error) ?? '';
  } finally {
    deadline.clear();
    const diag = conn?.diagnostics();
    if (diag) takeTokenPhase(diag, out);
  }
  // Only a remembered era can be refused: without one the handshake found the era out itself.
  const eraRefused = opts.prior !== undefined && conn !== undefined && refusesEra(out.error, opts.prior.kind, conn.diagnostics());
  const spoke = out.error && conn && out.era ? verdictOf(conn.client) : undefined;
  if (out.error && conn) await closeTimed(conn, out, opts.signal);
  // Read back as set by fail() in the catch above, which control flow analysis does not see.
  const error = out.error as ProbeError | null;
  if (error && exitedOnDiscovery(server, opts, phase, error)) {
    // Some 2025 servers end their process on any request before initialize (Python SDK releases
    // before 1.9.4 fail validation of server/discover): a new process is asked in the 2025 era alone.
    const again = await openAndProbe(server, connector, { ...opts, prior: { kind: 'legacy' } });
    if (!again.out.error) again.out.warnings.push(`the server exited on server/discover (${error.message}); a new process speaks MCP ${again.out.protocolVersion ?? '2025'}`);
    return { ...again, discoveryFailed: true };
  }
  if (error && discoveryFailed && server.protocol === 'auto' && !opts.prior) {
    // Some 2025 servers fail a method they do not know with a 5xx instead of a JSON-RPC error: the
    // 2025 handshake alone says whether the server works (if it is really down, initialize fails too).
    const again = await openAndProbe(server, connector, { ...opts, prior: { kind: 'legacy' } });
    if (!again.out.error) again.out.warnings.push(`the server failed server/discover (${error.message}); it speaks MCP ${again.out.protocolVersion ?? '2025'} (protocol: legacy skips the discovery)`);
    return { ...again, discoveryFailed: true };
  }
  return out.error ? { out, conn: undefined, ...(eraRefused ? { eraRefused } : {}), ...(spoke ? { spoke } : {}), ...(shape ? { shape } : {}) } : { out, conn };
}

/** An `auto` stdio server whose process ended during the handshake, before any era was settled. */
function exitedOnDiscovery(server: ServerConfig, opts: ProbeOptions, phase: Phase, error: ProbeError): boolean {
  return server.transport === 'stdio' && server.protocol === 'auto' && !opts.prior && (phase === 'initialize' || phase === 'server/discover') && error.type === 'process_exited';
}

/**
 * Closes a connection, recording the close phase and what the transport noticed on the way.
 * `deadline`: the probe's, which the close shares (McpConnection.close).
 */
export async function closeTimed(conn: McpConnection, out: ProbeOutcome, deadline?: AbortSignal): Promise<void> {
  const t = performance.now();
  await conn.close(deadline);
  out.phases.close = elapsed(t);
  noteInvalidOutput(conn.diagnostics(), out);
}

/**
 * A server that answers although it printed something other than JSON-RPC on stdout: a warning
 * (a client that reads stdout strictly fails on it). Said at each check of a kept session too, as
 * at each `health` probe: the server's process printed it, whenever that was.
 */
export function noteInvalidOutput(diag: TransportDiagnostics, out: ProbeOutcome): void {
  const note = diag.invalidOutput && `${diag.invalidOutput} (stdout must carry only JSON-RPC)`;
  if (!out.error && note && !out.warnings.includes(note)) out.warnings.push(note);
}

/**
 * One probe of one server with a fresh connection: connect → initialize → tools/list under one
 * deadline, then the configured checks (each under its own), then close; all of it, the close
 * included, under `bound` where given. Never throws for a target failure: the outcome says what happened.
 */
export async function probeServer(server: ServerConfig, opts: ProbeOptions = {}): Promise<ProbeOutcome> {
  const { out, conn } = await openAndProbe(server, TRANSPORTS[server.transport].connect, opts.bound ? { ...opts, signal: opts.bound.signal } : opts);
  if (conn) {
    const checks = opts.checks ?? server.checks ?? [];
    if (checks.length) {
      out.checks = await runChecks(conn, server, checks, out.tools ?? [], opts.bound);
      out.error = await goneDuringChecks(server, conn, out.checks, opts.bound?.signal);
    }
    await closeTimed(conn, out, opts.bound?.signal);
  }
  return finishOutcome(server, out);
}

/** What a check fails with when its connection broke under it: the server may have gone, not the tool failed. */
const CONNECTION_LOST: ReadonlySet<ErrorType> = new Set<ErrorType>(['process_exited', 'connection_refused']);
/**
 * What asking the server again fails with when nothing is there to answer. Not a timeout: a server
 * that ignores ping, or is busy just then, is not gone, and its next listing says if it is.
 */
const UNREACHABLE: ReadonlySet<ErrorType> = new Set<ErrorType>(['process_exited', 'connection_refused', 'dns']);
/** A gateway's answer for the server behind it that it cannot reach, as the listing counts it. */
const GATEWAY_FOR_NONE = /^HTTP 50[234]\b/;

/**
 * The failure that makes the server down when it went away during one of `runs`: its process exited
 * (final, as at any other moment), or the call's connection was refused, reset or closed and
 * nothing answers when the server is asked again (over the same connection where it is open, else a
 * new one), or only its gateway does, with a 502, 503 or 504. The check names the moment, what was
 * asked after it the state. Null where the server still answers (a tool error, a slow tool's timeout
 * or one call a proxy cut stay the check's failure), and where the probe's time ran out before it
 * could be asked.
 */
export async function goneDuringChecks(server: ServerConfig, conn: McpConnection, runs: readonly CheckRun[], signal?: AbortSignal): Promise<ProbeError | null> {
  const run = runs.find((r) => r.status === 'fail' && r.error !== null && CONNECTION_LOST.has(r.error.type));
  if (!run?.error) return null;
  const during = `the server went away during check ${run.name} (${run.method} ${JSON.stringify(run.target)})`;
  if (run.error.type === 'process_exited') return { ...run.error, message: `${during}: ${run.error.message}` };
  // A stdio connection that closed without an exit seen is not the process's end, and its pipe cannot be asked again.
  if (TRANSPORTS[server.transport].processBound || signal?.aborted) return null;
  const after = await askAgain(server, conn, signal);
  if (!after.error || signal?.aborted) return null;
  if (!UNREACHABLE.has(after.error.type) && !(after.error.type === 'http_status' && GATEWAY_FOR_NONE.test(after.shape ?? ''))) return null;
  return { type: after.error.type, category: after.error.category, phase: run.method, message: `${during}: ${run.error.message}; then ${after.error.phase}: ${after.error.message}` };
}

/**
 * Whether the server answers now: the connection's own ping (server/discover in 2026-07-28), or a new
 * connection where it closed, before the ping or under it (an SSE stream a proxy cut says nothing of
 * the server behind it). `shape`: the failure's (failureShape).
 */
async function askAgain(server: ServerConfig, conn: McpConnection, signal?: AbortSignal): Promise<{ error: ProbeError | null; shape?: string | undefined }> {
  if (!conn.closed) {
    const out = emptyOutcome(server);
    serverFacts(conn, out);
    const phase = out.era === 'modern' ? 'server/discover' : 'ping';
    const deadline = new Deadline(server.timeout, signal);
    let shape: string | undefined;
    try {
      await confirmAlive(conn, deadline, out, phase);
    } catch (err) {
      shape = fail(out, deadline.expiredAlready ? new ProbeTimeout(deadline.ms) : err, conn.diagnostics(), phase, server);
    } finally {
      deadline.clear();
    }
    if (!out.error || !conn.closed) return { error: out.error, shape };
  }
  const again = await openAndProbe(server, TRANSPORTS[server.transport].connect, { signal, checks: [] });
  if (again.conn) await again.conn.close(signal);
  return { error: again.out.error, shape: again.shape };
}

/**
 * The last step of every probe and every check of a kept session, whichever way it went: when the
 * server's credential expires, where mcpwatch knows and cannot renew it (a bearer JWT), and its texts
 * masked of the server's secrets (probe/secrets.ts) before they leave the probe layer.
 */
export function finishOutcome<T extends ProbeOutcome>(server: ServerConfig, out: T): T {
  const expiresAt = credentialsFor(server)?.expiresAt();
  if (expiresAt !== undefined) out.credentialExpiresAt = expiresAt;
  return maskSecrets(server, out);
}

export function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
