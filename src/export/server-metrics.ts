import { setImmediate as nextTurn } from 'node:timers/promises';
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, type CollectionResult, type DataPoint, type MetricData, type MetricProducer } from '@opentelemetry/sdk-metrics';
import type { Resource } from '@opentelemetry/resources';
import { STATUSES, type ServerStatus } from '../pipeline/status.js';
import type { ChangeKind } from '../pipeline/drift.js';
import { hrTime } from './aggregate.js';

export const AVAILABILITY_WINDOWS = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 } as const;
export type AvailabilityWindowName = keyof typeof AVAILABILITY_WINDOWS;

const WINDOWS = Object.keys(AVAILABILITY_WINDOWS) as AvailabilityWindowName[];

/** The statuses a transition into counts as an incident. */
export const INCIDENT_STATUSES = ['down', 'degraded', 'stale'] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];
/** In the order the series have always been written. */
const CHANGES: readonly ChangeKind[] = ['breaking', 'compatible', 'warning'];

/**
 * `{ ...base, ...extra… }`, built by assignment. An object spread in a literal that has seen many
 * shapes (each server's attributes) gives every copy a hidden class of its own, kept as long as the
 * series; copies built by assignment share theirs (docs/benchmarks.md, "Memory per kept server").
 * Keys keep their order: base's, then each extra's.
 */
export function withAttributes(base: Attributes, ...extras: (Attributes | undefined)[]): Attributes {
  const out: Attributes = {};
  for (const k of Object.keys(base)) out[k] = base[k];
  for (const extra of extras) if (extra) for (const k of Object.keys(extra)) out[k] = extra[k];
  return out;
}

/** A value and the attributes of its series, built once. */
interface Series {
  attrs: Attributes;
  value: number;
}

/** Everything mcpwatch exports about one configured server, and the attributes of each series. */
interface ServerState {
  attrs: Attributes;
  /** Changes whenever the attributes do: what other series of this server are keyed by. */
  key: string;
  start: HrTime;
  status: ServerStatus;
  tools: number | null;
  /** The MCP version and era the server last spoke: one info series, 1. */
  protocol: Series | undefined;
  availability: Partial<Record<AvailabilityWindowName, number>>;
  scores: Map<string, Series>;
  statusAttrs: Record<ServerStatus, Attributes>;
  windowAttrs: Record<AvailabilityWindowName, Attributes>;
  changes: Record<ChangeKind, Series>;
  incidents: Record<IncidentStatus, Series>;
  expirations: Series;
  /** By `error.type` + NUL + `error.category`. */
  errors: Map<string, Series>;
  /** mcp.check.success by check name: 1 passed at its last run, 0 failed. */
  checks: Map<string, Series>;
  /** When the server's credential expires (epoch ms), where known: mcp.server.credential.remaining counts down to it. */
  credentialExpiresAt?: number;
}

const descriptor = (name: string, description: string, unit: string): MetricData['descriptor'] => ({ name, description, unit, valueType: ValueType.DOUBLE });

const DESCRIPTORS = {
  probeErrors: descriptor('mcp.probe.errors', 'Failed probes by error type', '{error}'),
  schemaChanges: descriptor('mcp.server.schema.changes', 'Tool-schema changes detected', '{change}'),
  expirations: descriptor('mcp.server.session.expirations', 'Sessions the server forgot', '{expiration}'),
  incidents: descriptor('mcp.server.incidents', 'Transitions into down, degraded or stale', '{incident}'),
  score: descriptor('mcp.server.score', 'Scorecard points 0-100 by dimension', '1'),
  up: descriptor('mcp.server.up', '1 while the server answers (up or degraded), 0 when down or stale', '1'),
  status: descriptor('mcp.server.status', '1 for the current status, 0 for the others', '1'),
  tools: descriptor('mcp.server.tools', 'Tools listed at the last successful probe', '{tool}'),
  protocol: descriptor('mcp.server.protocol', '1, labelled with the MCP protocol version and era (modern: 2026-07-28 and later; legacy: 2025 initialize) the server last spoke', '1'),
  availability: descriptor('mcp.server.availability', 'Share of the observed time in the window the server was up', '1'),
  credential: descriptor('mcp.server.credential.remaining', 'Seconds until the server\'s configured credential expires (negative: expired), where known', 's'),
  check: descriptor('mcp.check.success', '1 when the configured check passed at its last run, 0 when it failed', '1'),
};

/**
 * The per-server series (status, availability, scores, incidents, drift, probe errors), kept by
 * mcpwatch and handed to the SDK's readers as a MetricProducer, like the hot instruments in
 * aggregate.ts. Through the SDK's instruments every collection hashed the attributes of each of the
 * ~13 series per server and the SDK kept several maps of them per reader: at 300 servers a scrape
 * grew the agent's heap by ~8 MiB, most of the peak of the 300-server benchmark. Here each series'
 * attributes are built once, when its server is registered, and a collection only reads numbers.
 * Counters are cumulative from the server's registration; a server removed from the configuration
 * takes its series with it.
 */
