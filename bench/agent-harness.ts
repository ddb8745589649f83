// Shared pieces of the agent benchmarks (agent-fleet, alert-latency, otlp-ingest): the agent as a
// child process (`node dist/src/cli/main.js run -c FILE`, so its RSS and CPU are its own), /proc
// sampling of a pid, a Prometheus text scraper and histogram quantiles.
// Nothing here passes or fails on time.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../test/helpers.js';

/** Clock ticks per second for /proc/PID/stat utime and stime (USER_HZ; 100 on Linux everywhere). */
export const CLK_TCK = 100;

export interface ProcSample {
  /** performance.now() of the bench process when read. */
  at: number;
  rssKiB: number;
  hwmKiB: number;
  /** utime + stime in clock ticks. */
  cpuTicks: number;
  /** stime alone: the kernel's work for the process (on loopback, much of its peers' TCP work too). */
  sysTicks: number;
}

/** One reading of a process's memory and CPU from /proc; undefined once it is gone. */
export function readProc(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    return { at: performance.now(), rssKiB: rss ? Number(rss[1]) : 0, hwmKiB: hwm ? Number(hwm[1]) : 0, cpuTicks: utime + stime, sysTicks: stime };
  } catch {
    return undefined;
  }
}

/** Direct children of a pid (every thread's children file). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // gone
  }
  return out;
}

/** Samples pids every `everyMs` into per-pid series until stopped. */
export class ProcSampler {
  readonly series = new Map<number, ProcSample[]>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pids: number[],
    private readonly everyMs = 1000,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    return this;
  }

  sample(): void {
    for (const pid of this.pids) {
      const s = readProc(pid);
      if (!s) continue;
      let list = this.series.get(pid);
      if (!list) this.series.set(pid, (list = []));
      list.push(s);
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  of(pid: number): ProcSample[] {
    return this.series.get(pid) ?? [];
  }
}

/** CPU % of one core between two readings. */
export function cpuPercent(a: ProcSample, b: ProcSample): number {
  const seconds = (b.at - a.at) / 1000;
  return seconds > 0 ? (100 * (b.cpuTicks - a.cpuTicks)) / CLK_TCK / seconds : Number.NaN;
}

/** Summary of a sampled window [from, to] (performance.now() times): mean CPU %, per-second peak, RSS. */
export function windowStats(samples: ProcSample[], from: number, to: number): { cpuMean: number; cpuMaxPerSecond: number; rssMaxKiB: number; rssLastKiB: number; hwmKiB: number; seconds: number } {
  const w = samples.filter((s) => s.at >= from - 1 && s.at <= to + 1);
  if (w.length < 2) return { cpuMean: Number.NaN, cpuMaxPerSecond: Number.NaN, rssMaxKiB: Number.NaN, rssLastKiB: Number.NaN, hwmKiB: Number.NaN, seconds: 0 };
  let cpuMax = 0;
  for (let i = 1; i < w.length; i++) cpuMax = Math.max(cpuMax, cpuPercent(w[i - 1]!, w[i]!));
  return {
    cpuMean: cpuPercent(w[0]!, w[w.length - 1]!),
    cpuMaxPerSecond: cpuMax,
    rssMaxKiB: Math.max(...w.map((s) => s.rssKiB)),
    rssLastKiB: w[w.length - 1]!.rssKiB,
    hwmKiB: Math.max(...samples.map((s) => s.hwmKiB)),
    seconds: (w[w.length - 1]!.at - w[0]!.at) / 1000,
  };
}

/** Like arg(), for an option with a fixed set of values: anything else ends the bench with exit 2. */
export function argOneOf<T extends string>(name: string, choices: readonly T[], fallback: T): T {
  const value = arg(name, fallback);
  if ((choices as readonly string[]).includes(value)) return value as T;
  console.error(`--${name}: expected one of ${choices.join(', ')} (got ${JSON.stringify(value)})`);
  process.exit(2);
}

/** The value after `--name` on the command line, or `fallback`. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1]!;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 50): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Where the agent listens (`host:port`), as its "mcpwatch agent started" line gives it. A benchmark
 * configures each endpoint with port 0 and reads the port here, as the tests do: a port probed free
 * and handed to the agent could be taken by another process in between.
 */
export interface AgentAddresses {
  health?: string;
  metrics?: string;
  otlpGrpc?: string;
  otlpHttp?: string;
}

/** `127.0.0.1:0`: an endpoint for the agent to listen on, at a port the kernel picks. */
export const ANY_PORT = '127.0.0.1:0';

export interface AgentChild {
  pid: number;
  child: ChildProcess;
  /** Resolves once the agent has started (its servers listen), or rejects if it exits first. */
  started: Promise<AgentAddresses>;
  /** The agent's /metrics, once `started` (or `ready()`) has resolved; undefined before, or without the exporter. */
  readonly metricsUrl: string | undefined;
  /** The last 64 KiB the agent wrote on stderr. */
  stderr(): string;
  /** What of stderr() is not a log record below warn (the agent logs at info for its started line). */
  warnings(): string;
  /** MCPWATCH_MEM lines seen so far (agent-memory-probe only). */
  mem: MemLine[];
  /** Resolves with the readiness body once /readyz answers 200. */
  ready(timeoutMs?: number): Promise<{ status: string; servers: Record<string, string> }>;
  /** /readyz body (200 or 503), undefined when it does not answer. */
  readyz(): Promise<{ status: string; servers: Record<string, string> } | undefined>;
  /** SIGTERM, SIGKILL after 10 s; resolves with how it exited. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnAgentOptions {
  /** The configuration object; written as JSON (a YAML subset) to `dir/name.yaml`. */
  config: Record<string, unknown>;
  dir: string;
  name: string;
  /** Extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']. */
  nodeArgs?: string[];
  /**
   * NODE_OPTIONS for the agent only, as a deployment sets it (the image, the chart). Without it the
   * agent gets none, whatever this process was started with: V8's defaults.
   */
  nodeOptions?: string;
  /** Run this script instead of the CLI (dist/bench/agent-memory-probe.js, same arguments). */
  entry?: string;
  /**
   * A file for the agent's stdout (discarded otherwise): V8's `--trace-*` flags print there, the
   * agent's own log goes to stderr.
   */
  stdoutFile?: string;
}

/** process.memoryUsage() of the agent, when it runs under agent-memory-probe. */
export interface MemLine {
  t: number;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** TCP client sockets opened so far (diagnostics_channel net.client.socket). */
  connects: number;
  undiciConnects: number;
  /** undici requests created so far. */
  requests: number;
  /** Garbage collections so far (minor: scavenges, major: mark-compacts). */
  minor?: number;
  major?: number;
  /** v8.getHeapSpaceStatistics() by space: bytes reserved and used. */
  spaces?: Record<string, { size: number; used: number }>;
}

/**
 * Starts `node [nodeArgs] dist/src/cli/main.js run -c FILE` in its own process. The configuration
 * needs `health.endpoint` (ANY_PORT) and a log level that keeps the info line that gives the ports.
 */
export function spawnAgent(opts: SpawnAgentOptions): AgentChild {
  const level = (opts.config.log as { level?: string } | undefined)?.level;
  if (level === 'warn' || level === 'error') throw new Error(`spawnAgent: log.level ${level} hides the agent's "mcpwatch agent started" line, which gives its ports`);
  const file = join(opts.dir, `${opts.name}.yaml`);
  writeFileSync(file, JSON.stringify(opts.config, null, 2) + '\n');
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: opts.nodeOptions ?? '' };
  const out = opts.stdoutFile ? openSync(opts.stdoutFile, 'w') : 'ignore';
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.entry ?? CLI, 'run', '-c', file], { stdio: ['ignore', out, 'pipe'], env });
  if (typeof out === 'number') closeSync(out); // the child holds its own copy
  let err = '';
  let partial = '';
  const mem: MemLine[] = [];
  let onStarted!: (a: AgentAddresses) => void;
  let onGone!: (e: Error) => void;
  let addresses: AgentAddresses | undefined;
  const started = new Promise<AgentAddresses>((resolve, reject) => ((onStarted = resolve), (onGone = reject)));
  // Nothing may be awaiting it when the agent fails to start: each waiter gets the rejection, the process keeps going.
  started.catch(() => undefined);
  child.stderr!.on('data', (c: Buffer) => {
    const text = partial + c.toString();
    const lines = text.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith('MCPWATCH_MEM ')) mem.push(JSON.parse(line.slice(13)) as MemLine);
      else err = (err + line + '\n').slice(-65536);
      if (!addresses && line.includes('"msg":"mcpwatch agent started"')) {
        const r = JSON.parse(line) as { health?: string; metrics?: string; otlp_grpc?: string; otlp_http?: string };
        addresses = { health: r.health, metrics: r.metrics, otlpGrpc: r.otlp_grpc, otlpHttp: r.otlp_http };
        onStarted(addresses);
      }
    }
  });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      process.removeListener('exit', killOnExit);
      resolve({ code, signal });
    }),
  );
  // After the started line this settles nothing: a promise keeps its first outcome.
  void exited.then(() => onGone(new Error(`the agent exited before it started:\n${err.slice(-4000)}`)));
  const readyz = async (): Promise<{ status: string; servers: Record<string, string> } | undefined> => {
    if (!addresses?.health) return undefined;
    try {
      const res = await fetch(`http://${addresses.health}/readyz`, { signal: AbortSignal.timeout(2000) });
      return (await res.json()) as { status: string; servers: Record<string, string> };
    } catch {
      return undefined;
    }
  };
  let gone = false;
  void exited.then(() => (gone = true));
  return {
    pid: child.pid!,
    child,
    started,
    get metricsUrl() {
      return addresses?.metrics && `http://${addresses.metrics}/metrics`;
    },
    stderr: () => err + partial,
    warnings: () =>
      (err + partial)
        .split('\n')
        .filter((l) => l.trim() && !/^\{"level":(10|20|30),/.test(l))
        .join('\n'),
    mem,
    readyz,
    ready: async (timeoutMs = 60_000) => {
      const end = performance.now() + timeoutMs;
      let bound: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (bound = setTimeout(() => reject(new Error(`the agent did not start within ${timeoutMs} ms:\n${err.slice(-4000)}`)), timeoutMs)));
      await Promise.race([started, late]).finally(() => clearTimeout(bound));
      if (!addresses?.health) throw new Error('the agent has no health endpoint: give it health.endpoint');
      return waitFor(
        'agent /readyz',
        async () => {
          if (gone) throw new Error(`agent exited before it was ready:\n${err.slice(-4000)}`);
          const r = await readyz();
          return r?.status === 'ready' ? r : undefined;
        },
        Math.max(0, end - performance.now()),
        50,
      );
    },
    stop: async () => {
      if (!gone) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        const r = await exited;
        clearTimeout(t);
        return r;
      }
      return exited;
    },
    exited,
  };
}

