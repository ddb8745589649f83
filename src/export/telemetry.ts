// export/ owns what leaves mcpwatch: OpenTelemetry metric and span pipelines, the Prometheus scrape
// endpoint, OTLP exporters and alert notifiers. It records what it is told; it never decides a
// server's state and never probes.
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { credentials as grpcCredentials, Metadata, type ChannelCredentials } from '@grpc/grpc-js';
import type { Meter, Tracer } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type MetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { parseListen, type Config } from '../config/schema.js';

export const VERSION = '0.1.0';
export const SCOPE = 'mcpwatch';

type OtlpConfig = NonNullable<Config['exporters']['otlp']>;

/**
 * The OpenTelemetry pipelines of one agent: a MeterProvider read by the Prometheus exporter (served
 * from our own HTTP server so the bound address is known, port 0 included) and, when configured,
 * pushed over OTLP; a TracerProvider for probe spans when an OTLP backend is configured.
 */
export class Telemetry {
  readonly meter: Meter;
  readonly tracer: Tracer | undefined;
  private readonly meterProvider: MeterProvider;
  private readonly tracerProvider: BasicTracerProvider | undefined;
  private readonly prometheus: PrometheusExporter | undefined;
  private server: Server | undefined;

  constructor(private readonly config: Config) {
    const resource = resourceFromAttributes({
      'service.name': 'mcpwatch',
      'service.version': VERSION,
      'service.instance.id': `${hostname()}:${process.pid}`,
    });
    const readers: MetricReader[] = [];
    if (config.exporters.prometheus) {
      this.prometheus = new PrometheusExporter({ preventServerStart: true });
      readers.push(this.prometheus);
    }
    const otlp = config.exporters.otlp;
    if (otlp) {
      readers.push(new PeriodicExportingMetricReader({ exporter: metricExporter(otlp), exportIntervalMillis: otlp.interval, exportTimeoutMillis: Math.min(otlp.timeout, otlp.interval) }));
      this.tracerProvider = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(traceExporter(otlp))] });
      this.tracer = this.tracerProvider.getTracer(SCOPE, VERSION);
    }
    this.meterProvider = new MeterProvider({ resource, readers });
    this.meter = this.meterProvider.getMeter(SCOPE, VERSION);
  }

  /** Starts serving /metrics; resolves with the bound address. */
  async start(): Promise<AddressInfo | undefined> {
    const endpoint = this.config.exporters.prometheus?.endpoint;
    if (!endpoint || !this.prometheus) return undefined;
    const { host, port } = parseListen(endpoint)!;
    const exporter = this.prometheus;
    this.server = createServer((req, res) => {
      if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
        exporter.getMetricsRequestHandler(req, res);
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('mcpwatch serves /metrics here\n');
    });
    await listen(this.server, host, port, 'exporters.prometheus.endpoint');
    return this.server.address() as AddressInfo;
  }

  /** Flushes and stops every pipeline; never throws. */
  async shutdown(): Promise<void> {
    await Promise.allSettled([this.meterProvider.shutdown(), this.tracerProvider?.shutdown()]);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
  }
}

/** Listens or rejects with a message that names the setting, e.g. when the port is taken. */
export function listen(server: Server, host: string, port: number, setting: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EACCES' ? 'permission denied' : err.message;
      reject(new Error(`${setting}: cannot listen on ${host}:${port}: ${why}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function grpcCreds(otlp: OtlpConfig): ChannelCredentials {
  if (otlp.tls.insecure || otlp.endpoint.startsWith('http:')) return grpcCredentials.createInsecure();
  const read = (f: string | undefined): Buffer | null => (f ? readFileSync(f) : null);
  return grpcCredentials.createSsl(read(otlp.tls.ca_file), read(otlp.tls.key_file), read(otlp.tls.cert_file), { rejectUnauthorized: !otlp.tls.insecure_skip_verify });
}

function grpcMetadata(headers: Record<string, string>): Metadata {
  const md = new Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k.toLowerCase(), v);
  return md;
}

function httpUrl(otlp: OtlpConfig, signal: 'metrics' | 'traces'): string {
  return `${otlp.endpoint.replace(/\/+$/, '')}/v1/${signal}`;
}

function metricExporter(otlp: OtlpConfig): PushMetricExporter {
  if (otlp.protocol === 'grpc') {
    return new GrpcMetricExporter({ url: otlp.endpoint, credentials: grpcCreds(otlp), metadata: grpcMetadata(otlp.headers), timeoutMillis: otlp.timeout });
  }
  return new ProtoMetricExporter({ url: httpUrl(otlp, 'metrics'), headers: otlp.headers, timeoutMillis: otlp.timeout });
}

function traceExporter(otlp: OtlpConfig): SpanExporter {
  if (otlp.protocol === 'grpc') {
    return new GrpcTraceExporter({ url: otlp.endpoint, credentials: grpcCreds(otlp), metadata: grpcMetadata(otlp.headers), timeoutMillis: otlp.timeout });
  }
  return new ProtoTraceExporter({ url: httpUrl(otlp, 'traces'), headers: otlp.headers, timeoutMillis: otlp.timeout });
}
