// The /metrics scrape alone, in-process: the agent's Telemetry and Recorder filled as N kept-session
// servers fill them (initialize and tools/list durations, status, availability, scores, tools,
// protocol), then K scrapes by a `curl` child (so reading the page costs this process nothing), each
// priced by its wall time, this process's CPU, the longest stall of its event loop
// (perf_hooks.monitorEventLoopDelay: what a probe in flight would wait) and the RSS it added.
// Between scrapes every server records one more tools/list, so each scrape sees a changed page, as a
// Prometheus server scraping every 15-60 s would. Prints figures only; never fails on time.
//
//   npm run build && node [--expose-gc] dist/bench/scrape-cost.js [--servers 3000] [--scrapes 5]
//       [--renders 5] [--collects 3] [--cpu-profile FILE]
//
// --renders N      also render the page N times into a sink that drops it (no socket): CPU min/median
// --collects N     also time the two producers' collect N times
// --cpu-profile F  profile the scrapes (inspector, 100 µs sampling) into F, for cpuprofile-summary
// --expose-gc      a full GC before each scrape, and the live heap after the last
import { spawn } from 'node:child_process';
import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { once } from 'node:events';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { parseConfig } from '../src/config/load.js';
import { resolveServer } from '../src/config/schema.js';
import { Telemetry } from '../src/export/telemetry.js';
import { RESOURCE_CONSTANT_LABELS, serveMetrics } from '../src/export/prometheus.js';
import { Recorder } from '../src/export/recorder.js';
import { emptyOutcome } from '../src/probe/probe.js';
import { arg, load, machine, mib, readProc } from './agent-harness.js';

const SERVERS = Number(arg('servers', '3000'));
const SCRAPES = Number(arg('scrapes', '5'));
const PROFILE = arg('cpu-profile', '');

const yaml = [
  'receivers: { otlp: null }',
  'exporters: { prometheus: { endpoint: "127.0.0.1:0" } }',
  'alerts: []',
  'servers:',
  ...Array.from({ length: SERVERS }, (_, i) => `  - { name: fleet-${String(i).padStart(4, '0')}, transport: streamable_http, url: "http://127.0.0.1:${20000 + (i % 1000)}/mcp/${i}", tags: ["team:bench"] }`),
].join('\n');
const config = parseConfig(yaml, 'scrape-cost.yaml', {});
const servers = config.servers.map((s) => resolveServer(config, s));
const telemetry = await Telemetry.create(config);
const address = await telemetry.start();
const recorder = new Recorder(telemetry.meter, undefined, telemetry.hot, telemetry.servers);

let round = 0;
function probeAll(): void {
  round++;
  for (const [i, server] of servers.entries()) {
    const out = emptyOutcome(server);
    // The first round does the handshake, as kept sessions do; later ones only list.
    if (round === 1) out.phases.initialize = 3 + (i % 40);
    out.phases['tools/list'] = 1 + ((i * 7 + round) % 90);
    out.protocolVersion = '2025-11-25';
    out.era = 'legacy';
    out.tools = [];
    recorder.probe(server, out);
  }
}
for (const server of servers) recorder.register(server);
probeAll();
for (const [i, server] of servers.entries()) {
  recorder.transition(server.name, { to: 'up' });
  for (const w of ['1h', '24h', '7d'] as const) recorder.setAvailability(server.name, w, 1 - (i % 10) / 1000);
  recorder.setScore(server.name, { overall: 90 + (i % 10), availability: 100, latency: 80 + (i % 20), schema: 100 });
}
probeAll();

