import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, type CollectionResult, type MetricData, type MetricProducer } from '@opentelemetry/sdk-metrics';
import type { Resource } from '@opentelemetry/resources';
import { PathCells } from '../pipeline/limits.js';

export interface HistogramCell {
  attrs: Attributes;
  counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
}

export interface SumCell {
  attrs: Attributes;
  value: number;
}

/** The strings that tell one cell from another ('' where a level does not apply). */
type CellPath = readonly [string, string, string, string, string];

/** Seconds, per the MCP semantic convention for mcp.client.operation.duration. */
export const DURATION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

export function hrTime(ms: number): HrTime {
  return [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];
}

/**
 * The two hot instruments, `mcp.client.operation.duration` and `mcp.tool.calls` (with
 * `mcpwatch.tool_names.overflow`, counted beside the calls), aggregated by
 * mcpwatch itself and handed to the SDK's readers as a MetricProducer. Through the SDK's own
 * instruments every span cost fresh attribute objects and an attribute hash (sorted keys +
 * JSON.stringify) per call: half of the agent's CPU at OTLP saturation. Here a caller names a cell by
 * the path of strings that distinguish it and gives the attributes once per cell; cells are
 * cumulative, like the SDK's.
 */
export class HotMetrics implements MetricProducer {
  private readonly durations = new PathCells<HistogramCell>();
  private readonly calls = new PathCells<SumCell>();
  /** Tool calls folded into _other, by traffic server label. */
  private readonly overflows = new Map<string, SumCell>();
  private readonly start = Date.now();

  constructor(
    private readonly resource: Resource,
    private readonly scope: { name: string; version: string },
    private readonly boundaries: readonly number[] = DURATION_BUCKETS,
  ) {}

  /** Records one duration (seconds). `attrs` is called only the first time `path` is seen. */
  duration(path: CellPath, attrs: () => Attributes, seconds: number): void {
    this.observe(this.durationCell(path, attrs), seconds);
  }

  toolCall(path: CellPath, attrs: () => Attributes, n = 1): void {
    this.callCell(path, attrs).value += n;
  }

  /** Drops the duration series under a path prefix: their server is gone, or has new labels. */
  dropDurations(a: string, b?: string): void {
    this.durations.remove(a, b);
  }

  /** Drops the tool-call series under a path prefix. */
  dropCalls(a: string, b?: string): void {
    this.calls.remove(a, b);
  }

  /** The overflow count of one server label; add to its `value`. */
  overflowCell(server: string): SumCell {
    let cell = this.overflows.get(server);
    if (!cell) this.overflows.set(server, (cell = { attrs: { 'mcp.server.name': server }, value: 0 }));
    return cell;
  }

  /** Drops a server's overflow series: it was removed from the configuration. */
  dropOverflow(server: string): void {
    this.overflows.delete(server);
  }

  /** The cell of one duration series, for a caller that keeps it (see Recorder.traffic). */
  durationCell(path: CellPath, attrs: () => Attributes): HistogramCell {
    return this.durations.cell(path[0], path[1], path[2], path[3], path[4], () => ({
      attrs: attrs(),
      counts: new Array<number>(this.boundaries.length + 1).fill(0),
      sum: 0,
      count: 0,
      min: Infinity,
      max: -Infinity,
    }));
  }

  /** The cell of one tool-call series; add to its `value`. */
  callCell(path: CellPath, attrs: () => Attributes): SumCell {
    return this.calls.cell(path[0], path[1], path[2], path[3], path[4], () => ({ attrs: attrs(), value: 0 }));
  }

  observe(cell: HistogramCell, seconds: number): void {
    let i = 0;
    while (i < this.boundaries.length && seconds > this.boundaries[i]!) i++;
    cell.counts[i]!++;
    cell.sum += seconds;
    cell.count++;
    if (seconds < cell.min) cell.min = seconds;
    if (seconds > cell.max) cell.max = seconds;
  }

  async collect(): Promise<CollectionResult> {
    const startTime = hrTime(this.start);
    const endTime = hrTime(Date.now());
    const metrics: MetricData[] = [];
    // One copy per collection, shared by every point: readers only read it.
    const boundaries = [...this.boundaries];
    if (this.durations.all.length) {
      metrics.push({
        descriptor: { name: 'mcp.client.operation.duration', description: 'Duration of MCP operations (probes and traffic)', unit: 's', valueType: ValueType.DOUBLE },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: this.durations.all.map((c) => ({
          attributes: c.attrs,
          startTime,
          endTime,
          value: { buckets: { boundaries, counts: [...c.counts] }, sum: c.sum, count: c.count, min: c.min, max: c.max },
        })),
      });
    }
    if (this.calls.all.length) {
      metrics.push({
        descriptor: { name: 'mcp.tool.calls', description: 'Tool calls by outcome', unit: '{call}', valueType: ValueType.INT },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.SUM,
        isMonotonic: true,
        dataPoints: this.calls.all.map((c) => ({ attributes: c.attrs, startTime, endTime, value: c.value })),
      });
    }
    if (this.overflows.size) {
      metrics.push({
        descriptor: { name: 'mcpwatch.tool_names.overflow', description: 'Tool calls whose name was folded into _other', unit: '{call}', valueType: ValueType.INT },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.SUM,
        isMonotonic: true,
        dataPoints: [...this.overflows.values()].map((c) => ({ attributes: c.attrs, startTime, endTime, value: c.value })),
      });
    }
    return { resourceMetrics: { resource: this.resource, scopeMetrics: metrics.length ? [{ scope: this.scope, metrics }] : [] }, errors: [] };
  }
}
