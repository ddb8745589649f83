// pipeline/shard.ts decides which servers one agent of a sharded fleet probes (`sharding:` in the
// configuration). The assignment is a pure function of the server's name and the number of shards,
// so agents agree on it without talking to each other, and it must never change between versions,
// platforms or restarts: a server that moved shards on an upgrade would be probed twice or not at
// all while the fleet rolls, and its series would jump from one agent to another.
import { createHash } from 'node:crypto';

/** The resolved `sharding:` section: this agent's shard of `shards`, and which HA replica of it. */
export interface Sharding {
  shards: number;
  shard: number;
  replica: number;
}

/**
 * The shard of a server name: Prometheus's `hashmod` relabel action on the name. MD5 of the UTF-8
 * bytes, the last 8 bytes of the digest read as a big-endian unsigned 64-bit integer, modulo
 * `shards`. Chosen because it is specified outside mcpwatch and has not changed since Prometheus
 * 1.x, it is the same on every platform (no seed, no native endianness), and a user can compute the
 * same assignment in Prometheus itself (`action: hashmod, modulus: N` on `mcp_server_name`). MD5 is
 * used for spreading, not for security.
 */
export function shardOf(name: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards must be a positive integer (got ${shards})`);
  const digest = createHash('md5').update(name, 'utf8').digest();
  return Number(digest.readBigUInt64BE(8) % BigInt(shards));
}

/** The servers this agent probes: all of them without sharding, else those whose name hashes to its shard. */
export function ownServers<T extends { name: string }>(servers: readonly T[], sharding: Pick<Sharding, 'shards' | 'shard'> | undefined): T[] {
  if (!sharding) return [...servers];
  return servers.filter((s) => shardOf(s.name, sharding.shards) === sharding.shard);
}

/**
 * A StatefulSet pod's ordinal: a number, or a pod name ending in `-N` (`mcpwatch-4` → 4); undefined
 * when the text is neither. The pod-index label of Kubernetes 1.28+ gives the number, the pod name
 * works on every version.
 */
export function parseOrdinal(text: string): number | undefined {
  const m = /^(?:.*-)?(\d+)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * shard = ordinal mod shards, replica = ordinal div shards: a StatefulSet of shards × replicas pods
 * (ordinals 0 … shards·replicas−1) gives each shard its replicas, the first `shards` pods being
 * replica 0 of each shard, so scaling `replicasPerShard` up or down adds or removes whole replicas.
 */
export function fromOrdinal(ordinal: number, shards: number): { shard: number; replica: number } {
  return { shard: ordinal % shards, replica: Math.floor(ordinal / shards) };
}
