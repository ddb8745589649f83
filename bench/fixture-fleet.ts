// A fleet of Streamable HTTP fixture servers, one port each on 127.0.0.1, for the benchmarks. Run as
// a child process so the servers do not share the measuring process's event loop:
//
//   node dist/bench/fixture-fleet.js N [--era legacy|modern] [--output-schema-tools K] [--keepalive-ms MS]
//
// --era legacy (the default): 2025-era servers on SDK 1.32 (`startHttpFixture('streamable')`, with
// sessions and the standalone GET stream), as most servers in the field are today.
// --era modern: 2026-07-28-only servers on SDK v2 (`startModernHttpFixture('strict')`:
// `createMcpHandler(..., { legacy: 'reject' })` behind `toNodeHandler`), stateless, with
// `subscriptions/listen`.
// With --output-schema-tools (legacy only), each server offers K tools that declare an outputSchema
// (as servers following the 2025-06-18 spec do) instead of the fixture's three tools without one. It
// prints `{"urls":[...]}` as one line on stdout once every server listens, then stays up until SIGTERM
// (or until its stdin closes, so a parent that dies does not leave the fleet behind).
// `spawnFleet(n, { processes })` does the spawning (spread over that many child processes, so the
// fleet's event loop is not what a benchmark measures) and the clean-up for a benchmark.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod/v3';
import { startHttpFixture, type HttpFixtureOptions } from '../test/fixtures/http-server.js';
import { startModernHttpFixture } from '../test/fixtures/modern-http-server.js';

const SELF = fileURLToPath(import.meta.url);

export type FleetEra = 'legacy' | 'modern';
export const FLEET_ERAS: readonly FleetEra[] = ['legacy', 'modern'];

export interface Fleet {
  urls: string[];
  /** The first child process (the only one unless `processes` > 1). */
  pid: number;
  /** Every child process of the fleet, for CPU accounting. */
  pids: number[];
  /** SIGTERM, then SIGKILL if the fleet has not exited within 5 s. */
  stop(): Promise<void>;
}

export interface FleetOptions {
  /** Which MCP era the servers speak (default legacy: SDK 1.32, 2025-11-25). */
  era?: FleetEra;
  /** Spread the servers over this many child processes (default 1). */
  processes?: number;
  /** Each server offers this many tools, every one with an outputSchema. */
  outputSchemaTools?: number;
  /**
   * Idle keep-alive of every server. Node's default (5 s) is shorter than a 10 s check interval, so
   * each check reconnects; behind nginx (75 s) or a cloud load balancer (60 s) it would not.
   */
  keepAliveMs?: number;
}

/** Starts `n` fixture servers in child processes and resolves once they all listen. */
export async function spawnFleet(n: number, opts: FleetOptions = {}): Promise<Fleet> {
  const processes = Math.max(1, Math.min(n, opts.processes ?? 1));
  const settled = await Promise.allSettled(Array.from({ length: processes }, (_, i) => spawnPart(Math.floor(n / processes) + (i < n % processes ? 1 : 0), opts)));
  const parts = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(parts.map((p) => p.stop()));
    throw failed.reason;
  }
  return {
    urls: parts.flatMap((p) => p.urls),
    pid: parts[0]!.pid,
    pids: parts.map((p) => p.pid),
    stop: async () => {
      await Promise.all(parts.map((p) => p.stop()));
    },
  };
}

async function spawnPart(n: number, opts: FleetOptions): Promise<Omit<Fleet, 'pids'>> {
  const args = [
    SELF,
    String(n),
    ...(opts.era ? ['--era', opts.era] : []),
    ...(opts.outputSchemaTools ? ['--output-schema-tools', String(opts.outputSchemaTools)] : []),
    ...(opts.keepAliveMs !== undefined ? ['--keepalive-ms', String(opts.keepAliveMs)] : []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => String(line)),
    exited.then(([code, signal]) => Promise.reject(new Error(`fixture fleet exited before it was ready (code ${String(code)}, signal ${String(signal)})`))),
  ]);
  lines.close();
  const { urls } = JSON.parse(first) as { urls: string[] };
  if (!Array.isArray(urls) || urls.length !== n) throw new Error(`fixture fleet printed ${first}`);
  return {
    urls,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      process.removeListener('exit', killOnExit);
    },
  };
}

