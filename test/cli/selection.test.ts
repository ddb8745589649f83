// health's server selection: a selection that names nothing is a usage error (exit 2), as an
// unknown --server always was, never "0/0 up" with exit 0.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownServers } from '../../src/pipeline/shard.js';
import { startAgent } from '../fixtures/agent-process.js';
import { CLI } from '../helpers.js';

function mcpwatch(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1' }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('mcpwatch health: selections', () => {
  let dir: string;
  let config: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcpwatch-select-'));
    config = join(dir, 'mcpwatch.yaml');
    // Nothing listens on port 9: nothing here is probed when the selection is refused.
    writeFileSync(config, 'servers:\n  - { name: a, transport: streamable_http, url: "http://127.0.0.1:9/mcp", tags: [team:data] }\n  - { name: b, transport: streamable_http, url: "http://127.0.0.1:9/mcp", tags: [prod] }\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--tag that no server has is a usage error naming the tags in use', async () => {
    const r = await mcpwatch(['health', '-c', config, '--tag', 'nosuch', '--json']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /--tag: no server has the tag "nosuch" \(tags in use: team:data, prod\)/);
  });

  it('tags that exist but select nothing together are a usage error too', async () => {
    const r = await mcpwatch(['health', '-c', config, '--tag', 'team:data', '--tag', 'prod', '--json']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'no server matches every --tag\n');
    const both = await mcpwatch(['health', '-c', config, '--server', 'a', '--tag', 'prod', '--json']);
    assert.equal(both.code, 2);
    assert.equal(both.stderr, 'no server matches all of --server and --tag together\n');
  });

  it('a configuration without servers is said plainly and exits 2, not "0/0 up" with exit 0', async () => {
    const empty = join(dir, 'empty.yaml');
    writeFileSync(empty, 'servers: []\n');
    const passive = join(dir, 'passive.yaml');
    writeFileSync(passive, 'monitoring: { timeout: 5s }\n');
    for (const [file, args] of [[empty, []], [empty, ['--json']], [passive, []], [empty, ['--server', 'a']]] as const) {
      const r = await mcpwatch(['health', '-c', file, ...args]);
      const name = file === empty ? 'empty.yaml' : 'passive.yaml';
      assert.deepEqual([r.code, r.stdout, r.stderr], [2, '', `${name} configures no servers: nothing to probe\n`], args.join(' '));
    }
  });

  it('--shard with a shard that has none of the servers says so, with each shard\'s count, and exits 2', async () => {
    const sharded = join(dir, 'sharded.yaml');
    writeFileSync(sharded, `sharding: { shards: 4, shard: 0 }\n${readFileSync(config, 'utf8')}`);
    const counts = [0, 1, 2, 3].map((shard) => ownServers([{ name: 'a' }, { name: 'b' }], { shards: 4, shard }).length);
    const empty = counts.indexOf(0);
    const r = await mcpwatch(['health', '-c', sharded, '--shard', String(empty), '--json']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [2, '', `--shard: shard ${empty} of 4 has none of the 2 servers (by shard: ${counts.join(', ')}): its agent probes nothing\n`]);
    // --tag prod selects b alone: any shard but b's has none of it.
    const onlyB = [0, 1, 2, 3].map((shard) => ownServers([{ name: 'b' }], { shards: 4, shard }).length);
    const withoutB = onlyB.indexOf(0);
    const tagged = await mcpwatch(['health', '-c', sharded, '--shard', String(withoutB), '--tag', 'prod']);
    assert.deepEqual([tagged.code, tagged.stderr], [2, `--shard: shard ${withoutB} of 4 has none of the one server --tag selects (by shard: ${onlyB.join(', ')}): its agent probes nothing\n`]);
  });

  it('--from an agent that monitors no servers (an OTLP-only agent) says so and exits 2', async () => {
    const file = join(dir, 'agent.yaml');
    writeFileSync(
      file,
      `servers: []\nstate: { path: ${JSON.stringify(join(dir, 'state.db'))} }\nhealth: { endpoint: "127.0.0.1:0" }\nexporters: { prometheus: null }\nreceivers: { otlp: { grpc: null, http: { endpoint: "127.0.0.1:0" } } }\n`,
    );
    const agent = startAgent(file);
    const started = JSON.parse(await agent.waitLog(/mcpwatch agent started/)) as { health: string };
    try {
      const r = await mcpwatch(['health', '--from', `http://${started.health}`]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [2, '', `the agent at http://${started.health} monitors no servers: nothing to show\n`]);
    } finally {
      agent.proc.kill('SIGTERM');
      await agent.exit;
    }
  });

  it('options that would do nothing are refused, not dropped: a bare argument, -H or --transport beside a configuration, --config beside --url or --stdio, --verbose without --json', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['health', '-c', config, 'a'], /^unexpected argument "a": select servers with --server NAME/],
      [['health', '-c', config, '-H', 'Authorization: Bearer x'], /^--header is sent to a --url target/],
      [['health', '-c', config, '--transport', 'sse'], /^--transport goes with --url/],
      [['health', '-c', config, '--url', 'http://127.0.0.1:9/mcp'], /^--config and --url are two ways/],
      [['health', '-c', config, '--stdio', '--', process.execPath, '-e', ''], /^--config and --stdio are two ways/],
      [['health', '--stdio', '-H', 'A: b', '--', process.execPath, '-e', ''], /^--header is sent to a --url target/],
      [['health', '-c', config, '--verbose'], /^--verbose adds each server's tool list to the JSON: use it with --json/],
    ];
    for (const [args, message] of cases) {
      // --json everywhere but where its absence is the mistake.
      const r = await mcpwatch(args.includes('--verbose') ? args : ['health', '--json', ...args.slice(1)]);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
  });
});
