import { SpanKind, SpanStatusCode, type Attributes, type Counter, type Meter, type Tracer } from '@opentelemetry/api';
import { emptyResource } from '@opentelemetry/resources';
import { HotMetrics } from './aggregate.js';
import type { ServerConfig } from '../config/schema.js';
import type { ProbeOutcome } from '../probe/prober.js';
import { STATUSES, type ServerStatus } from '../pipeline/status.js';
import type { ChangeKind } from '../pipeline/drift.js';
import { NameLimiter } from '../pipeline/limits.js';
import type { Observation } from '../otlp/recognise.js';

export type OtlpSignal = 'traces' | 'metrics' | 'logs';
export type ReceiverProtocol = 'grpc' | 'http';
export type RefusalReason = 'invalid' | 'too_large' | 'memory_limit' | 'unauthorized';

/** Distinct server names from traffic that match no configured server, before they become `_other`. */
const MAX_UNCONFIGURED_SERVERS = 100;

export { DURATION_BUCKETS } from './aggregate.js';

export const AVAILABILITY_WINDOWS = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 } as const;
export type AvailabilityWindowName = keyof typeof AVAILABILITY_WINDOWS;

/** `team:data` → `mcp.tag.team="data"`; `critical` → `mcp.tag.critical="true"`. */
export function serverAttributes(server: Pick<ServerConfig, 'name' | 'transport' | 'tags'>): Attributes {
  const attrs: Attributes = { 'mcp.server.name': server.name, 'mcp.transport': server.transport };
  for (const tag of server.tags) {
    const i = tag.indexOf(':');
    const key = (i > 0 ? tag.slice(0, i) : tag).replace(/[^A-Za-z0-9_]/g, '_');
    attrs[`mcp.tag.${key}`] = i > 0 ? tag.slice(i + 1) : 'true';
  }
  return attrs;
}

interface ServerGauges {
  attrs: Attributes;
  status: ServerStatus;
  tools: number | null;
  availability: Partial<Record<AvailabilityWindowName, number>>;
}

/**
 * Turns what the agent learned into metrics and spans, so every transport and both streams (probe,
 * traffic) emit the same names. The metric names and labels here are the contract in docs/metrics.md.
 */
export class Recorder {
  private readonly gauges = new Map<string, ServerGauges>();
  private readonly probeErrors: Counter;
  private readonly schemaChanges: Counter;
  private readonly sessionExpirations: Counter;
  private readonly incidents: Counter;
  private readonly deliveries: Counter;
  private readonly toolOverflow: Counter;
  private readonly accepted: Counter;
  private readonly refused: Counter;
  private readonly requests: Counter;
  private readonly fwdSent: Counter;
  private readonly fwdFailed: Counter;
  private readonly fwdDropped: Counter;
  private toolNames = new NameLimiter(200);
  private readonly unconfigured = new NameLimiter(MAX_UNCONFIGURED_SERVERS);
  private queue: { bytes: () => number; capacity: number } | undefined;
  private scores = new Map<string, Record<string, number>>();

