// A variant of bench/fixture-fleet.ts for a what-if: the same SDK Streamable HTTP fixture servers, but
// every server keeps idle connections open for KEEPALIVE_MS (Node's default is 5 s, shorter than a
// 10 s check interval, so each check otherwise reconnects). Behind nginx (keepalive_timeout 75 s) or
// a cloud load balancer (60 s idle timeout) a check would reuse its connection; this measures that.
//
//   node dist/bench/fixture-fleet-keepalive.js N KEEPALIVE_MS
//
// Prints `{"urls":[...]}` once every server listens; stays up until SIGTERM or stdin closes.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Fleet } from './fixture-fleet.js';

const SELF = fileURLToPath(import.meta.url);

export async function spawnKeepAliveFleet(n: number, keepAliveMs: number): Promise<Fleet> {
  const child = spawn(process.execPath, [SELF, String(n), String(keepAliveMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
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

async function main(n: number, keepAliveMs: number): Promise<void> {
  // Patch node:http before the fixture module binds to it, so every fixture server gets the timeout.
  const require = createRequire(import.meta.url);
  const http = require('node:http') as typeof import('node:http');
  const create = http.createServer;
  (http as { createServer: unknown }).createServer = function (this: unknown, ...args: unknown[]) {
    const server = (create as (...a: unknown[]) => import('node:http').Server).apply(this, args);
    server.keepAliveTimeout = keepAliveMs;
    return server;
  };
  syncBuiltinESMExports();
  const { startHttpFixture } = await import('../test/fixtures/http-server.js');
  const fixtures: Awaited<ReturnType<typeof startHttpFixture>>[] = [];
  for (let i = 0; i < n; i += 50) {
    fixtures.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => startHttpFixture('streamable')))));
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
  const n = Number(process.argv[2]);
  const ms = Number(process.argv[3]);
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(ms) || ms < 0) {
    process.stderr.write('usage: node dist/bench/fixture-fleet-keepalive.js N KEEPALIVE_MS\n');
    process.exit(2);
  }
  await main(n, ms);
}
