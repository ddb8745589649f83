// OTLP/gRPC ingest by the agent, end to end: the agent runs as a child process (`node
// dist/src/cli/main.js run -c FILE`, `servers: []`, the gRPC receiver on a free port, HTTP receiver
// off, Prometheus on, `receivers.otlp.limit_mib: 1024`) and this process sends pre-built 512-span
// batches of MCP tool-call spans (made by the real SDK, serialised with otlp-transformer's
// ProtobufTraceSerializer) with @grpc/grpc-js clients using identity serializers. Each Export is
// renumbered first (FreshIds, mcp-spans.ts: new trace ids), so the agent sees new spans every time,
// as from real agents, not the same span ids again.
//
// (a) saturation: C clients (default 4, each its own connection), each sending the next Export as
//     soon as the previous one is answered, for ~20 s. Prints accepted spans/s (checked against the
//     agent's mcpwatch_receiver_accepted_spans_total), the agent's CPU % and peak RSS. In the same
//     run, before and after the load (never during it), a decode-only loop over the same bytes in
//     this process (decodeTraceRequest + recogniseSpan from dist/src/otlp; median of 5 × 1 s, per
//     CPU-second) gives the ceiling in spans/s on one core (the higher of the two medians); the
//     ratio is printed. Target ≥ 50 % of that ceiling.
// (b) fixed rate: 10k spans/s (one 512-span Export every 51.2 ms, paced against the clock) for ~30 s
//     against a fresh agent: its CPU % and RSS. Target ≤ 15 % of a core and ≤ 100 MB RSS.
//
// The machine may have few cores (2 here): the load generator competes with the agent for them, so
// its own CPU use is printed too; it sends pre-serialised bytes and does no other work.
// Prints figures only; never fails on time.
//
//   npm run build && node dist/bench/otlp-ingest.js [--clients 4] [--seconds 20] [--rate-seconds 30]
//       [--rate 10000] [--only both|saturation|rate] [--cpu-prof DIR] [--node-args "…"]
//       [--node-options "…"]
//
// --node-options "…"  NODE_OPTIONS for the agent, as docs/deployment.md sets it (default: none, V8's
//                     defaults; NODE_OPTIONS of this process is not passed on)
// --cpu-prof DIR   run the agent with --cpu-prof (written when it exits)
// --node-args "…"  extra node flags for the agent (experiments)
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { decodeTraceRequest } from '../src/otlp/decode.js';
import { recogniseSpan } from '../src/otlp/recognise.js';
import { FreshIds, toolCallBatch } from './mcp-spans.js';
import { ANY_PORT, arg, argOneOf, load, machine, mib, ProcSampler, readProc, scrape, sleep, spawnAgent, sum, windowStats, type AgentChild } from './agent-harness.js';

// 4: on 2 cores, throughput levels off from 2 clients on (490-520k spans/s for 2-8 in one sweep,
// docs/benchmarks.md); 4 gave the highest rate there, and more clients only queue.
const CLIENTS = Number(arg('clients', '4'));
const SECONDS = Number(arg('seconds', '20'));
const RATE_SECONDS = Number(arg('rate-seconds', '30'));
const RATE = Number(arg('rate', '10000'));
const ONLY = argOneOf('only', ['both', 'saturation', 'rate'], 'both');
const CPU_PROF = arg('cpu-prof', '');
const NODE_ARGS = arg('node-args', '').split(' ').filter(Boolean);
const NODE_OPTIONS = arg('node-options', '');
const SPANS_PER_BATCH = 512;
const BATCHES = 16;
const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

// ---- decode-only ceiling --------------------------------------------------------------------------

/**
 * Spans per CPU-second of decodeTraceRequest + recogniseSpan over the same bytes: the median of
 * `rounds` one-second rounds (one noisy second on a shared machine does not set the ceiling).
 */
function decodeOnly(batches: Uint8Array[], rounds: number): { perCpuSecond: number; perWallSecond: number; rounds: number[] } {
  let sink = 0;
  for (let i = 0; i < 200; i++) for (const s of decodeTraceRequest(batches[i % batches.length]!).spans) if (recogniseSpan(s)) sink++;
  const cpuRates: number[] = [];
  const wallRates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < 1000) {
      for (const s of decodeTraceRequest(batches[n % batches.length]!).spans) if (recogniseSpan(s)) sink++;
      n++;
    }
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    cpuRates.push((n * SPANS_PER_BATCH) / ((cpu.user + cpu.system) / 1e6));
    wallRates.push((n * SPANS_PER_BATCH) / wall);
  }
  if (sink === 0) throw new Error('nothing recognised');
  const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  return { perCpuSecond: median(cpuRates), perWallSecond: median(wallRates), rounds: cpuRates };
}

