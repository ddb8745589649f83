import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CallerWindow, callerKey, callerName, callerOf, parseCallerKey, MAX_TOOLS_PER_AGENT, type Caller, type CallerIdentity } from '../../src/pipeline/callers.js';
import type { DecodedResource } from '../../src/otlp/decode.js';
import { MAX_NAME_LENGTH } from '../../src/pipeline/limits.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 11, 6, 0, 0, 0);

function caller(service_name: string, extra: Partial<CallerIdentity> = {}): Caller {
  const identity = { service_name, ...extra };
  return { key: callerKey(identity), identity };
}

describe('callerOf', () => {
  const resource = (attrs: Record<string, string>): DecodedResource => ({ serviceName: attrs['service.name'], attrs: new Map(Object.entries(attrs)) });
  const rows: Array<[string, { kind: number; resource: DecodedResource }, CallerIdentity | undefined]> = [
    ['a client span names its sender', { kind: 3, resource: resource({ 'service.name': 'support-bot' }) }, { service_name: 'support-bot' }],
    ['namespace and Kubernetes when present', { kind: 1, resource: resource({ 'service.name': 'bot', 'service.namespace': 'pay', 'k8s.namespace.name': 'prod', 'k8s.deployment.name': 'bot-v2' }) }, { service_name: 'bot', service_namespace: 'pay', k8s_namespace_name: 'prod', k8s_deployment_name: 'bot-v2' }],
    ['empty attributes are absent', { kind: 3, resource: resource({ 'service.name': 'bot', 'service.namespace': '' }) }, { service_name: 'bot' }],
    ['a SERVER span is the MCP server itself', { kind: 2, resource: resource({ 'service.name': 'github-mcp' }) }, undefined],
    ['no service.name names nobody', { kind: 3, resource: resource({}) }, undefined],
  ];
  for (const [what, span, want] of rows) {
    it(what, () => assert.deepEqual(callerOf(span)?.identity, want));
  }
  it('cuts a sender\'s names to MAX_NAME_LENGTH, marked with …, whatever their length', () => {
    const long = 'a'.repeat(100_000);
    const id = callerOf({ kind: 3, resource: resource({ 'service.name': long, 'service.namespace': `${'n'.repeat(126)}😀tail`, 'k8s.namespace.name': 'x'.repeat(MAX_NAME_LENGTH) }) })!.identity;
    assert.equal(id.service_name, `${'a'.repeat(MAX_NAME_LENGTH - 1)}…`);
    assert.equal(id.service_namespace, `${'n'.repeat(126)}…`, 'a surrogate pair is not split');
    assert.equal(id.k8s_namespace_name, 'x'.repeat(MAX_NAME_LENGTH), 'exactly the limit is kept');
    const w = new CallerWindow({ windowMs: DAY, maxAgents: 1 });
    w.record('s', 't'.repeat(10_000), caller('bot'), T0);
    assert.deepEqual(w.view('s', T0).agents[0]!.tools.map((t) => t.name.length), [MAX_NAME_LENGTH]);
  });
  it('keys round-trip, and foreign keys are refused', () => {
    const id = { service_name: 'bot', k8s_namespace_name: 'prod' };
    assert.deepEqual(parseCallerKey(callerKey(id)), id);
    for (const bad of ['', 'x', '[]', '["","","",""]', '[1,2,3,4]']) assert.equal(parseCallerKey(bad), undefined, bad);
  });
  it('names agents as people write them', () => {
    assert.equal(callerName({ service_name: 'support-bot' }), 'support-bot');
    assert.equal(callerName({ service_name: 'bot', service_namespace: 'pay' }), 'pay/bot');
    assert.equal(callerName({ service_name: 'bot', k8s_namespace_name: 'prod', k8s_deployment_name: 'bot-v2' }), 'bot (k8s prod/bot-v2)');
  });
});

