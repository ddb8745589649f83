import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fromOrdinal, ownServers, parseOrdinal, shardOf } from '../../src/pipeline/shard.js';

/**
 * Fixed assignments that must never change: a change moves servers between agents on an upgrade.
 * The values were computed outside mcpwatch, by Prometheus 2.42's own `hashmod` relabel action
 * (static targets labelled mcp_server_name, read back from /api/v1/targets) and by Python's hashlib
 * (md5, last 8 bytes big-endian, mod N); both agreed.
 */
const TABLE: Array<[name: string, mod2: number, mod3: number, mod5: number, mod16: number]> = [
  ['github', 0, 2, 2, 10],
  ['filesystem', 0, 2, 0, 2],
  ['postgres-prod', 1, 0, 0, 7],
  ['team:data/search', 1, 2, 0, 5],
  ['slack.v2', 1, 2, 1, 11],
  ['a', 1, 1, 2, 1],
  ['mcp-server-00', 0, 0, 3, 2],
  ['mcp-server-01', 1, 2, 2, 5],
  ['mcp-server-29', 0, 0, 4, 12],
  ['ünïcode-名前', 1, 0, 2, 15],
];

describe('sharding: which agent probes which server', () => {
  for (const [name, m2, m3, m5, m16] of TABLE) {
    it(`${name} → shard ${m2}/2, ${m3}/3, ${m5}/5, ${m16}/16 (Prometheus hashmod)`, () => {
      assert.deepEqual([1, 2, 3, 5, 16].map((n) => shardOf(name, n)), [0, m2, m3, m5, m16]);
    });
  }

  it('every server lands in exactly one shard, and the shards together are the whole list', () => {
    const servers = Array.from({ length: 300 }, (_, i) => ({ name: `server-${i}` }));
    for (const shards of [1, 2, 3, 7]) {
      const parts = Array.from({ length: shards }, (_, shard) => ownServers(servers, { shards, shard }));
      const seen = parts.flat().map((s) => s.name).sort();
      assert.deepEqual(seen, servers.map((s) => s.name).sort(), `${shards} shards cover every server once`);
      // A hash, not a round-robin, but not lopsided either: each shard gets a fair part of 300.
      for (const p of parts) assert.ok(p.length > 300 / shards / 2, `${shards} shards: a shard of ${p.length}`);
    }
    assert.equal(ownServers(servers, undefined).length, 300, 'no sharding: every server');
  });

  it('refuses a shard count that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, NaN]) assert.throws(() => shardOf('x', bad), RangeError);
  });

  it('reads a pod ordinal from a number or a StatefulSet pod name', () => {
    const rows: Array<[string, number | undefined]> = [
      ['0', 0],
      ['7', 7],
      [' 3 ', 3],
      ['mcpwatch-4', 4],
      ['my-release-mcpwatch-12', 12],
      ['mcpwatch', undefined],
      ['mcpwatch-', undefined],
      ['-1x', undefined],
      ['', undefined],
      ['99999999999999999999', undefined],
    ];
    for (const [text, want] of rows) assert.equal(parseOrdinal(text), want, JSON.stringify(text));
  });

  it('maps ordinals of a StatefulSet to shard = ordinal mod shards, replica = ordinal div shards', () => {
    // 3 shards × 2 replicas: pods 0-2 are replica 0 of shards 0-2, pods 3-5 replica 1.
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((o) => fromOrdinal(o, 3)), [
      { shard: 0, replica: 0 },
      { shard: 1, replica: 0 },
      { shard: 2, replica: 0 },
      { shard: 0, replica: 1 },
      { shard: 1, replica: 1 },
      { shard: 2, replica: 1 },
    ]);
  });
});
