// What the end-to-end pairing tests share: a real mcpwatch agent whose OTLP receivers listen on port 0
// and whose server spans wait far longer than any test for their client's (which arrives first is the
// test's choice, never the machine's speed), and the sums they read from its /metrics.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { parseConfig } from '../../src/config/load.js';
import { until } from '../helpers.js';

/** Sum of the series of `name` whose labels include all of `labels`. */
export function total(metrics: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export interface TrafficAgent {
  agent: Agent;
  metrics(): Promise<string>;
  grpcEndpoint: string;
  httpEndpoint: string;
}

/**
 * Starts an agent probing `servers` (YAML flow mappings, one a line) and waits for its first probe
 * round, which teaches it the names the servers give themselves (their own spans' service.name) and
 * their tools. `close` is called with its stop, for the test's `after`.
 */
export async function startTrafficAgent(servers: string[], close: (stop: () => Promise<unknown>) => void): Promise<TrafficAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-pairing-'));
  const text = `monitoring: { interval: 1h, timeout: 30s }
alerts: []
exporters: { prometheus: { endpoint: "127.0.0.1:0" } }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0" }, http: { endpoint: "127.0.0.1:0" }, server_span_wait: 1h } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
${servers.map((s) => `  - ${s}\n`).join('')}`;
  const agent = new Agent({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) }, { log: pino({ level: 'silent' }), stdout: { write: () => true } });
  close(() => agent.stop());
  const addr = await agent.start();
  await until(() => agent.ready, 'the first probe round');
  return {
    agent,
    metrics: async () => (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text(),
    grpcEndpoint: `127.0.0.1:${addr.otlp.grpc!.port}`,
    httpEndpoint: `127.0.0.1:${addr.otlp.http!.port}`,
  };
}
