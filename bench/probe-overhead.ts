// What mcpwatch's probe adds on top of the SDK client it drives. For each transport, interleaved
// (a, a′, b, a, a′, b, … for HTTP; a, b, a, b, … for stdio) after 20 warm-up rounds each:
//   a  — a plain SDK Client: performance.now() around client.connect(transport) + client.listTools()
//        (terminateSession() + close() outside the timing)
//   a′ — HTTP only: the same with the SDK's standalone GET stream answered 405 locally, as the probe does
//   b  — probeServer(target) from src/probe/probe.ts, its `latencyMs` (initialize + tools/list)
// and the overhead = median(b) − median(a). Target: ≤ 1 ms median.
// Prints figures only; never fails on time.
//
//   npm run build && node dist/bench/probe-overhead.js [http-iterations=200] [stdio-iterations=200]
import { loadavg } from 'node:os';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { probeServer } from '../src/probe/probe.js';
import type { ProbeOutcome } from '../src/probe/prober.js';
import { httpTarget, STDIO_FIXTURE, stdioTarget } from '../test/helpers.js';
import { quantile } from './agent-harness.js';
import { spawnFleet } from './fixture-fleet.js';

const WARMUP = 20;
const HTTP_ITERATIONS = positiveInt(process.argv[2], 200);
const STDIO_ITERATIONS = positiveInt(process.argv[3], 200);
const BARE_INFO = { name: 'bench-bare-client', version: '0.0.0' };

function positiveInt(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got "${text}"`);
  return n;
}

function ok(o: ProbeOutcome): ProbeOutcome & { latencyMs: number } {
  if (o.error || o.latencyMs === null) throw new Error(`probe failed: ${JSON.stringify(o.error)}`);
  return o as ProbeOutcome & { latencyMs: number };
}

async function bareHttp(url: string, fetch?: FetchLike): Promise<number> {
  const client = new Client({ ...BARE_INFO }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(url), fetch ? { fetch } : undefined);
  const t = performance.now();
  await client.connect(transport);
  await client.listTools();
  const ms = performance.now() - t;
  await transport.terminateSession();
  await client.close();
  return ms;
}

/**
 * Node's fetch, except that the standalone GET stream the SDK opens after initialize is answered 405
 * locally, as the probe does (the spec lets a server refuse it that way). Without this the bare client
 * does one request more than the probe, concurrently with tools/list.
 */
function noStandaloneStream(url: string): FetchLike {
  return async (input, init) => {
    if ((init?.method ?? 'GET') === 'GET' && String(input) === url) return new Response(null, { status: 405 });
    return fetch(input, init);
  };
}

async function bareStdio(): Promise<number> {
  const client = new Client({ ...BARE_INFO }, { capabilities: {} });
  // stderr piped, as the probe does, and kept for the error message should the server fail.
  const transport = new StdioClientTransport({ command: process.execPath, args: [STDIO_FIXTURE, 'ok'], stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-500)));
  // connect() starts the transport, so this includes the spawn (which probeServer times as its own phase).
  const t = performance.now();
  try {
    await client.connect(transport);
    await client.listTools();
  } catch (err) {
    await client.close().catch(() => {});
    throw new Error(`${(err as Error).message}${stderr ? `; server stderr: ${stderr.trim()}` : ''}`);
  }
  const ms = performance.now() - t;
  await client.close();
  return ms;
}

interface Series {
  bare: number[];
  /** HTTP only: the bare client without the standalone GET stream (see noStandaloneStream). */
  bareNoGet: number[];
  probe: number[];
  /** stdio: probe spawn + latencyMs, the same span of work as the bare client's connect + listTools. */
  probeWithSpawn: number[];
  /** Rounds dropped because one of their calls failed (a round is recorded whole or not at all). */
  failures: string[];
}

/** Round-robin: bare, [bare without GET,] probe, bare, … — warm-up rounds first, not recorded. */
async function interleave(iterations: number, bare: () => Promise<number>, probe: () => Promise<ProbeOutcome>, label: string, bareNoGet?: () => Promise<number>): Promise<Series> {
  const s: Series = { bare: [], bareNoGet: [], probe: [], probeWithSpawn: [], failures: [] };
  const started = performance.now();
  for (let i = 0, recorded = 0; recorded < iterations && s.failures.length <= iterations / 10; i++) {
    let a: number, a2: number | undefined, b: ProbeOutcome & { latencyMs: number };
    try {
      a = await bare();
      a2 = bareNoGet ? await bareNoGet() : undefined;
      b = ok(await probe());
    } catch (err) {
      s.failures.push(`round ${i + 1}: ${(err as Error).message}`);
      continue;
    }
    if (i < WARMUP) continue;
    s.bare.push(a);
    if (a2 !== undefined) s.bareNoGet.push(a2);
    s.probe.push(b.latencyMs);
    s.probeWithSpawn.push((b.phases.spawn ?? 0) + b.latencyMs);
    recorded++;
    if (recorded % 50 === 0) process.stderr.write(`  ${label}: ${recorded}/${iterations} rounds (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
  }
  return s;
}

