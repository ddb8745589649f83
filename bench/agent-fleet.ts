// `mcpwatch run` over a fleet: one agent, as a child process of its own (`node dist/src/cli/main.js run
// -c FILE`), probing N Streamable HTTP fixture servers (default 300; bench/fixture-fleet.ts, other child
// processes) every 10 s, each with the default `protocol: auto`, with `receivers.otlp: null` (unless --receiver), `alerts: []`,
// `log.level: warn` and Prometheus on a free port. After the first round (/readyz 200) it runs for a window (default 90 s), reading the
// agent's /proc/PID/status (VmRSS, VmHWM) and /proc/PID/stat (utime + stime) every second, and prints:
// peak RSS, steady-state mean CPU (% of one core, from one interval after the first round to the end,
// scrapes outside the window), tools/list p50/p95 from the agent's own histogram
// (`mcp_client_operation_duration_bucket{mcp_method_name="tools/list"}`, bucket delta over the window,
// interpolated as histogram_quantile does, so only as fine as the 10/20/50/100/200/500 ms buckets;
// the exact mean comes from _sum/_count), and how many servers are up (`mcp_server_up`) at the end.
// Then the same with `monitoring.fresh_connection: true`. Targets (issue 12): ≤ 120 MB RSS with V8's
// defaults and < 10 % of a core for 300 targets. Each era's fleet is probed in turn (2025-era servers,
// then 2026-07-28 ones), and the era and protocol version the agent found (`mcp_server_protocol`) are
// printed with the figures. The baseline of issue 18 runs after the agent against the same fleet
// (bench/sdk-loop.ts: one official SDK client and session per server, listTools() every interval) and
// is measured the same way, so the CPU per check of the two can be compared within one run. Prints
// figures only; never fails on time.
//
//   npm run build && node dist/bench/agent-fleet.js [--servers 300 | --servers 100,300,1000,3000]
//       [--seconds 90] [--interval 10s] [--baseline sdk-loop|none]
//       [--era legacy|modern|both] [--transport own|sdk|both] [--fleet-processes K]
//       [--variant kept|fresh|idle|both|all] [--receiver] [--node-options "…"] [--cpu-prof DIR] [--memory] [--heap-snapshot DIR]
//
// --era: legacy = SDK 1.32 servers (2025-11-25, sessions), modern = SDK v2 servers with
//   `legacy: 'reject'` (2026-07-28 only), both (default) = one fleet after the other, figures side by side
// --transport: own = mcpwatch's node:http Streamable HTTP transport (default); sdk = SDK v2's
//   StreamableHTTPClientTransport on undici with one shared Agent (bench/sdk-streamable.ts, loaded into
//   the agent with --import); both = own then sdk against the same fleet
// --servers N[,N…]   fleet sizes, each measured in turn with a fleet of its own (--targets is the old
//                     name); the summary then is the curve
// --baseline          sdk-loop (default): also run the bare SDK loop over each fleet; none: skip it
// --scrapes K         at the window's end, K scrapes back to back (default 3): their time, and the
//                     tools/list latency of the checks made meanwhile against the window's
// --fleet-processes K spread the fixture servers over K processes (default: one per 500 servers, at
//                     least 2), so the fleet's event loops are not what limits the checks
// --variant: kept (default sessions), fresh (fresh_connection: true), idle (servers: [], the
//   agent's own baseline), both = kept + fresh (default), all = idle + kept + fresh
// --cpu-prof DIR      run the agent with --cpu-prof (the .cpuprofile is written when it exits)
// --memory            run the agent under bench/agent-memory-probe (process.memoryUsage() each second)
//                     and print how fast its old generation grew over the window
// --server-keepalive S  fixture servers keep idle connections S seconds (Node's default is 5 s)
//                     instead of Node's 5 s, as behind nginx or a load balancer
// --node-options "…"  NODE_OPTIONS for the agent, as docs/deployment.md sets it (default: none, V8's
//                     defaults; NODE_OPTIONS of this process is not passed on)
// --node-args "…"     extra node flags for the agent (experiments)
// --agent-stdout DIR  keep the agent's stdout in DIR/agent-N-ERA-VARIANT.out (discarded otherwise):
//                     where V8's --trace-gc / --trace-pretenuring-statistics given with --node-args print
// --heap-snapshot DIR run the agent with --heapsnapshot-signal=SIGUSR2 and take one at the window's end
// --receiver          keep the OTLP receivers on (both, on free ports, no traffic), as the default
//                     configuration does: the footprint of a probing agent whose receiver is idle
// --stop              end each agent as Kubernetes does (SIGTERM) and print how long it took to exit
//                     (the run command's budget is 5 s), its exit code, whether it let go of the state
//                     file (its lock gone) and its last log lines; the agent logs at info for this
// --dead-otlp         also give the agent an OTLP exporter (grpc) at a port nobody listens on: the
//                     final export of a stop then meets a refused connection, as with a collector gone first
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ANY_PORT,
  arg,
  argOneOf,
  bucketDelta,
  buckets,
  histogramQuantile,
  load,
  machine,
  mib,
  parsePrometheus,
  ProcSampler,
  readProc,
  scrape,
  scrapeBreakdown,
  sleep,
  spawnAgent,
  sum,
  windowStats,
  type AgentChild,
  type ProcSample,
  type PromSample,
} from './agent-harness.js';
import { spawnFleet, type Fleet, type FleetEra } from './fixture-fleet.js';
import { refusingPort } from '../test/fixtures/refusing.js';

