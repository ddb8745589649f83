// `mcpwatch health` with configured checks on a real stdio server: the --json checks array, the
// verdict a failing check gives, Notes, the plain refusal line, and --no-checks.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, FIXTURES } from '../helpers.js';
import type { ServerJson } from '../../src/pipeline/server-view.js';

function mcpwatch(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

type JsonServer = ServerJson;

/** A stdio server entry on the modern fixture with its checks enabled; `checks` are YAML list lines. */
function stdioServer(name: string, checks: string, env = ''): string {
  return `  - name: ${name}
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(join(FIXTURES, 'modern-stdio-server.js'))}, dual]
    env: { CHECKS: "1"${env} }
    checks:
${checks}`;
}

/** `text` written as mcpwatch.yaml in a directory of its own. */
function configFile(prefix: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), prefix)), 'mcpwatch.yaml');
  writeFileSync(file, text);
  return file;
}

describe('mcpwatch health with checks', () => {
  let config: string;
  let callLog: string;
  before(() => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-health-checks-'));
    config = join(dir, 'mcpwatch.yaml');
    callLog = join(dir, 'calls.log');
    const stdio = (name: string, checks: string): string => stdioServer(name, checks, `, CALL_LOG: ${JSON.stringify(callLog)}`);
    writeFileSync(
      config,
      `monitoring: { timeout: 5s }
servers:
${stdio('passing', `      - { name: can-query, tool: query, arguments: { sql: "select 1" }, expect: { text_contains: "rows: 1", structured: { "$.rows[0].ok": true } } }
      - { name: status, resource: "fixture://status", expect: { text_contains: green } }
      - { name: unsafe, tool: write }`)}
${stdio('degraded', `      - { name: pool, tool: broken }`)}
${stdio('down', `      - { name: must-query, tool: query, expect: { structured: { "$.rows[0].n": 2 } }, on_failure: down }`)}
`,
    );
  });

  it('--json: a checks array per server, the verdict from the failing check, exit 1', async () => {
    rmSync(callLog, { force: true });
    const r = await mcpwatch(['health', '-c', config, '--json']);
    assert.equal(r.code, 1, r.stderr);
    const { servers } = JSON.parse(r.stdout) as { servers: JsonServer[] };
    assert.deepEqual(servers.map((s) => [s.name, s.status]), [['passing', 'up'], ['degraded', 'degraded'], ['down', 'down']]);
    const [passing, degraded, down] = servers as [JsonServer, JsonServer, JsonServer];
    assert.deepEqual(passing.checks.map((c) => [c.name, c.method, c.target, c.status, c.on_failure, c.error?.type ?? null]), [
      ['can-query', 'tools/call', 'query', 'pass', 'degraded', null],
      ['status', 'resources/read', 'fixture://status', 'pass', 'degraded', null],
      ['unsafe', 'tools/call', 'write', 'refused', 'degraded', 'side_effects_refused'],
    ]);
    assert.equal(typeof passing.checks[0]!.latency_ms, 'number');
    assert.equal(passing.checks[2]!.latency_ms, null);
    assert.match(passing.notes!, /check unsafe not called: tool "write" is not annotated readOnlyHint: true/);
    assert.deepEqual(degraded.checks[0]!.error, { type: 'tool_error', category: 'permanent', phase: 'tools/call', message: 'tool returned isError: "database pool exhausted"' });
    assert.equal(degraded.notes, 'check pool failed (tool_error): tool returned isError: "database pool exhausted"');
    assert.deepEqual(down.checks[0]!.error, { type: 'assertion_failed', category: 'permanent', phase: 'tools/call', message: 'structured $.rows[0].n: expected 2, got 1' });
    const calls = readFileSync(callLog, 'utf8').trim().split('\n');
    assert.deepEqual(calls.sort(), ['broken', 'query', 'query']);
  });

  it('the table: failing checks in Notes, the refusal said plainly', async () => {
    const r = await mcpwatch(['health', '-c', config]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^WARNING degraded DEGRADED — check pool failed \(tool_error\): tool returned isError: "database pool exhausted"$/m);
    assert.match(r.stdout, /^CRITICAL down DOWN — check must-query failed \(assertion_failed\): structured \$\.rows\[0\]\.n: expected 2, got 1$/m);
    assert.match(r.stdout, /^WARNING passing check unsafe not called: tool "write" is not annotated readOnlyHint: true, so it may have side effects; set allow_side_effects: true on check "unsafe" to call it anyway$/m);
    assert.match(r.stdout, /^1\/3 up$/m);
  });

  it('a degraded server\'s refused check is said once, in its line', async () => {
    const file = configFile(
      'mcpwatch-health-checks-refused-',
      `servers:
${stdioServer('degraded', '      - { name: pool, tool: broken }\n      - { name: unsafe, tool: write }')}
`,
    );
    const r = await mcpwatch(['health', '-c', file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^WARNING degraded DEGRADED — check pool failed \(tool_error\): tool returned isError: "database pool exhausted"; check unsafe not called: /m);
    const summary = r.stdout.split('\n').filter((line) => /^(WARNING|CRITICAL) /.test(line));
    assert.equal(summary.filter((line) => line.includes('check unsafe not called')).length, 1, summary.join('\n'));
  });

  it('--no-checks lists tools only: every check skipped, nothing called, exit 0', async () => {
    rmSync(callLog, { force: true });
    const r = await mcpwatch(['health', '-c', config, '--json', '--no-checks']);
    assert.equal(r.code, 0, r.stderr);
    const { servers } = JSON.parse(r.stdout) as { servers: JsonServer[] };
    assert.deepEqual(servers.map((s) => [s.status, s.checks.map((c) => c.status)]), [
      ['up', ['skipped', 'skipped', 'skipped']],
      ['up', ['skipped']],
      ['up', ['skipped']],
    ]);
    assert.ok(!existsSync(callLog), 'no tool was called');
  });

  it('--timeout is also the deadline of a check without a timeout of its own', async () => {
    // The configuration gives every probe (and so every check) two minutes; the fixture's tool answers
    // after ten. Before the fix the check kept the configured two minutes and the command was killed.
    const file = configFile(
      'mcpwatch-health-checks-timeout-',
      `monitoring: { timeout: 2m }
servers:
${stdioServer('slow', '      - { name: hangs, tool: slow, arguments: { ms: 600000 } }')}
`,
    );
    const r = await mcpwatch(['health', '-c', file, '--json', '--timeout', '5s']);
    assert.equal(r.code, 1, r.stderr);
    const [server] = (JSON.parse(r.stdout) as { servers: JsonServer[] }).servers;
    assert.equal(server!.status, 'degraded');
    // The probe's own deadline began first: it is what cuts the check.
    assert.deepEqual(server!.checks[0]!.error, { type: 'timeout', category: 'transient', phase: 'tools/call', message: 'timeout waiting for tools/call: health --timeout 5s ran out (it bounds the whole probe, checks included)' });
  });

  it('--timeout bounds the whole answer: a check with a longer timeout of its own is cut by it, and a check after it is not run', async () => {
    // Before the fix the first check waited its own two minutes, and the command was killed.
    const file = configFile(
      'mcpwatch-health-checks-own-timeout-',
      `servers:
${stdioServer('slow', `      - { name: hangs, tool: slow, arguments: { ms: 600000 }, timeout: 2m }
      - { name: after, tool: query, arguments: { sql: "select 1" } }`)}
`,
    );
    const r = await mcpwatch(['health', '-c', file, '--json', '--timeout', '5s']);
    assert.equal(r.code, 1, r.stderr);
    const [server] = (JSON.parse(r.stdout) as { servers: JsonServer[] }).servers;
    assert.equal(server!.status, 'degraded');
    assert.deepEqual(
      server!.checks.map((c) => [c.name, c.status, c.error?.type, c.error?.message]),
      [
        ['hangs', 'fail', 'timeout', "timeout waiting for tools/call: health --timeout 5s ran out (it bounds the whole probe, checks included; the check's own timeout is 2m)"],
        ['after', 'fail', 'timeout', 'not run: health --timeout 5s ran out before it (it bounds the whole probe, checks included)'],
      ],
    );
  });

  it('a server whose process exits during a check is DOWN with the exit as its cause, not DEGRADED', async () => {
    const file = configFile(
      'mcpwatch-health-checks-dies-',
      `servers:
  - name: dies
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(join(FIXTURES, 'stdio-server.js'))}, dies-on-call]
    checks:
      - { name: crash, tool: crash }
`,
    );
    const cause = 'the server went away during check crash (tools/call "crash"): exited with code 7: fatal: out of memory in crash';
    const json = await mcpwatch(['health', '-c', file, '--json']);
    assert.equal(json.code, 1, json.stderr);
    const [server] = (JSON.parse(json.stdout) as { servers: JsonServer[] }).servers;
    assert.equal(server!.status, 'down');
    assert.deepEqual(server!.error, { type: 'process_exited', category: 'transient', phase: 'tools/call', message: cause });
    assert.deepEqual(server!.checks.map((c) => [c.name, c.status, c.error?.type]), [['crash', 'fail', 'process_exited']]);
    const table = await mcpwatch(['health', '-c', file]);
    assert.equal(table.code, 1, table.stderr);
    assert.ok(table.stdout.split('\n').includes(`CRITICAL dies DOWN — ${cause}`), table.stdout);
  });

  it('validate counts the checks', async () => {
    const r = await mcpwatch(['validate', '-c', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'mcpwatch.yaml: ok, 3 servers (3 stdio), 5 checks\n');
  });
});
