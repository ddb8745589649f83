// export/ owns what leaves mcpwatch: OpenTelemetry metric and span pipelines (this file), the
// Prometheus scrape endpoint, OTLP exporters, the OTLP forwarder and alert notifiers. It records and
// delivers what it is told; it never decides a server's state and never probes.
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import type { ChannelCredentials, Metadata } from '@grpc/grpc-js';
import { diag, DiagLogLevel, type DiagLogger, type Meter, type Tracer } from '@opentelemetry/api';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type MetricProducer, type MetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { BasicTracerProvider, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { parseListen, type Config } from '../config/schema.js';
import { HotMetrics } from './aggregate.js';
import { ServerMetrics } from './server-metrics.js';
import { AgentMetrics } from './agent-metrics.js';
import { RESOURCE_CONSTANT_LABELS, serveMetrics } from './prometheus.js';
import { httpExportPath, type OtlpSignal } from '../wire/otlp.js';
import { userinfoAsBasic } from '../wire/http.js';
import { VERSION } from '../wire/version.js';
import { clientTlsOptions, grpcChannelCredentials } from '../wire/tls.js';

const SCOPE = 'mcpwatch';
const TLS_AT = 'exporters.otlp.tls';

type OtlpConfig = NonNullable<Config['exporters']['otlp']>;

/** The agent's log, as far as the SDK's own failures need it. */
export interface TelemetryLog {
  warn(obj: object, msg: string): void;
}

/** At most one line a minute: a backend that is down fails every export interval. */
const SDK_WARN_INTERVAL_MS = 60_000;

/**
 * The OpenTelemetry SDK reports a failed export of metrics or probe spans (a backend down, a 401 for
 * a wrong API key) only to its diag logger, a no-op until one is set: without this, exporters.otlp
 * could refuse every export for days without a line in the log.
 */
export function sdkDiagLogger(log: TelemetryLog, now: () => number = Date.now): DiagLogger {
  // Counted apart: a warning repeated at every export must not hide the error that follows it.
  const kinds = { error: { lastAt: -Infinity, suppressed: 0 }, warning: { lastAt: -Infinity, suppressed: 0 } };
  const report = (what: keyof typeof kinds, args: unknown[]): void => {
    const kind = kinds[what];
    const at = now();
    if (at - kind.lastAt < SDK_WARN_INTERVAL_MS) {
      kind.suppressed++;
      return;
    }
    kind.lastAt = at;
    const message = what === 'error' ? 'OpenTelemetry SDK error: metrics or probe spans may not reach exporters.otlp' : 'OpenTelemetry SDK warning about exports to exporters.otlp';
    log.warn({ error: sdkErrorText(args), ...(kind.suppressed > 0 ? { suppressed_since_last_warning: kind.suppressed } : {}) }, message);
    kind.suppressed = 0;
  };
  const ignore = (): void => undefined;
  return { error: (...args: unknown[]) => report('error', args), warn: (...args: unknown[]) => report('warning', args), info: ignore, debug: ignore, verbose: ignore };
}

/**
 * What the SDK said, as one line. Its component loggers put their name first (`OTLPExportDelegate`),
 * then the message, then the error itself; errors come as objects or as their JSON (stack first).
 */
function sdkErrorText(args: readonly unknown[]): string {
  return args.map((part) => cut(partText(part))).filter((t) => t !== '').join(': ');
}

/** Enough of one part to say what went wrong: the SDK may hand over a whole answer's body. */
const SDK_PART_CHARS = 300;

function cut(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > SDK_PART_CHARS ? `${line.slice(0, SDK_PART_CHARS)}…` : line;
}

function partText(part: unknown): string {
  if (typeof part === 'string') {
    try {
      const parsed = JSON.parse(part) as unknown;
      if (typeof parsed === 'object' && parsed !== null) return partText(parsed);
    } catch {
      // Not JSON: a plain diag message.
    }
    return part;
  }
  if (typeof part === 'object' && part !== null && typeof (part as { message?: unknown }).message === 'string') return (part as { message: string }).message;
  // An answer's body it could not read (bytes): as text, which is what a proxy's page is; as JSON
  // it would be every byte as a number.
  if (ArrayBuffer.isView(part)) return Buffer.from(part.buffer, part.byteOffset, part.byteLength).toString('utf8');
  if (part === undefined || part === null) return '';
  try {
    return JSON.stringify(part) ?? String(part);
  } catch {
    return String(part);
  }
}

/** The OTLP side, loaded only when `exporters.otlp` is set: gRPC and the exporters cost tens of MiB. */
interface OtlpPipelines {
  reader: MetricReader;
  tracerProvider: BasicTracerProvider;
}

async function otlpPipelines(otlp: OtlpConfig, resource: Resource, producers: MetricProducer[]): Promise<OtlpPipelines> {
  // Credentials (certificate files read once) and metadata, shared by both exporters.
  const grpc = otlp.protocol === 'grpc' ? await grpcOptions(otlp) : undefined;
  const http = grpc ? {} : httpOptions(otlp);
  const [{ BasicTracerProvider, BatchSpanProcessor }, metricExporter, traceExporter] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    makeMetricExporter(otlp, grpc, http),
    makeTraceExporter(otlp, grpc, http),
  ]);
  return {
    reader: new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: otlp.interval, exportTimeoutMillis: Math.min(otlp.timeout, otlp.interval), metricProducers: producers }),
    tracerProvider: new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(traceExporter)] }),
  };
}

