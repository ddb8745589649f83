import { SpanKind, SpanStatusCode, type Attributes, type Counter, type Meter, type Tracer } from '@opentelemetry/api';
import { emptyResource } from '@opentelemetry/resources';
import { HotMetrics, type HistogramCell, type SumCell } from './aggregate.js';
import type { ServerConfig } from '../config/schema.js';
import { tagAttribute } from '../config/tags.js';
import type { CheckRun, ProbeOutcome } from '../probe/prober.js';
import type { Assessment } from '../pipeline/assess.js';
import type { Transition } from '../pipeline/state-machine.js';
import type { ServerStatus } from '../pipeline/status.js';
import type { ChangeKind } from '../pipeline/drift.js';
import type { TrafficLabels } from '../pipeline/traffic.js';
import type { Observation } from '../otlp/recognise.js';
import type { OtlpSignal } from '../wire/otlp.js';
import { INCIDENT_STATUSES, ServerMetrics, withAttributes, type AvailabilityWindowName, type IncidentStatus } from './server-metrics.js';

export type ReceiverProtocol = 'grpc' | 'http';
export type RefusalReason = 'invalid' | 'too_large' | 'memory_limit' | 'unauthorized';

/** Where the observations of one route go (pipeline/traffic.ts chose its labels). */
export interface TrafficCells {
  server: string;
  /** The bounded tool label; '' for operations that are not tool calls. */
  tool: string;
  calls: SumCell | undefined;
  duration: HistogramCell;
  /** Where a call whose tool name was folded into _other is counted; undefined for one that was not. */
  overflow: SumCell | undefined;
  /** A tool call left `unknown` because several configured servers list its tool. */
  ambiguous: boolean;
}

/** The MCP operations of a probe, in the order they run: the handshake of either era, then the list. */
const HANDSHAKE_AND_LIST = ['server/discover', 'initialize', 'tools/list', 'ping'] as const;

/** The first key part of probe and of traffic durations in HotMetrics. */
const PROBE = 'p';
const TRAFFIC = 't';
/** The first key part of probe tool calls among traffic's (whose first part is a server name, never this). */
const PROBE_CALLS = '\u0000probe';

export { DURATION_BUCKETS } from './aggregate.js';

export { AVAILABILITY_WINDOWS, type AvailabilityWindowName } from './server-metrics.js';

/** `team:data` → `mcp.tag.team="data"`; `critical` → `mcp.tag.critical="true"`. */
export function serverAttributes(server: Pick<ServerConfig, 'name' | 'transport' | 'tags'>): Attributes {
  const attrs: Attributes = { 'mcp.server.name': server.name, 'mcp.transport': server.transport };
  for (const tag of server.tags) {
    const { key, value } = tagAttribute(tag);
    attrs[key] = value;
  }
  return attrs;
}

/**
 * Turns what the agent learned into metrics and spans, so every transport and both streams (probe,
 * traffic) emit the same names. The metric names and labels here are the contract in docs/metrics.md.
 */
export class Recorder {
  private readonly deliveries: Counter;
  private readonly ambiguous: Counter;
  private readonly duplicates: Counter;
  private readonly accepted: Counter;
  private readonly refused: Counter;
  private readonly requests: Counter;
  private readonly fwdSent: Counter;
  private readonly fwdFailed: Counter;
  private readonly fwdDropped: Counter;
  private queue: { bytes: () => number; capacity: number } | undefined;

  constructor(
    meter: Meter,
    private readonly tracer?: Tracer,
    /** Where durations and tool calls go; the agent's readers collect it (a private one otherwise). */
    private readonly hot: HotMetrics = new HotMetrics(emptyResource(), { name: 'mcpwatch', version: '0' }),
    /** The per-server series; likewise collected by the agent's readers. */
    private readonly servers: ServerMetrics = new ServerMetrics(emptyResource(), { name: 'mcpwatch', version: '0' }),
  ) {
    this.deliveries = meter.createCounter('mcpwatch.notifier.deliveries', { description: 'Alert deliveries by outcome', unit: '{delivery}' });

    this.ambiguous = meter.createCounter('mcpwatch.traffic.ambiguous', { description: 'Tool calls left unknown: their tool name is listed by several configured servers', unit: '{call}' });
    this.ambiguous.add(0);
    this.duplicates = meter.createCounter('mcpwatch.traffic.duplicate.spans', { description: 'MCP spans not counted: another span of the same call is (the client\'s, when the server\'s span comes too), or the span was counted when an exporter sent it before (a retry)', unit: '{span}' });
    this.duplicates.add(0);
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
  }

