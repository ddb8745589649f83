// How long parsing a configuration takes, by size, and how long the event loop stalls while a reload
// parses it on the event loop (loadConfigFile) or on a worker thread (loadConfigOffThread, what
// `mcpwatch run` does on SIGHUP). Prints figures; `node dist/bench/config-parse.js`.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfigFile } from '../src/config/load.js';
import { loadConfigOffThread } from '../src/config/off-thread.js';

const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-bench-config-'));

function write(n: number): string {
  let s = 'servers:\n';
  for (let i = 0; i < n; i++) s += `  - { name: s${i}, transport: streamable_http, url: "http://127.0.0.1:1/mcp", tags: [a, b, "team:x"], headers: { X-Id: "v${i}" } }\n`;
  const file = join(dir, `c${n}.yaml`);
  writeFileSync(file, s);
  return file;
}

async function stall(load: () => unknown): Promise<number> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  // The histogram measures each tick against the one before: let it tick before the load starts.
  await new Promise((r) => setTimeout(r, 30));
  await load();
  await new Promise((r) => setTimeout(r, 20));
  h.disable();
  return h.max / 1e6;
}

console.log('| servers | bytes | parse on the loop (ms, median of 3) | loop stall, on the loop (ms) | loop stall, worker thread (ms) |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const n of [30, 300, 3000, 6500]) {
  const file = write(n);
  const bytes = (await import('node:fs')).statSync(file).size;
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    loadConfigFile(file, {});
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const onLoop = await stall(() => loadConfigFile(file, {}));
  const offLoop = await stall(() => loadConfigOffThread(file, {}));
  console.log(`| ${n} | ${bytes} | ${times[1]!.toFixed(0)} | ${onLoop.toFixed(0)} | ${offLoop.toFixed(0)} |`);
}