export class ServerMetrics implements MetricProducer {
  private readonly servers = new Map<string, ServerState>();
  private registrations = 0;

  constructor(
    private readonly resource: Resource,
    private readonly scope: { name: string; version: string },
  ) {}

  /**
   * Adds a server, or keeps the state of one already known (a reload). If its attributes changed (tags,
   * transport), its counters start again at 0 under the new labels: they are new series.
   */
  register(name: string, attrs: Attributes): void {
    const prev = this.servers.get(name);
    if (prev && sameAttributes(prev.attrs, attrs)) return;
    const series = (extra: Attributes): Series => ({ attrs: withAttributes(attrs, extra), value: 0 });
    this.servers.set(name, {
      attrs,
      key: String(++this.registrations),
      start: hrTime(Date.now()),
      status: prev?.status ?? 'unknown',
      tools: prev?.tools ?? null,
      protocol: prev?.protocol && { attrs: withAttributes(attrs, { 'mcp.protocol.version': prev.protocol.attrs['mcp.protocol.version'], 'mcp.protocol.era': prev.protocol.attrs['mcp.protocol.era'] }), value: 1 },
      availability: prev?.availability ?? {},
      // Scores are gauges: they move to the new labels at once instead of waiting for the next scoring.
      scores: new Map([...(prev?.scores ?? [])].map(([dimension, { value }]) => [dimension, { attrs: withAttributes(attrs, { dimension }), value }])),
      statusAttrs: byKey(STATUSES, (s) => withAttributes(attrs, { 'mcp.server.status': s })),
      windowAttrs: byKey(WINDOWS, (w) => withAttributes(attrs, { window: w })),
      changes: byKey(CHANGES, (c) => series({ change: c })),
      incidents: byKey(INCIDENT_STATUSES, (s) => series({ 'mcp.server.status': s })),
      expirations: series({}),
      errors: new Map(),
      checks: new Map([...(prev?.checks ?? [])].map(([check, { value }]) => [check, { attrs: withAttributes(attrs, { check }), value }])),
      credentialExpiresAt: prev?.credentialExpiresAt,
    });
  }

  unregister(name: string): void {
    this.servers.delete(name);
  }

  attributes(name: string): Attributes | undefined {
    return this.servers.get(name)?.attrs;
  }

  /** A key for the server's current label set, new whenever its attributes change. */
  key(name: string): string | undefined {
    return this.servers.get(name)?.key;
  }

  setStatus(name: string, status: ServerStatus): void {
    const s = this.servers.get(name);
    if (s) s.status = status;
  }

  setTools(name: string, n: number): void {
    const s = this.servers.get(name);
    if (s) s.tools = n;
  }

  /** The protocol version and era of the last successful handshake; the series keeps its attributes until they change. */
  setProtocol(name: string, version: string, era: string): void {
    const s = this.servers.get(name);
    if (!s || (s.protocol?.attrs['mcp.protocol.version'] === version && s.protocol.attrs['mcp.protocol.era'] === era)) return;
    s.protocol = { attrs: withAttributes(s.attrs, { 'mcp.protocol.version': version, 'mcp.protocol.era': era }), value: 1 };
  }

  setAvailability(name: string, window: AvailabilityWindowName, ratio: number | null): void {
    const s = this.servers.get(name);
    if (!s) return;
    if (ratio === null) delete s.availability[window];
    else s.availability[window] = ratio;
  }

  /** Points per dimension; a dimension left out is no longer exported. */
  setScore(name: string, dimensions: Record<string, number>): void {
    const s = this.servers.get(name);
    if (!s) return;
    for (const dimension of s.scores.keys()) if (!(dimension in dimensions)) s.scores.delete(dimension);
    for (const [dimension, points] of Object.entries(dimensions)) {
      const series = s.scores.get(dimension);
      if (series) series.value = points;
      else s.scores.set(dimension, { attrs: withAttributes(s.attrs, { dimension }), value: points });
    }
  }

  /** The last result of a check; undefined removes its series (refused, or no longer configured). */
  setCheck(name: string, check: string, passed: boolean | undefined): void {
    const s = this.servers.get(name);
    if (!s) return;
    if (passed === undefined) {
      s.checks.delete(check);
      return;
    }
    let series = s.checks.get(check);
    if (!series) s.checks.set(check, (series = { attrs: withAttributes(s.attrs, { check }), value: 0 }));
    series.value = passed ? 1 : 0;
  }

  /** Drops the series of checks not in `keep`. */
  keepChecks(name: string, keep: ReadonlySet<string>): void {
    const s = this.servers.get(name);
    if (s) for (const check of s.checks.keys()) if (!keep.has(check)) s.checks.delete(check);
  }

  /** The expiry of the credential the last check used; undefined: unknown (no series). */
  setCredentialExpiry(name: string, expiresAt: number | undefined): void {
    const s = this.servers.get(name);
    if (s) s.credentialExpiresAt = expiresAt;
  }

