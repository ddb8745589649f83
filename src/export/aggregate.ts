import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, type CollectionResult, type MetricData, type MetricProducer } from '@opentelemetry/sdk-metrics';
import type { Resource } from '@opentelemetry/resources';

interface HistogramCell {
  attrs: Attributes;
  counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
}

interface SumCell {
  attrs: Attributes;
  value: number;
}

/** Seconds, per the MCP semantic convention for mcp.client.operation.duration. */
export const DURATION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

function hrTime(ms: number): HrTime {
  return [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];
}

/**
 * The two hot instruments, `mcp.client.operation.duration` and `mcp.tool.calls`, aggregated by
 * mcpwatch itself and handed to the SDK's readers as a MetricProducer. Through the SDK's own
 * instruments every span cost fresh attribute objects and an attribute hash (sorted keys +
 * JSON.stringify) per call: half of the agent's CPU at OTLP saturation. Here a caller gives a key it
 * builds cheaply and the attributes once per key; cells are cumulative, like the SDK's.
 */
export class HotMetrics implements MetricProducer {
  private readonly durations = new Map<string, HistogramCell>();
  private readonly calls = new Map<string, SumCell>();
  private readonly start = Date.now();

  constructor(
    private readonly resource: Resource,
    private readonly scope: { name: string; version: string },
    private readonly boundaries: readonly number[] = DURATION_BUCKETS,
  ) {}

  /** Records one duration (seconds). `attrs` is read only the first time `key` is seen. */
  duration(key: string, attrs: () => Attributes, seconds: number): void {
    let cell = this.durations.get(key);
    if (!cell) {
      cell = { attrs: attrs(), counts: new Array<number>(this.boundaries.length + 1).fill(0), sum: 0, count: 0, min: Infinity, max: -Infinity };
      this.durations.set(key, cell);
    }
    let i = 0;
    while (i < this.boundaries.length && seconds > this.boundaries[i]!) i++;
    cell.counts[i]!++;
    cell.sum += seconds;
    cell.count++;
    if (seconds < cell.min) cell.min = seconds;
    if (seconds > cell.max) cell.max = seconds;
  }

  toolCall(key: string, attrs: () => Attributes, n = 1): void {
    let cell = this.calls.get(key);
    if (!cell) {
      cell = { attrs: attrs(), value: 0 };
      this.calls.set(key, cell);
    }
    cell.value += n;
  }

  async collect(): Promise<CollectionResult> {
    const startTime = hrTime(this.start);
    const endTime = hrTime(Date.now());
    const metrics: MetricData[] = [];
    if (this.durations.size) {
      metrics.push({
        descriptor: { name: 'mcp.client.operation.duration', description: 'Duration of MCP operations (probes and traffic)', unit: 's', valueType: ValueType.DOUBLE },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: [...this.durations.values()].map((c) => ({
          attributes: c.attrs,
          startTime,
          endTime,
          value: { buckets: { boundaries: [...this.boundaries], counts: [...c.counts] }, sum: c.sum, count: c.count, min: c.min, max: c.max },
        })),
      });
    }
    if (this.calls.size) {
      metrics.push({
        descriptor: { name: 'mcp.tool.calls', description: 'Tool calls by outcome', unit: '{call}', valueType: ValueType.INT },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.SUM,
        isMonotonic: true,
        dataPoints: [...this.calls.values()].map((c) => ({ attributes: c.attrs, startTime, endTime, value: c.value })),
      });
    }
    return { resourceMetrics: { resource: this.resource, scopeMetrics: metrics.length ? [{ scope: this.scope, metrics }] : [] }, errors: [] };
  }
}
