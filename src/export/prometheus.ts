import type { ServerResponse } from 'node:http';
import { diag } from '@opentelemetry/api';
import { PrometheusSerializer, type PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';

/** Data points serialised at a time: a few hundred lines, so each piece dies young. */
const POINTS_PER_PIECE = 50;

// Built with the arguments PrometheusExporter gives its own serializer for the options mcpwatch uses
// (no prefix, no timestamps, scope labels and target_info on): the text is byte for byte the same.
const withTargetInfo = new PrometheusSerializer(undefined, false, undefined, false, false);
const withoutTargetInfo = new PrometheusSerializer(undefined, false, undefined, true, false);

/**
 * Serves a scrape like PrometheusExporter.getMetricsRequestHandler, but writes the text in pieces of
 * POINTS_PER_PIECE data points instead of building it as one string. At 300 servers the page is
 * 2.6 MiB; built whole, its intermediate strings outlived V8's young generation and each scrape
 * grew the agent by 15–30 MiB (docs/benchmarks.md).
 */
export async function serveMetrics(exporter: PrometheusExporter, res: ServerResponse): Promise<void> {
  let resourceMetrics: ResourceMetrics;
  try {
    const collected = await exporter.collect();
    if (collected.errors.length) diag.error('PrometheusExporter: metrics collection errors', ...collected.errors);
    resourceMetrics = collected.resourceMetrics;
  } catch (err) {
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`# failed to export metrics: ${String(err)}`);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  const { resource } = resourceMetrics;
  let first = true;
  for (const { scope, metrics } of resourceMetrics.scopeMetrics) {
    for (const metric of metrics) {
      // One piece even for a metric without points: the serializer writes its HELP/TYPE lines.
      for (let i = 0; i === 0 || i < metric.dataPoints.length; i += POINTS_PER_PIECE) {
        const part = { ...metric, dataPoints: metric.dataPoints.slice(i, i + POINTS_PER_PIECE) } as typeof metric;
        const text = (first ? withTargetInfo : withoutTargetInfo).serialize({ resource, scopeMetrics: [{ scope, metrics: [part] }] });
        first = false;
        // HELP/TYPE/UNIT once per metric, as in the exporter's page.
        if (!res.write(i === 0 ? text : withoutCommentLines(text))) await drained(res);
        if (res.destroyed) return;
      }
    }
  }
  // No metrics at all: the exporter's page is target_info and a comment.
  res.end(first ? withTargetInfo.serialize(resourceMetrics) : undefined);
}

/** Resolves when the response can take more, or is gone (a scraper that hung up). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function withoutCommentLines(text: string): string {
  let i = 0;
  while (text.startsWith('#', i)) i = text.indexOf('\n', i) + 1;
  return text.slice(i);
}
