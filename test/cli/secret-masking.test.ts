// Servers that repeat the credentials they were configured with: a tool result showing its
// environment, a tool error quoting its key, a stderr line before the process dies, a gateway's error
// body echoing the Authorization and API-key headers. Every secret is then searched for in every
// channel mcpwatch writes: `health --json` and its table, the agent's log, stdout alerts, webhook
// payloads, the state file, /api/v1/servers and /metrics.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI, STDIO_FIXTURE, stateFileBytes } from '../helpers.js';
import { startAgent } from '../fixtures/agent-process.js';
import { startHttpFixture } from '../fixtures/http-server.js';
import { webhookReceiver } from '../fixtures/webhook.js';

const run = promisify(execFile);

/** What the environment gives the configuration's references, and one header written literally. */
const ENV = { API_KEY: 'abcd1234secretXYZ', GATEWAY_TOKEN: 'gw-token-9c1e77' };
const LITERAL_KEY = 'literal-key-5f3a9';
const SECRETS = [ENV.API_KEY, ENV.GATEWAY_TOKEN, LITERAL_KEY];

function leaks(text: string): string[] {
  // Any eight characters of a secret in a row: a secret cut short by a message's truncation is one too.
  return SECRETS.filter((s) => [...Array(s.length - 7).keys()].some((i) => text.includes(s.slice(i, i + 8))));
}

function writeConfig(dir: string, gatewayUrl: string, agent: string): string {
  const file = join(dir, 'mcpwatch.yaml');
  const stdio = (mode: string): string => `command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, ${mode}]`;
  writeFileSync(
    file,
    `${agent}servers:
  - name: leaky
    transport: stdio
    ${stdio('leaky').replace(', args', '\n    args')}
    env: { API_KEY: "\${env:API_KEY}" }
    checks:
      - { name: env, tool: get-env, expect: { text_contains: nope } }
      - { name: whoami, tool: whoami }
  - { name: leaky-exit, transport: stdio, ${stdio('leaky-exit')}, env: { API_KEY: "\${env:API_KEY}" } }
  - name: gateway
    transport: streamable_http
    url: "${gatewayUrl}"
    headers: { Authorization: "Bearer \${env:GATEWAY_TOKEN}", X-Api-Key: "${LITERAL_KEY}" }
`,
  );
  return file;
}

describe('no configured secret that a server repeats reaches any output', () => {
  it('health --json and the health table', async (t) => {
    const gateway = await startHttpFixture('echo-credentials-502');
    t.after(() => gateway.close());
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-secrets-'));
    const config = writeConfig(dir, gateway.url, '');
    const env = { ...process.env, ...ENV };
    const json = await run(process.execPath, [CLI, 'health', '-c', config, '--json'], { env }).catch((e: { stdout: string; stderr: string }) => e);
    const parsed = JSON.parse(json.stdout) as { servers: Array<{ name: string; error: { message: string } | null; checks?: Array<{ name: string; error: { type: string; message: string } | null }> }> };
    const byName = new Map(parsed.servers.map((s) => [s.name, s]));
    // What each server said is still there, with the secret masked in it.
    const checks = byName.get('leaky')!.checks!;
    assert.match(checks.find((c) => c.name === 'env')!.error!.message, /"API_KEY": "\*\*\*"/);
    assert.equal(checks.find((c) => c.name === 'whoami')!.error!.type, 'tool_error');
    assert.match(checks.find((c) => c.name === 'whoami')!.error!.message, /upstream refused the key \*\*\*/);
    assert.match(byName.get('leaky-exit')!.error!.message, /login failed with key \*\*\*/);
    assert.match(byName.get('gateway')!.error!.message, /"authorization":"\*\*\*".*"x-api-key":"\*\*\*"/);
    assert.deepEqual(leaks(json.stdout + json.stderr), [], 'health --json');

    const table = await run(process.execPath, [CLI, 'health', '-c', config], { env }).catch((e: { stdout: string; stderr: string }) => e);
    assert.match(table.stdout, /leaky-exit/);
    assert.deepEqual(leaks(table.stdout + table.stderr), [], 'health table');
  });

  it('a short value a credential reference holds, and the arguments of a command line one variable holds, as spawn_failed quotes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-secrets-'));
    const config = join(dir, 'mcpwatch.yaml');
    writeFileSync(
      config,
      `servers:
  - { name: short, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, leaky-exit], env: { API_KEY: "\${env:SHORT_KEY}" } }
  - { name: line, transport: stdio, command: "\${env:MCP_LINE}" }
`,
    );
    const env = { ...process.env, SHORT_KEY: 'k9', MCP_LINE: 'no-such-mcp-server --api-key sk-line-4e1d' };
    const out = await run(process.execPath, [CLI, 'health', '-c', config, '--json'], { env }).catch((e: { stdout: string }) => e);
    const messages = (JSON.parse(out.stdout) as { servers: Array<{ error: { message: string } }> }).servers.map((s) => s.error.message);
    assert.equal(messages[0], 'exited with code 1: fatal: login failed with key ***');
    assert.equal(messages[1], 'cannot start "no-such-mcp-server ***": command not found (ENOENT)');
  });

  it('run: the log, stdout alerts, webhook payloads, the state file, /api/v1/servers and /metrics', async (t) => {
    const gateway = await startHttpFixture('echo-credentials-502');
    t.after(() => gateway.close());
    const hook = await webhookReceiver();
    t.after(() => hook.close());
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-secrets-'));
    const config = writeConfig(
      dir,
      gateway.url,
      `monitoring: { interval: 1s, timeout: 30s, consecutive_failures_before_down: 1 }
exporters: { prometheus: { endpoint: "127.0.0.1:0" } }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: null }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
log: { level: debug }
alerts:
  - { type: stdout }
  - { type: webhook, url: "${hook.url}" }
`,
    );
    const agent = startAgent(config, { env: ENV });
    const started = JSON.parse(await agent.waitLog(/mcpwatch agent started/)) as { health: string; metrics: string };
    // The alerts carry what the servers said, masked. Each failing check is an alert of its own,
    // delivered apart: the leaky server's `env` may arrive well before its `whoami`.
    const said = [/upstream refused the key \*\*\*/, /login failed with key \*\*\*/, /authorization\\+":\\+"\*\*\*/];
    await agent.waitUntil(() => said.every((re) => re.test(JSON.stringify(hook.events))), 'the alerts that quote each server');
    const payloads = JSON.stringify(hook.events);

    const view = await (await fetch(`http://${started.health}/api/v1/servers`)).text();
    assert.match(view, /login failed with key \*\*\*/);
    const metrics = await (await fetch(`http://${started.metrics}/metrics`)).text();
    agent.proc.kill('SIGTERM');
    assert.equal((await agent.exit).code, 0);

    assert.deepEqual(leaks(payloads), [], 'webhook payloads');
    assert.deepEqual(leaks(view), [], '/api/v1/servers');
    assert.deepEqual(leaks(metrics), [], '/metrics');
    assert.ok(agent.stdout.some((l) => l.includes('leaky-exit')), 'stdout carries the alerts');
    assert.deepEqual(leaks(agent.stdout.join('\n')), [], 'stdout alerts');
    assert.ok(agent.logs.some((l) => l.includes('login failed with key ***')), 'the log carries the failures');
    assert.deepEqual(leaks(agent.logs.join('\n')), [], 'log');
    const stored = stateFileBytes(dir);
    assert.ok(stored.includes('login failed with key ***'), 'the state file holds the incident causes');
    assert.deepEqual(leaks(stored), [], 'state file');
  });
});
