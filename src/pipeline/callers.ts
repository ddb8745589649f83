// pipeline/callers.ts learns the blast radius of each configured server from traffic: which agents
// (the sending resource's service.name, with its namespace and Kubernetes deployment) called it and
// which tools, how often and how recently, over a sliding window. Pure and bounded: counts live in a
// ring of buckets per tally, a server tracks at most a fixed number of agents and of tools per agent,
// and time is passed in. The store persists what `rows()` gives; alerts and the API read `view()`.
import type { DecodedResource } from '../otlp/decode.js';
import type { AffectedAgents } from './events.js';
import { capName } from './limits.js';

/** Who called: the sender's resource attributes that name an agent. */
export interface CallerIdentity {
  service_name: string;
  service_namespace?: string;
  k8s_namespace_name?: string;
  k8s_deployment_name?: string;
}

/** The resource attributes an identity is read from, in `CallerIdentity` order (the decoder keeps them). */
export const CALLER_RESOURCE_KEYS = ['service.name', 'service.namespace', 'k8s.namespace.name', 'k8s.deployment.name'] as const;

/** An identity and its key, made once per sending resource. */
export interface Caller {
  key: string;
  identity: CallerIdentity;
  /** Slots found for this caller, by the route they were found for (the agent's cache). */
  slots?: Map<object, CallerSlot>;
  /** When the agent counted this resource's first span: the spans of one request share the time. */
  at?: number;
}

/** Buckets per window: 24 h is counted in hours, so a call counts for between 23 and 24 hours. */
export const BUCKETS = 24;
/** Agents tracked per server, as a multiple of the agents listed; past it new agents count as others. */
const TRACKED_PER_LISTED = 4;
/** Tools tracked per agent; calls to further tools still count in the agent's total. */
export const MAX_TOOLS_PER_AGENT = 64;

export function callerKey(id: CallerIdentity): string {
  return JSON.stringify([id.service_name, id.service_namespace ?? '', id.k8s_namespace_name ?? '', id.k8s_deployment_name ?? '']);
}

/** The inverse of callerKey (rows read back from the state file); undefined for a key it did not make. */
export function parseCallerKey(key: string): CallerIdentity | undefined {
  let parts: unknown;
  try {
    parts = JSON.parse(key);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parts) || parts.length !== 4 || !parts.every((p) => typeof p === 'string') || parts[0] === '') return undefined;
  const [name, ns, k8sNs, deploy] = parts as string[];
  return identity(name!, ns, k8sNs, deploy);
}

function identity(name: string, ns: string | undefined, k8sNs: string | undefined, deploy: string | undefined): CallerIdentity {
  const id: CallerIdentity = { service_name: name };
  if (ns) id.service_namespace = ns;
  if (k8sNs) id.k8s_namespace_name = k8sNs;
  if (deploy) id.k8s_deployment_name = deploy;
  return id;
}

/** `support-bot`, `payments/support-bot`, `support-bot (k8s prod/support-bot)`: how people name an agent. */
export function callerName(id: CallerIdentity): string {
  const base = id.service_namespace ? `${id.service_namespace}/${id.service_name}` : id.service_name;
  const k8s = [id.k8s_namespace_name, id.k8s_deployment_name].filter(Boolean).join('/');
  return k8s ? `${base} (k8s ${k8s})` : base;
}

const SPAN_KIND_SERVER = 2;

const callers = new WeakMap<DecodedResource, Caller | null>();

/**
 * The agent that sent a span, or undefined: a SERVER span was sent by the MCP server itself, and a
 * resource without service.name names nobody. Worked out once per resource (shared by its spans).
 */
export function callerOf(span: { kind: number; resource: DecodedResource }): Caller | undefined {
  if (span.kind === SPAN_KIND_SERVER) return undefined;
  let caller = callers.get(span.resource);
  if (caller === undefined) {
    const attr = (k: string): string | undefined => {
      const v = span.resource.attrs.get(k);
      return typeof v === 'string' && v !== '' ? capName(v) : undefined;
    };
    const name = attr('service.name');
    if (name === undefined) caller = null;
    else {
      const id = identity(name, attr('service.namespace'), attr('k8s.namespace.name'), attr('k8s.deployment.name'));
      caller = { key: callerKey(id), identity: id };
    }
    callers.set(span.resource, caller);
  }
  return caller ?? undefined;
}