/**
 * The OpenTelemetry pipelines of one agent: a MeterProvider read by the Prometheus exporter (served
 * from our own HTTP server so the bound address is known, port 0 included) and, when configured,
 * pushed over OTLP; a TracerProvider for probe spans when an OTLP backend is configured.
 */
export class Telemetry {
  readonly meter: Meter;
  readonly tracer: Tracer | undefined;
  /** Durations and tool calls, aggregated outside the SDK's instruments (see aggregate.ts). */
  readonly hot: HotMetrics;
  /** The per-server series, likewise (see server-metrics.ts). */
  readonly servers: ServerMetrics;
  /** The blast-radius series, likewise (see agent-metrics.ts). */
  readonly agents: AgentMetrics;
  private readonly meterProvider: MeterProvider;
  private readonly tracerProvider: BasicTracerProvider | undefined;
  private readonly prometheus: PrometheusExporter | undefined;
  private server: Server | undefined;
  private closing = false;

  /** With `log`, the SDK's own failures (an export refused) are logged there (sdkDiagLogger). */
  static async create(config: Config, log?: TelemetryLog): Promise<Telemetry> {
    // The diag logger is process-wide, as the SDK has it; one agent runs per process.
    if (log && config.exporters.otlp) diag.setLogger(sdkDiagLogger(log), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
    const resource = resourceFromAttributes({
      'service.name': 'mcpwatch',
      'service.version': VERSION,
      'service.instance.id': `${hostname()}:${process.pid}`,
      // A resource attribute, so OTLP carries it once per export and the Prometheus page on every
      // series (RESOURCE_CONSTANT_LABELS); the replica is left out so HA replicas' series are equal.
      ...(config.sharding ? { shard: String(config.sharding.shard) } : {}),
    });
    const hot = new HotMetrics(resource, { name: SCOPE, version: VERSION });
    const servers = new ServerMetrics(resource, { name: SCOPE, version: VERSION });
    const agents = new AgentMetrics(resource, { name: SCOPE, version: VERSION }, config.blast_radius.max_agents_per_server);
    const otlp = config.exporters.otlp ? await otlpPipelines(config.exporters.otlp, resource, [hot, servers, agents]) : undefined;
    return new Telemetry(config, resource, hot, servers, agents, otlp);
  }

  private constructor(
    private readonly config: Config,
    resource: Resource,
    hot: HotMetrics,
    servers: ServerMetrics,
    agents: AgentMetrics,
    otlp: OtlpPipelines | undefined,
  ) {
    this.hot = hot;
    this.servers = servers;
    this.agents = agents;
    const readers: MetricReader[] = [];
    if (config.exporters.prometheus) {
      this.prometheus = new PrometheusExporter({ preventServerStart: true, metricProducers: [hot, servers, agents], withResourceConstantLabels: RESOURCE_CONSTANT_LABELS });
      readers.push(this.prometheus);
    }
    if (otlp) {
      readers.push(otlp.reader);
      this.tracerProvider = otlp.tracerProvider;
      this.tracer = this.tracerProvider.getTracer(SCOPE, VERSION);
    }
    this.meterProvider = new MeterProvider({ resource, readers });
    this.meter = this.meterProvider.getMeter(SCOPE, VERSION);
  }

  /** Starts serving /metrics; resolves with the bound address. A scrape that fails is told to `onScrapeError`. */
  async start(onScrapeError: (err: unknown) => void = () => {}): Promise<AddressInfo | undefined> {
    const endpoint = this.config.exporters.prometheus?.endpoint;
    if (!endpoint || !this.prometheus) return undefined;
    const { host, port } = parseListen(endpoint)!;
    const exporter = this.prometheus;
    this.server = createServer((req, res) => {
      // Once the agent stops, a connection goes as soon as its answer is out (see shutdown()).
      res.once('close', () => {
        if (this.closing) this.server?.closeIdleConnections();
      });
      if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
        serveMetrics(exporter, res).catch((err: unknown) => {
          // A scrape that breaks must not take the agent with it: the scraper sees a cut page.
          onScrapeError(err);
          res.destroy();
        });
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('mcpwatch serves /metrics here\n');
    });
    await listen(this.server, host, port, 'exporters.prometheus.endpoint');
    return this.server.address() as AddressInfo;
  }

  /**
   * Stops serving /metrics, then flushes and stops every pipeline; never throws. The endpoint goes
   * first: a scrape answered after the readers shut down would be an empty page, which Prometheus
   * takes for a successful scrape of no series. A scrape under way is finished, and a scraper's
   * kept-alive connection is closed then rather than held until it idles out.
   */
  async shutdown(): Promise<void> {
    const server = this.server;
    if (server) {
      this.closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
    }
    await Promise.allSettled([this.meterProvider.shutdown(), this.tracerProvider?.shutdown()]);
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

/**
 * `exporters.otlp.endpoint` and headers as a client sends them: the URL without `user:password@`,
 * and that userinfo as `Authorization: Basic` unless a configured header already authorizes, as
 * Go's HTTP client does in the Collector's exporters. The credential is then only in a header,
 * never in a URL that an error message could quote. The forwarder and the SDK exporters share it.
 */
export function otlpBackend(endpoint: string, headers: Readonly<Record<string, string>> = {}): { url: URL; headers: Record<string, string> } {
  const { url, authorization } = userinfoAsBasic(endpoint);
  const merged = { ...headers };
  if (authorization !== undefined && !Object.keys(merged).some((k) => k.toLowerCase() === 'authorization')) merged.authorization = authorization;
  return { url: new URL(url), headers: merged };
}

/**
 * A signal's OTLP/HTTP URL under the endpoint: `/v1/<signal>` joined to the endpoint's path, before
 * its query, which is kept (a backend's API key may be there); appended to the whole string, it
 * ended up inside the query's last value.
 */
export function otlpHttpUrl(endpoint: URL, signal: OtlpSignal): URL {
  const url = new URL(endpoint.href);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${httpExportPath(signal)}`;
  url.hash = '';
  return url;
}

async function grpcOptions(otlp: OtlpConfig): Promise<{ credentials: ChannelCredentials; metadata: Metadata; url: string }> {
  const grpc = await import('@grpc/grpc-js');
  const { url, headers } = otlpBackend(otlp.endpoint, otlp.headers);
  const credentials = grpcChannelCredentials(grpc, TLS_AT, url.href, otlp.tls);
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k.toLowerCase(), v);
  return { credentials, metadata, url: url.href };
}

function httpTarget(otlp: OtlpConfig, signal: 'metrics' | 'traces'): { url: string; headers: Record<string, string> } {
  const { url, headers } = otlpBackend(otlp.endpoint, otlp.headers);
  return { url: otlpHttpUrl(url, signal).href, headers };
}

/**
 * The HTTP exporters' agent: `exporters.otlp.tls` applies over https as it does to gRPC and to the
 * forwarder (keep-alive is the exporters' own default, kept).
 */
function httpOptions(otlp: OtlpConfig): { httpAgentOptions?: import('node:https').AgentOptions } {
  return /^https:/i.test(otlp.endpoint) ? { httpAgentOptions: { keepAlive: true, ...clientTlsOptions(TLS_AT, otlp.tls) } } : {};
}

type GrpcOptions = Awaited<ReturnType<typeof grpcOptions>>;
type HttpOptions = ReturnType<typeof httpOptions>;

/**
 * The exporters take their CompressionAlgorithm enum, which lives in @opentelemetry/otlp-exporter-base,
 * a package mcpwatch does not depend on directly; its values are these same strings.
 */
type ExporterCompression = NonNullable<NonNullable<ConstructorParameters<typeof import('@opentelemetry/exporter-trace-otlp-proto').OTLPTraceExporter>[0]>['compression']>;
const compression = (otlp: OtlpConfig): ExporterCompression => otlp.compression as ExporterCompression;

async function makeMetricExporter(otlp: OtlpConfig, grpc: GrpcOptions | undefined, tlsAgent: HttpOptions): Promise<PushMetricExporter> {
  if (grpc) {
    const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-grpc');
    return new OTLPMetricExporter({ ...grpc, timeoutMillis: otlp.timeout, compression: compression(otlp) });
  }
  const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-proto');
  return new OTLPMetricExporter({ ...httpTarget(otlp, 'metrics'), timeoutMillis: otlp.timeout, compression: compression(otlp), ...tlsAgent });
}

async function makeTraceExporter(otlp: OtlpConfig, grpc: GrpcOptions | undefined, tlsAgent: HttpOptions): Promise<SpanExporter> {
  if (grpc) {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-grpc');
    return new OTLPTraceExporter({ ...grpc, timeoutMillis: otlp.timeout, compression: compression(otlp) });
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter({ ...httpTarget(otlp, 'traces'), timeoutMillis: otlp.timeout, compression: compression(otlp), ...tlsAgent });
}
