// pipeline/traffic.ts decides what recognised traffic is measured as: which configured server a span
// belongs to, and under which labels (bounded server and tool names) its call is counted. It runs per
// span, so each decision is made once per distinct observation and remembered; export/ turns a
// decision into metric cells and never decides a label itself.
import { basename } from 'node:path';
import type { DecodedSpan } from '../otlp/decode.js';
import { AMBIGUOUS, type Observation, type ServerResolver } from '../otlp/recognise.js';
import { capName, NameLimiter, PathCells } from './limits.js';

/** Distinct server names from traffic that match no configured server, before they become `_other`. */
export const MAX_UNCONFIGURED_SERVERS = 100;
/**
 * Routes remembered before the memo starts over. Raw names are unbounded (a client inventing tool
 * names), so the memo is too unless capped; the series behind it stay bounded by the limiters.
 */
const MAX_ROUTES = 20_000;

/** What identifies a configured server in traffic. */
export interface ServerIdentity {
  name: string;
  url?: string;
  command?: string;
  /** The name the server gave in initialize / server/discover. */
  serverInfoName?: string;
  /**
   * The tool names its probes last listed (the stored snapshot until the first probe of this run);
   * undefined while none is known; null when it cannot be known here (another shard probes the
   * server), which makes no tool name provably unique and so turns attribution by tool name off.
   */
  tools?: readonly string[] | null;
  /** `servers[].traffic` hints: the sender's service.name, or `host` / `host:port`, means this server. */
  hints?: { service_names?: readonly string[]; hosts?: readonly string[] };
}

/**
 * Names traffic after configured servers, first rule that matches:
 * 1. server.address[:port] against `traffic.hosts` hints, then the URL's host:port (a span without
 *    a port matches by host; a hint without a port matches the host at any port);
 * 2. the resource's service.name against `traffic.service_names` hints, then (a server
 *    instrumenting itself) the configured name, the name the server gave for itself or the command's
 *    base name; failing those, a FastMCP span's `fastmcp.server.name` the same way;
 * 3. for a tool call whose span names no server address: the one configured server whose probed
 *    tool list has the tool. A name listed by several servers is AMBIGUOUS (counted, left `unknown`);
 *    a span that names an address no rule matched belongs to that address, never to a server by its
 *    tool name. Off when some server's tool list cannot be known here (sharding).
 * The first server listed wins a tie within a rule.
 *
 * Asked for evidence (a GenAI execute_tool span without MCP attributes, which may be a local function
 * tool), it answers only with a match that shows the span is one of a configured server's calls: an
 * address (rule 1); a service.name (rule 2) whose server lists the tool, or whose tool list is not
 * known; the tool name (rule 3, ambiguous included). Nothing else is: no answer, no MCP call.
 */
export function serverResolver(servers: Iterable<ServerIdentity>): ServerResolver {
  const byAddress = new Map<string, string>();
  const byHost = new Map<string, string>();
  /** Hints without a port: the host at any port. */
  const byHintHost = new Map<string, string>();
  const byService = new Map<string, string>();
  const byTool = new Map<string, string | typeof AMBIGUOUS>();
  const first = (map: Map<string, string>, key: string, name: string): void => {
    if (!map.has(key)) map.set(key, name);
  };
  const list = [...servers];
  const toolsKnowable = list.every((s) => s.tools !== null);
  // Hints first: what a user wrote down wins over what is derived from the URL or the command.
  for (const s of list) {
    for (const host of s.hints?.hosts ?? []) {
      const hostPort = splitHost(host);
      if (hostPort.port === undefined) first(byHintHost, hostPort.host, s.name);
      else first(byAddress, `${hostPort.host}:${hostPort.port}`, s.name);
    }
    for (const service of s.hints?.service_names ?? []) first(byService, service, s.name);
  }
  for (const s of list) {
    if (s.url) {
      const u = new URL(s.url);
      const host = hostKey(u.hostname);
      first(byAddress, `${host}:${Number(u.port || (u.protocol === 'https:' ? 443 : 80))}`, s.name);
      first(byHost, host, s.name);
    }
    first(byService, s.name, s.name);
    if (s.serverInfoName) first(byService, s.serverInfoName, s.name);
    if (s.command) first(byService, basename(s.command).replace(/\.[a-z]+$/, ''), s.name);
    if (toolsKnowable) for (const tool of new Set(s.tools ?? [])) byTool.set(tool, byTool.has(tool) ? AMBIGUOUS : s.name);
  }
  /** Each server's tools, made when first asked: undefined or null when its list is not known. */
  const toolSets = new Map<string, ReadonlySet<string> | null | undefined>();
  const lists = (name: string, tool: string): boolean => {
    let set = toolSets.get(name);
    if (!toolSets.has(name)) {
      const tools = list.find((s) => s.name === name)?.tools;
      set = tools ? new Set(tools) : tools;
      toolSets.set(name, set);
    }
    return set === undefined || set === null || set.has(tool);
  };
  return (span: DecodedSpan, tool: string | undefined, evidence?: boolean) => {
    const address = span.attrs.get('server.address');
    if (address !== undefined) {
      const port = span.attrs.get('server.port');
      const host = hostKey(String(address));
      const hit = (port === undefined ? byHost.get(host) : byAddress.get(`${host}:${Number(port)}`)) ?? byHintHost.get(host);
      if (hit) return hit;
    }
    const service = span.resource.serviceName;
    let named = service === undefined ? undefined : byService.get(service);
    // A FastMCP server left with the SDK's default service.name still names itself on its spans.
    if (named === undefined) {
      const fastmcp = span.attrs.get('fastmcp.server.name');
      if (typeof fastmcp === 'string') named = byService.get(fastmcp);
    }
    // A local tool of an agent a hint names is not that server's call.
    if (evidence && named !== undefined && tool !== undefined && !lists(named, tool)) named = undefined;
    if (named !== undefined || address !== undefined || tool === undefined) return named;
    return byTool.get(tool);
  };
}