  constructor(
    meter: Meter,
    private readonly tracer?: Tracer,
    /** Where durations and tool calls go; the agent's readers collect it (a private one otherwise). */
    private readonly hot: HotMetrics = new HotMetrics(emptyResource(), { name: 'mcpwatch', version: '0' }),
  ) {
    this.probeErrors = meter.createCounter('mcp.probe.errors', { description: 'Failed probes by error type', unit: '{error}' });
    this.schemaChanges = meter.createCounter('mcp.server.schema.changes', { description: 'Tool-schema changes detected', unit: '{change}' });
    this.sessionExpirations = meter.createCounter('mcp.server.session.expirations', { description: 'Sessions the server forgot', unit: '{expiration}' });
    this.incidents = meter.createCounter('mcp.server.incidents', { description: 'Transitions into down, degraded or stale', unit: '{incident}' });
    this.deliveries = meter.createCounter('mcpwatch.notifier.deliveries', { description: 'Alert deliveries by outcome', unit: '{delivery}' });

    this.toolOverflow = meter.createCounter('mcpwatch.tool_names.overflow', { description: 'Tool calls whose name was folded into _other', unit: '{call}' });
    this.accepted = meter.createCounter('mcpwatch.receiver.accepted.spans', { description: 'Spans received and decoded', unit: '{span}' });
    this.refused = meter.createCounter('mcpwatch.receiver.refused.spans', { description: 'Spans (or undecodable requests) refused', unit: '{span}' });
    this.requests = meter.createCounter('mcpwatch.receiver.requests', { description: 'OTLP export requests received', unit: '{request}' });
    this.fwdSent = meter.createCounter('mcpwatch.forwarder.sent', { description: 'Requests forwarded to exporters.otlp', unit: '{request}' });
    this.fwdFailed = meter.createCounter('mcpwatch.forwarder.failed', { description: 'Forwarding attempts that failed', unit: '{request}' });
    this.fwdDropped = meter.createCounter('mcpwatch.forwarder.dropped', { description: 'Requests dropped by the forwarder', unit: '{request}' });
    meter.createObservableGauge('mcpwatch.forwarder.queue.size', { description: 'Bytes waiting in the forwarding queue', unit: 'By' }).addCallback((r) => {
      if (this.queue) r.observe(this.queue.bytes());
    });
    meter.createObservableGauge('mcpwatch.forwarder.queue.capacity', { description: 'Forwarding queue capacity', unit: 'By' }).addCallback((r) => {
      if (this.queue) r.observe(this.queue.capacity);
    });

    meter.createObservableGauge('mcp.server.score', { description: 'Scorecard points 0-100 by dimension', unit: '1' }).addCallback((r) => {
      for (const [name, dims] of this.scores) {
        const attrs = this.gauges.get(name)?.attrs;
        if (attrs) for (const [dimension, points] of Object.entries(dims)) r.observe(points, { ...attrs, dimension });
      }
    });
    meter.createObservableGauge('mcp.server.up', { description: '1 while the server answers (up or degraded), 0 when down or stale', unit: '1' }).addCallback((r) => {
      for (const g of this.gauges.values()) if (g.status !== 'unknown') r.observe(g.status === 'up' || g.status === 'degraded' ? 1 : 0, g.attrs);
    });
    meter.createObservableGauge('mcp.server.status', { description: '1 for the current status, 0 for the others', unit: '1' }).addCallback((r) => {
      for (const g of this.gauges.values()) for (const s of STATUSES) r.observe(g.status === s ? 1 : 0, { ...g.attrs, 'mcp.server.status': s });
    });
    meter.createObservableGauge('mcp.server.tools', { description: 'Tools listed at the last successful probe', unit: '{tool}' }).addCallback((r) => {
      for (const g of this.gauges.values()) if (g.tools !== null) r.observe(g.tools, g.attrs);
    });
    meter.createObservableGauge('mcp.server.availability', { description: 'Share of successful probes in the window', unit: '1' }).addCallback((r) => {
      for (const g of this.gauges.values()) {
        for (const [window, value] of Object.entries(g.availability)) r.observe(value, { ...g.attrs, window });
      }
    });
  }

  register(server: ServerConfig): void {
    const prev = this.gauges.get(server.name);
    const attrs = serverAttributes(server);
    this.gauges.set(server.name, { attrs, status: prev?.status ?? 'unknown', tools: prev?.tools ?? null, availability: prev?.availability ?? {} });
    // Counters start at 0 for every configured server, so increase() sees the first event too
    // (a series that appears at 1 has no earlier sample to increase from).
    for (const change of ['breaking', 'compatible', 'warning']) this.schemaChanges.add(0, { ...attrs, change });
    this.sessionExpirations.add(0, attrs);
    for (const status of ['down', 'degraded', 'stale']) this.incidents.add(0, { ...attrs, 'mcp.server.status': status });
  }

  unregister(name: string): void {
    this.gauges.delete(name);
    this.scores.delete(name);
  }

  setStatus(name: string, status: ServerStatus): void {
    const g = this.gauges.get(name);
    if (g) g.status = status;
  }

  setAvailability(name: string, window: AvailabilityWindowName, ratio: number | null): void {
    const g = this.gauges.get(name);
    if (!g) return;
    if (ratio === null) delete g.availability[window];
    else g.availability[window] = ratio;
  }

  /** Per-operation durations, errors and the tool count of one probe or session check. */
  probe(server: ServerConfig, out: ProbeOutcome): void {
    const g = this.gauges.get(server.name);
    const attrs = g?.attrs ?? serverAttributes(server);
    if (out.tools && !out.error && g) g.tools = out.tools.length;
    for (const method of ['initialize', 'tools/list'] as const) {
      const ms = out.phases[method];
      if (ms === undefined) continue;
      const errorType = out.error?.phase === method ? out.error.type : undefined;
      this.hot.duration(['p', server.name, method, errorType ?? '', ''], () => ({ ...attrs, 'mcp.method.name': method, source: 'probe', ...(errorType ? { 'error.type': errorType } : {}) }), ms / 1000);
    }
    if (out.error) {
      this.probeErrors.add(1, { ...attrs, 'error.type': out.error.type, 'error.category': out.error.category });
    }
    this.spans(server, out);
  }

  schemaChange(server: ServerConfig, counts: Record<ChangeKind, number>): void {
    const attrs = this.gauges.get(server.name)?.attrs ?? serverAttributes(server);
    for (const [change, n] of Object.entries(counts)) if (n > 0) this.schemaChanges.add(n, { ...attrs, change });
  }

  sessionExpired(server: ServerConfig): void {
    this.sessionExpirations.add(1, this.gauges.get(server.name)?.attrs ?? serverAttributes(server));
  }

