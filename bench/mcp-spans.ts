// Batches of MCP spans made by the real OpenTelemetry SDK, for the OTLP benchmarks (otlp-decode,
// otlp-ingest): each bench says which spans; this builds them under one `invoke_agent` parent, as an
// instrumented agent would, and hands back the finished spans for the SDK's own serializers.
import { ROOT_CONTEXT, trace, SpanStatusCode, type Attributes, type HrTime, type SpanKind } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';

export interface SpanDef {
  name: string;
  kind: SpanKind;
  attributes: Attributes;
  start: HrTime;
  end: HrTime;
  /** Status ERROR with this message. */
  errorMessage?: string;
}

/** Deterministic choice, so batches are the same from run to run. */
export function pick<T>(list: readonly T[], i: number): T {
  return list[(i * 2654435761) % list.length]!;
}

/**
 * The spans of one batch, finished. The `invoke_agent` parent starts at `rootStart` and is never
 * ended, so only the MCP spans are exported.
 */
export function finishedSpans(resource: Attributes, scopeVersion: string, rootStart: HrTime, defs: Iterable<SpanDef>): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes(resource), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('@example/mcp-instrumentation', scopeVersion);
  const parent = trace.setSpan(ROOT_CONTEXT, tracer.startSpan('invoke_agent', { startTime: rootStart }));
  for (const def of defs) {
    const span = tracer.startSpan(def.name, { kind: def.kind, attributes: def.attributes, startTime: def.start }, parent);
    if (def.errorMessage !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: def.errorMessage });
    span.end(def.end);
  }
  return exporter.getFinishedSpans();
}