  register(server: ServerConfig): void {
    const before = this.servers.key(server.name);
    this.servers.register(server.name, serverAttributes(server));
    // New labels (tags, transport): the probe durations start new series too.
    if (before !== undefined && before !== this.servers.key(server.name)) this.dropProbeSeries(before);
    this.servers.keepChecks(server.name, new Set((server.checks ?? []).map((c) => c.name)));
  }

  /** A server removed from the configuration: its probe and its traffic series go (docs/metrics.md). */
  unregister(name: string): void {
    const key = this.servers.key(name);
    this.servers.unregister(name);
    if (key !== undefined) this.dropProbeSeries(key);
    // Traffic cells are keyed by the server's name (trafficCells): should it still be called, its
    // traffic starts new series as any unconfigured server's would.
    this.hot.dropDurations(TRAFFIC, name);
    this.hot.dropCalls(name);
    this.hot.dropOverflow(name);
  }

  private dropProbeSeries(key: string): void {
    this.hot.dropDurations(PROBE, key);
    this.hot.dropCalls(PROBE_CALLS, key);
  }

  setStatus(name: string, status: ServerStatus): void {
    this.servers.setStatus(name, status);
  }

  setAvailability(name: string, window: AvailabilityWindowName, ratio: number | null): void {
    this.servers.setAvailability(name, window, ratio);
  }

  /** What one check measured and changed (pipeline/assess.ts): durations, errors, tools, state. */
  check(server: ServerConfig, out: ProbeOutcome, a: Assessment): void {
    this.probe(server, out);
    if (a.sessionExpired) this.servers.sessionExpired(server.name);
    const drift = a.snapshot?.drift;
    if (drift) this.schemaChange(server, drift.counts);
    if (a.transition) this.transition(server.name, a.transition);
  }

  /** A change of state, whichever stream caused it: the status gauge and, into a bad state, the incident count. */
  transition(name: string, t: Pick<Transition, 'to'>): void {
    this.servers.setStatus(name, t.to);
    if ((INCIDENT_STATUSES as readonly string[]).includes(t.to)) this.servers.incident(name, t.to as IncidentStatus);
  }

  /** Per-operation durations, errors and the tool count of one probe or session check. */
  probe(server: ServerConfig, out: ProbeOutcome): void {
    const attrs = this.servers.attributes(server.name) ?? serverAttributes(server);
    // Keyed by the label set, not the name, so a relabelled server does not keep its old labels.
    const key = this.servers.key(server.name) ?? `=${server.name}`;
    if (out.tools && !out.error) this.servers.setTools(server.name, out.tools.length);
    if (out.protocolVersion && out.era) this.servers.setProtocol(server.name, out.protocolVersion, out.era);
    this.servers.setCredentialExpiry(server.name, out.credentialExpiresAt);
    for (const method of HANDSHAKE_AND_LIST) {
      const ms = out.phases[method];
      if (ms === undefined) continue;
      const errorType = out.error?.phase === method ? out.error.type : undefined;
      this.hot.duration([PROBE, key, method, errorType ?? '', ''], () => withAttributes(attrs, { 'mcp.method.name': method, source: 'probe' }, errorType ? { 'error.type': errorType } : undefined), ms / 1000);
    }
    if (out.error) this.servers.probeError(server.name, out.error.type, out.error.category);
    for (const c of out.checks ?? []) this.checkRun(server, key, attrs, c);
    this.spans(server, out);
  }