/** A server with `k` tools, each declaring an input and an output schema of realistic size. */
function outputSchemaServer(k: number): McpServer {
  const server = new McpServer({ name: 'fixture-output-schemas', version: '1.0.0' }, { capabilities: { tools: {} } });
  for (let i = 1; i <= k; i++) {
    server.registerTool(
      `tool_${String(i).padStart(3, '0')}`,
      {
        description: `Fixture tool ${i} with structured output`,
        inputSchema: { query: z.string(), limit: z.number().int().min(1).max(100).optional() },
        outputSchema: {
          id: z.string(),
          total: z.number().int().min(0),
          items: z.array(z.object({ name: z.string(), url: z.string().url().optional(), score: z.number().optional() })),
          next: z.string().nullable(),
        },
      },
      async () => ({ content: [], structuredContent: { id: String(i), total: 0, items: [], next: null } }),
    );
  }
  return server;
}

async function main(n: number, era: FleetEra, outputSchemaTools: number, keepAliveMs: number | undefined): Promise<void> {
  type Fixture = { url: string; close(): Promise<void> };
  const fixtures: Fixture[] = [];
  const opts: HttpFixtureOptions = { ...(outputSchemaTools ? { makeServer: () => outputSchemaServer(outputSchemaTools) } : {}), ...(keepAliveMs !== undefined ? { keepAliveMs } : {}) };
  const start = (): Promise<Fixture> => (era === 'modern' ? startModernHttpFixture('strict', keepAliveMs !== undefined ? { keepAliveMs } : {}) : startHttpFixture('streamable', opts));
  // Started in batches: 100 at once is fine, but a very large N should not open every listener in one tick.
  for (let i = 0; i < n; i += 50) {
    const batch = Math.min(50, n - i);
    fixtures.push(...(await Promise.all(Array.from({ length: batch }, start))));
  }
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await Promise.all(fixtures.map((f) => f.close().catch(() => {})));
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.stdin.on('end', () => void stop());
  process.stdin.on('error', () => void stop());
  process.stdin.resume();
  process.stdout.write(JSON.stringify({ urls: fixtures.map((f) => f.url) }) + '\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = Number(process.argv[2] ?? 1);
  const flag = process.argv.indexOf('--output-schema-tools');
  const k = flag === -1 ? 0 : Number(process.argv[flag + 1]);
  const ka = process.argv.indexOf('--keepalive-ms');
  const keepAliveMs = ka === -1 ? undefined : Number(process.argv[ka + 1]);
  const e = process.argv.indexOf('--era');
  const era = e === -1 ? 'legacy' : process.argv[e + 1];
  const usage = 'usage: node dist/bench/fixture-fleet.js N [--era legacy|modern] [--output-schema-tools K] [--keepalive-ms MS]';
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(k) || k < 0 || (keepAliveMs !== undefined && !(keepAliveMs >= 0))) {
    process.stderr.write(`${usage} (non-negative integers; got "${process.argv.slice(2).join(' ')}")\n`);
    process.exit(2);
  }
  if (!(FLEET_ERAS as readonly (string | undefined)[]).includes(era)) {
    process.stderr.write(`${usage}: --era is legacy or modern (got ${JSON.stringify(era)})\n`);
    process.exit(2);
  }
  if (era === 'modern' && k > 0) {
    process.stderr.write(`${usage}: --output-schema-tools applies to the legacy fleet only\n`);
    process.exit(2);
  }
  await main(n, era as FleetEra, k, keepAliveMs);
}
