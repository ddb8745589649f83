import type { ServerResponse } from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { diag, ValueType, type Attributes } from '@opentelemetry/api';
import { PrometheusSerializer, type PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { AggregationTemporality, DataPointType, type DataPoint, type Histogram, type MetricData, type ResourceMetrics, type ScopeMetrics } from '@opentelemetry/sdk-metrics';
import { prometheusLabelName } from '../config/tags.js';

/** Data points written at a time: a few hundred lines, so each piece dies young. */
const POINTS_PER_PIECE = 50;

/**
 * Rendering time after which a scrape hands the event loop back (setImmediate) so that probe
 * responses waiting in the poll phase are read. Awaiting 'drain' is not enough: on loopback the
 * kernel takes the page as fast as it is written, and 'drain' then comes from the nextTick queue,
 * so a whole page was written in one turn of the loop (docs/benchmarks.md, the scrape at 3000 servers).
 */
const SLICE_MS = 4;

/**
 * Resource attributes that the page puts on every series as labels: `shard`, set only when the agent
 * is sharded (export/telemetry.ts). The rest of the resource stays in target_info.
 */
export const RESOURCE_CONSTANT_LABELS = /^shard$/;

// Built with the arguments PrometheusExporter gives its own serializer for the options mcpwatch uses
// (no prefix, no timestamps, scope labels, resource constant labels and target_info on).
const withTargetInfo = new PrometheusSerializer(undefined, false, RESOURCE_CONSTANT_LABELS, false, false);
const withoutTargetInfo = new PrometheusSerializer(undefined, false, RESOURCE_CONSTANT_LABELS, true, false);

/**
 * Serves a scrape with the same bytes as PrometheusExporter.getMetricsRequestHandler (a test compares
 * the two), written in pieces instead of built as one string, and with each series' label set
 * joined once a scrape from its values' escaped texts (LabelFragments) instead of escaped and joined
 * on every line.
 *
 * At 300 servers the page is 2.6 MiB and 33,000 lines. The exporter's serializer escapes and joins
 * every label of every line (a histogram series repeats its labels on 17 lines): it allocated about
 * 60 MiB per scrape, and the partly built page outlived a scavenge, growing the agent by 15–30 MiB
 * each time (docs/benchmarks.md). The exporter still collects, and its serializer
 * still writes target_info and each metric's HELP/TYPE/UNIT lines, naming included; mcpwatch writes
 * the sample lines, by the rules of the exporter's `stringify`.
 */
export async function serveMetrics(exporter: PrometheusExporter, res: ServerResponse, { sliceMs = SLICE_MS }: { sliceMs?: number } = {}): Promise<void> {
  let resourceMetrics: ResourceMetrics;
  try {
    const collected = await exporter.collect();
    if (collected.errors.length) diag.error('PrometheusExporter: metrics collection errors', ...collected.errors);
    resourceMetrics = collected.resourceMetrics;
  } catch (err) {
    // Not a 200: Prometheus would take an empty page for a scrape of no series, not a failed one.
    res.writeHead(503, { 'content-type': 'text/plain' }).end(`# failed to export metrics: ${String(err)}`);
    return;
  }
  // The scraper may have hung up (a scrape timeout) while the exporter collected.
  if (res.destroyed) return;
  res.writeHead(200, { 'content-type': 'text/plain' });
  const { resource } = resourceMetrics;
  let first = true;
  let sliceStart = performance.now();
  /** After a piece: wait for the socket if its buffer is full, and give way to the loop once the slice is used. */
  const wrote = async (more: boolean): Promise<void> => {
    if (!more) await drained(res);
    if (performance.now() - sliceStart >= sliceMs) {
      await nextTurn();
      sliceStart = performance.now();
    }
  };
  for (const scopeMetrics of resourceMetrics.scopeMetrics) {
    const scopeLabels = scopeLabelsOf(scopeMetrics, resource);
    for (const metric of scopeMetrics.metrics) {
      const serializer = first ? withTargetInfo : withoutTargetInfo;
      first = false;
      const head = serializer.serialize({ resource, scopeMetrics: [{ scope: scopeMetrics.scope, metrics: [{ ...metric, dataPoints: [] } as MetricData] }] });
      // The last TYPE line: the first piece also carries target_info's.
      const name = [...head.matchAll(/^# TYPE (\S+) /gm)].at(-1)?.[1];
      if (!name || (metric.dataPointType !== DataPointType.SUM && metric.dataPointType !== DataPointType.GAUGE && metric.dataPointType !== DataPointType.HISTOGRAM)) {
        // Not a kind mcpwatch produces: the exporter's own text, whole.
        await wrote(res.write(serializer.serialize({ resource, scopeMetrics: [{ scope: scopeMetrics.scope, metrics: [metric] }] })));
        if (res.destroyed) return;
        continue;
      }
      let piece = head;
      const points = metric.dataPoints as DataPoint<number | Histogram>[];
      const histogram = histogramText(name);
      for (let i = 0; i < points.length; i++) {
        const { attributes, value } = points[i]!;
        const own = renderLabels(attributes);
        const labels = !scopeLabels ? own : own ? `${own},${scopeLabels}` : scopeLabels;
        piece += typeof value === 'number' ? line(name, labels, value) : histogramLines(histogram, value, labels);
        if ((i + 1) % POINTS_PER_PIECE === 0) {
          await wrote(res.write(piece));
          if (res.destroyed) return;
          piece = '';
        }
      }
      if (piece) await wrote(res.write(piece));
      if (res.destroyed) return;
    }
  }
  // Label values no series carried in this scrape (a server removed by a reload) are let go at the next.
  fragments.rotate();
  // No metrics at all: the exporter's page is target_info and a comment.
  res.end(first ? withTargetInfo.serialize(resourceMetrics) : undefined);
}

/**
 * What a histogram's lines share: the family's sample names, and after each bucket's `le` value the
 * text up to the count (`0.5"} `), kept for the last boundaries array seen, which a collection shares
 * between all the points of a family (export/aggregate.ts). A bucket line is then three pieces, not seven.
 */
interface HistogramText {
  count: string;
  sum: string;
  bucket: string;
  boundaries: readonly number[] | undefined;
  leTails: string[];
}

function histogramText(name: string): HistogramText {
  return { count: `${name}_count`, sum: `${name}_sum`, bucket: `${name}_bucket{`, boundaries: undefined, leTails: [] };
}

function histogramLines(text: HistogramText, h: Histogram, labels: string): string {
  let out = line(text.count, labels, h.count);
  if (h.sum !== undefined && h.sum !== null) out += line(text.sum, labels, h.sum);
  const prefix = labels ? `${text.bucket}${labels},le="` : `${text.bucket}le="`;
  const { boundaries, counts } = h.buckets;
  if (text.boundaries !== boundaries) {
    text.boundaries = boundaries;
    text.leTails = boundaries.map((upper) => `${upper === Infinity ? '+Inf' : String(upper)}"} `);
  }
  let cumulative = 0;
  let infinityDefined = false;
  for (let i = 0; i < counts.length; i++) {
    cumulative += counts[i]!;
    const upper = boundaries[i];
    // The exporter's rule: a trailing count after an explicit +Inf boundary is not written twice.
    if (upper === undefined && infinityDefined) break;
    if (upper === Infinity) infinityDefined = true;
    out += `${prefix}${upper === undefined ? '+Inf"} ' : text.leTails[i]!}${valueString(cumulative)}\n`;
  }
  return out;
}

function line(name: string, labels: string, value: number): string {
  return labels ? `${name}{${labels}} ${valueString(value)}\n` : `${name} ${valueString(value)}\n`;
}

function valueString(value: number): string {
  return value === Infinity ? '+Inf' : value === -Infinity ? '-Inf' : `${value}`;
}

const scopeLabelCache = new Map<string, string>();

/**
 * The labels the exporter adds to every line of a scope (otel_scope_name, _version, _schema_url, then
 * the resource's constant labels), as its own serializer renders them: read from a one-point gauge it
 * serialises, so they follow it.
 */
function scopeLabelsOf({ scope }: ScopeMetrics, resource: ResourceMetrics['resource']): string {
  const attributes = Object.fromEntries(Object.entries(resource.attributes).filter(([k]) => RESOURCE_CONSTANT_LABELS.test(k)));
  const key = `${scope.name}\u0000${scope.version ?? ''}\u0000${scope.schemaUrl ?? ''}\u0000${JSON.stringify(attributes)}`;
  let labels = scopeLabelCache.get(key);
  if (labels === undefined) {
    const probe: MetricData = {
      descriptor: { name: 'probe', description: '', unit: '', valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.GAUGE,
      dataPoints: [{ attributes: {}, startTime: [0, 0], endTime: [0, 0], value: 0 }],
    };
    const text = withoutTargetInfo.serialize({ resource: { attributes } as ResourceMetrics['resource'], scopeMetrics: [{ scope, metrics: [probe] }] });
    labels = /^probe\{(.*)\} 0$/m.exec(text)?.[1] ?? '';
    scopeLabelCache.set(key, labels);
  }
  return labels;
}

/**
 * A label's `name="value"` text, by label key and value. A series' labels are joined from these at
 * every scrape instead of kept per series: kept, they were the page's largest part of the agent's live
 * heap (docs/benchmarks.md, "Memory per kept server (fourteenth session)"), while what they are made of, the label values, is shared by every series of a server. Two generations:
 * a value no series carried in one scrape is forgotten at the end of the next, so a reload that
 * removes servers does not leave their names here.
 */
export class LabelFragments {
  private current = new Map<string, KeyFragments>();
  private previous = new Map<string, KeyFragments>();

  get(key: string, value: string | number | boolean): string {
    let ofKey = this.current.get(key);
    if (!ofKey) {
      const old = this.previous.get(key);
      ofKey = { name: old?.name ?? prometheusLabelName(key), byValue: new Map(), previous: old?.byValue };
      this.current.set(key, ofKey);
    }
    let text = ofKey.byValue.get(value);
    if (text === undefined) {
      text = ofKey.previous?.get(value) ?? labelText(ofKey.name, value);
      ofKey.byValue.set(value, text);
    }
    return text;
  }

  rotate(): void {
    this.previous = this.current;
    this.current = new Map();
  }

  /** The values of a key whose text is held. */
  held(key: string): (string | number | boolean)[] {
    const ofKey = this.current.get(key);
    return [...new Set([...(ofKey?.byValue.keys() ?? []), ...(ofKey?.previous?.keys() ?? this.previous.get(key)?.byValue.keys() ?? [])])];
  }
}

interface KeyFragments {
  readonly name: string;
  readonly byValue: Map<string | number | boolean, string>;
  readonly previous: Map<string | number | boolean, string> | undefined;
}

const fragments = new LabelFragments();

/** The exporter's rendering of one label: values JSON for non-strings, escaped. */
function labelText(name: string, value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
  return `${name}="${text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`;
}

/**
 * A series' own labels as the exporter renders them, one `name="value"` a label, in the attributes'
 * order. The scope's labels, the same for every series of a family, are added as each series is
 * written (docs/benchmarks.md, the tenth session's memory per server).
 */
function renderLabels(attributes: Attributes): string {
  let out = '';
  for (const key in attributes) {
    const value = attributes[key];
    // Array values are not kept: a series may hand out a new array each collection.
    const text = typeof value === 'object' || value === undefined ? labelText(prometheusLabelName(key), value) : fragments.get(key, value);
    out = out ? `${out},${text}` : text;
  }
  return out;
}

/** Resolves when the response can take more, or is gone (a scraper that hung up). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    // 'close' may have fired already: a write to a destroyed response only returns false.
    if (res.destroyed || res.writableEnded) return resolve();
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