/** Calls per bucket over the window, and the last call's time. */
class Tally {
  readonly counts = new Array<number>(BUCKETS).fill(0);
  /** The bucket number each slot holds; a slot of an older bucket counts as empty. */
  readonly epochs = new Array<number>(BUCKETS).fill(-1);
  last = 0;
  /** Changed since the store last wrote it. */
  dirty = false;
  /** The slots changed since then, one bit each (BUCKETS ≤ 32): only their buckets are written again. */
  changed = 0;

  /** Where it is persisted: agent '' is a server's others, tool '' an agent's total. */
  constructor(readonly row: { server: string; agent: string; tool: string }) {}

  add(epoch: number, at: number, n = 1): void {
    const i = epoch % BUCKETS;
    if (this.epochs[i] !== epoch) {
      this.epochs[i] = epoch;
      this.counts[i] = 0;
    }
    this.counts[i]! += n;
    this.changed |= 1 << i;
    if (at > this.last) this.last = at;
  }

  sum(epoch: number): number {
    let n = 0;
    for (let i = 0; i < BUCKETS; i++) if (this.epochs[i]! > epoch - BUCKETS && this.epochs[i]! <= epoch) n += this.counts[i]!;
    return n;
  }

  /** In-window buckets changed since the last write, as [epoch, calls]. */
  changedBuckets(epoch: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) {
      if ((this.changed & (1 << i)) === 0) continue;
      if (this.epochs[i]! > epoch - BUCKETS && this.epochs[i]! <= epoch && this.counts[i]! > 0) out.push([this.epochs[i]!, this.counts[i]!]);
    }
    return out;
  }
}

/**
 * Where one caller's calls of one tool to one server count, found once: the per-span work is then
 * one add per tally. Valid for the window's `generation` only (expiry and forgetting drop tallies).
 */
export class CallerSlot {
  /** The caller's own per-slot state (the agent keeps its calls-by-agent metric cell here). */
  cell: { calls: number } | undefined;

  constructor(
    private readonly window: CallerWindow,
    readonly generation: number,
    private readonly tallies: readonly Tally[],
  ) {}

  add(at: number): void {
    const epoch = this.window.epochOf(at);
    for (const t of this.tallies) {
      t.add(epoch, at);
      this.window.mark(t);
    }
  }
}

interface AgentTrack {
  caller: Caller;
  total: Tally;
  tools: Map<string, Tally>;
}

interface ServerCallers {
  agents: Map<string, AgentTrack>;
  /** Calls of agents that arrived while the server tracked as many as it may. */
  others: Tally;
}

/** One persisted bucket: agent '' is the others' tally, tool '' an agent's total. */
export interface CallerRow {
  server: string;
  agent: string;
  tool: string;
  /** Start of the bucket, ms since the epoch. */
  bucket: number;
  calls: number;
  lastSeen: number;
}

export interface ToolCalls {
  name: string;
  calls: number;
  /** ms since the epoch. */
  last_seen: number;
}

export interface AgentCalls extends CallerIdentity {
  /** callerName(): the agent as people write it. */
  name: string;
  calls: number;
  last_seen: number;
  tools: ToolCalls[];
}

/** What a server's callers look like now: the top agents, and the rest counted. */
export interface CallersView {
  window_ms: number;
  /** Agents with calls in the window that are tracked (past the tracking bound, a lower bound). */
  distinct_agents: number;
  total_calls: number;
  /** Most calls first; at most `maxAgents`. */
  agents: AgentCalls[];
  /** Tracked agents not listed, and calls of agents past the tracking bound. */
  others: { agents: number; calls: number; last_seen: number | null };
}

export interface CallerWindowOptions {
  windowMs: number;
  /** Agents listed per server; TRACKED_PER_LISTED times as many are tracked. */
  maxAgents: number;
}

/**
 * The callers of each server over a sliding window. `record` runs per recognised span; everything
 * else (views, persistence, expiry) runs from timers or alerts.
 */
