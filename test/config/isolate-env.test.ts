// One unset ${env:…} belongs to its server alone: health, run and scorecard report that server as
// config_error (naming the variable) and probe the others; validate still fails on it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { CLI, STDIO_FIXTURE } from '../helpers.js';

const TEXT = `servers:
  - { name: good, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, ok] }
  - name: github
    transport: streamable_http
    url: https://api.example.com/mcp
    headers: { Authorization: "Bearer \${env:MCPWATCH_TEST_UNSET_TOKEN}" }
    tags: [team:dev]
`;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.MCPWATCH_TEST_UNSET_TOKEN;
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
});
