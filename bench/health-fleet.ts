// `mcpwatch health` over a fleet: 100 Streamable HTTP fixture servers (one child process, one port
// each) plus 20 stdio fixture servers, `monitoring.timeout: 5s`, and the same with the 100 HTTP targets
// only. Each variant runs 3 times under `/usr/bin/time -v`; prints wall time, peak RSS and up/down
// counts per run. Target: 100 HTTP targets within one timeout (5 s). A last variant repeats the
// HTTP-only run against servers whose 50 tools each declare an outputSchema (the fixture's tools declare
// none), since the SDK client compiles a validator per output schema on every tools/list.
// Prints figures only.
//
//   npm run build && node dist/bench/health-fleet.js [runs=3]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, STDIO_FIXTURE } from '../test/helpers.js';
import { spawnFleet } from './fixture-fleet.js';

const HTTP_TARGETS = 100;
const STDIO_TARGETS = 20;
const OUTPUT_SCHEMA_TOOLS = 50;
const TIMEOUT = '5s';
const TIMEOUT_MS = 5000;
const RUNS = Number(process.argv[2] ?? 3);
const TIME = '/usr/bin/time';

interface HealthJson {
  servers: {
    name: string;
    transport: string;
    status: 'up' | 'degraded' | 'down';
    latency_ms: number | null;
    phases: Record<string, number>;
    error: { type: string; phase: string; message: string } | null;
  }[];
}

interface Run {
  /** `Elapsed (wall clock)` from /usr/bin/time, ms. */
  timeWallMs: number;
  /** `Maximum resident set size`, KiB: mcpwatch, or a child it reaped if that was larger. */
  maxRssKiB: number;
  /** VmHWM of the mcpwatch process itself, sampled every 10 ms until it exits (KiB). */
  hwmKiB: number | undefined;
  cpuS: number;
  exitCode: number | null;
  counts: Record<string, number>;
  maxLatencyMs: number;
  medianLatencyMs: number;
  /** Longest single probe, all phases (spawn/connect … close). */
  maxProbeMs: number;
  errors: string[];
}

function yamlString(s: string): string {
  return JSON.stringify(s); // a JSON string is a valid YAML double-quoted scalar
}