  /**
   * One run of a configured check: its success gauge, and for a request that was sent, its duration
   * (and for tools/call its call) with source=probe, beside traffic's.
   */
  private checkRun(server: ServerConfig, key: string, attrs: Attributes, c: CheckRun): void {
    this.servers.setCheck(server.name, c.name, c.status === 'refused' ? undefined : c.status === 'pass');
    if (c.latencyMs === null) return;
    const errorType = c.error?.type ?? '';
    const tool = c.method === 'tools/call' ? c.target : '';
    this.hot.duration([PROBE, key, c.method, errorType, tool], () => withAttributes(
      attrs,
      { 'mcp.method.name': c.method, source: 'probe' },
      tool ? { 'gen_ai.tool.name': tool } : undefined,
      c.error ? { 'error.type': c.error.type } : undefined,
    ), c.latencyMs / 1000);
    if (!tool) return;
    const outcome = c.status === 'pass' ? 'success' : 'error';
    this.hot.toolCall([PROBE_CALLS, key, tool, outcome, errorType], () => withAttributes(
      attrs,
      { source: 'probe', 'gen_ai.tool.name': tool, outcome },
      c.error ? { 'error.type': c.error.type, 'error.category': c.error.category } : undefined,
    ));
  }

  private schemaChange(server: ServerConfig, counts: Record<ChangeKind, number>): void {
    for (const [change, n] of Object.entries(counts) as [ChangeKind, number][]) if (n > 0) this.servers.schemaChange(server.name, change, n);
  }

  delivery(notifier: string, outcome: 'sent' | 'retried' | 'failed'): void {
    this.deliveries.add(1, { notifier, outcome });
  }

  /** Scorecard points per dimension (`overall` included); dimensions without data are left out. */
  setScore(name: string, dimensions: Record<string, number>): void {
    this.servers.setScore(name, dimensions);
  }

  /**
   * One observation into the cells of its route. Runs per span at up to ~500k spans/s: the labels
   * and cells were decided once per distinct observation (pipeline/traffic.ts TrafficRouter).
   */
  traffic(route: TrafficCells, durationSeconds: number): void {
    if (route.calls) route.calls.value++;
    this.hot.observe(route.duration, durationSeconds);
    if (route.overflow) route.overflow.value++;
    if (route.ambiguous) this.ambiguous.add(1);
  }

  /** The cells a route counts into, made once per route under the labels pipeline/ chose. */
  trafficCells(obs: Observation, { server, tool, overflowed }: TrafficLabels): TrafficCells {
    const errorType = obs.errorType ?? '';
    let calls: SumCell | undefined;
    if (obs.kind === 'tool_call') {
      calls = this.hot.callCell([server, tool, obs.outcome, errorType, ''], () => withAttributes(
        { 'mcp.server.name': server, source: 'traffic', 'gen_ai.tool.name': tool, outcome: obs.outcome },
        obs.errorType ? { 'error.type': obs.errorType, 'error.category': obs.errorCategory } : undefined,
      ));
    }
    const duration = this.hot.durationCell([TRAFFIC, server, obs.method, tool, errorType], () => withAttributes(
      { 'mcp.server.name': server, source: 'traffic', 'mcp.method.name': obs.method },
      tool ? { 'gen_ai.tool.name': tool } : undefined,
      obs.errorType ? { 'error.type': obs.errorType } : undefined,
    ));
    return { server, tool, calls, duration, overflow: overflowed ? this.hot.overflowCell(server) : undefined, ambiguous: obs.ambiguous === true };
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

  /** An MCP span of a call that another of its spans is counted for (otlp/pairing.ts). */
  duplicateSpan(): void {
    this.duplicates.add(1);
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
    for (const method of HANDSHAKE_AND_LIST) {
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
    for (const c of out.checks ?? []) {
      if (c.latencyMs === null) continue;
      const attributes: Attributes = { ...common, 'mcp.method.name': c.method, 'mcpwatch.check.name': c.name };
      if (c.method === 'tools/call') Object.assign(attributes, { 'gen_ai.tool.name': c.target, 'gen_ai.operation.name': 'execute_tool' });
      else if (c.method === 'prompts/get') attributes['gen_ai.prompt.name'] = c.target;
      else attributes['mcp.resource.uri'] = c.target;
      // Span names stay low-cardinality: a resource URI is an attribute, not part of the name.
      const name = c.method === 'resources/read' ? c.method : `${c.method} ${c.target}`;
      const span = this.tracer.startSpan(name, { kind: SpanKind.CLIENT, startTime: c.startedAt, attributes });
      if (c.error) {
        span.setAttribute('error.type', c.error.type);
        span.setStatus({ code: SpanStatusCode.ERROR, message: c.error.message });
      }
      span.end(c.startedAt + c.latencyMs);
    }
  }
}
