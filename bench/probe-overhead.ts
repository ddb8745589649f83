// What mcpwatch's probe adds on top of the SDK client it drives, and what its own Streamable HTTP
// transport saves against SDK v2's. Interleaved after 20 warm-up rounds each.
//
// Streamable HTTP, once per era (a 2025-era SDK 1.32 server, then a 2026-07-28-only SDK v2 server;
// each in a child process, `protocol: auto` as the agent's default), one-shot probes:
//   a  — a bare SDK v2 Client (`versionNegotiation: auto`) over SDK v2's StreamableHTTPClientTransport
//        (undici fetch on one shared Agent; the 2025 standalone GET answered 405 locally, as the probe
//        does not open it): performance.now() around client.connect() + listTools({ cacheMode: 'bypass' })
//   b  — probeServer(target) from src/probe/probe.ts over mcpwatch's own transport, its `latencyMs`
//   s  — the same probe code (openAndProbe + closeTimed) over SDK v2's transport (bench/sdk-streamable.ts)
// then a kept connection per transport (as `mcpwatch run` keeps one per server) and tools/list over
// each, alternately: the agent's per-check work.
// Overhead = median(b) − median(a) (target ≤ 1 ms); transport = s against b. CPU per call is this
// process's process.cpuUsage() (user + system) across the whole call, close included: the server is
// in another process, so it is the client's cost.
// stdio: a bare SDK 1.32 client (connect incl. spawn + listTools) against probeServer.
// Prints figures only; never fails on time.
//
//   npm run build && node dist/bench/probe-overhead.js [http-iterations=200] [stdio-iterations=200] [--era legacy|modern|both]
//   (stdio-iterations 0 skips stdio)
import { loadavg } from 'node:os';
import { Client as ClientV2, StreamableHTTPClientTransport as StreamableV2 } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { ServerConfig } from '../src/config/schema.js';
import { closeTimed, Deadline, emptyOutcome, listTools, openAndProbe, probeServer } from '../src/probe/probe.js';
import type { McpConnection, ProbeOutcome } from '../src/probe/prober.js';
import { streamableHttpTransport } from '../src/probe/streamable-http.js';
import { httpTarget, STDIO_FIXTURE, stdioTarget } from '../test/helpers.js';
import { argOneOf, quantile } from './agent-harness.js';
import { FLEET_ERAS, spawnFleet, type FleetEra } from './fixture-fleet.js';
import { sdkStreamableTransport, sharedFetch } from './sdk-streamable.js';

const WARMUP = 20;
const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
const HTTP_ITERATIONS = count(positional[0], 200, 1);
const STDIO_ITERATIONS = count(positional[1], 200, 0);
const ERA = argOneOf('era', ['legacy', 'modern', 'both'], 'both');
const BARE_INFO = { name: 'bench-bare-client', version: '0.0.0' };

function count(text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`expected an integer ≥ ${min}, got "${text}"`);
  return n;
}

function ok(o: ProbeOutcome): ProbeOutcome & { latencyMs: number } {
  if (o.error || o.latencyMs === null) throw new Error(`probe failed: ${JSON.stringify(o.error)}`);
  return o as ProbeOutcome & { latencyMs: number };
}

async function bareV2Http(url: string): Promise<number> {
  const client = new ClientV2({ ...BARE_INFO }, { capabilities: {}, versionNegotiation: { mode: 'auto' } });
  const transport = new StreamableV2(new URL(url), { fetch: sharedFetch(new URL(url), false) });
  const t = performance.now();
  await client.connect(transport);
  await client.listTools(undefined, { cacheMode: 'bypass' });
  const ms = performance.now() - t;
  if (transport.sessionId) await transport.terminateSession();
  await client.close();
  return ms;
}

