// wire/otlp.ts: the OTLP names the receiver and the forwarder must agree on. Constants only, so
// importing it loads nothing (an agent without a backend never loads grpc-js through here).

export const OTLP_SIGNALS = ['traces', 'metrics', 'logs'] as const;
export type OtlpSignal = (typeof OTLP_SIGNALS)[number];

/** The two encodings OTLP/HTTP carries; gRPC carries protobuf only. */
export type OtlpContentType = 'application/x-protobuf' | 'application/json';

/** The gRPC method of each signal's Export{Trace,Metrics,Logs}Service. */
export const GRPC_EXPORT_PATH: Readonly<Record<OtlpSignal, string>> = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
};

/** The OTLP/HTTP path of a signal, appended to an endpoint's base path. */
export const httpExportPath = (signal: OtlpSignal): string => `/v1/${signal}`;

/** A Content-Type header without parameters, lower-cased ('' when absent). */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The OTLP content type a media type names, if OTLP/HTTP carries it. */
export function otlpContentType(media: string): OtlpContentType | undefined {
  return media === 'application/x-protobuf' || media === 'application/json' ? media : undefined;
}

/** The count field of an OTLP/JSON `partialSuccess`, per signal. */
export const JSON_REJECTED_FIELD: Readonly<Record<OtlpSignal, string>> = { traces: 'rejectedSpans', metrics: 'rejectedDataPoints', logs: 'rejectedLogRecords' };
