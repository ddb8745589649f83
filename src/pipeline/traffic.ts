// pipeline/traffic.ts decides what recognised traffic is measured as: which configured server a span
// belongs to, and under which labels (bounded server and tool names) its call is counted. It runs per
// span, so each decision is made once per distinct observation and remembered; export/ turns a
// decision into metric cells and never decides a label itself.
import { basename } from 'node:path';
import type { DecodedSpan } from '../otlp/decode.js';
import type { Observation, ServerResolver } from '../otlp/recognise.js';
import { NameLimiter, PathCells } from './limits.js';

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
}

/**
 * Names traffic after configured servers: by the URL's host:port for client spans, and by the
 * resource's service.name (a server instrumenting itself) against the configured name, the
 * command's base name or the name the server gave for itself. The first server listed wins a tie.
 */
export function serverResolver(servers: Iterable<ServerIdentity>): ServerResolver {
  const byAddress = new Map<string, string>();
  const byHost = new Map<string, string>();
  const byService = new Map<string, string>();
  const first = (map: Map<string, string>, key: string, name: string): void => {
    if (!map.has(key)) map.set(key, name);
  };
  for (const s of servers) {
    if (s.url) {
      const u = new URL(s.url);
      first(byAddress, `${u.hostname}:${Number(u.port || (u.protocol === 'https:' ? 443 : 80))}`, s.name);
      first(byHost, u.hostname, s.name);
    }
    first(byService, s.name, s.name);
    if (s.serverInfoName) first(byService, s.serverInfoName, s.name);
    if (s.command) first(byService, basename(s.command).replace(/\.[a-z]+$/, ''), s.name);
  }
  return (span: DecodedSpan) => {
    const address = span.attrs.get('server.address');
    if (address !== undefined) {
      const port = span.attrs.get('server.port');
      const hit = port === undefined ? byHost.get(String(address)) : byAddress.get(`${String(address)}:${Number(port)}`);
      if (hit) return hit;
    }
    const service = span.resource.serviceName;
    return service ? byService.get(service) : undefined;
  };
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
    return this.routes.cell(obs.server, obs.method, obs.kind === 'tool_call' ? (obs.tool ?? 'unknown') : '', OUTCOME_KEY[obs.kind][obs.outcome], obs.errorType ?? '', () =>
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
    const server = this.configured(obs.server) ? obs.server : this.unconfigured.limit('', obs.server).value;
    if (obs.kind !== 'tool_call') return { server, tool: '', overflowed: false };
    const limited = this.toolNames.limit(server, obs.tool ?? 'unknown');
    return { server, tool: limited.value, overflowed: limited.overflowed };
  }
}