export class CallerWindow {
  private readonly servers = new Map<string, ServerCallers>();
  private readonly bucketMs: number;
  private readonly tracked: number;
  /** Tallies changed since the last written(): what the next persistence writes. */
  private dirty: Tally[] = [];
  /** Bumped whenever tallies are dropped: CallerSlots of an older generation are stale. */
  generation = 0;

  constructor(readonly opts: CallerWindowOptions) {
    this.bucketMs = Math.max(1, Math.floor(opts.windowMs / BUCKETS));
    this.tracked = opts.maxAgents * TRACKED_PER_LISTED;
  }

  epochOf(at: number): number {
    return Math.floor(at / this.bucketMs);
  }

  mark(t: Tally): void {
    if (t.dirty) return;
    t.dirty = true;
    this.dirty.push(t);
  }

  /** One call of `tool` ('' for an operation that is not a tool call) by `caller` to `server`. */
  record(server: string, tool: string, caller: Caller, at: number): void {
    this.slot(server, tool, caller).add(at);
  }

  /** Where calls of `tool` by `caller` to `server` count; keep it while `generation` stays. */
  slot(server: string, tool: string, caller: Caller): CallerSlot {
    return new CallerSlot(this, this.generation, this.tallies(server, caller.key, capName(tool), caller));
  }

  /**
   * The tallies one call (with `caller`) or one restored row (without) counts into: a tracked
   * agent's total and tool, or the server's others once it tracks as many agents as it may.
   */
  private tallies(server: string, agentKey: string, tool: string, caller?: Caller): Tally[] {
    let s = this.servers.get(server);
    if (!s) this.servers.set(server, (s = { agents: new Map(), others: new Tally({ server, agent: '', tool: '' }) }));
    let a = s.agents.get(agentKey);
    if (!a) {
      let id: Caller | CallerIdentity | undefined = caller;
      if (!id && agentKey !== '') {
        id = parseCallerKey(agentKey);
        // A row this code did not write: left out rather than guessed at.
        if (!id) return [];
      }
      if (!id || s.agents.size >= this.tracked) {
        // A restored tool row of an agent no longer tracked: its total row counts it once.
        return !caller && tool !== '' ? [] : [s.others];
      }
      a = { caller: 'key' in id ? id : { key: agentKey, identity: id }, total: new Tally({ server, agent: agentKey, tool: '' }), tools: new Map() };
      s.agents.set(agentKey, a);
    }
    if (tool === '') return [a.total];
    let t = a.tools.get(tool);
    if (!t && a.tools.size < MAX_TOOLS_PER_AGENT) a.tools.set(tool, (t = new Tally({ server, agent: agentKey, tool })));
    // A restored tool row carries its own calls; the agent's total has its own row.
    if (!caller) return t ? [t] : [];
    return t ? [a.total, t] : [a.total];
  }

  /** The server's callers at `at`; with `tools`, only agents that called one of them, counting those calls. */
  view(server: string, at: number, tools?: readonly string[]): CallersView {
    const epoch = this.epochOf(at);
    const s = this.servers.get(server);
    const empty: CallersView = { window_ms: this.opts.windowMs, distinct_agents: 0, total_calls: 0, agents: [], others: { agents: 0, calls: 0, last_seen: null } };
    if (!s) return empty;
    const wanted = tools && new Set(tools);
    const all: AgentCalls[] = [];
    for (const a of s.agents.values()) {
      const toolCalls: ToolCalls[] = [];
      for (const [name, t] of a.tools) {
        if (wanted && !wanted.has(name)) continue;
        const calls = t.sum(epoch);
        if (calls > 0) toolCalls.push({ name, calls, last_seen: t.last });
      }
      toolCalls.sort((x, y) => y.calls - x.calls || x.name.localeCompare(y.name));
      const calls = wanted ? toolCalls.reduce((n, t) => n + t.calls, 0) : a.total.sum(epoch);
      if (calls === 0) continue;
      const last = wanted ? Math.max(...toolCalls.map((t) => t.last_seen)) : a.total.last;
      all.push({ ...a.caller.identity, name: callerName(a.caller.identity), calls, last_seen: last, tools: toolCalls });
    }
    all.sort((x, y) => y.calls - x.calls || y.last_seen - x.last_seen || x.name.localeCompare(y.name));
    const listed = all.slice(0, this.opts.maxAgents);
    const rest = all.slice(this.opts.maxAgents);
    // Untracked agents' calls are not split by tool, so a view by tools cannot count them.
    const untracked = wanted ? 0 : s.others.sum(epoch);
    const restCalls = rest.reduce((n, a) => n + a.calls, 0) + untracked;
    const restLast = Math.max(0, ...rest.map((a) => a.last_seen), untracked > 0 ? s.others.last : 0);
    return {
      window_ms: this.opts.windowMs,
      distinct_agents: all.length,
      total_calls: all.reduce((n, a) => n + a.calls, 0) + untracked,
      agents: listed,
      others: { agents: rest.length, calls: restCalls, last_seen: restLast > 0 ? restLast : null },
    };
  }