function ms(n: number): string {
  return n.toFixed(3);
}

function signed(n: number): string {
  return `${n >= 0 ? '+' : ''}${ms(n)}`;
}

function row(name: string, values: number[]): string {
  return `| ${name} | ${values.length} | ${ms(quantile(values, 0.5))} | ${ms(quantile(values, 0.9))} | ${ms(Math.min(...values))} |`;
}

function pairedMedian(a: number[], b: number[]): number {
  return quantile(
    b.map((v, i) => v - a[i]!),
    0.5,
  );
}

/** Deterministic PRNG (mulberry32), so that the confidence interval is the same for the same data. */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x6d2b79f5) >>> 0;
    let t = x;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 95% bootstrap interval of median(b) − median(a), resampling rounds (pairs) together. */
function bootstrapCi(a: number[], b: number[], resamples = 2000): [number, number] {
  const random = rng(0x5eed);
  const diffs: number[] = [];
  const ra: number[] = new Array<number>(a.length);
  const rb: number[] = new Array<number>(b.length);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < a.length; i++) {
      const j = Math.floor(random() * a.length);
      ra[i] = a[j]!;
      rb[i] = b[j]!;
    }
    diffs.push(quantile(rb, 0.5) - quantile(ra, 0.5));
  }
  return [quantile(diffs, 0.025), quantile(diffs, 0.975)];
}

function overheadLine(label: string, a: number[], b: number[]): string {
  const [lo, hi] = bootstrapCi(a, b);
  return `${label}: ${signed(quantile(b, 0.5) - quantile(a, 0.5))} ms (95% bootstrap CI ${signed(lo)} … ${signed(hi)} ms); median of paired differences ${signed(pairedMedian(a, b))} ms`;
}

/** Against the 1 ms target, honest about noise: a CI that straddles 1 ms decides nothing. */
function verdict(a: number[], b: number[]): string {
  const point = quantile(b, 0.5) - quantile(a, 0.5);
  const [lo, hi] = bootstrapCi(a, b);
  if (hi <= 1) return `met (${signed(point)} ms; the whole 95% CI is ≤ 1 ms)`;
  if (lo > 1) return `NOT met (${signed(point)} ms; the whole 95% CI is > 1 ms)`;
  return `${point <= 1 ? 'met on the point estimate' : 'NOT met on the point estimate'} (${signed(point)} ms), but inconclusive: the 95% CI (${signed(lo)} … ${signed(hi)} ms) is wider than the target, i.e. run-to-run noise exceeds 1 ms`;
}

function report(title: string, s: Series, stdio: boolean): void {
  console.log(`\n### ${title}\n`);
  console.log('| series | n | median ms | p90 ms | min ms |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(row(stdio ? 'a. bare SDK client: connect (incl. spawn) + listTools' : 'a. bare SDK client: connect + listTools', s.bare));
  if (s.bareNoGet.length) console.log(row('a′. bare SDK client, standalone GET answered 405 locally', s.bareNoGet));
  console.log(row('b. probeServer latencyMs (initialize + tools/list)', s.probe));
  if (stdio) console.log(row('b′. probeServer spawn + latencyMs', s.probeWithSpawn));
  console.log('');
  console.log(overheadLine('overhead b − a (difference of medians)', s.bare, s.probe));
  if (s.bareNoGet.length) console.log(overheadLine('overhead b − a′ (difference of medians)', s.bareNoGet, s.probe));
  if (stdio) console.log(overheadLine('overhead b′ − a, same span of work (difference of medians)', s.bare, s.probeWithSpawn));
  console.log(`target ≤ 1 ms median overhead (b − a): ${verdict(s.bare, s.probe)}`);
  if (s.failures.length) {
    console.log(`\n${s.failures.length} round(s) dropped because a call failed:`);
    for (const f of s.failures.slice(0, 10)) console.log(`  - ${f}`);
  }
}

async function main(): Promise<void> {
  console.log(`## probe overhead — node ${process.version}, ${WARMUP} warm-up rounds each, interleaved bare/probe, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const fleet = await spawnFleet(1);
  const url = fleet.urls[0]!;
  try {
    const target = httpTarget(url);
    const noGet = noStandaloneStream(url);
    const http = await interleave(HTTP_ITERATIONS, () => bareHttp(url), () => probeServer(target), 'streamable http', () => bareHttp(url, noGet));
    report(`Streamable HTTP (${url}, fixture server in a child process)`, http, false);
  } finally {
    await fleet.stop();
  }
  const target = stdioTarget('ok');
  const stdio = await interleave(STDIO_ITERATIONS, bareStdio, () => probeServer(target), 'stdio');
  report(`stdio (node ${STDIO_FIXTURE} ok, one spawn per call)`, stdio, true);
  console.log(`\nload average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

await main();