/** The probe's code over SDK v2's transport: openAndProbe with its connector, then closed as probeServer does. */
async function probeOverSdk(target: ServerConfig): Promise<number> {
  const { out, conn } = await openAndProbe(target, sdkStreamableTransport.connect);
  if (conn) await closeTimed(conn, out);
  return ok(out).latencyMs;
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

/** A call of a round: its latency series (one or more; the first is the call's own) and CPU. */
interface Call {
  name: string;
  run(): Promise<Record<string, number>>;
}

interface Series {
  /** Latency per series name, and `cpu <name>` for each call's CPU (ms), round by round. */
  values: Map<string, number[]>;
  /** Rounds dropped because one of their calls failed (a round is recorded whole or not at all). */
  failures: string[];
}

/** Round-robin over the calls (a, b, s, a, b, s, …), warm-up rounds first, not recorded. */
async function interleave(iterations: number, calls: Call[], label: string): Promise<Series> {
  const s: Series = { values: new Map(), failures: [] };
  const started = performance.now();
  for (let i = 0, recorded = 0; recorded < iterations && s.failures.length <= iterations / 10; i++) {
    const round: Array<[string, number]> = [];
    try {
      for (const call of calls) {
        const c = process.cpuUsage();
        const values = await call.run();
        const d = process.cpuUsage(c);
        round.push(...Object.entries(values), [`cpu ${call.name}`, (d.user + d.system) / 1000]);
      }
    } catch (err) {
      s.failures.push(`round ${i + 1}: ${(err as Error).message}`);
      continue;
    }
    if (i < WARMUP) continue;
    for (const [name, v] of round) {
      let list = s.values.get(name);
      if (!list) s.values.set(name, (list = []));
      list.push(v);
    }
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

function row(name: string, values: number[], cpu: number[] | undefined): string {
  const c = cpu ?? [];
  return `| ${name} | ${values.length} | ${ms(quantile(values, 0.5))} | ${ms(quantile(values, 0.9))} | ${ms(Math.min(...values))} | ${c.length ? ms(quantile(c, 0.5)) : '—'} | ${c.length ? ms(c.reduce((x, y) => x + y, 0) / c.length) : '—'} |`;
}

interface Report {
  title: string;
  /** [label, series key, call name (for its CPU)] */
  rows: Array<[string, string, string]>;
  /** [label, baseline key, compared key] */
  differences: Array<[string, string, string]>;
  /** The ≤ 1 ms overhead target, as [baseline key, probe key]. */
  target?: [string, string];
}

function report(r: Report, s: Series): void {
  const v = (key: string): number[] => s.values.get(key) ?? [];
  console.log(`\n### ${r.title}\n`);
  console.log('| series | n | median ms | p90 ms | min ms | CPU ms per call, median | CPU ms per call, mean |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const [label, key, call] of r.rows) if (v(key).length) console.log(row(label, v(key), s.values.get(`cpu ${call}`)));
  console.log('');
  for (const [label, base, other] of r.differences) if (v(base).length && v(other).length) console.log(overheadLine(label, v(base), v(other)));
  if (r.target && v(r.target[0]).length) console.log(`target ≤ 1 ms median overhead (${r.target[1]} − ${r.target[0]}): ${verdict(v(r.target[0]), v(r.target[1]))}`);
  if (s.failures.length) {
    console.log(`\n${s.failures.length} round(s) dropped because a call failed:`);
    for (const f of s.failures.slice(0, 10)) console.log(`  - ${f}`);
  }
}

/** tools/list over a kept connection, as each check of `mcpwatch run` does between handshakes. */
async function listOver(conn: McpConnection, target: ServerConfig): Promise<number> {
  const out = emptyOutcome(target);
  const deadline = new Deadline(target.timeout);
  try {
    await listTools(conn, deadline, out, 50);
  } finally {
    deadline.clear();
  }
  return out.phases['tools/list']!;
}

async function kept(target: ServerConfig, connector: typeof sdkStreamableTransport.connect): Promise<McpConnection> {
  const { out, conn } = await openAndProbe(target, connector);
  if (!conn) throw new Error(`kept connection failed: ${JSON.stringify(out.error)}`);
  return conn;
}

async function httpEra(era: FleetEra): Promise<void> {
  const fleet = await spawnFleet(1, { era });
  const url = fleet.urls[0]!;
  const what = era === 'legacy' ? 'a 2025-era SDK 1.32 server' : 'a 2026-07-28-only SDK v2 server (legacy: reject)';
  try {
    const target = httpTarget(url);
    const first = await probeServer(target);
    console.log(`\n${what} at ${url}: probed as ${first.protocolVersion} (${first.era}) with protocol: ${target.protocol}`);
    const oneShot = await interleave(
      HTTP_ITERATIONS,
      [
        { name: 'a', run: async () => ({ a: await bareV2Http(url) }) },
        { name: 'b', run: async () => ({ b: ok(await probeServer(target)).latencyMs }) },
        { name: 's', run: async () => ({ s: await probeOverSdk(target) }) },
      ],
      `streamable http ${era}, one-shot`,
    );
    report(
      {
        title: `Streamable HTTP, ${what}, one-shot probes (connect → ${first.era === 'modern' ? 'server/discover' : 'server/discover refused → initialize'} → tools/list → close)`,
        rows: [
          ['a. bare SDK v2 client over SDK v2 transport: connect + listTools', 'a', 'a'],
          ['b. probeServer latencyMs, own transport', 'b', 'b'],
          ['s. probe code over SDK v2 transport, latencyMs', 's', 's'],
        ],
        differences: [
          ['overhead b − a (difference of medians)', 'a', 'b'],
          ['transport s − b: SDK v2 transport against the own one (difference of medians)', 'b', 's'],
          ['CPU per call s − b (difference of medians)', 'cpu b', 'cpu s'],
        ],
        target: ['a', 'b'],
      },
      oneShot,
    );
    const own = await kept(target, streamableHttpTransport.keep({ onStream: () => {} }));
    const sdk = await kept(target, sdkStreamableTransport.keep({ onStream: () => {} }));
    try {
      const checks = await interleave(
        HTTP_ITERATIONS,
        [
          { name: 'k', run: async () => ({ k: await listOver(own, target) }) },
          { name: 'ks', run: async () => ({ ks: await listOver(sdk, target) }) },
        ],
        `streamable http ${era}, kept`,
      );
      report(
        {
          title: `Streamable HTTP, ${what}, tools/list over a kept connection (the agent's check)`,
          rows: [
            ['k. own transport: tools/list phase', 'k', 'k'],
            ['ks. SDK v2 transport: tools/list phase', 'ks', 'ks'],
          ],
          differences: [
            ['transport ks − k (difference of medians)', 'k', 'ks'],
            ['CPU per check ks − k (difference of medians)', 'cpu k', 'cpu ks'],
          ],
        },
        checks,
      );
    } finally {
      await Promise.all([own.close(), sdk.close()]);
    }
  } finally {
    await fleet.stop();
  }
}

async function main(): Promise<void> {
  console.log(`## probe overhead — node ${process.version}, ${WARMUP} warm-up rounds each, interleaved, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (const era of ERA === 'both' ? FLEET_ERAS : [ERA]) await httpEra(era);
  if (STDIO_ITERATIONS > 0) {
    const target = stdioTarget('ok');
    const stdio = await interleave(
      STDIO_ITERATIONS,
      [
        { name: 'a', run: async () => ({ a: await bareStdio() }) },
        {
          name: 'b',
          run: async () => {
            const o = ok(await probeServer(target));
            return { b: o.latencyMs, 'b′': (o.phases.spawn ?? 0) + o.latencyMs };
          },
        },
      ],
      'stdio',
    );
    report(
      {
        title: `stdio (node ${STDIO_FIXTURE} ok, one spawn per call)`,
        rows: [
          ['a. bare SDK 1.32 client: connect (incl. spawn) + listTools', 'a', 'a'],
          ['b. probeServer latencyMs (handshake + tools/list)', 'b', 'b'],
          ['b′. probeServer spawn + latencyMs', 'b′', 'b'],
        ],
        differences: [
          ['overhead b − a (difference of medians)', 'a', 'b'],
          ['overhead b′ − a, same span of work (difference of medians)', 'a', 'b′'],
        ],
        target: ['a', 'b'],
      },
      stdio,
    );
  }
  console.log(`\nload average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

await main();