/**
 * A host as the maps hold it: without an IPv6 address's brackets, which a URL's hostname keeps and a
 * span's server.address (bare, as the semantic conventions write it) does not, and in lower case, as
 * host names compare and a URL's hostname already is.
 */
function hostKey(host: string): string {
  return host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

/** `host`, `host:port` or `[v6]:port` as a hint writes it. */
function splitHost(text: string): { host: string; port: number | undefined } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (m) return { host: hostKey(m[1] ?? m[2]!), port: Number(m[3]) };
  return { host: hostKey(text), port: undefined };
}

/** The labels one observation is counted under. */
export interface TrafficLabels {
  /** The configured server, a bounded unconfigured name, or `_other`. */
  server: string;
  /** The tool name (bounded per server, else `_other`); '' for operations that are not tool calls. */
  tool: string;
  /** The tool name was folded into `_other`. */
  overflowed: boolean;
}

/** The first key of ambiguous calls' routes: their server is `unknown` too, but they are counted apart (no server name holds a NUL). */
const AMBIGUOUS_ROUTE = '\u0000ambiguous';

/** A constant per kind and outcome, so a route's key needs no string built per span. */
const OUTCOME_KEY = { tool_call: { success: 't+', error: 't-' }, operation: { success: 'o+', error: 'o-' } } as const;

/**
 * Decides the labels of each observation and remembers, per distinct observation, what the caller
 * made of them (`sink`: export/'s metric cells). A decision does not change once made (a limiter
 * never un-admits a name); `reset()` starts over when the configured servers or the limits change.
 */
export class TrafficRouter<R> {
  private toolNames: NameLimiter;
  private readonly unconfigured = new NameLimiter(MAX_UNCONFIGURED_SERVERS);
  private routes = new PathCells<R>();

  constructor(
    private readonly configured: (name: string) => boolean,
    private readonly sink: (obs: Observation, labels: TrafficLabels) => R,
    private maxTools = 200,
  ) {
    this.toolNames = new NameLimiter(maxTools);
  }

  route(obs: Observation): R {
    if (this.routes.all.length >= MAX_ROUTES) this.routes = new PathCells();
    return this.routes.cell(obs.ambiguous ? AMBIGUOUS_ROUTE : obs.server, obs.method, obs.kind === 'tool_call' ? (obs.tool ?? 'unknown') : '', OUTCOME_KEY[obs.kind][obs.outcome], obs.errorType ?? '', () =>
      this.sink(obs, this.labels(obs)),
    );
  }

  /** Forgets the routes (the servers changed); with `maxTools`, also the tool names seen so far. */
  reset(maxTools?: number): void {
    if (maxTools !== undefined && maxTools !== this.maxTools) {
      this.maxTools = maxTools;
      this.toolNames = new NameLimiter(maxTools);
    }
    this.routes = new PathCells();
  }

  private labels(obs: Observation): TrafficLabels {
    const server = this.configured(obs.server) ? obs.server : this.unconfigured.limit('', capName(obs.server)).value;
    if (obs.kind !== 'tool_call') return { server, tool: '', overflowed: false };
    const limited = this.toolNames.limit(server, capName(obs.tool ?? 'unknown'));
    return { server, tool: limited.value, overflowed: limited.overflowed };
  }
}
