// pipeline/server-view.ts: one server as JSON, the shape `mcpwatch health --json` prints for a probe
// it ran and the agent serves on GET /api/v1/servers for the probes it keeps running, so the two read
// alike and `health --from` can print either.
import { checkTarget, type ServerConfig } from '../config/schema.js';
import type { ProbeError, ProbeOutcome } from '../probe/prober.js';
import type { AffectedAgents } from './events.js';

/** One server as `health --json` prints it (and, with more fields, as /api/v1/servers serves it). */
export interface ServerJson {
  name: string;
  transport: string;
  /** up, degraded, down; the agent also says unknown (not probed yet) and stale. */
  status: string;
  latency_ms: number | null;
  tools: number | null;
  protocol_version: string | null;
  era: string | null;
  server_info: unknown;
  tags: string[];
  phases: Record<string, number>;
  notes: string | null;
  error: ProbeError | null;
  checks: CheckJson[];
  tool_list?: unknown;
}

/** A server as a running agent serves it on GET /api/v1/servers: the health --json shape and more. */
export interface AgentServerJson extends ServerJson {
  last_checked_at: string | null;
  /** The last failure, kept after a recovery. */
  last_error: ProbeError | null;
  /** By window (1h, 24h, 7d): the share of observed time up, or null without data. */
  availability: Record<string, number | null>;
  /** The agents that called the server in the blast-radius window. */
  agents: AffectedAgents;
}

export interface AgentView {
  generated_at: string;
  servers: AgentServerJson[];
}

export interface CheckJson {
  name: string;
  method: string;
  target: string;
  status: string;
  on_failure: string;
  latency_ms: number | null;
  error: ProbeError | null;
}

/**
 * What a running agent keeps of a server's last outcome for its view: the fields serverJson and
 * probeVerdict read, with the tool list counted (the track and the store keep the list itself, with
 * its schemas) and neither capabilities nor the era's discovery result.
 */
export type ProbeSummary = Pick<ProbeOutcome, 'server' | 'transport' | 'startedAt' | 'phases' | 'latencyMs' | 'protocolVersion' | 'era' | 'serverInfo' | 'error' | 'warnings' | 'checks'> & {
  toolCount: number | null;
};

export function summarize(o: ProbeOutcome): ProbeSummary {
  const { server, transport, startedAt, phases, latencyMs, protocolVersion, era, serverInfo, error, warnings, checks } = o;
  return { server, transport, startedAt, phases, latencyMs, protocolVersion, era, serverInfo, error, warnings, ...(checks ? { checks } : {}), toolCount: o.tools?.length ?? null };
}

/** A server, its last outcome (none before its first probe) and what that outcome means. */
export function serverJson(server: ServerConfig, o: ProbeOutcome | ProbeSummary | undefined, status: string, note: string, verbose = false): ServerJson {
  const json: ServerJson = {
    name: server.name,
    transport: server.transport,
    status,
    latency_ms: o?.latencyMs ?? null,
    tools: o === undefined ? null : 'toolCount' in o ? o.toolCount : (o.tools?.length ?? null),
    protocol_version: o?.protocolVersion ?? null,
    era: o?.era ?? null,
    server_info: o?.serverInfo ?? null,
    tags: server.tags,
    phases: o?.phases ?? {},
    notes: note || null,
    error: o?.error ?? null,
    checks: checksJson(server, o),
  };
  if (verbose) json.tool_list = o && 'tools' in o ? o.tools : null;
  return json;
}

/**
 * Every configured check with what became of it: pass, fail, refused (a tool that may have side
 * effects, not called) or skipped (the server did not answer, or --no-checks).
 */
function checksJson(server: ServerConfig, o: ProbeOutcome | ProbeSummary | undefined): CheckJson[] {
  const runs = new Map((o?.checks ?? []).map((c) => [c.name, c]));
  return (server.checks ?? []).map((c) => {
    const run = runs.get(c.name);
    const { method, target } = checkTarget(c);
    return {
      name: c.name,
      method,
      target,
      status: run?.status ?? 'skipped',
      on_failure: c.on_failure,
      latency_ms: run?.latencyMs ?? null,
      error: run?.error ?? null,
    };
  });
}