describe('CallerWindow', () => {
  it('counts calls per agent and tool, most calls first, with the last call', () => {
    const w = new CallerWindow({ windowMs: DAY, maxAgents: 10 });
    const a = caller('support-bot');
    const b = caller('triage-bot');
    for (let i = 0; i < 3; i++) w.record('gh', 'search', a, T0 + i);
    w.record('gh', 'create_issue', a, T0 + 10);
    w.record('gh', 'search', b, T0 + 20);
    w.record('other', 'x', b, T0);
    const v = w.view('gh', T0 + HOUR);
    assert.equal(v.total_calls, 5);
    assert.equal(v.distinct_agents, 2);
    assert.deepEqual(v.agents.map((x) => [x.name, x.calls, x.last_seen]), [['support-bot', 4, T0 + 10], ['triage-bot', 1, T0 + 20]]);
    assert.deepEqual(v.agents[0]!.tools, [{ name: 'search', calls: 3, last_seen: T0 + 2 }, { name: 'create_issue', calls: 1, last_seen: T0 + 10 }]);
    assert.deepEqual(v.others, { agents: 0, calls: 0, last_seen: null });
    assert.deepEqual(w.view('nobody', T0).agents, []);
  });

  it('slides: a call leaves the window after 23 to 24 hours (hourly buckets)', () => {
    const w = new CallerWindow({ windowMs: DAY, maxAgents: 10 });
    const a = caller('bot');
    w.record('s', 't', a, T0 + 30 * 60_000);
    w.record('s', 't', a, T0 + 5 * HOUR);
    const rows: Array<[number, number]> = [
      [T0 + 5 * HOUR, 2],
      [T0 + 23 * HOUR + 59 * 60_000, 2],
      [T0 + 24 * HOUR, 1],
      [T0 + 28 * HOUR + 59 * 60_000, 1],
      [T0 + 29 * HOUR, 0],
    ];
    for (const [at, calls] of rows) assert.equal(w.view('s', at).total_calls, calls, new Date(at).toISOString());
    assert.equal(w.distinct('s', T0 + 29 * HOUR), 0);
    w.expire(T0 + 29 * HOUR);
    assert.equal(w.view('s', T0 + 29 * HOUR).distinct_agents, 0);
  });

  it('lists the top N and counts the rest as others', () => {
    const w = new CallerWindow({ windowMs: DAY, maxAgents: 2 });
    const calls: Array<[string, number]> = [['a', 5], ['b', 1], ['c', 3], ['d', 2]];
    for (const [name, n] of calls) for (let i = 0; i < n; i++) w.record('s', 't', caller(name), T0 + i);
    const v = w.view('s', T0 + 1000);
    assert.deepEqual(v.agents.map((x) => x.name), ['a', 'c']);
    assert.deepEqual(v.others, { agents: 2, calls: 3, last_seen: T0 + 1 });
    assert.equal(v.distinct_agents, 4);
    assert.equal(v.total_calls, 11);
  });

  it('tracks a bounded number of agents: later ones are counted, not remembered, until slots free up', () => {
    const w = new CallerWindow({ windowMs: DAY, maxAgents: 1 });
    // maxAgents 1 tracks 4 agents.
    for (let i = 0; i < 6; i++) w.record('s', 't', caller(`bot-${i}`), T0 + i);
    const v = w.view('s', T0 + 10);
    assert.equal(v.distinct_agents, 4);
    assert.equal(v.total_calls, 6);
    assert.deepEqual(v.others, { agents: 3, calls: 5, last_seen: T0 + 5 });
    // A day later the first four are gone (named, for their metric series) and a new agent is tracked again.
    assert.deepEqual(w.expire(T0 + 2 * DAY).map(([server, key]) => [server, parseCallerKey(key)?.service_name]), [0, 1, 2, 3].map((i) => ['s', `bot-${i}`]));
    w.record('s', 't', caller('late'), T0 + 2 * DAY);
    assert.deepEqual(w.view('s', T0 + 2 * DAY).agents.map((x) => x.name), ['late']);
  });

  it('tracks a bounded number of tools per agent; its total still counts every call', () => {
    const w = new CallerWindow({ windowMs: DAY, maxAgents: 1 });
    const a = caller('bot');
    for (let i = 0; i < MAX_TOOLS_PER_AGENT + 5; i++) w.record('s', `tool-${i}`, a, T0);
    const v = w.view('s', T0);
    assert.equal(v.agents[0]!.tools.length, MAX_TOOLS_PER_AGENT);
    assert.equal(v.agents[0]!.calls, MAX_TOOLS_PER_AGENT + 5);
  });

  it('by tools: only agents that called them, counting those calls (schema drift)', () => {
    const w = new CallerWindow({ windowMs: DAY, maxAgents: 10 });
    w.record('s', 'search', caller('a'), T0);
    w.record('s', 'search', caller('a'), T0 + 1);
    w.record('s', 'delete', caller('a'), T0 + 2);
    w.record('s', 'list', caller('b'), T0 + 3);
    const v = w.view('s', T0 + 10, ['search', 'gone']);
    assert.deepEqual(v.agents.map((x) => [x.name, x.calls, x.last_seen, x.tools.map((t) => t.name)]), [['a', 2, T0 + 1, ['search']]]);
    assert.equal(v.total_calls, 2);
  });

  it('a slot stays valid until tallies are dropped (expiry, a forgotten server, a load)', () => {
    const w = new CallerWindow({ windowMs: DAY, maxAgents: 1 });
    const slot = w.slot('s', 't', caller('bot'));
    slot.add(T0);
    slot.add(T0 + 1);
    assert.equal(slot.generation, w.generation);
    assert.equal(w.view('s', T0 + 1).agents[0]!.calls, 2);
    w.expire(T0 + 1);
    assert.notEqual(slot.generation, w.generation, 'the agent finds its slots again');
  });

  it('rows() gives what changed; load() restores it in another window (a restart)', () => {
    const w = new CallerWindow({ windowMs: DAY, maxAgents: 1 });
    w.record('s', 'search', caller('a', { k8s_namespace_name: 'prod' }), T0);
    w.record('s', 'search', caller('a', { k8s_namespace_name: 'prod' }), T0 + 2 * HOUR);
    for (let i = 0; i < 5; i++) w.record('s', 'x', caller(`b-${i}`), T0 + HOUR);
    const rows = w.rows(T0 + 3 * HOUR);
    assert.ok(rows.length > 0);
    assert.deepEqual(w.rows(T0 + 3 * HOUR), rows, 'until written, the same rows again (a failed write loses nothing)');
    w.written();
    assert.deepEqual(w.rows(T0 + 3 * HOUR), [], 'nothing changed since');
    const saved = w.view('s', T0 + 3 * HOUR);
    // One more call: only its bucket is written again (the agent's total and the tool), not the agent's
    // earlier buckets, which the store holds already.
    w.record('s', 'search', caller('a', { k8s_namespace_name: 'prod' }), T0 + 3 * HOUR + 1);
    assert.deepEqual(w.rows(T0 + 3 * HOUR + 1).map((r) => [r.tool, r.bucket, r.calls, r.lastSeen]), [['', T0 + 3 * HOUR, 1, T0 + 3 * HOUR + 1], ['search', T0 + 3 * HOUR, 1, T0 + 3 * HOUR + 1]]);
    w.written();
    w.record('s', 'search', caller('a', { k8s_namespace_name: 'prod' }), T0 + 3 * HOUR + 2);
    assert.deepEqual(w.rows(T0 + 3 * HOUR + 2).map((r) => [r.tool, r.bucket, r.calls]), [['', T0 + 3 * HOUR, 2], ['search', T0 + 3 * HOUR, 2]], 'a bucket written before is written again with its new count');
    w.written();
    const restored = new CallerWindow({ windowMs: DAY, maxAgents: 1 });
    restored.load(rows, T0 + 3 * HOUR);
    assert.deepEqual(restored.view('s', T0 + 3 * HOUR), saved);
    assert.deepEqual(restored.rows(T0 + 3 * HOUR), [], 'loaded rows are not written again');
    // Rows that fell out of the window, and rows this code did not write, are left out.
    const later = new CallerWindow({ windowMs: DAY, maxAgents: 1 });
    later.load([...rows, { server: 's', agent: 'garbage', tool: '', bucket: T0 + 3 * HOUR, calls: 7, lastSeen: T0 }], T0 + 25 * HOUR);
    const v = later.view('s', T0 + 25 * HOUR);
    assert.deepEqual([v.total_calls, v.agents.map((x) => [x.name, x.calls])], [1, [['a (k8s prod)', 1]]]);
  });
});
