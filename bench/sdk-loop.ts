// The baseline of issue 18: the naive program a user could write instead of mcpwatch. One official
// SDK client (`@modelcontextprotocol/client` 2.4.0: `Client` over `StreamableHTTPClientTransport`
// with its default fetch) per target, one session kept per target, `listTools()` every interval (first
// call spread over one interval), nothing else: no metrics, no state, no alerts. Run as a child
// process by agent-fleet.ts so its CPU and RSS are its own:
//
//   node dist/bench/sdk-loop.js URLS_FILE --era legacy|modern [--interval-ms 10000]
//
// URLS_FILE holds a JSON array of URLs. legacy: the client's default negotiation (a 2025 initialize);
// modern: pinned to 2026-07-28. listTools() is called with `cacheMode: 'bypass'` so that every call
// reaches its server (the v2 client would otherwise answer from its cache while the list's ttlMs
// lasts, and the loop would do less work than a check). Prints `ready N` once every client is
// connected (or failed), then answers lines on stdin: `mark` starts a window, `report` prints
// `{"checks":…,"failures":…,"p50":…,"p95":…,"mean":…}` (ms) for the window.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import pLimit from 'p-limit';
import { arg, quantile } from './agent-harness.js';

const file = process.argv[2];
const era = arg('era', 'legacy');
const intervalMs = Number(arg('interval-ms', '10000'));
if (!file || (era !== 'legacy' && era !== 'modern') || !(intervalMs > 0)) {
  process.stderr.write('usage: node dist/bench/sdk-loop.js URLS_FILE --era legacy|modern [--interval-ms 10000]\n');
  process.exit(2);
}
const urls = JSON.parse(readFileSync(file, 'utf8')) as string[];

let latencies: number[] = [];
let failures = 0;
let stopping = false;

async function connect(url: string): Promise<Client | undefined> {
  const client = new Client({ name: 'sdk-loop', version: '1.0.0' }, { capabilities: {}, versionNegotiation: { mode: era === 'modern' ? { pin: '2026-07-28' } : 'legacy' } });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    return client;
  } catch (err) {
    process.stderr.write(`connect ${url}: ${String(err)}\n`);
    return undefined;
  }
}

function loop(client: Client): void {
  const tick = async (): Promise<void> => {
    if (stopping) return;
    const t = performance.now();
    try {
      await client.listTools(undefined, { cacheMode: 'bypass' });
      latencies.push(performance.now() - t);
    } catch {
      failures++;
    }
    setTimeout(() => void tick(), Math.max(0, intervalMs - (performance.now() - t)));
  };
  setTimeout(() => void tick(), Math.random() * intervalMs);
}

const limit = pLimit(50);
const clients = await Promise.all(urls.map((u) => limit(() => connect(u))));
for (const c of clients) if (c) loop(c);
process.stdout.write(`ready ${clients.filter(Boolean).length}\n`);

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line === 'mark') {
    latencies = [];
    failures = 0;
  } else if (line === 'report') {
    const mean = latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length);
    process.stdout.write(`${JSON.stringify({ checks: latencies.length, failures, p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), mean })}\n`);
  }
});
lines.on('close', () => {
  stopping = true;
  void Promise.allSettled(clients.map((c) => c?.close())).then(() => process.exit(0));
});
