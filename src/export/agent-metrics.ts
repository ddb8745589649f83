// The blast-radius series: distinct agents calling each server, and calls by agent, so Prometheus
// rules can name the agents an alert affects. Calls are counted into cells the caller keeps (one
// increment per span); the agent label is bounded per server like tool names (pipeline/limits.ts).
import type { Attributes, Meter } from '@opentelemetry/api';
import { NameLimiter } from '../pipeline/limits.js';
import type { Caller } from '../pipeline/callers.js';

export interface AgentCallCell {
  calls: number;
  readonly attrs: Attributes;
}

export class AgentMetrics {
  private limiter: NameLimiter;
  /** server → agent key → cell; agents past the limit share the server's `_other` cell and are not remembered. */
  private readonly cells = new Map<string, Map<string, AgentCallCell>>();

  constructor(
    meter: Meter,
    /** Distinct agents with calls in the window, for every configured server. */
    distinct: () => Iterable<[server: string, agents: number]>,
    private readonly maxAgents: number,
  ) {
    this.limiter = new NameLimiter(maxAgents);
    meter.createObservableGauge('mcpwatch.traffic.agents', { description: 'Distinct agents that called the server in the blast-radius window', unit: '{agent}' }).addCallback((r) => {
      for (const [server, n] of distinct()) r.observe(n, { 'mcp.server.name': server });
    });
    meter.createObservableCounter('mcpwatch.traffic.agent.calls', { description: 'MCP operations seen in traffic, by calling agent', unit: '{call}' }).addCallback((r) => {
      for (const byAgent of this.cells.values()) for (const cell of byAgent.values()) r.observe(cell.calls, cell.attrs);
    });
  }

  /** The cell one agent's calls to one server count into. */
  cell(server: string, caller: Caller): AgentCallCell {
    let byAgent = this.cells.get(server);
    if (!byAgent) this.cells.set(server, (byAgent = new Map()));
    const known = byAgent.get(caller.key);
    if (known) return known;
    const { overflowed } = this.limiter.limit(server, caller.key);
    if (overflowed) {
      let other = byAgent.get('');
      if (!other) byAgent.set('', (other = { calls: 0, attrs: { 'mcp.server.name': server, 'mcp.agent.name': '_other' } }));
      return other;
    }
    const id = caller.identity;
    const attrs: Attributes = { 'mcp.server.name': server, 'mcp.agent.name': id.service_name };
    if (id.service_namespace) attrs['mcp.agent.namespace'] = id.service_namespace;
    if (id.k8s_namespace_name) attrs['mcp.agent.k8s.namespace'] = id.k8s_namespace_name;
    if (id.k8s_deployment_name) attrs['mcp.agent.k8s.deployment'] = id.k8s_deployment_name;
    const cell = { calls: 0, attrs };
    byAgent.set(caller.key, cell);
    return cell;
  }

  /**
   * An agent the callers' window forgot (no calls for a whole window): its series goes and its place
   * under the label limit is free, or after `maxAgents` agents every new one would be `_other` until
   * a restart. Should it call again, its series starts from zero (a counter reset to Prometheus).
   */
  release(server: string, agentKey: string): void {
    if (!this.cells.get(server)?.delete(agentKey)) return;
    this.limiter.release(server, agentKey);
  }

  /** A server removed from the configuration takes its series with it. */
  forget(server: string): void {
    this.cells.delete(server);
    // The limiter has no per-key reset: a fresh one re-admits the remaining servers' agents as they call.
    this.limiter = new NameLimiter(this.maxAgents);
    for (const [s, byAgent] of this.cells) for (const key of byAgent.keys()) if (key !== '') this.limiter.limit(s, key);
  }
}
