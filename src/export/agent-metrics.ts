// The blast-radius series: distinct agents calling each server, and calls by agent, so Prometheus
// rules can name the agents an alert affects. Calls are counted into cells the caller keeps (one
// increment per span); the agent label is bounded per server like tool names (pipeline/limits.ts).
// A MetricProducer like aggregate.ts and server-metrics.ts, not SDK instruments: the SDK keeps every
// series an asynchronous instrument ever reported at its last value, so an agent released from the
// window, or a server removed from the configuration, stayed on /metrics for the rest of the run.
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, type CollectionResult, type DataPoint, type MetricData, type MetricProducer } from '@opentelemetry/sdk-metrics';
import type { Resource } from '@opentelemetry/resources';
import { NameLimiter } from '../pipeline/limits.js';
import type { Caller } from '../pipeline/callers.js';
import { hrTime } from './aggregate.js';

export interface AgentCallCell {
  calls: number;
  readonly attrs: Attributes;
  /** When the series started: a cell made again after a release is a counter reset. */
  readonly start: HrTime;
}

const AGENTS = { name: 'mcpwatch.traffic.agents', description: 'Distinct agents that called the server in the blast-radius window', unit: '{agent}', valueType: ValueType.DOUBLE };
const CALLS = { name: 'mcpwatch.traffic.agent.calls', description: 'MCP operations seen in traffic, by calling agent', unit: '{call}', valueType: ValueType.DOUBLE };

export class AgentMetrics implements MetricProducer {
  private limiter: NameLimiter;
  /** server → agent key → cell; agents past the limit share the server's `_other` cell and are not remembered. */
  private readonly cells = new Map<string, Map<string, AgentCallCell>>();
  /** Distinct agents with calls in the window, for every configured server (the agent sets it). */
  distinct: () => Iterable<[server: string, agents: number]> = () => [];

  constructor(
    private readonly resource: Resource,
    private readonly scope: { name: string; version: string },
    private readonly maxAgents: number,
  ) {
    this.limiter = new NameLimiter(maxAgents);
  }

  async collect(): Promise<CollectionResult> {
    const now = hrTime(Date.now());
    const agents: DataPoint<number>[] = [];
    for (const [server, n] of this.distinct()) agents.push({ attributes: { 'mcp.server.name': server }, startTime: now, endTime: now, value: n });
    const calls: DataPoint<number>[] = [];
    for (const byAgent of this.cells.values()) for (const cell of byAgent.values()) calls.push({ attributes: cell.attrs, startTime: cell.start, endTime: now, value: cell.calls });
    const metrics: MetricData[] = [
      { descriptor: AGENTS, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.GAUGE, dataPoints: agents },
      { descriptor: CALLS, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.SUM, isMonotonic: true, dataPoints: calls },
    ];
    return { resourceMetrics: { resource: this.resource, scopeMetrics: [{ scope: this.scope, metrics }] }, errors: [] };
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
      if (!other) byAgent.set('', (other = { calls: 0, attrs: { 'mcp.server.name': server, 'mcp.agent.name': '_other' }, start: hrTime(Date.now()) }));
      return other;
    }
    const id = caller.identity;
    const attrs: Attributes = { 'mcp.server.name': server, 'mcp.agent.name': id.service_name };
    if (id.service_namespace) attrs['mcp.agent.namespace'] = id.service_namespace;
    if (id.k8s_namespace_name) attrs['mcp.agent.k8s.namespace'] = id.k8s_namespace_name;
    if (id.k8s_deployment_name) attrs['mcp.agent.k8s.deployment'] = id.k8s_deployment_name;
    const cell = { calls: 0, attrs, start: hrTime(Date.now()) };
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
