// One unset ${env:…} belongs to its server alone: health, run and scorecard report that server as
// config_error (naming the variable) and probe the others; validate still fails on it; run says so
// at start and counts it down at its first check. One outside what a command reads (a notifier's URL
// for health) is a warning for that command.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig, readConfig } from '../../src/config/load.js';
import { CLI, STDIO_FIXTURE } from '../helpers.js';
import { startAgent } from '../fixtures/agent-process.js';

const TEXT = `servers:
  - { name: good, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, ok] }
  - name: github
    transport: streamable_http
    url: https://api.example.com/mcp
    headers: { Authorization: "Bearer \${env:MCPWATCH_TEST_UNSET_TOKEN}" }
    tags: [team:dev]
`;

function run(args: string[], unset: string[] = ['MCPWATCH_TEST_UNSET_TOKEN'], set: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, ...set };
  for (const name of unset) delete env[name];
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

describe('an unset ${env:…} in one server', () => {
  let dir: string;
  let file: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcpwatch-isolate-'));
    file = join(dir, 'mcpwatch.yaml');
    writeFileSync(file, TEXT);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('parses with that server marked, the others intact; strict parsing still fails', () => {
    const config = parseConfig(TEXT, 'mcpwatch.yaml', {}, { isolateServerEnv: true });
    assert.deepEqual(config.servers.map((s) => s.name), ['good', 'github']);
    const github = config.servers[1] as { config_error?: string; tags: string[] };
    assert.match(github.config_error ?? '', /^environment variable MCPWATCH_TEST_UNSET_TOKEN \(servers\[1\]\.headers\.Authorization, line 6\) not set/);
    assert.deepEqual(github.tags, ['team:dev']);
    assert.equal((config.servers[0] as { config_error?: string }).config_error, undefined);
    assert.throws(() => parseConfig(TEXT, 'mcpwatch.yaml', {}), ConfigError);
  });

  it('health probes the others and reports this one as config_error; validate exits 2', async () => {
    const h = await run(['health', '-c', file, '--json']);
    assert.equal(h.code, 1, h.stderr);
    const rows = (JSON.parse(h.stdout) as { servers: Array<{ name: string; status: string; error: { type: string; category: string; message: string } | null }> }).servers;
    assert.deepEqual(rows.map((r) => [r.name, r.status, r.error?.type ?? null]), [['good', 'up', null], ['github', 'down', 'config_error']]);
    assert.equal(rows[1]!.error!.category, 'permanent');
    assert.match(rows[1]!.error!.message, /MCPWATCH_TEST_UNSET_TOKEN/);
    const v = await run(['validate', '-c', file]);
    assert.equal(v.code, 2);
    assert.match(v.stderr, /servers\[1\]\.headers\.Authorization: environment variable MCPWATCH_TEST_UNSET_TOKEN is not set/);
  });

  it('run warns at start naming each such server and its variable, and has it down at its first check, whatever its transport or connection mode', async () => {
    const config = join(dir, 'run.yaml');
    // Far more failures before down than the agent can count here: only a failure that counts at
    // once (as a spawn_failed does) has these servers down when the first round is done.
    writeFileSync(
      config,
      `monitoring: { interval: 30s, timeout: 60s, consecutive_failures_before_down: 1000 }
exporters: { prometheus: { endpoint: "127.0.0.1:0" } }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: null }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
${TEXT}  - name: search
    transport: streamable_http
    url: "\${env:MCPWATCH_TEST_UNSET_URL}"
    fresh_connection: true
  - { name: local, transport: stdio, command: "\${env:MCPWATCH_TEST_UNSET_BIN}" }
`,
    );
    const agent = startAgent(config, { env: { MCPWATCH_TEST_UNSET_TOKEN: undefined, MCPWATCH_TEST_UNSET_URL: undefined, MCPWATCH_TEST_UNSET_URL2: undefined, MCPWATCH_TEST_UNSET_BIN: undefined } });
    await agent.waitLog(/first probe round done: ready/);
    const entries = agent.logs.flatMap((l) => {
      try {
        return [JSON.parse(l) as { level: number; msg: string; server?: string; error_type?: string; health?: string; config?: string; problems?: unknown }];
      } catch {
        return [];
      }
    });
    const started = entries.findIndex((e) => e.msg === 'mcpwatch agent started');
    assert.ok(started >= 0, agent.logs.join('\n'));
    for (const [server, variable] of [['github', 'MCPWATCH_TEST_UNSET_TOKEN'], ['search', 'MCPWATCH_TEST_UNSET_URL'], ['local', 'MCPWATCH_TEST_UNSET_BIN']]) {
      const i = entries.findIndex((e) => e.server === server && e.level === 40 && e.error_type === 'config_error');
      assert.ok(i >= 0 && i < started, `a warning for ${server} before the agent says it started:\n${agent.logs.join('\n')}`);
      // The text health prints for it.
      assert.match(entries[i]!.msg, new RegExp(`^environment variable ${variable} \\(servers\\[\\d\\]\\.[a-z.A-Z]+, line \\d+\\) not set: this server is not probed until it is`));      // And as fields, for a log query: the file, and each key, line and variable.
      assert.equal(entries[i]!.config, config);
    }
    assert.deepEqual(entries.filter((e) => e.error_type === 'config_error').map((e) => e.problems), [
      [{ key: 'servers[1].headers.Authorization', line: 11, variable: 'MCPWATCH_TEST_UNSET_TOKEN' }],
      [{ key: 'servers[2].url', line: 15, variable: 'MCPWATCH_TEST_UNSET_URL' }],
      [{ key: 'servers[3].command', line: 17, variable: 'MCPWATCH_TEST_UNSET_BIN' }],
    ]);
    const ready = await fetch(`http://${entries[started]!.health}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual((await ready.json()) as unknown, { status: 'ready', servers: { good: 'up', github: 'down', search: 'down', local: 'down' } });
    // A reload that changes why a server cannot be used says so again; one that changes nothing, not.
    writeFileSync(config, readFileSync(config, 'utf8').replace('MCPWATCH_TEST_UNSET_URL', 'MCPWATCH_TEST_UNSET_URL2'));
    agent.proc.kill('SIGHUP');
    await agent.waitLog(/"msg":"configuration reloaded"/);
    const warned = agent.logs.filter((l) => l.includes('"error_type":"config_error"'));
    assert.equal(warned.length, 4, warned.join('\n'));
    assert.match(warned[3]!, /"server":"search".*environment variable MCPWATCH_TEST_UNSET_URL2 /);
    agent.proc.kill('SIGTERM');
    assert.equal((await agent.exit).code, 0);
  });
});

// A production file names secrets that only `run` uses (a Slack webhook, an exporter's API key, a
// pod-specific state path): health and scorecard use none of them, so they must not need them set.
const RUN_ONLY = `alerts:
  - type: slack
    webhook_url: \${env:MCPWATCH_TEST_UNSET_SLACK}
exporters:
  otlp: { endpoint: "\${env:MCPWATCH_TEST_UNSET_OTLP}" }
state: { path: "./state-\${env:MCPWATCH_TEST_UNSET_POD}.db" }
servers:
  - { name: good, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, ok] }
`;

describe('an unset ${env:…} in a section the command does not read', () => {
  let dir: string;
  let file: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcpwatch-unread-'));
    file = join(dir, 'mcpwatch.yaml');
    writeFileSync(file, RUN_ONLY);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is a warning naming the variable, and the section keeps its defaults; checked as usual when set', () => {
    const { config, warnings } = readConfig(RUN_ONLY, 'm.yaml', {}, { probeOnly: true });
    assert.deepEqual(config.alerts.map((a) => a.type), ['stdout']);
    assert.equal(config.exporters.otlp, undefined);
    assert.deepEqual(warnings.map((w) => [w.path, w.line]), [['alerts[0].webhook_url', 3], ['exporters.otlp.endpoint', 5], ['state.path', 6]]);
    assert.match(warnings[0]!.message, /^environment variable MCPWATCH_TEST_UNSET_SLACK is not set: this command does not use alerts/);
    const scorecard = readConfig(RUN_ONLY, 'm.yaml', { MCPWATCH_TEST_UNSET_POD: 'a' }, { reads: ['monitoring', 'servers', 'state'] });
    assert.equal(scorecard.config.state.path, './state-a.db');
    assert.deepEqual(scorecard.warnings.map((w) => w.path), ['alerts[0].webhook_url', 'exporters.otlp.endpoint']);
    assert.throws(() => parseConfig(RUN_ONLY, 'm.yaml', {}, { reads: ['servers', 'alerts'] }), ConfigError);
    // Set, the section is read and checked like any other: a bad value is still an error.
    const env = { MCPWATCH_TEST_UNSET_SLACK: 'not a url', MCPWATCH_TEST_UNSET_OTLP: 'http://collector:4317', MCPWATCH_TEST_UNSET_POD: 'a' };
    assert.throws(() => parseConfig(RUN_ONLY, 'm.yaml', env, { probeOnly: true }), (err: unknown) => err instanceof ConfigError && /alerts\[0\]\.webhook_url/.test(err.message));
  });

  it('health probes and exits 0, scorecard runs; validate and run still exit 2', async () => {
    const clean = (args: string[]) => run(args, ['MCPWATCH_TEST_UNSET_SLACK', 'MCPWATCH_TEST_UNSET_OTLP', 'MCPWATCH_TEST_UNSET_POD']);
    const h = await clean(['health', '-c', file, '--json']);
    assert.equal(h.code, 0, h.stderr);
    assert.deepEqual((JSON.parse(h.stdout) as { servers: Array<{ name: string; status: string }> }).servers.map((s) => [s.name, s.status]), [['good', 'up']]);
    assert.match(h.stderr, /warning: .*alerts\[0\]\.webhook_url: environment variable MCPWATCH_TEST_UNSET_SLACK is not set/);
    // The scorecard reads state.path: that variable it needs.
    const s = await run(['scorecard', '-c', file, '--json'], ['MCPWATCH_TEST_UNSET_SLACK', 'MCPWATCH_TEST_UNSET_OTLP'], { MCPWATCH_TEST_UNSET_POD: 'a' });
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stderr, /MCPWATCH_TEST_UNSET_OTLP is not set: this command does not use exporters/);
    assert.equal((await clean(['scorecard', '-c', file])).code, 2);
    for (const cmd of ['validate', 'run']) {
      const r = await clean([cmd, '-c', file]);
      assert.equal(r.code, 2, `${cmd}: ${r.stderr}`);
      assert.match(r.stderr, /alerts\[0\]\.webhook_url: environment variable MCPWATCH_TEST_UNSET_SLACK is not set/);
    }
  });
});
