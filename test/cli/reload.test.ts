// SIGHUP with files that are not what the operator meant: the agent keeps its configuration (and
// its servers' processes) and says why; only an explicit `servers: []` removes every server.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, STDIO_FIXTURE, until } from '../helpers.js';
import { descendants, startAgent } from '../fixtures/agent-process.js';

const HEAD = (dir: string): string => `monitoring: { interval: 30s, timeout: 3s }
exporters: { prometheus: null }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: null }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
`;

describe('reloads that would remove every server', () => {
  it('keeps the configuration on an empty or half-written file; removes all servers on `servers: []`', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-reload-'));
    const file = join(dir, 'mcpwatch.yaml');
    writeFileSync(file, `${HEAD(dir)}servers:\n  - { name: keep, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, ok] }\n`);
    const agent = startAgent(file);
    t.after(() => void (agent.proc.exitCode === null && agent.proc.kill('SIGKILL')));
    await agent.waitLog(/first probe round done: ready/);
    const kids = descendants(agent.proc.pid!);
    assert.ok(kids.length > 0);
    const failures = (): number => agent.logs.filter((l) => l.includes('reload failed: keeping the previous configuration')).length;

    writeFileSync(file, '');
    agent.proc.kill('SIGHUP');
    assert.match(await agent.waitLog(/reload failed: keeping the previous configuration/), /the file is empty/);

    // What a `cp` caught half-way leaves: valid YAML that stops before `servers:`.
    writeFileSync(file, HEAD(dir));
    agent.proc.kill('SIGHUP');
    while (failures() < 2) await agent.waitLog(/this reload would remove all 1 server/);
    assert.ok(kids.every(alive), 'the server kept its process');
    assert.ok(!agent.logs.some((l) => l.includes('stopped monitoring')));

    writeFileSync(file, `${HEAD(dir)}servers: []\n`);
    agent.proc.kill('SIGHUP');
    await agent.waitLog(/"servers":0,.*"msg":"configuration reloaded"/);
    await agent.waitLog(/"server":"keep".*stopped monitoring: removed from the configuration/);
    agent.proc.kill('SIGTERM');
    assert.equal((await agent.exit).code, 0);
    // Signalled before the agent exits; the kernel may take a moment to reap.
    await until(() => !kids.some(alive), 'every removed server reaped');
  });
});

describe('a reload that changes how a server is reached', () => {
  it('logs a new session for it, not that monitoring stopped', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-reload-'));
    const file = join(dir, 'mcpwatch.yaml');
    const server = (mode: string): string => `servers:\n  - { name: moved, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, ${mode}] }\n`;
    writeFileSync(file, `${HEAD(dir)}${server('ok')}`);
    const agent = startAgent(file);
    t.after(() => void (agent.proc.exitCode === null && agent.proc.kill('SIGKILL')));
    await agent.waitLog(/first probe round done: ready/);

    writeFileSync(file, `${HEAD(dir)}${server('paginated')}`);
    agent.proc.kill('SIGHUP');
    await agent.waitLog(/"server":"moved".*new session: connection settings changed/);
    await agent.waitLog(/"msg":"configuration reloaded"/);
    assert.ok(!agent.logs.some((l) => l.includes('stopped monitoring')), 'the server is still monitored');
    agent.proc.kill('SIGTERM');
    assert.equal((await agent.exit).code, 0);
  });
});