// ---- load generator -------------------------------------------------------------------------------

const identity = (b: Buffer): Buffer => b;

function client(port: number, i: number): grpc.Client {
  // A local subchannel pool per client: each one is its own HTTP/2 connection.
  return new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.primary_user_agent': `bench-${i}` });
}

function exportOnce(c: grpc.Client, body: Uint8Array): Promise<grpc.status> {
  return new Promise((resolve) => {
    c.makeUnaryRequest(EXPORT_PATH, identity, identity, body as Buffer, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (err) => resolve(err ? err.code : grpc.status.OK));
  });
}

interface Counts {
  ok: number;
  byCode: Map<number, number>;
}

function count(c: Counts, code: grpc.status): void {
  if (code === grpc.status.OK) c.ok++;
  else c.byCode.set(code, (c.byCode.get(code) ?? 0) + 1);
}

function codes(c: Counts): string {
  return c.byCode.size ? [...c.byCode].map(([k, v]) => `${grpc.status[k]} ${v}`).join(', ') : 'none';
}

async function startAgent(dir: string, name: string): Promise<{ agent: AgentChild; grpcPort: number }> {
  const nodeArgs: string[] = [...NODE_ARGS];
  if (CPU_PROF) {
    mkdirSync(CPU_PROF, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`, `--cpu-prof-name=otlp-ingest-${name}-${process.pid}.cpuprofile`);
  }
  const agent = spawnAgent({
    config: {
      servers: [],
      alerts: [],
      receivers: { otlp: { grpc: { endpoint: ANY_PORT }, http: null, limit_mib: 1024 } },
      exporters: { prometheus: { endpoint: ANY_PORT } },
      health: { endpoint: ANY_PORT },
      state: { path: join(dir, `${name}.db`) },
      // info, not warn: the started line gives the ports.
      log: { level: 'info' },
    },
    dir,
    name,
    nodeArgs,
    nodeOptions: NODE_OPTIONS,
  });
  await agent.ready(30_000);
  const { otlpGrpc } = await agent.started;
  return { agent, grpcPort: Number(otlpGrpc!.slice(otlpGrpc!.lastIndexOf(':') + 1)) };
}

async function stopAgent(agent: AgentChild): Promise<void> {
  const exit = await agent.stop();
  if (exit.code !== 0) console.log(`agent exited ${JSON.stringify(exit)}:\n${agent.stderr().slice(-3000)}`);
  else if (agent.warnings()) console.log(`agent stderr:\n${agent.warnings().slice(-2000)}`);
}

async function saturation(dir: string, batches: Buffer[]): Promise<void> {
  console.log(`\n### (a) saturation: ${CLIENTS} gRPC clients, one Export in flight each, ${SECONDS} s\n`);
  const before = decodeOnly(batches, 5);
  console.log(`decode-only loop in this process before the load (decodeTraceRequest + recogniseSpan, same bytes, median of 5 × 1 s, no agent running): ${fmt(before.perCpuSecond)} spans per CPU-second (${fmt(before.perWallSecond)} spans/s wall; rounds ${before.rounds.map(fmt).join(' ')})`);
  const { agent, grpcPort } = await startAgent(dir, 'saturation');
  let ceiling = before;
  const clients = Array.from({ length: CLIENTS }, (_, i) => client(grpcPort, i));
  // Each client its own copies: it rewrites one only while none of its Exports is in flight.
  const own = clients.map((_, i) => batches.map((b) => new FreshIds(b, i)));
  try {
    // Warm-up: connections up and the agent's decoder optimised before the clock starts.
    const warm: Counts = { ok: 0, byCode: new Map() };
    for (let i = 0; i < 50; i++) count(warm, await exportOnce(clients[i % CLIENTS]!, own[i % CLIENTS]![i % BATCHES]!.next()));
    if (warm.ok === 0) throw new Error(`warm-up exports all failed: ${codes(warm)}`);
    const m0 = await scrape(agent.metricsUrl!);
    const sampler = new ProcSampler([agent.pid], 1000).start();
    const a = readProc(agent.pid)!;
    const gen0 = process.cpuUsage();
    const t0 = performance.now();
    const end = t0 + SECONDS * 1000;
    const counts: Counts = { ok: 0, byCode: new Map() };
    await Promise.all(
      clients.map(async (c, i) => {
        for (let k = i; performance.now() < end; k++) count(counts, await exportOnce(c, own[i]![k % BATCHES]!.next()));
      }),
    );
    const wall = (performance.now() - t0) / 1000;
    const b = readProc(agent.pid)!;
    const gen = process.cpuUsage(gen0);
    sampler.stop();
    const m1 = await scrape(agent.metricsUrl!);
    // Again once the load has stopped (the agent idles): the higher median is the ceiling.
    const afterLoad = decodeOnly(batches, 5);
    console.log(`decode-only loop again after the load (agent idle): ${fmt(afterLoad.perCpuSecond)} spans per CPU-second (rounds ${afterLoad.rounds.map(fmt).join(' ')}); ceiling = the higher median, ${fmt(Math.max(afterLoad.perCpuSecond, before.perCpuSecond))}`);
    if (afterLoad.perCpuSecond > ceiling.perCpuSecond) ceiling = afterLoad;
    const ws = windowStats(sampler.of(agent.pid), a.at, b.at);
    const agentCpu = (100 * (b.cpuTicks - a.cpuTicks)) / 100 / ((b.at - a.at) / 1000);
    const accepted = sum(m1.samples, 'mcpwatch_receiver_accepted_spans_total', { protocol: 'grpc' }) - sum(m0.samples, 'mcpwatch_receiver_accepted_spans_total', { protocol: 'grpc' });
    const refused = sum(m1.samples, 'mcpwatch_receiver_refused_spans_total') - sum(m0.samples, 'mcpwatch_receiver_refused_spans_total');
    const sent = counts.ok * SPANS_PER_BATCH;
    const rate = sent / wall;
    const agentSeconds = (b.cpuTicks - a.cpuTicks) / 100;
    console.log(`Exports answered OK: ${counts.ok} in ${wall.toFixed(1)} s (others: ${codes(counts)}) = ${fmt(rate)} spans/s accepted`);
    console.log(`agent counter mcpwatch_receiver_accepted_spans_total{protocol="grpc"} over the window: ${accepted} (client count ${sent}: ${accepted === sent ? 'equal' : `differs by ${accepted - sent}`}); refused spans: ${refused}`);
    console.log(`agent CPU: ${agentCpu.toFixed(1)} % of one core (max 1-s sample ${ws.cpuMaxPerSecond.toFixed(0)} %); ${fmt(sent / agentSeconds)} spans per agent CPU-second`);
    console.log(`agent RSS: peak ${mib(Math.max(b.hwmKiB, ws.hwmKiB))} MiB (VmHWM, whole run), max VmRSS in the window ${mib(ws.rssMaxKiB)} MiB, at the end ${mib(b.rssKiB)} MiB`);
    console.log(`load generator (this process) CPU: ${((100 * (gen.user + gen.system)) / 1e6 / wall).toFixed(1)} % of one core; load average ${load()}`);
    const ratio = rate / ceiling.perCpuSecond;
    console.log(`ratio accepted / decode-only ceiling: ${(ratio * 100).toFixed(1)} % — target ≥ 50 %: ${ratio >= 0.5 ? 'met' : 'NOT met'}`);
    console.log(`(per agent CPU-second instead of per wall second, i.e. without the generator's competition: ${((sent / agentSeconds / ceiling.perCpuSecond) * 100).toFixed(1)} % of the ceiling)`);
  } finally {
    for (const c of clients) c.close();
    await stopAgent(agent);
  }
}

async function fixedRate(dir: string, batches: Buffer[]): Promise<void> {
  const periodMs = (SPANS_PER_BATCH / RATE) * 1000;
  console.log(`\n### (b) fixed rate: ${RATE} spans/s (one ${SPANS_PER_BATCH}-span Export every ${periodMs.toFixed(1)} ms, paced), ${RATE_SECONDS} s, fresh agent\n`);
  const { agent, grpcPort } = await startAgent(dir, 'rate');
  const c = client(grpcPort, 0);
  const fresh = batches.map((b) => new FreshIds(b, 0));
  // Exports may overlap here: each is a copy, taken from the batch renumbered for it.
  const next = (i: number): Buffer => Buffer.from(fresh[i % BATCHES]!.next());
  try {
    for (let i = 0; i < 10; i++) await exportOnce(c, next(i));
    const m0 = await scrape(agent.metricsUrl!);
    const sampler = new ProcSampler([agent.pid], 1000).start();
    const a = readProc(agent.pid)!;
    const gen0 = process.cpuUsage();
    const t0 = performance.now();
    const counts: Counts = { ok: 0, byCode: new Map() };
    const pending: Promise<void>[] = [];
    let late = 0;
    for (let i = 0; ; i++) {
      const due = t0 + i * periodMs;
      if (due >= t0 + RATE_SECONDS * 1000) break;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -periodMs) late++;
      pending.push(exportOnce(c, next(i)).then((code) => count(counts, code)));
    }
    await Promise.all(pending);
    const wall = (performance.now() - t0) / 1000;
    const b = readProc(agent.pid)!;
    const gen = process.cpuUsage(gen0);
    sampler.stop();
    const m1 = await scrape(agent.metricsUrl!);
    const samples = sampler.of(agent.pid);
    const ws = windowStats(samples, a.at, b.at);
    const after5 = samples.find((s) => s.at >= a.at + 5000)!;
    const agentCpu = (100 * (b.cpuTicks - a.cpuTicks)) / 100 / ((b.at - a.at) / 1000);
    const agentCpuSteady = (100 * (b.cpuTicks - after5.cpuTicks)) / 100 / ((b.at - after5.at) / 1000);
    const accepted = sum(m1.samples, 'mcpwatch_receiver_accepted_spans_total', { protocol: 'grpc' }) - sum(m0.samples, 'mcpwatch_receiver_accepted_spans_total', { protocol: 'grpc' });
    const hwm = Math.max(b.hwmKiB, ws.hwmKiB);
    console.log(`Exports OK: ${counts.ok} (others: ${codes(counts)}; sent more than one period late: ${late}) = ${fmt((counts.ok * SPANS_PER_BATCH) / wall)} spans/s over ${wall.toFixed(1)} s; agent counted ${accepted} spans`);
    console.log(`agent CPU: ${agentCpu.toFixed(1)} % of one core over the run, ${agentCpuSteady.toFixed(1)} % after the first 5 s (max 1-s sample ${ws.cpuMaxPerSecond.toFixed(0)} %)`);
    console.log(`agent RSS: peak ${mib(hwm)} MiB (VmHWM, whole run incl. start-up), max VmRSS during the load ${mib(ws.rssMaxKiB)} MiB, at the end ${mib(b.rssKiB)} MiB`);
    console.log(`load generator (this process) CPU: ${((100 * (gen.user + gen.system)) / 1e6 / wall).toFixed(1)} % of one core; load average ${load()}`);
    console.log(`target ≤ 15 % of a core: ${agentCpu <= 15 ? 'met' : 'NOT met'} (${agentCpu.toFixed(1)} %); target ≤ 100 MB RSS: ${(hwm * 1024) / 1e6 <= 100 ? 'met' : 'NOT met'} (${((hwm * 1024) / 1e6).toFixed(1)} MB peak; ${((ws.rssMaxKiB * 1024) / 1e6).toFixed(1)} MB max during the load)`);
  } finally {
    c.close();
    await stopAgent(agent);
  }
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(1)}k`;
}

async function main(): Promise<void> {
  console.log(`## OTLP/gRPC ingest by the agent — ${machine()}`);
  console.log(`agent NODE_OPTIONS: ${NODE_OPTIONS ? `"${NODE_OPTIONS}"` : "none (V8's defaults)"}`);
  const batches = Array.from({ length: BATCHES }, (_, b) => toolCallBatch(b, SPANS_PER_BATCH));
  const bytes = batches.reduce((n, b) => n + b.length, 0);
  const check = decodeTraceRequest(batches[0]!);
  const obs = check.spans.map((s) => recogniseSpan(s));
  if (check.spans.length !== SPANS_PER_BATCH || check.rejected !== 0) throw new Error('batch does not decode');
  console.log(
    `${BATCHES} batches × ${SPANS_PER_BATCH} spans, ${(bytes / BATCHES / 1024).toFixed(0)} KiB/batch, ${(bytes / BATCHES / SPANS_PER_BATCH).toFixed(0)} B/span; ` +
      `per batch ${obs.filter((o) => o?.kind === 'tool_call').length} tool calls, ${obs.filter((o) => o?.outcome === 'error').length} errors`,
  );
  if (NODE_ARGS.length) console.log(`WHAT-IF RUN: agent node flags ${NODE_ARGS.join(' ')}`);
  console.log('note: 2 cores here — the load generator (this process) and the agent share them; the generator only sends pre-serialised bytes');
  const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-otlp-ingest-'));
  try {
    if (ONLY !== 'rate') await saturation(dir, batches);
    if (ONLY !== 'saturation') {
      if (ONLY !== 'rate') await sleep(2000);
      await fixedRate(dir, batches);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\nload average at the end: ${load()}`);
}

await main();
