// What forwarding costs beyond sending, per 512-span batch of the MCP tool calls otlp-ingest sends:
// gzip (exporters.otlp.compression, default gzip) at zlib's level 1, which the HTTP forwarder uses,
// and 6, zlib's default, which grpc-js uses; and re-encoding an OTLP/JSON batch as protobuf for a
// gRPC backend (src/export/transcode.ts), which runs on the event loop. Prints figures only.
//
//   npm run build && node dist/bench/forward-cost.js [rounds=20]
import { gzipSync } from 'node:zlib';
import { jsonToProtobuf } from '../src/export/transcode.js';
import { toolCallBatch } from './mcp-spans.js';

const ROUNDS = Number(process.argv[2] ?? 20);
const batches = Array.from({ length: 16 }, (_, b) => toolCallBatch(b));
const raw = batches.reduce((n, b) => n + b.length, 0);
console.log(`${batches.length} batches × 512 spans, ${(raw / batches.length / 1024).toFixed(0)} KiB a batch; ${ROUNDS} rounds; node ${process.version}`);
for (const level of [1, 6]) {
  for (const b of batches) gzipSync(b, { level }); // warm-up
  let out = 0;
  const t0 = process.cpuUsage();
  for (let r = 0; r < ROUNDS; r++) for (const b of batches) out += gzipSync(b, { level }).length;
  const cpu = process.cpuUsage(t0);
  const ms = (cpu.user + cpu.system) / 1000;
  const n = ROUNDS * batches.length;
  console.log(
    `level ${level}: ${((raw * ROUNDS) / out).toFixed(2)}× smaller, ${(ms / n).toFixed(2)} ms of CPU a batch ` +
      `(${((raw * ROUNDS) / 2 ** 20 / (ms / 1000)).toFixed(0)} MiB/s); at 10k spans/s ${((100 * (ms / n) * (10_000 / 512)) / 1000).toFixed(1)} % of a core`,
  );
}

const json = Array.from({ length: 16 }, (_, b) => toolCallBatch(b, 512, 'json'));
for (const body of json) jsonToProtobuf('traces', body); // warm-up
const t0 = process.cpuUsage();
for (let r = 0; r < ROUNDS; r++) for (const body of json) jsonToProtobuf('traces', body);
const cpu = process.cpuUsage(t0);
const ms = (cpu.user + cpu.system) / 1000 / (ROUNDS * json.length);
console.log(
  `OTLP/JSON → protobuf: ${(json.reduce((n, b) => n + b.length, 0) / json.length / 1024).toFixed(0)} KiB of JSON a batch, ${ms.toFixed(2)} ms of CPU a batch; ` +
    `at 10k spans/s ${((100 * ms * (10_000 / 512)) / 1000).toFixed(1)} % of a core`,
);