const HERE = dirname(fileURLToPath(import.meta.url));

const SERVERS = arg('servers', arg('targets', '300')).split(',').map(Number);
if (!SERVERS.every((n) => Number.isInteger(n) && n > 0)) {
  console.error(`--servers: expected positive integers separated by commas (got ${JSON.stringify(arg('servers', arg('targets', '')))})`);
  process.exit(2);
}
const BASELINE = argOneOf('baseline', ['sdk-loop', 'none'], 'sdk-loop');
const SCRAPES = Number(arg('scrapes', '3'));
const SECONDS = Number(arg('seconds', '90'));
const INTERVAL = arg('interval', '10s');
const INTERVAL_MS = Number(/^([1-9]\d*)s$/.exec(INTERVAL)?.[1] ?? Number.NaN) * 1000;
if (!Number.isFinite(INTERVAL_MS)) {
  console.error(`--interval: expected whole seconds such as 10s (got ${JSON.stringify(INTERVAL)})`);
  process.exit(2);
}
if (!Number.isInteger(SCRAPES) || SCRAPES < 0) {
  console.error(`--scrapes: expected a whole number, 0 or more (got ${JSON.stringify(arg('scrapes', ''))})`);
  process.exit(2);
}
// The steady state is measured from one interval after the first round to --seconds after it.
if (!(SECONDS * 1000 > INTERVAL_MS)) {
  console.error(`--seconds: the window is measured from one interval (${INTERVAL}) after the first round, so it must be longer than the interval (got ${JSON.stringify(arg('seconds', ''))}; 60 or more gives steady figures)`);
  process.exit(2);
}
const VARIANT = argOneOf('variant', ['kept', 'fresh', 'idle', 'both', 'all'], 'both');
const CPU_PROF = arg('cpu-prof', '');
const HEAP_SNAPSHOT = arg('heap-snapshot', '');
const MEMORY = process.argv.includes('--memory');
const NODE_ARGS = arg('node-args', '').split(' ').filter(Boolean);
const AGENT_STDOUT = arg('agent-stdout', '');
const SERVER_KEEPALIVE = arg('server-keepalive', '');
const NODE_OPTIONS = arg('node-options', '');
const RECEIVER = process.argv.includes('--receiver');
const STOP = process.argv.includes('--stop');
const DEAD_OTLP = process.argv.includes('--dead-otlp');
const ERA = argOneOf('era', ['legacy', 'modern', 'both'], 'both');
const TRANSPORT = argOneOf('transport', ['own', 'sdk', 'both'], 'own');
const FLEET_PROCESSES_ARG = arg('fleet-processes', '');
/** One fixture process per 500 servers (at least 2): 3000 servers answer 300 checks/s between them. */
const fleetProcesses = (n: number): number => (FLEET_PROCESSES_ARG ? Number(FLEET_PROCESSES_ARG) : Math.max(2, Math.ceil(n / 500)));
if (FLEET_PROCESSES_ARG && (!Number.isInteger(Number(FLEET_PROCESSES_ARG)) || Number(FLEET_PROCESSES_ARG) < 1)) {
  console.error(`--fleet-processes: expected a positive integer (got ${JSON.stringify(arg('fleet-processes', ''))})`);
  process.exit(2);
}

type Transport = 'own' | 'sdk';

/** Sockets the agent holds open: a kept Streamable HTTP session may hold two connections. */
function socketCount(pid: number): number {
  let n = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return Number.NaN;
  }
  return n;
}

/** CPU ticks by thread name (/proc/PID/task/TID/stat): the main thread, V8's workers, libuv's pool. */
function threadTicks(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = tid === String(pid) ? 'main thread' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '').trim();
        const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(name, (out.get(name) ?? 0) + Number(rest[11]) + Number(rest[12]));
      } catch {
        // thread gone
      }
    }
  } catch {
    // process gone
  }
  return out;
}

/** "main thread 6.1 %, V8 DefaultWorke 2.0 %, …" between two threadTicks() readings over `seconds`. */
/**
 * How much of a window's CPU was the kernel's (stime). Against a fleet on loopback the kernel's side of
 * each TCP connection, the servers' included, runs in the connecting process's system calls.
 */
function kernelShare(a: ProcSample, b: ProcSample): string {
  const all = b.cpuTicks - a.cpuTicks;
  return `${all > 0 ? ((100 * (b.sysTicks - a.sysTicks)) / all).toFixed(0) : '0'} % of it in the kernel`;
}

function threadSplit(a: Map<string, number>, b: Map<string, number>, seconds: number): string {
  return [...b]
    .map(([name, t]) => [name, (100 * (t - (a.get(name) ?? 0))) / 100 / seconds] as const)
    .filter(([, pct]) => pct >= 0.05)
    .sort((x, y) => y[1] - x[1])
    .map(([name, pct]) => `${name} ${pct.toFixed(1)} %`)
    .join(', ');
}

