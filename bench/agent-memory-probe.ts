// Runs the mcpwatch CLI in this process and writes `MCPWATCH_MEM {json}` lines to stderr every second:
// process.memoryUsage() (to split the agent's RSS into JS heap, external and the rest) and counters
// from diagnostics_channel: TCP client sockets opened (`net.client.socket`), undici connections
// (`undici:client:connected`) and undici requests (`undici:request:create`). Only for diagnosis: the
// agent benchmarks measure the plain CLI unless asked (--memory).
//
//   node dist/bench/agent-memory-probe.js run -c FILE      (same arguments as dist/src/cli/main.js)
import { subscribe } from 'node:diagnostics_channel';
import { PerformanceObserver, constants as perf } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

const counts = { connects: 0, undiciConnects: 0, requests: 0 };
subscribe('net.client.socket', () => counts.connects++);
subscribe('undici:client:connected', () => counts.undiciConnects++);
subscribe('undici:request:create', () => counts.requests++);

/** Garbage collections so far by kind: the old generation grows between mark-compacts. */
const gcs = { minor: 0, major: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
    if (kind === perf.NODE_PERFORMANCE_GC_MAJOR) gcs.major++;
    else if (kind === perf.NODE_PERFORMANCE_GC_MINOR) gcs.minor++;
  }
}).observe({ entryTypes: ['gc'] });

const timer = setInterval(() => {
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }]));
  process.stderr.write(`MCPWATCH_MEM ${JSON.stringify({ t: Date.now(), rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, ...counts, ...gcs, spaces })}\n`);
}, 1000);
timer.unref();
await import('../src/cli/main.js');