const url = `http://127.0.0.1:${address!.port}/metrics`;
function curl(): Promise<{ bytes: number }> {
  const child = spawn('curl', ['-s', '-o', '/dev/null', '-w', '%{size_download}', url], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  return once(child, 'exit').then(() => ({ bytes: Number(out) }));
}

console.log(`## /metrics scrape of ${SERVERS} servers, in-process (bench/scrape-cost.ts) — ${machine()}`);
await curl(); // warm: the label caches fill on the first scrape

// Where a scrape's time goes: the producers' collect alone, then the page rendered into a sink that
// drops it (no socket), against the whole scrape below.
{
  const times: string[] = [];
  for (let i = 0; i < Number(arg('collects', '3')); i++) {
    const t0 = performance.now();
    await telemetry.hot.collect();
    const t1 = performance.now();
    await telemetry.servers.collect();
    times.push(`${(t1 - t0).toFixed(1)} + ${(performance.now() - t1).toFixed(1)}`);
  }
  const tCollect = times.join(' / ');
  const exporter = new PrometheusExporter({ preventServerStart: true, metricProducers: [telemetry.hot, telemetry.servers], withResourceConstantLabels: RESOURCE_CONSTANT_LABELS });
  new MeterProvider({ readers: [exporter] });
  let bytes = 0;
  const sink = (): ServerResponse => {
    const w = new Writable({ write: (chunk: Buffer, _enc, cb) => ((bytes += chunk.length), cb()) });
    return Object.assign(w, { writeHead: () => w }) as unknown as ServerResponse;
  };
  await serveMetrics(exporter, sink()); // warm this exporter's label caches
  const cpu: number[] = [];
  for (let i = 0; i < Number(arg('renders', '5')); i++) {
    bytes = 0;
    const c0 = process.cpuUsage();
    await serveMetrics(exporter, sink());
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  cpu.sort((a, b) => a - b);
  if (times.length) console.log(`collects of the producers (durations and tool calls + per-server series): ${tCollect} ms`);
  if (cpu.length) console.log(`the page rendered into a sink (collect included, no socket), ${cpu.length} times: CPU min ${cpu[0]!.toFixed(0)} ms, median ${cpu[cpu.length >> 1]!.toFixed(0)} ms, ${(bytes / 1048576).toFixed(1)} MiB`);
}
const session = PROFILE ? new Session() : undefined;
if (session) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
}
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });
const rows: string[] = [];
const cpus: number[] = [];
const stalls: number[] = [];
for (let k = 0; k < SCRAPES; k++) {
  probeAll();
  global.gc?.();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const before = readProc(process.pid)!;
  const heap0 = process.memoryUsage();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const gc0 = gcMs;
  delay.enable();
  const { bytes } = await curl();
  delay.disable();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const after = readProc(process.pid)!;
  const heap1 = process.memoryUsage();
  // GC entries arrive on a later turn.
  await new Promise((r) => setImmediate(r));
  const gc = gcMs - gc0;
  cpus.push((cpu.user + cpu.system) / 1000);
  stalls.push(delay.max / 1e6);
  rows.push(`| ${k + 1} | ${(bytes / 1048576).toFixed(1)} | ${ms.toFixed(0)} | ${((cpu.user + cpu.system) / 1000).toFixed(0)} | ${gc.toFixed(0)} | ${(delay.max / 1e6).toFixed(1)} | ${(delay.percentile(99) / 1e6).toFixed(1)} | ${mib(before.rssKiB)} → ${mib(after.rssKiB)} | ${(heap0.heapUsed / 1048576).toFixed(1)} → ${(heap1.heapUsed / 1048576).toFixed(1)} | ${((heap1.heapTotal - heap0.heapTotal) / 1048576).toFixed(1)} | ${((heap1.external + heap1.arrayBuffers - heap0.external - heap0.arrayBuffers) / 1048576).toFixed(1)} | ${mib(after.hwmKiB)} |`);
}
if (session) {
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(PROFILE, JSON.stringify(profile));
  session.disconnect();
}
console.log('| scrape | MiB | wall ms | CPU ms (this process) | of which GC ms | longest event-loop stall ms | p99 stall ms | VmRSS MiB before → after | V8 heap used MiB before → after | heap total grew MiB | external grew MiB | VmHWM MiB |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
if (cpus.length) {
  cpus.sort((a, b) => a - b);
  stalls.sort((a, b) => a - b);
  console.log(`scrape CPU min ${cpus[0]!.toFixed(0)} ms, median ${cpus[cpus.length >> 1]!.toFixed(0)} ms; longest stall median ${stalls[stalls.length >> 1]!.toFixed(1)} ms, max ${stalls[stalls.length - 1]!.toFixed(1)} ms`);
}
if (global.gc) {
  global.gc();
  console.log(`V8 heap used after the scrapes and a full GC (--expose-gc): ${(process.memoryUsage().heapUsed / 1048576).toFixed(1)} MiB`);
}
await telemetry.shutdown();