  /** Distinct agents with calls in the window, per server seen (the gauge). */
  distinct(server: string, at: number): number {
    const s = this.servers.get(server);
    if (!s) return 0;
    const epoch = this.epochOf(at);
    let n = 0;
    for (const a of s.agents.values()) if (a.total.sum(epoch) > 0) n++;
    return n;
  }

  /**
   * Drops agents and tools without calls in the window, freeing their tracking slots. Returns the
   * agents dropped (server, agent key), so their metric series can free their label slots too.
   */
  expire(at: number): Array<[server: string, agent: string]> {
    const epoch = this.epochOf(at);
    const dropped: Array<[string, string]> = [];
    for (const [server, s] of this.servers) {
      for (const [key, a] of s.agents) {
        if (a.total.sum(epoch) === 0) {
          s.agents.delete(key);
          dropped.push([server, key]);
          continue;
        }
        for (const [tool, t] of a.tools) if (t.sum(epoch) === 0) a.tools.delete(tool);
      }
      if (s.agents.size === 0 && s.others.sum(epoch) === 0) this.servers.delete(server);
    }
    this.generation++;
    return dropped;
  }

  /** Forgets a server (removed from the configuration). */
  forget(server: string): void {
    this.servers.delete(server);
    this.dirty = this.dirty.filter((t) => t.row.server !== server);
    this.generation++;
  }

  /** The in-window buckets changed since the last written(), for the store to upsert. */
  rows(at: number): CallerRow[] {
    const epoch = this.epochOf(at);
    const out: CallerRow[] = [];
    for (const t of this.dirty) {
      for (const [e, calls] of t.changedBuckets(epoch)) out.push({ ...t.row, bucket: e * this.bucketMs, calls, lastSeen: t.last });
    }
    return out;
  }

  /** The last rows() are in the store: only later changes are written next time. */
  written(): void {
    for (const t of this.dirty) {
      t.dirty = false;
      t.changed = 0;
    }
    this.dirty = [];
  }

  /** Restores persisted buckets (an agent restart). Rows outside the window, or not from callerKey, are ignored. */
  load(rows: Iterable<CallerRow>, at: number): void {
    const epoch = this.epochOf(at);
    for (const r of rows) {
      const e = this.epochOf(r.bucket);
      if (e <= epoch - BUCKETS || e > epoch || !(r.calls > 0)) continue;
      for (const t of this.tallies(r.server, r.agent, r.tool)) {
        t.add(e, r.lastSeen, r.calls);
        // Read from the store: nothing to write back.
        if (!t.dirty) t.changed = 0;
      }
    }
    this.generation++;
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** A view as alerts and the API carry it: times in ISO 8601, the window in seconds. */
export function affectedAgents(v: CallersView, tools?: readonly string[]): AffectedAgents {
  return {
    window_seconds: Math.round(v.window_ms / 1000),
    ...(tools ? { tools: [...tools] } : {}),
    total_calls: v.total_calls,
    agents: v.agents.map((a) => ({ ...a, last_seen: iso(a.last_seen), tools: a.tools.map((t) => ({ ...t, last_seen: iso(t.last_seen) })) })),
    others: { agents: v.others.agents, calls: v.others.calls, last_seen: v.others.last_seen === null ? null : iso(v.others.last_seen) },
  };
}