interface Result {
  servers: number;
  era: FleetEra;
  transport: Transport | 'sdk-loop';
  variant: string;
  /** mcp_server_protocol series at the end, as "version (era) × count". */
  protocols: string;
  handshakes: string;
  firstRoundS: number;
  peakRssMiB: string;
  windowRssMaxMiB: string;
  rssEndMiB: string;
  cpuMean: number;
  cpuMaxPerSecond: number;
  fleetCpuMean: number;
  p50ms: number;
  p95ms: number;
  meanMs: number;
  /** Checks made in the CPU window (the agent's: counted between two scrapes, at that rate over the window). */
  checks: number;
  up: number;
  upSeries: number;
  sockets: number;
  /** Process CPU (all threads) per check over the window, ms. */
  cpuPerCheckMs: number;
  /** The steady-state window's length, s. */
  windowS: number;
  /** Back-to-back scrapes at the window's end: ms each, and tools/list during them. */
  scrapeMs?: string;
  duringScrape?: string;
  /** --stop: SIGTERM to exit, and how it exited. */
  stop?: string;
}

/**
 * SIGTERM as a kubelet sends it, SIGKILL only after 30 s (past the 5 s budget, so an overrun shows as
 * a time rather than a kill); the agent's stop is judged by its exit and its state file's lock.
 */
