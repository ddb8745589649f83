// pipeline/waves.ts decides the order of a one-shot probe round (`mcpwatch health`). Starting stdio
// servers (node, npx, python: hundreds of ms of CPU each) alongside HTTP probes made the HTTP
// latencies read 3–5× high on a small machine: the remote servers are probed first, on their own,
// and the stdio servers after them. Each wave still runs in parallel up to the concurrency limit.
import type { TransportName } from '../config/schema.js';

export function probeWaves<T extends { transport: TransportName }>(servers: readonly T[]): T[][] {
  const remote = servers.filter((s) => s.transport !== 'stdio');
  const stdio = servers.filter((s) => s.transport === 'stdio');
  return [remote, stdio].filter((w) => w.length > 0);
}