  incident(server: ServerConfig, status: ServerStatus): void {
    this.incidents.add(1, { ...(this.gauges.get(server.name)?.attrs ?? serverAttributes(server)), 'mcp.server.status': status });
  }

  delivery(notifier: string, outcome: 'sent' | 'retried' | 'failed'): void {
    this.deliveries.add(1, { notifier, outcome });
  }

  /** Scorecard points per dimension (`overall` included); dimensions without data are left out. */
  setScore(name: string, dimensions: Record<string, number>): void {
    this.scores.set(name, dimensions);
  }

  /** `max_tools_per_server` from receivers.otlp; resets the names seen so far. */
  setToolLimit(max: number): void {
    this.toolNames = new NameLimiter(max);
  }

  /** A tool call or MCP operation seen in traffic, into the same instruments as probes. */
  traffic(obs: Observation): void {
    const server = this.gauges.has(obs.server) ? obs.server : this.unconfigured.limit('', obs.server).value;
    const errorType = obs.errorType ?? '';
    let tool = '';
    if (obs.kind === 'tool_call') {
      const limited = this.toolNames.limit(server, obs.tool ?? 'unknown');
      tool = limited.value;
      if (limited.overflowed) this.toolOverflow.add(1, { 'mcp.server.name': server });
      this.hot.toolCall([server, tool, obs.outcome, errorType, ''], () => ({
        'mcp.server.name': server,
        source: 'traffic',
        'gen_ai.tool.name': tool,
        outcome: obs.outcome,
        ...(obs.errorType ? { 'error.type': obs.errorType, 'error.category': obs.errorCategory } : {}),
      }));
    }
    this.hot.duration(['t', server, obs.method, tool, errorType], () => ({
      'mcp.server.name': server,
      source: 'traffic',
      'mcp.method.name': obs.method,
      ...(tool ? { 'gen_ai.tool.name': tool } : {}),
      ...(obs.errorType ? { 'error.type': obs.errorType } : {}),
    }), obs.durationSeconds);
  }

  /** Refusal counters start at 0 for a listening protocol, so a rate of refusals has a baseline. */
  receiverStarted(protocol: ReceiverProtocol): void {
    for (const reason of ['invalid', 'too_large', 'memory_limit', 'unauthorized']) this.refused.add(0, { protocol, reason });
    this.accepted.add(0, { protocol });
  }

  receiverRequest(protocol: ReceiverProtocol, signal: OtlpSignal, outcome: 'accepted' | 'refused'): void {
    this.requests.add(1, { protocol, signal, outcome });
  }

  spansAccepted(protocol: ReceiverProtocol, n: number): void {
    if (n > 0) this.accepted.add(n, { protocol });
  }

  spansRefused(protocol: ReceiverProtocol, reason: RefusalReason, n: number): void {
    if (n > 0) this.refused.add(n, { protocol, reason });
  }

  /** The hooks the forwarder reports through. */
  forwarderHooks(capacityBytes: number, queuedBytes: () => number) {
    this.queue = { bytes: queuedBytes, capacity: capacityBytes };
    for (const signal of ['traces', 'metrics', 'logs']) {
      this.fwdSent.add(0, { signal });
      this.fwdFailed.add(0, { signal });
      for (const reason of ['queue_full', 'permanent_error', 'unsupported', 'shutdown']) this.fwdDropped.add(0, { signal, reason });
    }
    return {
      sent: (signal: OtlpSignal) => this.fwdSent.add(1, { signal }),
      failed: (signal: OtlpSignal) => this.fwdFailed.add(1, { signal }),
      dropped: (signal: OtlpSignal, reason: string) => this.fwdDropped.add(1, { signal, reason }),
    };
  }

  /** One CLIENT span per MCP operation of the probe, named by method as the convention says. */
  private spans(server: ServerConfig, out: ProbeOutcome): void {
    if (!this.tracer) return;
    const common: Attributes = {
      'mcp.server.name': server.name,
      'network.transport': server.transport === 'stdio' ? 'pipe' : 'tcp',
      'mcpwatch.source': 'probe',
      ...(out.protocolVersion ? { 'mcp.protocol.version': out.protocolVersion } : {}),
    };
    if (server.url) {
      const u = new URL(server.url);
      common['server.address'] = u.hostname;
      common['server.port'] = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    }
    // Phases ran one after the other, so start times are rebuilt from the durations.
    let t = out.startedAt + (out.phases.spawn ?? out.phases.connect ?? 0);
    for (const method of ['initialize', 'tools/list'] as const) {
      const ms = out.phases[method];
      if (ms === undefined) continue;
      const span = this.tracer.startSpan(method, { kind: SpanKind.CLIENT, startTime: t, attributes: { ...common, 'mcp.method.name': method } });
      if (out.error?.phase === method) {
        span.setAttribute('error.type', out.error.type);
        span.setStatus({ code: SpanStatusCode.ERROR, message: out.error.message });
      }
      t += ms;
      span.end(t);
    }
  }
}