async function timedStop(agent: AgentChild, stateFile: string): Promise<string> {
  const sockets = socketCount(agent.pid);
  const t0 = performance.now();
  agent.child.kill('SIGTERM');
  const kill = setTimeout(() => agent.child.kill('SIGKILL'), 30_000);
  const exit = await agent.exited;
  const ms = performance.now() - t0;
  clearTimeout(kill);
  const released = !existsSync(`${stateFile}.lock`);
  const tail = agent
    .stderr()
    .trim()
    .split('\n')
    .filter((l) => /shutting down|stopped"|shutdown|exiting|"level":(40|50|60)/.test(l))
    .slice(-6);
  const how = `${(ms / 1000).toFixed(2)} s from SIGTERM to exit, code ${exit.code ?? '-'}${exit.signal ? `, signal ${exit.signal}` : ''}, state file ${released ? 'closed (lock released)' : 'NOT closed (lock left)'}, ${sockets} sockets open at SIGTERM`;
  console.log(`stop: ${how}; load average ${load()}`);
  for (const l of tail) console.log(`  ${l.length > 300 ? `${l.slice(0, 300)}…` : l}`);
  return how;
}

function methodStats(m0: PromSample[], m1: PromSample[], method: string): { p50: number; p95: number; mean: number; count: number; dist: string } {
  const name = 'mcp_client_operation_duration';
  const d = bucketDelta(buckets(m0, name, { mcp_method_name: method }, ['error_type']), buckets(m1, name, { mcp_method_name: method }, ['error_type']));
  const count = sum(m1, `${name}_count`, { mcp_method_name: method }) - sum(m0, `${name}_count`, { mcp_method_name: method });
  const total = sum(m1, `${name}_sum`, { mcp_method_name: method }) - sum(m0, `${name}_sum`, { mcp_method_name: method });
  const sorted = [...d].sort((a, b) => a[0] - b[0]);
  let prev = 0;
  const parts: string[] = [];
  for (const [le, c] of sorted) {
    if (c - prev > 0) parts.push(`≤${le === Infinity ? '+Inf' : `${le * 1000}ms`}: ${c - prev}`);
    prev = c;
  }
  return { p50: histogramQuantile(0.5, d) * 1000, p95: histogramQuantile(0.95, d) * 1000, mean: count > 0 ? (total / count) * 1000 : Number.NaN, count, dist: parts.join(', ') };
}

type Mode = 'kept' | 'fresh' | 'idle';

/** How many servers the agent last found speaking each protocol version, from `mcp_server_protocol`. */
function protocolCounts(samples: PromSample[]): string {
  const counts = new Map<string, number>();
  for (const p of samples) {
    if (p.name !== 'mcp_server_protocol' || p.value !== 1) continue;
    const key = `${p.labels.mcp_protocol_version ?? '?'} (${p.labels.mcp_protocol_era ?? '?'})`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts.size ? [...counts].map(([k, n]) => `${k} × ${n}`).join(', ') : 'none';
}

async function runVariant(fleet: Fleet | undefined, mode: Mode, era: FleetEra, transport: Transport): Promise<Result> {
  const fresh = mode === 'fresh';
  const variant = mode === 'idle' ? 'no servers (baseline)' : fresh ? 'fresh_connection: true' : 'kept sessions (default)';
  const urls = mode === 'idle' ? [] : fleet!.urls;
  const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-fleet-'));
  // Where nothing listens, for as long as the run: an exporter whose collector is gone.
  const deadOtlp = DEAD_OTLP ? await refusingPort() : undefined;
  const config = {
    monitoring: { interval: INTERVAL, ...(fresh ? { fresh_connection: true } : {}) },
    servers: urls.map((url, i) => ({ name: `http-${String(i + 1).padStart(3, '0')}`, transport: 'streamable_http', url })),
    alerts: [],
    receivers: { otlp: RECEIVER ? { grpc: { endpoint: ANY_PORT }, http: { endpoint: ANY_PORT } } : null },
    exporters: { prometheus: { endpoint: ANY_PORT }, ...(deadOtlp ? { otlp: { endpoint: deadOtlp.url(), protocol: 'grpc' } } : {}) },
    health: { endpoint: ANY_PORT },
    state: { path: join(dir, 'state.db') },
    // info, not warn: the started line gives the ports. A healthy fleet logs nothing more per check.
    log: { level: 'info' },
  };
  const nodeArgs: string[] = [...NODE_ARGS, ...(transport === 'sdk' ? ['--import', join(HERE, 'use-sdk-transport.js')] : [])];
  if (CPU_PROF) {
    mkdirSync(CPU_PROF, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`, `--cpu-prof-name=agent-fleet-${era}-${transport}-${mode}-${process.pid}.cpuprofile`);
  }
  if (HEAP_SNAPSHOT) {
    mkdirSync(HEAP_SNAPSHOT, { recursive: true });
    nodeArgs.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${HEAP_SNAPSHOT}`);
  }
  console.log(`\n### ${urls.length} Streamable HTTP targets (${ERA_TITLE[era]}), interval ${INTERVAL}, ${variant}, ${TRANSPORT_TITLE[transport]}\n`);
  const t0 = performance.now();
  let stdoutFile: string | undefined;
  if (AGENT_STDOUT) {
    mkdirSync(AGENT_STDOUT, { recursive: true });
    stdoutFile = join(AGENT_STDOUT, `agent-${urls.length}-${era}-${transport}-${mode}.out`);
    console.log(`agent stdout: ${stdoutFile}`);
  }
  const agent = spawnAgent({ config, dir, name: 'agent-fleet', nodeArgs, nodeOptions: NODE_OPTIONS, entry: MEMORY ? join(HERE, 'agent-memory-probe.js') : undefined, stdoutFile });
  const fleetPids = fleet?.pids ?? [];
  const sampler = new ProcSampler([agent.pid, ...fleetPids], 1000).start();
  const fleetTicks = (): number => fleetPids.reduce((n, pid) => n + (readProc(pid)?.cpuTicks ?? 0), 0);
  let stopped: string | undefined;
  try {
    const ready = await agent.ready(Math.max(120_000, urls.length * 100)); // 3000 first handshakes take minutes on a loaded machine
    const tReady = performance.now();
    const firstRoundS = (tReady - t0) / 1000;
    const states = Object.values(ready.servers);
    console.log(`first round done (/readyz 200) ${firstRoundS.toFixed(1)} s after spawn: ${states.filter((s) => s === 'up').length} up, ${states.filter((s) => s !== 'up').length} not up; load average ${load()}`);
    // Steady state: one interval after the first round (every session is open and listed at least twice).
    await sleep(Math.max(0, tReady + INTERVAL_MS - performance.now()));
    // The checks are counted between the two scrapes' collections, which the agent makes as a scrape
    // arrives; the CPU between two readings of /proc taken after the first scrape and before the
    // second. At 3000 servers the first scrape and its parsing take seconds, so the two spans differ
    // and the check rate is taken over its own span (countS), not over the CPU window.
    const c0 = performance.now();
    const m0 = await scrape(agent.metricsUrl!);
    const memA = agent.mem[agent.mem.length - 1];
    const a = readProc(agent.pid)!;
    const ta = threadTicks(agent.pid);
    const fa = fleetTicks();
    const windowEnd = tReady + SECONDS * 1000;
    let nextReport = performance.now() + 10_000;
    while (performance.now() < windowEnd) {
      await sleep(Math.min(1000, windowEnd - performance.now()));
      if (performance.now() >= nextReport) {
        const s = sampler.of(agent.pid);
        const last = s[s.length - 1]!;
        const tenAgo = s.find((x) => x.at >= last.at - 10_500) ?? s[0]!;
        const pct = (100 * (last.cpuTicks - tenAgo.cpuTicks)) / 100 / ((last.at - tenAgo.at) / 1000);
        const m = MEMORY ? agent.mem[agent.mem.length - 1] : undefined;
        const space = (name: string): string => (m?.spaces?.[name] ? `${(m.spaces[name].used / 2 ** 20).toFixed(1)}/${(m.spaces[name].size / 2 ** 20).toFixed(1)}` : '?');
        const heap = m
          ? `; heapUsed ${(m.heapUsed / 2 ** 20).toFixed(1)} of heapTotal ${(m.heapTotal / 2 ** 20).toFixed(1)} MiB (used/reserved: old ${space('old_space')}, new ${space('new_space')}, code ${space('code_space')}), external ${(m.external / 2 ** 20).toFixed(1)} (arrayBuffers ${(m.arrayBuffers / 2 ** 20).toFixed(1)}); GCs so far ${m.minor ?? '?'} minor, ${m.major ?? '?'} major`
          : '';
        console.log(`  t+${((last.at - tReady) / 1000).toFixed(0).padStart(3)} s: agent RSS ${mib(last.rssKiB)} MiB (VmHWM ${mib(last.hwmKiB)}), CPU ${pct.toFixed(1)} % over the last 10 s, sockets ${socketCount(agent.pid)}${heap}`);
        nextReport += 10_000;
      }
    }
    const b = readProc(agent.pid)!;
    const tb = threadTicks(agent.pid);
    const memB = agent.mem[agent.mem.length - 1];
    const fb = fleetTicks();
    const sockets = socketCount(agent.pid);
    const c1 = performance.now();
    const m1 = await scrape(agent.metricsUrl!);
    if (HEAP_SNAPSHOT) {
      process.kill(agent.pid, 'SIGUSR2');
      await sleep(5000);
    }
    // Scrapes back to back, alone, to price one (a Prometheus server scrapes every 15–60 s) and to see
    // what the checks made meanwhile took: the tools/list histogram from m1 to the last scrape.
    const before = readProc(agent.pid)!;
    const scrapes: Awaited<ReturnType<typeof scrape>>[] = [];
    for (let i = 0; i < Math.max(1, SCRAPES); i++) scrapes.push(await scrape(agent.metricsUrl!, { parse: false }));
    const after = readProc(agent.pid)!;
    const m2 = scrapes[0]!;
    const during = methodStats(m1.samples, parsePrometheus(scrapes[scrapes.length - 1]!.text), 'tools/list');
    sampler.stop();
    const ws = windowStats(sampler.of(agent.pid), a.at, b.at);
    const tl = methodStats(m0.samples, m1.samples, 'tools/list');
    const init = methodStats(m0.samples, m1.samples, 'initialize');
    const discover = methodStats(m0.samples, m1.samples, 'server/discover');
    const protocols = protocolCounts(m1.samples);
    const upSeries = m1.samples.filter((p) => p.name === 'mcp_server_up');
    const up = upSeries.filter((p) => p.value === 1).length;
    const errors = m1.samples.filter((p) => p.name === 'mcp_probe_errors_total' && p.value > 0);
    const errorsBefore = m0.samples.filter((p) => p.name === 'mcp_probe_errors_total');
    const errorDelta = new Map<string, number>();
    for (const e of errors) {
      const was = errorsBefore.find((x) => x.labels.mcp_server_name === e.labels.mcp_server_name && x.labels.error_type === e.labels.error_type)?.value ?? 0;
      if (e.value - was > 0) errorDelta.set(e.labels.error_type!, (errorDelta.get(e.labels.error_type!) ?? 0) + e.value - was);
    }
    const windowS = (b.at - a.at) / 1000;
    const countS = (c1 - c0) / 1000;
    /** The checks made in the CPU window, at the rate counted over countS. */
    const checksInWindow = (tl.count * windowS) / countS;
    const cpuPerCheckMs = ((b.cpuTicks - a.cpuTicks) * 10) / Math.max(1, checksInWindow);
    const cpuMean = (100 * (b.cpuTicks - a.cpuTicks)) / 100 / windowS;
    const fleetCpuMean = (100 * (fb - fa)) / 100 / windowS;
    const hwm = Math.max(b.hwmKiB, after.hwmKiB);
    console.log('');
    console.log(`steady-state window: ${windowS.toFixed(1)} s (t+${((a.at - tReady) / 1000).toFixed(0)} s … t+${((b.at - tReady) / 1000).toFixed(0)} s after the first round), load average ${load()}`);
    console.log(`agent peak RSS (VmHWM, whole run): ${mib(hwm)} MiB; max VmRSS in the window ${mib(ws.rssMaxKiB)} MiB; VmRSS at the end ${mib(b.rssKiB)} MiB`);
    console.log(`agent CPU, steady state: mean ${cpuMean.toFixed(2)} % of one core (max 1-s sample ${ws.cpuMaxPerSecond.toFixed(1)} %; ${kernelShare(a, b)}); first round (spawn → ready): ${(((sampler.of(agent.pid).find((s) => s.at >= tReady) ?? a).cpuTicks / 100 / firstRoundS) * 100).toFixed(1)} %`);
    console.log(`fixture fleet CPU over the same window: ${fleetCpuMean.toFixed(2)} % of one core (pids ${fleetPids.join(', ')})`);
    console.log(`tools/list over the window: ${tl.count} checks in ${countS.toFixed(1)} s between the scrapes' collections (${(tl.count / countS).toFixed(1)} a second, ${((100 * tl.count * INTERVAL_MS) / (urls.length * countS * 1000)).toFixed(1)} % of those due), p50 ${tl.p50.toFixed(1)} ms, p95 ${tl.p95.toFixed(1)} ms (interpolated in buckets), mean ${tl.mean.toFixed(2)} ms (exact); buckets ${tl.dist}`);
    if (init.count > 0) console.log(`initialize over the window: ${init.count}, p50 ${init.p50.toFixed(1)} ms, p95 ${init.p95.toFixed(1)} ms, mean ${init.mean.toFixed(2)} ms`);
    if (discover.count > 0) console.log(`server/discover over the window: ${discover.count}, p50 ${discover.p50.toFixed(1)} ms, p95 ${discover.p95.toFixed(1)} ms, mean ${discover.mean.toFixed(2)} ms`);
    console.log(`protocol the agent found (mcp_server_protocol at the end): ${protocols}`);
    console.log(`probe errors over the window: ${errorDelta.size ? [...errorDelta].map(([t, n]) => `${t} ${n}`).join(', ') : 'none'}`);
    console.log(`mcp_server_up at the end: ${up} of ${upSeries.length} series = 1 (${urls.length} configured); agent sockets open ${sockets}`);
    console.log(`agent CPU by thread over the window: ${threadSplit(ta, tb, windowS)}; utime+stime per check ${cpuPerCheckMs.toFixed(3)} ms`);
    const scrapeMs = scrapes.map((x) => x.ms.toFixed(0)).join(' / ');
    console.log(`${scrapes.length} /metrics scrapes back to back: ${(m2.bytes / 1024).toFixed(0)} KiB each, ${scrapeMs} ms, ${(((after.cpuTicks - before.cpuTicks) * 10) / scrapes.length).toFixed(0)} ms of agent CPU each (10 ms ticks); agent VmHWM ${mib(before.hwmKiB)} → ${mib(after.hwmKiB)} MiB across them`);
    const duringText = `${during.count} checks, p50 ${during.p50.toFixed(1)} ms, p95 ${during.p95.toFixed(1)} ms, mean ${during.mean.toFixed(2)} ms (window: p50 ${tl.p50.toFixed(1)}, p95 ${tl.p95.toFixed(1)}, mean ${tl.mean.toFixed(2)})`;
    console.log(`  tools/list while they ran: ${duringText}; buckets ${during.dist}`);
    console.log(`  largest families: ${scrapeBreakdown(m2.text).slice(0, 6).map((f) => `${f.family} ${(f.bytes / 1024).toFixed(0)} KiB/${f.series} lines`).join(', ')}`);
    if (memA && memB) {
      const s = (memB.t - memA.t) / 1000;
      const checks = Math.max(1, (checksInWindow * s) / windowS);
      console.log(`  connections over the window (diagnostics_channel): ${memB.connects - memA.connects} TCP connects, ${memB.requests - memA.requests} undici requests in ${s.toFixed(0)} s = ${((memB.connects - memA.connects) / checks).toFixed(2)} connects and ${((memB.requests - memA.requests) / checks).toFixed(2)} requests per check`);
    }
    if (MEMORY && agent.mem.length) {
      const last = agent.mem[agent.mem.length - 1]!;
      const maxHeap = Math.max(...agent.mem.map((m) => m.heapUsed));
      console.log(
        `memoryUsage at the end: rss ${(last.rss / 2 ** 20).toFixed(1)} MiB, heapTotal ${(last.heapTotal / 2 ** 20).toFixed(1)}, heapUsed ${(last.heapUsed / 2 ** 20).toFixed(1)} (max ${(maxHeap / 2 ** 20).toFixed(1)}), external ${(last.external / 2 ** 20).toFixed(1)}, arrayBuffers ${(last.arrayBuffers / 2 ** 20).toFixed(1)}`,
      );
      if (memA && memB) {
        // What reaches the old generation (promoted or allocated there), between its collections: the
        // sum of its growth from one 1-s sample to the next, over the window.
        const w = agent.mem.filter((m) => m.t >= memA.t && m.t <= memB.t);
        let grown = 0;
        for (let i = 1; i < w.length; i++) grown += Math.max(0, (w[i]!.spaces?.old_space?.used ?? 0) - (w[i - 1]!.spaces?.old_space?.used ?? 0));
        const s = (memB.t - memA.t) / 1000;
        console.log(`old space growth over the window: ${(grown / 2 ** 20 / s).toFixed(2)} MiB/s (${(grown / 2 ** 20).toFixed(1)} MiB in ${s.toFixed(0)} s, ${(memB.major ?? 0) - (memA.major ?? 0)} full GCs, ${(memB.minor ?? 0) - (memA.minor ?? 0)} scavenges)`);
      }
    }
    return {
      servers: urls.length,
      era,
      transport,
      variant,
      protocols,
      handshakes: `${init.count} init, ${discover.count} discover`,
      firstRoundS,
      peakRssMiB: mib(hwm),
      windowRssMaxMiB: mib(ws.rssMaxKiB),
      rssEndMiB: mib(b.rssKiB),
      cpuMean,
      cpuMaxPerSecond: ws.cpuMaxPerSecond,
      fleetCpuMean,
      p50ms: tl.p50,
      p95ms: tl.p95,
      meanMs: tl.mean,
      checks: Math.round(checksInWindow),
      up,
      upSeries: upSeries.length,
      sockets,
      cpuPerCheckMs,
      windowS,
      scrapeMs,
      duringScrape: during.count === 0 ? 'no check during them' : `${during.p50.toFixed(1)} / ${during.p95.toFixed(1)} / ${during.mean.toFixed(2)}`,
      ...(STOP ? { stop: (stopped = await timedStop(agent, config.state.path)) } : {}),
    };
  } finally {
    sampler.stop();
    const exit = await agent.stop();
    if (STOP && stopped === undefined) console.log('stop: not measured (the run failed before its end)');
    if (exit.code !== 0) console.log(`agent exited with ${JSON.stringify(exit)}; stderr tail:\n${agent.stderr().slice(-3000)}`);
    else if (agent.warnings()) console.log(`agent stderr (warn and above):\n${agent.warnings().slice(-3000)}`);
    await deadOtlp?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const ERA_TITLE: Record<FleetEra, string> = { legacy: '2025-era SDK 1.32 servers', modern: '2026-07-28-only SDK v2 servers' };
const TRANSPORT_TITLE: Record<Transport, string> = { own: "mcpwatch's own transport", sdk: "SDK v2 StreamableHTTPClientTransport (undici, shared Agent)" };

/**
 * The bare SDK loop (bench/sdk-loop.ts) over the same fleet, measured as the agent is: from one
 * interval after every client connected, for the same window; its latencies are its own exact ones.
 */
async function runSdkLoop(fleet: Fleet, era: FleetEra): Promise<Result> {
  console.log(`\n### ${fleet.urls.length} Streamable HTTP targets (${ERA_TITLE[era]}), interval ${INTERVAL}, bare SDK loop (baseline: one official SDK client and session per server, listTools() every interval)\n`);
  const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-sdk-loop-'));
  const file = join(dir, 'urls.json');
  writeFileSync(file, JSON.stringify(fleet.urls));
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(HERE, 'sdk-loop.js'), file, '--era', era, '--interval-ms', String(INTERVAL_MS)], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const lines = createInterface({ input: child.stdout! });
  const next = (): Promise<string> => new Promise((resolve, reject) => {
    const onLine = (l: string): void => { child.off('exit', onExit); resolve(l); };
    const onExit = (): void => { lines.off('line', onLine); reject(new Error(`sdk-loop exited:\n${stderr}`)); };
    lines.once('line', onLine);
    child.once('exit', onExit);
  });
  const pid = child.pid!;
  const sampler = new ProcSampler([pid, ...fleet.pids], 1000).start();
  const fleetTicks = (): number => fleet.pids.reduce((n, p) => n + (readProc(p)?.cpuTicks ?? 0), 0);
  try {
    const ready = await next();
    const tReady = performance.now();
    const firstRoundS = (tReady - t0) / 1000;
    console.log(`connected (${ready}) ${firstRoundS.toFixed(1)} s after spawn; load average ${load()}`);
    await sleep(INTERVAL_MS);
    const a = readProc(pid)!;
    const ta = threadTicks(pid);
    const fa = fleetTicks();
    child.stdin!.write('mark\n');
    await sleep(Math.max(0, tReady + SECONDS * 1000 - performance.now()));
    child.stdin!.write('report\n');
    const said = JSON.parse(await next()) as { checks: number; failures: number; p50: number | null; p95: number | null; mean: number | null };
    // A window without a check has no quantiles (JSON null): NaN prints as such, like the agent's.
    const report = { ...said, p50: said.p50 ?? Number.NaN, p95: said.p95 ?? Number.NaN, mean: said.mean ?? Number.NaN };
    const b = readProc(pid)!;
    const tb = threadTicks(pid);
    const fb = fleetTicks();
    sampler.stop();
    const windowS = (b.at - a.at) / 1000;
    const ws = windowStats(sampler.of(pid), a.at, b.at);
    const cpuMean = (100 * (b.cpuTicks - a.cpuTicks)) / 100 / windowS;
    const fleetCpuMean = (100 * (fb - fa)) / 100 / windowS;
    const hwm = Math.max(b.hwmKiB, ws.hwmKiB);
    const cpuPerCheckMs = ((b.cpuTicks - a.cpuTicks) * 10) / Math.max(1, report.checks);
    console.log(`steady-state window: ${windowS.toFixed(1)} s, load average ${load()}`);
    console.log(`sdk-loop peak RSS (VmHWM): ${mib(hwm)} MiB; max VmRSS in the window ${mib(ws.rssMaxKiB)} MiB`);
    console.log(`sdk-loop CPU, steady state: mean ${cpuMean.toFixed(2)} % of one core (max 1-s sample ${ws.cpuMaxPerSecond.toFixed(1)} %; ${kernelShare(a, b)}); by thread: ${threadSplit(ta, tb, windowS)}; per check ${cpuPerCheckMs.toFixed(3)} ms`);
    console.log(`fixture fleet CPU over the same window: ${fleetCpuMean.toFixed(2)} % of one core`);
    console.log(`listTools over the window: ${report.checks} checks, ${report.failures} failed, p50 ${report.p50.toFixed(1)} ms, p95 ${report.p95.toFixed(1)} ms, mean ${report.mean.toFixed(2)} ms (exact)`);
    return {
      servers: fleet.urls.length, era, transport: 'sdk-loop', variant: 'bare SDK loop (baseline)', protocols: era === 'modern' ? '2026-07-28 (pinned)' : '2025 (initialize)', handshakes: '', firstRoundS,
      peakRssMiB: mib(hwm), windowRssMaxMiB: mib(ws.rssMaxKiB), rssEndMiB: mib(b.rssKiB), cpuMean, cpuMaxPerSecond: ws.cpuMaxPerSecond, fleetCpuMean,
      p50ms: report.p50, p95ms: report.p95, meanMs: report.mean, checks: report.checks, up: Number(/\d+/.exec(ready)?.[0] ?? 0), upSeries: fleet.urls.length, sockets: Number.NaN, cpuPerCheckMs, windowS,
    };
  } finally {
    sampler.stop();
    child.stdin!.end();
    const exited = once(child, 'exit');
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(kill);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`## mcpwatch run over ${SERVERS.join(', ')} Streamable HTTP targets — ${machine()}`);
  console.log(`agent NODE_OPTIONS: ${NODE_OPTIONS ? `"${NODE_OPTIONS}"` : "none (V8's defaults)"}; OTLP receivers ${RECEIVER ? 'on (gRPC and HTTP, no traffic)' : 'off'}; baseline ${BASELINE}`);
  const whatIf = [
    SERVER_KEEPALIVE && `fixture servers keep idle connections ${SERVER_KEEPALIVE} s`,
    NODE_ARGS.length > 0 && `agent node flags ${NODE_ARGS.join(' ')}`,
    MEMORY && 'agent under agent-memory-probe (diagnostics)',
    CPU_PROF && 'agent under --cpu-prof',
    STOP && 'agent logs at info (--stop)',
    DEAD_OTLP && 'OTLP exporter to a port nobody listens on (--dead-otlp)',
  ].filter(Boolean);
  if (whatIf.length) console.log(`WHAT-IF / DIAGNOSTIC RUN: ${whatIf.join('; ')}`);
  console.log(`agent: node dist/src/cli/main.js run (child process); window ${SECONDS} s after the first round; steady state from one interval (${INTERVAL}) after it`);
  const modes: Mode[] = VARIANT === 'both' ? ['kept', 'fresh'] : VARIANT === 'all' ? ['idle', 'kept', 'fresh'] : [VARIANT as Mode];
  const eras: FleetEra[] = ERA === 'both' ? ['legacy', 'modern'] : [ERA];
  const transports: Transport[] = TRANSPORT === 'both' ? ['own', 'sdk'] : [TRANSPORT];
  const results: Result[] = [];
  for (const n of SERVERS) {
    for (const era of eras) {
      const needFleet = modes.some((m) => m !== 'idle') || BASELINE !== 'none';
      const fleet = !needFleet ? undefined : await spawnFleet(n, { era, processes: fleetProcesses(n), ...(SERVER_KEEPALIVE ? { keepAliveMs: Number(SERVER_KEEPALIVE) * 1000 } : {}) });
      if (fleet) console.log(`\nfixture fleet: ${fleet.urls.length} ${ERA_TITLE[era]} in ${fleet.pids.length} child process(es) (pids ${fleet.pids.join(', ')}), idle keep-alive ${SERVER_KEEPALIVE ? `${SERVER_KEEPALIVE} s (what-if)` : '5 s (Node default)'}`);
      try {
        for (const transport of transports) {
          for (const mode of modes) {
            if (mode === 'idle' && (transport !== transports[0] || era !== eras[0] || n !== SERVERS[0])) continue; // no servers: nothing differs
            if (results.length) await sleep(3000); // let the fleet settle after the previous agent's sessions closed
            results.push(await runVariant(fleet, mode, era, transport));
          }
        }
        if (fleet && BASELINE === 'sdk-loop') {
          await sleep(3000);
          results.push(await runSdkLoop(fleet, era));
        }
      } finally {
        await fleet?.stop();
      }
    }
  }
  console.log('\n### Summary\n');
  console.log('| servers | era | client | variant | protocol found (servers) | peak RSS MiB (VmHWM) | steady CPU % of a core | CPU ms per check | tools/list p50 ms | p95 ms | mean ms | checks in window | handshakes in window | up at end | fleet CPU % | scrape ms | tools/list during scrapes p50 / p95 / mean ms |');
  console.log('|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---|');
  for (const r of results) {
    console.log(`| ${r.servers} | ${r.era} | ${r.transport} | ${r.variant} | ${r.protocols} | ${r.peakRssMiB} | ${r.cpuMean.toFixed(2)} | ${r.cpuPerCheckMs.toFixed(3)} | ${r.p50ms.toFixed(1)} | ${r.p95ms.toFixed(1)} | ${r.meanMs.toFixed(2)} | ${r.checks} | ${r.handshakes} | ${r.up}/${r.upSeries} | ${r.fleetCpuMean.toFixed(1)} | ${r.scrapeMs ?? ''} | ${r.duringScrape ?? ''} |`);
  }
  console.log('');
  for (const r of results) {
    if (r.transport === 'sdk-loop' || r.variant.startsWith('no servers')) continue;
    const mb = Number(r.peakRssMiB) * 1.048576;
    const base = results.find((x) => x.transport === 'sdk-loop' && x.servers === r.servers && x.era === r.era);
    const ratio = base ? r.cpuPerCheckMs / base.cpuPerCheckMs : Number.NaN;
    // Every server must be checked each interval: a run that fell behind did less work than promised,
    // and its CPU figures do not count towards a target.
    if (r.windowS * 1000 < INTERVAL_MS) {
      // A first round that took most of --seconds (a loaded machine) leaves no window to measure in:
      // its 0 % must not read as a target met.
      console.log(`NO STEADY WINDOW (${r.servers} servers, ${r.era}, ${r.transport}): ${r.windowS.toFixed(1)} s, less than one interval, after the first round: no target is measured by this run; give --seconds more`);
      continue;
    }
    const due = (r.servers * r.windowS * 1000) / INTERVAL_MS;
    if (r.checks < 0.9 * due) console.log(`FELL BEHIND (${r.servers} servers, ${r.era}, ${r.transport}): ${r.checks} checks in the window where ${due.toFixed(0)} were due (${((100 * r.checks) / due).toFixed(0)} %): the targets below do not hold for this run`);
    console.log(
      `issue 18 targets (${r.servers} servers, ${r.era}, ${r.transport}, ${r.variant}): ≤ 15 % of a core ${r.cpuMean <= 15 ? 'met' : 'NOT met'} (${r.cpuMean.toFixed(2)} %); ≤ 220 MB peak RSS ${mb <= 220 ? 'met' : 'NOT met'} (${mb.toFixed(1)} MB); CPU per check ≤ half the bare SDK loop's ${base ? `${ratio <= 0.5 ? 'met' : 'NOT met'} (${r.cpuPerCheckMs.toFixed(3)} / ${base.cpuPerCheckMs.toFixed(3)} ms = ${ratio.toFixed(2)})` : 'not measured'}`,
    );
  }
  for (const r of results) if (r.stop) console.log(`stop (${r.servers} servers, ${r.era}, ${r.transport}, ${r.variant}): ${r.stop}`);
  console.log(`load average at the end: ${load()}`);
}

await main();