function writeConfig(dir: string, name: string, urls: string[], stdio: number): string {
  const lines = ['monitoring:', `  timeout: ${TIMEOUT}`, 'servers:'];
  urls.forEach((url, i) => {
    lines.push(`  - name: http-${String(i + 1).padStart(3, '0')}`, '    transport: streamable_http', `    url: ${yamlString(url)}`);
  });
  for (let i = 0; i < stdio; i++) {
    lines.push(
      `  - name: stdio-${String(i + 1).padStart(2, '0')}`,
      '    transport: stdio',
      `    command: ${yamlString(process.execPath)}`,
      `    args: [${yamlString(STDIO_FIXTURE)}, ok]`,
    );
  }
  if (urls.length === 0 && stdio === 0) lines[lines.length - 1] = 'servers: []';
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function parseClock(text: string): number {
  // h:mm:ss or m:ss(.cc)
  const parts = text.trim().split(':').map(Number);
  let s = 0;
  for (const p of parts) s = s * 60 + p;
  return s * 1000;
}

function field(stderr: string, label: string): string | undefined {
  const line = stderr.split('\n').find((l) => l.trim().startsWith(label));
  return line?.slice(line.lastIndexOf(': ') + 2).trim();
}

function readHwm(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function childPid(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function runHealth(config: string): Promise<Run> {
  const child = spawn(TIME, ['-v', process.execPath, CLI, 'health', '-c', config, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  // /usr/bin/time forks mcpwatch as its only child: watch that process's own high-water mark.
  let node: number | undefined;
  let hwm: number | undefined;
  const sampler = setInterval(() => {
    node ??= childPid(child.pid!);
    if (node !== undefined) hwm = readHwm(node) ?? hwm;
  }, 10);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearInterval(sampler);
  const stderr = Buffer.concat(err).toString();
  const stdout = Buffer.concat(out).toString();
  let json: HealthJson;
  try {
    json = JSON.parse(stdout) as HealthJson;
  } catch {
    throw new Error(`mcpwatch health exited ${code} without JSON on stdout:\n${stdout.slice(0, 2000)}\n${stderr.slice(0, 4000)}`);
  }
  const counts: Record<string, number> = { up: 0, degraded: 0, down: 0 };
  for (const s of json.servers) counts[s.status] = (counts[s.status] ?? 0) + 1;
  const latencies = json.servers.map((s) => s.latency_ms).filter((v): v is number => v !== null);
  const probeMs = json.servers.map((s) => Object.values(s.phases).reduce((a, b) => a + b, 0));
  const errors = json.servers.filter((s) => s.status !== 'up').map((s) => `${s.name} ${s.status}: ${s.error ? `${s.error.type} in ${s.error.phase}: ${s.error.message}` : 'no error (degraded by threshold)'}`);
  return {
    timeWallMs: parseClock(field(stderr, 'Elapsed (wall clock) time') ?? 'NaN'),
    maxRssKiB: Number(field(stderr, 'Maximum resident set size (kbytes)')),
    hwmKiB: hwm,
    cpuS: Number(field(stderr, 'User time (seconds)')) + Number(field(stderr, 'System time (seconds)')),
    exitCode: code,
    counts,
    maxLatencyMs: latencies.length ? Math.max(...latencies) : Number.NaN,
    medianLatencyMs: median(latencies),
    maxProbeMs: probeMs.length ? Math.max(...probeMs) : Number.NaN,
    errors,
  };
}

function num(n: number): string {
  return Number.isNaN(n) ? '—' : n.toFixed(1);
}

function mib(kib: number | undefined): string {
  return kib === undefined || Number.isNaN(kib) ? '—' : (kib / 1024).toFixed(1);
}

async function variant(title: string, config: string, targets: number, runs: number): Promise<Run[]> {
  console.log(`\n### ${title} (${targets} targets, monitoring.timeout ${TIMEOUT}, default concurrency 32)\n`);
  console.log('| run | wall s (time -v) | peak RSS MiB (time -v) | mcpwatch VmHWM MiB | CPU s (user+sys) | up | degraded | down | median latency ms | max latency ms | longest probe ms | exit |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const results: Run[] = [];
  for (let i = 1; i <= runs; i++) {
    const r = await runHealth(config);
    results.push(r);
    console.log(
      `| ${i} | ${(r.timeWallMs / 1000).toFixed(2)} | ${mib(r.maxRssKiB)} | ${mib(r.hwmKiB)} | ${r.cpuS.toFixed(2)} | ${r.counts.up} | ${r.counts.degraded} | ${r.counts.down} | ${num(r.medianLatencyMs)} | ${num(r.maxLatencyMs)} | ${num(r.maxProbeMs)} | ${r.exitCode} |`,
    );
  }
  for (const [i, r] of results.entries()) {
    if (r.errors.length) {
      console.log(`\nrun ${i + 1}: ${r.errors.length} not up:`);
      for (const e of r.errors.slice(0, 30)) console.log(`  - ${e}`);
      if (r.errors.length > 30) console.log(`  … and ${r.errors.length - 30} more`);
    }
  }
  return results;
}

async function main(): Promise<void> {
  if (!existsSync(TIME)) throw new Error(`${TIME} is needed (GNU time, e.g. apt-get install time)`);
  if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`runs must be a positive integer (got "${process.argv[2]}")`);
  console.log(`## mcpwatch health over a fleet — node ${process.version}, ${RUNS} runs per variant, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-bench-'));
  let worstHttp = 0;
  let allUp = true;
  try {
    const fleet = await spawnFleet(HTTP_TARGETS);
    try {
      const mixed = writeConfig(dir, 'mixed', fleet.urls, STDIO_TARGETS);
      const httpOnly = writeConfig(dir, 'http-only', fleet.urls, 0);
      const empty = writeConfig(dir, 'empty', [], 0);
      console.log(`fixture fleet: ${fleet.urls.length} Streamable HTTP servers in one child process (pid ${fleet.pid}); configs in ${dir}`);
      // One unmeasured pass so the fixtures' and the file cache's first-use costs are not in run 1.
      await runHealth(httpOnly);
      await variant('Baseline: no targets (process start-up, config load, exit)', empty, 0, RUNS);
      const mixedRuns = await variant(`${HTTP_TARGETS} Streamable HTTP + ${STDIO_TARGETS} stdio`, mixed, HTTP_TARGETS + STDIO_TARGETS, RUNS);
      const httpRuns = await variant(`${HTTP_TARGETS} Streamable HTTP only`, httpOnly, HTTP_TARGETS, RUNS);
      worstHttp = Math.max(...httpRuns.map((r) => r.timeWallMs));
      allUp = [...mixedRuns, ...httpRuns].every((r) => r.errors.length === 0);
    } finally {
      await fleet.stop();
    }
    const schemaFleet = await spawnFleet(HTTP_TARGETS, { outputSchemaTools: OUTPUT_SCHEMA_TOOLS });
    try {
      const schemaHeavy = writeConfig(dir, 'output-schemas', schemaFleet.urls, 0);
      await runHealth(schemaHeavy);
      const runs = await variant(`${HTTP_TARGETS} Streamable HTTP only, ${OUTPUT_SCHEMA_TOOLS} tools with an outputSchema per server`, schemaHeavy, HTTP_TARGETS, RUNS);
      allUp &&= runs.every((r) => r.errors.length === 0);
    } finally {
      await schemaFleet.stop();
    }
    console.log('');
    console.log(`target: ${HTTP_TARGETS} HTTP targets within one timeout (${TIMEOUT_MS / 1000} s): slowest run ${(worstHttp / 1000).toFixed(2)} s — ${worstHttp <= TIMEOUT_MS ? 'met' : 'NOT met'}`);
    console.log(`every target up in every run: ${allUp ? 'yes' : 'no'}`);
    console.log(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
