// The per-span cost of learning the blast radius, in process: what the agent does with each
// recognised span (route it to its metric cells, count it) without and with counting its caller
// (pipeline/callers.ts CallerWindow.record + the calls-by-agent cell). The spans are otlp-ingest's
// 512-span batches of MCP tool calls (the real SDK's protobuf; 10 servers, all configured here, and
// 4 sending agents), decoded once; only the per-span work is timed. Rounds alternate between the two
// variants; each prints the median spans per CPU-second of its rounds. The decoded spans are reused
// from round to round, so what the agent does once per request (callerOf, finding a caller's slots,
// reading the clock) is done here once in all; in the agent that is once per 512 spans, which this
// amortises almost as well. Prints figures only.
//
//   npm run build && node dist/bench/blast-radius.js [--rounds 7] [--seconds 1]
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { emptyResource } from '@opentelemetry/resources';
import { decodeTraceRequest, type DecodedSpan } from '../src/otlp/decode.js';
import { recogniseSpan, type Observation } from '../src/otlp/recognise.js';
import { TrafficRouter } from '../src/pipeline/traffic.js';
import { CallerWindow, callerOf } from '../src/pipeline/callers.js';
import { Recorder, type TrafficCells } from '../src/export/recorder.js';
import { AgentMetrics } from '../src/export/agent-metrics.js';
import { toolCallBatch } from './mcp-spans.js';
import { arg, machine } from './agent-harness.js';

const ROUNDS = Number(arg('rounds', '7'));
const SECONDS = Number(arg('seconds', '1'));

const SERVERS = new Set(['github', 'postgres', 'filesystem', 'slack', 'jira', 'notion', 'linear', 'sentry', 'stripe', 'search']);
const work: Array<[Observation, DecodedSpan]> = [];
for (let b = 0; b < 16; b++) {
  for (const span of decodeTraceRequest(toolCallBatch(b)).spans) {
    const obs = recogniseSpan(span);
    if (obs) work.push([obs, span]);
  }
}

const meter = new MeterProvider().getMeter('bench');
const recorder = new Recorder(meter);
const router = new TrafficRouter<TrafficCells>((name) => SERVERS.has(name), (obs, labels) => recorder.trafficCells(obs, labels));
const callers = new CallerWindow({ windowMs: 86_400_000, maxAgents: 20 });
const agentMetrics = new AgentMetrics(emptyResource(), { name: 'bench', version: '0' }, 20);

function plain(): void {
  for (const [obs] of work) recorder.traffic(router.route(obs), obs.durationSeconds);
}

function withCallers(): void {
  for (const [obs, span] of work) {
    const cells = router.route(obs);
    recorder.traffic(cells, obs.durationSeconds);
    if (!SERVERS.has(cells.server)) continue;
    const caller = callerOf(span);
    if (!caller) continue;
    // As the agent does it (agent.ts onTraffic).
    const slots = (caller.slots ??= new Map());
    let slot = slots.get(cells);
    if (!slot || slot.generation !== callers.generation) {
      slot = callers.slot(cells.server, cells.tool, caller);
      slot.cell = agentMetrics.cell(cells.server, caller);
      slots.set(cells, slot);
    }
    slot.add((caller.at ??= Date.now()));
    slot.cell!.calls++;
  }
}

/** Spans per CPU-second of `fn` over about SECONDS of wall time. */
function round(fn: () => void): number {
  const end = Date.now() + SECONDS * 1000;
  const cpu0 = process.cpuUsage();
  let spans = 0;
  while (Date.now() < end) {
    fn();
    spans += work.length;
  }
  const cpu = process.cpuUsage(cpu0);
  return spans / ((cpu.user + cpu.system) / 1e6);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// Warm both paths before timing either.
for (let i = 0; i < 20; i++) {
  plain();
  withCallers();
}
const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  a.push(round(plain));
  b.push(round(withCallers));
}
const fmt = (n: number): string => `${(n / 1e6).toFixed(2)}M`;
console.log(machine());
console.log(`spans per round: ${work.length}; rounds: ${ROUNDS} × ${SECONDS} s each, alternating`);
console.log(`route + count:                 median ${fmt(median(a))} spans/CPU-s (rounds ${a.map(fmt).join(' ')})`);
console.log(`route + count + blast radius:  median ${fmt(median(b))} spans/CPU-s (rounds ${b.map(fmt).join(' ')})`);
const ns = (1e9 / median(b) - 1e9 / median(a)).toFixed(0);
console.log(`added per span: ${ns} ns (difference of the medians' per-span CPU time)`);
