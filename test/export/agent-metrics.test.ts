import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { emptyResource } from '@opentelemetry/resources';
import { AgentMetrics } from '../../src/export/agent-metrics.js';
import { CallerWindow, callerKey, type Caller } from '../../src/pipeline/callers.js';

const SCOPE = { name: 'mcpwatch', version: '0' };
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 11, 6, 0, 0, 0);

function caller(service_name: string): Caller {
  return { key: callerKey({ service_name }), identity: { service_name } };
}

describe('AgentMetrics: the agent label limit', () => {
  it('past max_agents_per_server new agents are _other; agents the window forgets free their places', () => {
    const window = new CallerWindow({ windowMs: DAY, maxAgents: 2 });
    const metrics = new AgentMetrics(emptyResource(), SCOPE, 2);
    const agentOf = (name: string, at: number): unknown => {
      window.record('s', 't', caller(name), at);
      return metrics.cell('s', caller(name)).attrs['mcp.agent.name'];
    };
    assert.deepEqual([agentOf('old-a', T0), agentOf('old-b', T0), agentOf('new', T0)], ['old-a', 'old-b', '_other']);
    // A day later old-a and old-b have made no call for a whole window: the window drops them.
    for (const [server, key] of window.expire(T0 + 2 * DAY)) metrics.release(server, key);
    assert.deepEqual([agentOf('new', T0 + 2 * DAY), agentOf('newer', T0 + 2 * DAY), agentOf('newest', T0 + 2 * DAY)], ['new', 'newer', '_other']);
  });

  it('an agent released or a server forgotten leaves no series behind; a released agent calling again starts from 0', async () => {
    const metrics = new AgentMetrics(emptyResource(), SCOPE, 5);
    metrics.distinct = () => [['s', 1]];
    metrics.cell('s', caller('a')).calls += 3;
    metrics.cell('s', caller('b')).calls += 1;
    metrics.cell('t', caller('a')).calls += 2;
    const calls = async (): Promise<Array<[unknown, unknown, number]>> => {
      const { resourceMetrics } = await metrics.collect();
      const data = resourceMetrics.scopeMetrics[0]!.metrics.find((m) => m.descriptor.name === 'mcpwatch.traffic.agent.calls')!;
      return data.dataPoints.map((p) => [p.attributes['mcp.server.name'], p.attributes['mcp.agent.name'], p.value as number]);
    };
    assert.deepEqual(await calls(), [['s', 'a', 3], ['s', 'b', 1], ['t', 'a', 2]]);
    metrics.release('s', caller('a').key);
    metrics.forget('t');
    assert.deepEqual(await calls(), [['s', 'b', 1]]);
    metrics.cell('s', caller('a')).calls++;
    assert.deepEqual(await calls(), [['s', 'b', 1], ['s', 'a', 1]]);
  });

  it('releasing an agent it never labelled changes nothing', () => {
    const metrics = new AgentMetrics(emptyResource(), SCOPE, 1);
    assert.equal(metrics.cell('s', caller('a')).attrs['mcp.agent.name'], 'a');
    metrics.release('s', caller('b').key);
    metrics.release('other', caller('a').key);
    assert.equal(metrics.cell('s', caller('c')).attrs['mcp.agent.name'], '_other');
  });
});
