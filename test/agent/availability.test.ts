// End to end: a real agent probing a real stdio server that is down for a known span of the run.
// The agent's clock is injected and moved only while nothing is in flight (the server is up and its
// next scheduled probe is a minute away, or every probe has seen it down), so the virtual spans are
// exact however slow the machine is; the probes, processes and state file are real.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { parseConfig } from '../../src/config/load.js';
import { CLI, STDIO_FIXTURE, until } from '../helpers.js';

const SEC = 1000;

function gauge(text: string, window: string): number | undefined {
  const m = new RegExp(`^mcp_server_availability\\{[^}]*mcp_server_name="gated"[^}]*window="${window}"[^}]*\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

describe('availability by time, end to end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-availability-'));
  let agent: Agent | undefined;
  after(async () => {
    await agent?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a server down for a third of the observed time shows two thirds available, in the gauge and the scorecard alike', async () => {
    const gate = join(dir, 'down');
    const script = `if [ -e ${JSON.stringify(gate)} ]; then echo "gate closed" >&2; exit 3; fi; exec ${JSON.stringify(process.execPath)} ${JSON.stringify(STDIO_FIXTURE)} ok`;
    const configFile = join(dir, 'mcpwatch.yaml');
    const text = `monitoring:
  interval: 60s
  timeout: 10s
  consecutive_failures_before_down: 2
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: null }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
  - { name: gated, transport: stdio, command: /bin/sh, args: ["-c", ${JSON.stringify(script)}] }
`;
    writeFileSync(configFile, text);
    // Virtual time an hour behind the wall clock, so the scorecard (which grades at Date.now())
    // sees every span inside its window.
    const t0 = Date.now() - 3_600_000;
    let now = t0;
    agent = new Agent({ file: configFile, text, config: parseConfig(text, configFile, {}) }, { log: pino({ level: 'silent' }), now: () => now });
    const addr = await agent.start();

    await until(() => agent!.statuses().gated === 'up', 'first probe up', 60_000);
    // Up for two minutes of virtual time, then the server dies and cannot start again.
    now = t0 + 120 * SEC;
    writeFileSync(gate, '');
    process.kill(agent.sessionPid('gated')!, 'SIGKILL');
    await until(() => agent!.statuses().gated === 'down', 'down after the kill', 60_000);
    // Down for one minute, then it starts again.
    now = t0 + 180 * SEC;
    rmSync(gate);
    await until(() => agent!.statuses().gated === 'up', 'up again', 60_000);

    const metrics = await (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text();
    const hour = gauge(metrics, '1h');
    const week = gauge(metrics, '7d');
    assert.ok(hour !== undefined && week !== undefined, `availability gauges in:\n${metrics}`);
    assert.ok(Math.abs(hour - 2 / 3) < 0.03, `1h availability ${hour}, expected about 2/3`);
    assert.equal(week, hour);

    await agent.stop();
    agent = undefined;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [CLI, 'scorecard', '-c', configFile, '--json'], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout)));
    });
    const [row] = (JSON.parse(out) as { servers: Array<{ name: string; measures: { availability_7d: number | null } }> }).servers;
    assert.equal(row?.name, 'gated');
    assert.ok(Math.abs(row.measures.availability_7d! - week) < 1e-9, `scorecard ${row.measures.availability_7d} vs gauge ${week}`);
  });
});