// ---- Prometheus text ----------------------------------------------------------------------------

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parsePrometheus(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l: RegExpExecArray | null;
      while ((l = re.exec(m[3]))) labels[l[1]!] = l[2]!.replace(/\\"/g, '"').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
    }
    out.push({ name: m[1]!, labels, value: m[4] === '+Inf' ? Infinity : Number(m[4]) });
  }
  return out;
}

/**
 * One scrape of `url`, parsed unless `parse` is false (a 30 MiB page takes seconds to parse). A kept
 * connection the agent closed while this process was busy parsing the last page (Node's 5 s
 * keep-alive) fails at once and is tried again, on a new connection.
 */
export async function scrape(url: string, opts: { parse?: boolean } = {}): Promise<{ samples: PromSample[]; bytes: number; ms: number; text: string }> {
  for (let attempt = 1; ; attempt++) {
    const t = performance.now();
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
      const text = await res.text();
      return { samples: opts.parse === false ? [] : parsePrometheus(text), bytes: Buffer.byteLength(text), ms: performance.now() - t, text };
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if (attempt > 1 || code !== 'UND_ERR_SOCKET') throw err;
    }
  }
}

/** Bytes and series per metric family in a scrape, largest first. */
export function scrapeBreakdown(text: string): Array<{ family: string; bytes: number; series: number }> {
  const fam = new Map<string, { bytes: number; series: number }>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? '?';
    const family = name.replace(/_(bucket|sum|count)$/, '');
    const f = fam.get(family) ?? { bytes: 0, series: 0 };
    f.bytes += line.length + 1;
    f.series++;
    fam.set(family, f);
  }
  return [...fam].map(([family, f]) => ({ family, ...f })).sort((a, b) => b.bytes - a.bytes);
}