  probeError(name: string, type: string, category: string): void {
    const s = this.servers.get(name);
    if (!s) return;
    const key = `${type}\u0000${category}`;
    let series = s.errors.get(key);
    if (!series) s.errors.set(key, (series = { attrs: withAttributes(s.attrs, { 'error.type': type, 'error.category': category }), value: 0 }));
    series.value++;
  }

  schemaChange(name: string, change: ChangeKind, n: number): void {
    const s = this.servers.get(name);
    if (s) s.changes[change].value += n;
  }

  sessionExpired(name: string): void {
    const s = this.servers.get(name);
    if (s) s.expirations.value++;
  }

  incident(name: string, status: IncidentStatus): void {
    const s = this.servers.get(name);
    if (s) s.incidents[status].value++;
  }

  async collect(): Promise<CollectionResult> {
    const now = hrTime(Date.now());
    const all = [...this.servers.values()];
    const gaugePoints = (points: (s: ServerState, push: (attrs: Attributes, value: number) => void) => void): DataPoint<number>[] => {
      const out: DataPoint<number>[] = [];
      for (const s of all) points(s, (attributes, value) => out.push({ attributes, startTime: now, endTime: now, value }));
      return out;
    };
    const sumPoints = (pick: (s: ServerState) => Iterable<Series>): DataPoint<number>[] => {
      const out: DataPoint<number>[] = [];
      for (const s of all) for (const { attrs, value } of pick(s)) out.push({ attributes: attrs, startTime: s.start, endTime: now, value });
      return out;
    };
    const sum = (descriptor: MetricData['descriptor'], dataPoints: DataPoint<number>[]): MetricData => ({
      descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.SUM,
      isMonotonic: true,
      dataPoints,
    });
    const gaugeOf = (descriptor: MetricData['descriptor'], dataPoints: DataPoint<number>[]): MetricData => ({
      descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.GAUGE,
      dataPoints,
    });
    // Built a few families at a time, handing the event loop back in between: in one piece, a large
    // fleet's set held the probes' responses back (docs/benchmarks.md, the scrape at 3000 servers).
    // `up` and `status` are built in one turn, so a page never shows them disagreeing; other families
    // may be a check apart, as any two scrapes are.
    const families: Array<() => MetricData[]> = [
      () => [
        sum(DESCRIPTORS.probeErrors, sumPoints((s) => s.errors.values())),
        sum(DESCRIPTORS.schemaChanges, sumPoints((s) => CHANGES.map((c) => s.changes[c]))),
        sum(DESCRIPTORS.expirations, sumPoints((s) => [s.expirations])),
      ],
      () => [sum(DESCRIPTORS.incidents, sumPoints((s) => INCIDENT_STATUSES.map((i) => s.incidents[i])))],
      () => [gaugeOf(DESCRIPTORS.score, gaugePoints((s, push) => { for (const { attrs, value } of s.scores.values()) push(attrs, value); }))],
      () => [
        gaugeOf(DESCRIPTORS.up, gaugePoints((s, push) => { if (s.status !== 'unknown') push(s.attrs, s.status === 'up' || s.status === 'degraded' ? 1 : 0); })),
        gaugeOf(DESCRIPTORS.status, gaugePoints((s, push) => { for (const status of STATUSES) push(s.statusAttrs[status], s.status === status ? 1 : 0); })),
      ],
      () => [
        gaugeOf(DESCRIPTORS.tools, gaugePoints((s, push) => { if (s.tools !== null) push(s.attrs, s.tools); })),
        gaugeOf(DESCRIPTORS.protocol, gaugePoints((s, push) => { if (s.protocol) push(s.protocol.attrs, 1); })),
        gaugeOf(DESCRIPTORS.availability, gaugePoints((s, push) => {
          for (const [window, value] of Object.entries(s.availability) as [AvailabilityWindowName, number][]) push(s.windowAttrs[window], value);
        })),
        gaugeOf(DESCRIPTORS.check, gaugePoints((s, push) => { for (const { attrs, value } of s.checks.values()) push(attrs, value); })),
        // Counted down at collection: the figure is fresh at every scrape, not as of the last probe.
        gaugeOf(DESCRIPTORS.credential, gaugePoints((s, push) => { if (s.credentialExpiresAt !== undefined) push(s.attrs, Math.round((s.credentialExpiresAt - Date.now()) / 1000)); })),
      ],
    ];
    const metrics: MetricData[] = [];
    for (const [i, family] of families.entries()) {
      if (i > 0) await nextTurn();
      for (const m of family()) if (m.dataPoints.length > 0) metrics.push(m);
    }
    return { resourceMetrics: { resource: this.resource, scopeMetrics: metrics.length ? [{ scope: this.scope, metrics }] : [] }, errors: [] };
  }
}

function byKey<K extends string, V>(keys: readonly K[], value: (key: K) => V): Record<K, V> {
  return Object.fromEntries(keys.map((k) => [k, value(k)])) as Record<K, V>;
}

function sameAttributes(a: Attributes, b: Attributes): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
