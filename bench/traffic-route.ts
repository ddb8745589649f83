// Per-span cost of attributing traffic, in this process: OpenLLMetry tool spans (made by the real SDK,
// serialised and decoded once), then per span what the agent does after decoding: recogniseSpan with
// the agent's resolver, TrafficRouter.route and the error-rate window. Cases:
//   none     - no resolver: every span `unknown` (what OpenLLMetry traffic got before attribution)
//   tools    - 50 configured servers of 20 tools each, one tool name shared by two of them (ambiguous),
//              and a window per server: the spans are attributed by tool name
// Prints spans per CPU-second (median of 5 rounds); never fails on time.
//
//   npm run build && node dist/bench/traffic-route.js [seconds-per-round]
import { SpanKind } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { decodeTraceRequest, type DecodedSpan } from '../src/otlp/decode.js';
import { recogniseSpan, type ServerResolver } from '../src/otlp/recognise.js';
import { serverResolver, TrafficRouter, type ServerIdentity } from '../src/pipeline/traffic.js';
import { ErrorRateWindow } from '../src/pipeline/traffic-errors.js';
import { finishedSpans, pick, type SpanDef } from './mcp-spans.js';

const SECONDS = Number(process.argv[2] ?? 1);
const ROUNDS = 5;
const SERVERS = 50;
const TOOLS_PER_SERVER = 20;

const identities: ServerIdentity[] = Array.from({ length: SERVERS }, (_, s) => ({
  name: `server-${s}`,
  url: `http://mcp-${s}.internal:8080/mcp`,
  tools: Array.from({ length: TOOLS_PER_SERVER }, (_, t) => (s < 2 && t === 0 ? 'search' : `tool_${s}_${t}`)),
}));
const allTools = identities.flatMap((i) => i.tools!);

function* spans(): Generator<SpanDef> {
  for (let i = 0; i < 512; i++) {
    const tool = pick(allTools, i);
    const error = i % 10 === 3;
    yield {
      name: `${tool}.tool`,
      kind: SpanKind.CLIENT,
      attributes: { 'traceloop.span.kind': 'tool', 'traceloop.entity.name': tool, 'traceloop.entity.input': '{"tool_name":"x"}' },
      start: [1_700_000_000, i * 1000],
      end: [1_700_000_000, i * 1000 + 40_000_000],
      ...(error ? { errorMessage: 'MCP error -32602: bad arguments' } : {}),
    };
  }
}

const bytes = ProtobufTraceSerializer.serializeRequest(finishedSpans({ 'service.name': 'support-bot' }, '0.27.0', [1_700_000_000, 0], spans()));
const decoded: DecodedSpan[] = decodeTraceRequest(Buffer.from(bytes!)).spans;

let checksum = 0;

function measure(resolver: ServerResolver | undefined): number {
  const windows = new Map(identities.map((i) => [i.name, new ErrorRateWindow(300_000)]));
  const router = new TrafficRouter((n) => windows.has(n), (obs, labels) => ({ labels, window: obs.kind === 'tool_call' && !obs.ambiguous ? windows.get(labels.server) : undefined }));
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const cpu0 = process.cpuUsage();
    const end = Date.now() + SECONDS * 1000;
    let n = 0;
    while (Date.now() < end) {
      for (const span of decoded) {
        const obs = recogniseSpan(span, resolver);
        if (!obs) continue;
        const route = router.route(obs);
        route.window?.record(Date.now(), obs.errorType);
        checksum += route.labels.server.length;
      }
      n += decoded.length;
    }
    const cpu = process.cpuUsage(cpu0);
    rates.push(n / ((cpu.user + cpu.system) / 1e6));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(ROUNDS / 2)]!;
}

const none = measure(undefined);
const tools = measure(serverResolver(identities));
console.log(`traffic-route: ${decoded.length}-span OpenLLMetry batch, ${SERVERS} servers × ${TOOLS_PER_SERVER} tools`);
console.log(`  none (all unknown):      ${(none / 1e6).toFixed(2)}M spans per CPU-second`);
console.log(`  tools (by tool name):    ${(tools / 1e6).toFixed(2)}M spans per CPU-second (${((tools / none) * 100).toFixed(0)} % of none)`);
console.log(`  (checksum ${checksum})`);
