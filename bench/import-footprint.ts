// Where the agent's baseline memory comes from: imports the agent's dependencies one after another in
// this process and prints RSS and JS heap after a full GC following each one (cumulative, so shared
// modules are charged to the first importer). Diagnosis for bench/agent-fleet.ts's idle variant.
// In the order the agent loads them: the CLI and configuration, the agent (OpenTelemetry, SQLite),
// the probes once servers are configured (the MCP SDK client), then what only some configurations
// load: the SSE transport (undici), the OTLP receiver (gRPC, protobufjs) and the OTLP exporters.
//
//   npm run build && node --expose-gc dist/bench/import-footprint.js
const MODULES = [
  'commander',
  'zod',
  'yaml',
  'pino',
  'better-sqlite3',
  '@opentelemetry/sdk-metrics',
  '@opentelemetry/exporter-prometheus',
  '../src/agent/agent.js',
  '@modelcontextprotocol/sdk/client/index.js',
  '../src/probe/session.js',
  '@modelcontextprotocol/sdk/client/sse.js',
  'undici',
  'protobufjs',
  '@grpc/grpc-js',
  '../src/otlp/receiver.js',
  '@opentelemetry/sdk-trace-base',
  '@opentelemetry/exporter-metrics-otlp-grpc',
  '@opentelemetry/exporter-trace-otlp-grpc',
  '@opentelemetry/exporter-metrics-otlp-proto',
  '@opentelemetry/exporter-trace-otlp-proto',
];

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with node --expose-gc');
  process.exit(2);
}
const mib = (n: number): string => (n / 2 ** 20).toFixed(1);
gc();
let prev = process.memoryUsage();
console.log(`node ${process.version}; RSS and heapUsed after a full GC, cumulative`);
console.log(`${'(bare node)'.padEnd(54)} RSS ${mib(prev.rss).padStart(6)} MiB              heapUsed ${mib(prev.heapUsed).padStart(5)} MiB`);
for (const m of MODULES) {
  const t = performance.now();
  await import(m);
  const ms = performance.now() - t;
  gc();
  const cur = process.memoryUsage();
  console.log(
    `${m.padEnd(54)} RSS ${mib(cur.rss).padStart(6)} MiB (+${mib(cur.rss - prev.rss).padStart(5)})  heapUsed ${mib(cur.heapUsed).padStart(5)} MiB (+${mib(cur.heapUsed - prev.heapUsed).padStart(4)})  ${ms.toFixed(0).padStart(4)} ms`,
  );
  prev = cur;
}
