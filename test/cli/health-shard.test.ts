import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownServers } from '../../src/pipeline/shard.js';
import { startFleet, type FleetFixture } from '../fixtures/fleet.js';
import { CLI } from '../helpers.js';

function mcpwatch(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const NAMES = Array.from({ length: 8 }, (_, i) => `srv-${i}`);

describe('mcpwatch health and sharding', () => {
  let fleet: FleetFixture;
  let dir: string;
  let sharded: string;
  let plain: string;

  before(async () => {
    fleet = await startFleet(NAMES);
    dir = mkdtempSync(join(tmpdir(), 'mcpwatch-health-shard-'));
    const servers = ['servers:', ...NAMES.map((n) => `  - { name: ${n}, transport: streamable_http, url: "${fleet.url(n)}" }`)].join('\n');
    sharded = join(dir, 'sharded.yaml');
    writeFileSync(sharded, `monitoring: { timeout: 60s }\nsharding: { shards: 2, shard: "\${env:SHARD}" }\n${servers}\n`);
    plain = join(dir, 'plain.yaml');
    writeFileSync(plain, `monitoring: { timeout: 60s }\n${servers}\n`);
  });

  after(async () => {
    await fleet.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const names = (stdout: string): string[] => (JSON.parse(stdout) as { servers: Array<{ name: string }> }).servers.map((s) => s.name).sort();

  it('checks every server unless --shard is given, whatever the agent\'s shard', async () => {
    const run = await mcpwatch(['health', '-c', sharded, '--json'], { SHARD: '1' });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(names(run.stdout), [...NAMES].sort());
  });

  it('--shard: the configured shard\'s servers; --shard N: shard N\'s', async () => {
    const own = await mcpwatch(['health', '-c', sharded, '--json', '--shard'], { SHARD: '1' });
    assert.equal(own.code, 0, own.stderr);
    const want = (shard: number): string[] => ownServers(NAMES.map((name) => ({ name })), { shards: 2, shard }).map((s) => s.name).sort();
    assert.deepEqual(names(own.stdout), want(1));
    const other = await mcpwatch(['health', '-c', sharded, '--json', '--shard', '0'], { SHARD: '1' });
    assert.equal(other.code, 0, other.stderr);
    assert.deepEqual(names(other.stdout), want(0));
    assert.deepEqual([...names(own.stdout), ...names(other.stdout)].sort(), [...NAMES].sort(), 'the two shards split the servers');
    // The advice about attributing received spans is for agents (run, validate), not for a probe run.
    assert.doesNotMatch(own.stderr, /traffic hints/);
  });

  it('the chart\'s `ordinal: ${env:POD_NAME}` with POD_NAME unset: ignored without --shard; one error with it', async () => {
    const chart = join(dir, 'chart.yaml');
    writeFileSync(chart, `monitoring: { timeout: 60s }\nsharding: { shards: 2, ordinal: "\${env:POD_NAME}" }\nservers:\n  - { name: srv-0, transport: streamable_http, url: "${fleet.url('srv-0')}" }\n`);
    const all = await mcpwatch(['health', '-c', chart, '--json'], { POD_NAME: undefined });
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(names(all.stdout), ['srv-0']);
    const asked = await mcpwatch(['health', '-c', chart, '--json', '--shard'], { POD_NAME: undefined });
    assert.equal(asked.code, 2);
    assert.deepEqual(asked.stderr.trim().split('\n').filter((l) => l.includes('sharding')), [`chart.yaml:2: sharding.ordinal: environment variable POD_NAME is not set (give a default with \${env:POD_NAME:-value})`]);
    // Ignored is not unread: a misspelt key is still refused.
    const typo = join(dir, 'typo.yaml');
    writeFileSync(typo, `sharding: { shards: 2, ordnal: 1 }\nservers: []\n`);
    const bad = await mcpwatch(['health', '-c', typo, '--json'], { POD_NAME: undefined });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /sharding\.ordnal: unknown key/);
  });

  it('--shard N names the shard itself: the agent\'s own shard variable (POD_NAME, SHARD) may be unset', async () => {
    const chart = join(dir, 'chart-n.yaml');
    writeFileSync(chart, `monitoring: { timeout: 60s }\nsharding: { shards: 2, ordinal: "\${env:POD_NAME}" }\nservers:\n${NAMES.map((n) => `  - { name: ${n}, transport: streamable_http, url: "${fleet.url(n)}" }`).join('\n')}\n`);
    for (const [config, env] of [[chart, { POD_NAME: undefined }], [sharded, { SHARD: undefined }]] as const) {
      const one = await mcpwatch(['health', '-c', config, '--json', '--shard', '1'], env);
      assert.equal(one.code, 0, one.stderr);
      assert.deepEqual(names(one.stdout), ownServers(NAMES.map((name) => ({ name })), { shards: 2, shard: 1 }).map((s) => s.name).sort());
    }
  });

  it('--shard out of range, or without a sharding section, is a usage error (exit 2)', async () => {
    const out = await mcpwatch(['health', '-c', sharded, '--shard', '2'], { SHARD: '0' });
    assert.equal(out.code, 2);
    assert.match(out.stderr, /--shard: must be a shard from 0 to 1 \(sharding\.shards is 2; got "2"\)/);
    const none = await mcpwatch(['health', '-c', plain, '--shard']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--shard: the configuration has no `sharding` section/);
  });
});
