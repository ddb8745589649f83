// Credentials planted in every kind of URL mcpwatch is given or shown, then searched for in every
// channel it writes: stdout alerts, stderr logs, webhook payloads, the state file, `health` (JSON and
// table) and `validate`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI, stateFileBytes } from '../helpers.js';
import { startAgent } from '../fixtures/agent-process.js';

const run = promisify(execFile);

const SECRETS = ['USERSECRET', 'PASSSECRET', 'QUERYSECRET1', 'QUERYSECRET2', 'LOCATIONSECRET', 'HOOKUSERSECRET', 'HOOKPASSSECRET', 'HOOKKEYSECRET'];

function leaks(text: string): string[] {
  return SECRETS.filter((s) => text.includes(s));
}

interface Target {
  url: string;
  payloads: string[];
  gotPayload(count: number): Promise<void>;
  close(): Promise<void>;
}

/** A server that redirects every MCP request to a URL with a token, records webhook payloads and answers 503 on /unavailable. */
async function startTarget(): Promise<Target> {
  const payloads: string[] = [];
  const waiters: Array<() => void> = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url?.startsWith('/unavailable')) {
        res.writeHead(503).end();
        return;
      }
      if (req.url?.startsWith('/hook')) {
        payloads.push(Buffer.concat(chunks).toString());
        for (const w of waiters.splice(0)) w();
        res.end('ok');
        return;
      }
      res.writeHead(302, { location: 'https://elsewhere.example/mcp?token=LOCATIONSECRET' });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    payloads,
    async gotPayload(count) {
      while (payloads.length < count) await new Promise<void>((r) => waiters.push(r));
    },
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

function writeConfig(dir: string, base: string, extra = ''): string {
  const file = join(dir, 'mcpwatch.yaml');
  const host = base.replace('http://', '');
  writeFileSync(
    file,
    `monitoring: { interval: 30s, timeout: 3s, consecutive_failures_before_down: 1 }
exporters: { prometheus: null }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: null }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
log: { level: debug }
alerts:
  - { type: stdout }
  - { type: webhook, url: "${base}/hook" }
  - type: webhook
    url: "http://HOOKUSERSECRET:HOOKPASSSECRET@${host}/unavailable?key=HOOKKEYSECRET"
    retry: { max_attempts: 2, initial_backoff: 10ms, max_backoff: 10ms }
servers:
  - { name: sse-creds, transport: sse, url: "http://USERSECRET:PASSSECRET@${host}/sse?token=QUERYSECRET1" }
  - { name: redirected, transport: streamable_http, url: "${base}/mcp?token=QUERYSECRET2" }
${extra}`,
  );
  return file;
}

describe('no credential from a URL reaches any output', () => {
  it('run: stdout alerts, logs, webhook payloads and the state file', async (t) => {
    const target = await startTarget();
    t.after(() => target.close());
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-redact-'));
    const agent = startAgent(writeConfig(dir, target.url));
    t.after(() => void (agent.proc.exitCode === null && agent.proc.kill('SIGKILL')));
    // Both servers down: one payload each to the capturing webhook, and the credentialed webhook
    // failed (its receiver answers 503) with a retry logged at debug and a failure at error.
    await target.gotPayload(2);
    await agent.waitLog(/"msg":"alert delivery failed".*"server":"sse-creds"|"server":"sse-creds".*"msg":"alert delivery failed"/);
    await agent.waitLog(/"msg":"alert delivery failed".*"server":"redirected"|"server":"redirected".*"msg":"alert delivery failed"/);
    await agent.waitLog(/alert delivery failed, retrying/);
    agent.proc.kill('SIGTERM');
    assert.equal((await agent.exit).code, 0);

    assert.ok(agent.stdout.some((l) => l.includes('redirected') && l.includes('elsewhere.example')), 'stdout carries the alerts');
    assert.deepEqual(leaks(agent.stdout.join('\n')), [], 'stdout');
    assert.ok(agent.logs.some((l) => l.includes('"to":"down"')), 'logs carry the transitions');
    assert.deepEqual(leaks(agent.logs.join('\n')), [], 'logs');
    assert.ok(target.payloads.some((p) => p.includes('elsewhere.example')), 'payloads name the redirect');
    assert.deepEqual(leaks(target.payloads.join('\n')), [], 'webhook payloads');
    const stored = stateFileBytes(dir);
    assert.ok(stored.includes('elsewhere.example'), 'the state file holds the incident causes');
    assert.deepEqual(leaks(stored), [], 'state file');
  });

  it('health --json, the health table and validate', async (t) => {
    const target = await startTarget();
    t.after(() => target.close());
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-redact-'));
    const config = writeConfig(dir, target.url);
    const json = await run(process.execPath, [CLI, 'health', '-c', config, '--json']).catch((e: { stdout: string; stderr: string }) => e);
    const parsed = JSON.parse(json.stdout) as { servers: Array<{ name: string; error: { message: string } | null }> };
    assert.equal(parsed.servers.length, 2);
    assert.ok(parsed.servers.every((s) => s.error !== null));
    assert.deepEqual(leaks(json.stdout + json.stderr), [], 'health --json');
    const table = await run(process.execPath, [CLI, 'health', '-c', config]).catch((e: { stdout: string; stderr: string }) => e);
    assert.match(table.stdout, /elsewhere\.example/);
    assert.deepEqual(leaks(table.stdout + table.stderr), [], 'health table');

    const bad = writeConfig(dir, target.url, '  - { name: bad, transport: streamable_http, url: "http://USERSECRET:PASSSECRET@[::zz]/?token=QUERYSECRET1" }\n');
    const validate = await run(process.execPath, [CLI, 'validate', '-c', bad]).then(
      () => assert.fail('validate accepted a malformed URL'),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    assert.equal(validate.code, 2);
    assert.match(validate.stdout + validate.stderr, /servers\[2\]\.url: must be an http\(s\) URL/);
    assert.deepEqual(leaks(validate.stdout + validate.stderr), [], 'validate');
  });
});
