// How much starting stdio servers in the same `mcpwatch health` run distorts the HTTP servers'
// latencies: 5 Streamable HTTP fixture servers probed alone, then together with 8 stdio fixture
// servers (node processes), `--json`, median of the HTTP rows' latency_ms per run. `--cli PATH` runs
// another build's CLI (e.g. one from before the probe waves) for comparison. Prints figures only.
//
//   npm run build && node dist/bench/health-waves.js [--runs 5] [--cli path/to/dist/src/cli/main.js]
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, STDIO_FIXTURE } from '../test/helpers.js';
import { arg, load, machine, quantile } from './agent-harness.js';
import { spawnFleet } from './fixture-fleet.js';

const RUNS = Number(arg('runs', '5'));
const cli = arg('cli', CLI);

function health(file: string): Promise<Array<{ transport: string; latency_ms: number | null; status: string }>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cli, 'health', '-c', file, '--json'], { timeout: 120_000 }, (err, stdout) => {
      try {
        resolve((JSON.parse(stdout) as { servers: Array<{ transport: string; latency_ms: number | null; status: string }> }).servers);
      } catch {
        reject(err ?? new Error('no JSON'));
      }
    });
  });
}

const fleet = await spawnFleet(5);
const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-waves-'));
try {
  const http = fleet.urls.map((url, i) => `  - { name: http-${i}, transport: streamable_http, url: "${url}" }`);
  const stdio = Array.from({ length: 8 }, (_, i) => `  - { name: stdio-${i}, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, ok] }`);
  const alone = join(dir, 'alone.yaml');
  const mixed = join(dir, 'mixed.yaml');
  writeFileSync(alone, `monitoring: { timeout: 10s }\nservers:\n${http.join('\n')}\n`);
  writeFileSync(mixed, `monitoring: { timeout: 10s }\nservers:\n${[...stdio.slice(0, 4), ...http, ...stdio.slice(4)].join('\n')}\n`);
  console.log(`## health: HTTP latency with and without stdio servers starting — ${machine()}, CLI ${cli}\n`);
  for (const [label, file] of [['5 HTTP alone', alone], ['5 HTTP + 8 stdio', mixed]] as const) {
    const medians: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const rows = (await health(file)).filter((s) => s.transport === 'streamable_http' && s.latency_ms !== null);
      medians.push(quantile([...rows.map((s) => s.latency_ms!)].sort((a, b) => a - b), 0.5));
    }
    medians.sort((a, b) => a - b);
    console.log(`${label}: median of the HTTP rows' latency over ${RUNS} runs: min ${medians[0]!.toFixed(1)} ms, median ${quantile(medians, 0.5).toFixed(1)} ms, max ${medians.at(-1)!.toFixed(1)} ms`);
  }
  console.log(`\nload average at the end: ${load()}`);
} finally {
  await fleet.stop();
  rmSync(dir, { recursive: true, force: true });
}
