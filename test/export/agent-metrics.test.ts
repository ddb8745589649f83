import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createNoopMeter } from '@opentelemetry/api';
import { AgentMetrics } from '../../src/export/agent-metrics.js';
import { CallerWindow, callerKey, type Caller } from '../../src/pipeline/callers.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 11, 6, 0, 0, 0);

function caller(service_name: string): Caller {
  return { key: callerKey({ service_name }), identity: { service_name } };
}

describe('AgentMetrics: the agent label limit', () => {
  it('past max_agents_per_server new agents are _other; agents the window forgets free their places', () => {
    const window = new CallerWindow({ windowMs: DAY, maxAgents: 2 });
    const metrics = new AgentMetrics(createNoopMeter(), () => [], 2);
    const agentOf = (name: string, at: number): unknown => {
      window.record('s', 't', caller(name), at);
      return metrics.cell('s', caller(name)).attrs['mcp.agent.name'];
    };
    assert.deepEqual([agentOf('old-a', T0), agentOf('old-b', T0), agentOf('new', T0)], ['old-a', 'old-b', '_other']);
    // A day later old-a and old-b have made no call for a whole window: the window drops them.
    for (const [server, key] of window.expire(T0 + 2 * DAY)) metrics.release(server, key);
    assert.deepEqual([agentOf('new', T0 + 2 * DAY), agentOf('newer', T0 + 2 * DAY), agentOf('newest', T0 + 2 * DAY)], ['new', 'newer', '_other']);
  });

  it('releasing an agent it never labelled changes nothing', () => {
    const metrics = new AgentMetrics(createNoopMeter(), () => [], 1);
    assert.equal(metrics.cell('s', caller('a')).attrs['mcp.agent.name'], 'a');
    metrics.release('s', caller('b').key);
    metrics.release('other', caller('a').key);
    assert.equal(metrics.cell('s', caller('c')).attrs['mcp.agent.name'], '_other');
  });
});