export function sum(samples: PromSample[], name: string, match: Record<string, string> = {}): number {
  let s = 0;
  for (const p of samples) if (p.name === name && Object.entries(match).every(([k, v]) => p.labels[k] === v)) s += p.value;
  return s;
}

/** Cumulative bucket counts summed over every series of a histogram that matches, by `le`. */
export function buckets(samples: PromSample[], name: string, match: Record<string, string> = {}, exclude: string[] = []): Map<number, number> {
  const out = new Map<number, number>();
  for (const p of samples) {
    if (p.name !== `${name}_bucket`) continue;
    if (!Object.entries(match).every(([k, v]) => p.labels[k] === v)) continue;
    if (exclude.some((k) => p.labels[k] !== undefined)) continue;
    const le = p.labels.le === '+Inf' ? Infinity : Number(p.labels.le);
    out.set(le, (out.get(le) ?? 0) + p.value);
  }
  return out;
}

/** b − a per bucket (counts over a window). */
export function bucketDelta(a: Map<number, number>, b: Map<number, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const [le, n] of b) out.set(le, n - (a.get(le) ?? 0));
  return out;
}

/** histogram_quantile as Prometheus computes it: linear interpolation inside the bucket. */
export function histogramQuantile(q: number, cumulative: Map<number, number>): number {
  const bs = [...cumulative].sort((x, y) => x[0] - y[0]);
  if (bs.length === 0) return Number.NaN;
  const total = bs[bs.length - 1]![1];
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of bs) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1e-12, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

// ---- misc -----------------------------------------------------------------------------------------

export function quantile(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

export function machine(): string {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  return `node ${process.version}, ${cpus().length} × ${model.trim()}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
}

export function load(): string {
  return loadavg().map((l) => l.toFixed(2)).join(' ');
}
