// Runs every benchmark in sequence, each in its own Node process: `npm run bench`
// (= `npm run build && node dist/bench/run.js`). Benchmarks print figures; none passes or fails on
// time. The exit code is non-zero only if a benchmark crashed.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const BENCHES = ['probe-overhead.js', 'http-client-cost.js', 'health-fleet.js', 'otlp-decode.js', 'otlp-ingest.js', 'forward-cost.js', 'agent-fleet.js', 'alert-latency.js'];

function run(file: string): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { stdio: 'inherit' });
    child.on('error', () => resolve(null));
    child.on('exit', (code, signal) => resolve(signal ? null : code));
  });
}

const failed: string[] = [];
for (const name of BENCHES) {
  const file = fileURLToPath(new URL(name, import.meta.url));
  if (!existsSync(file)) {
    console.log(`\n# ${name}: not built (no ${file}), skipped`);
    continue;
  }
  console.log(`\n# ${name}\n`);
  const started = performance.now();
  const code = await run(file);
  console.log(`\n# ${name}: ${code === 0 ? 'done' : `FAILED (exit ${String(code)})`} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (code !== 0) failed.push(name);
}
if (failed.length) {
  console.log(`\nbenchmarks that crashed: ${failed.join(', ')}`);
  process.exitCode = 1;
}
