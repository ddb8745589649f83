import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { resolveServer } from '../../src/config/schema.js';
import type { ProbeOutcome } from '../../src/probe/prober.js';
import { serverJson, summarize } from '../../src/pipeline/server-view.js';

describe('summarize: what the agent keeps of the last outcome for its view', () => {
  const config = parseConfig('servers:\n  - { name: gh, transport: streamable_http, url: "http://127.0.0.1:1/mcp" }\n', 'x.yaml', {});
  const server = resolveServer(config, config.servers[0]!);
  const tools = Array.from({ length: 3 }, (_, i) => ({ name: `t${i}`, inputSchema: { type: 'object', properties: { q: { type: 'string', description: 'x'.repeat(1000) } } } }));
  const outcome: ProbeOutcome = {
    server: 'gh',
    transport: 'streamable_http',
    startedAt: 1,
    phases: { initialize: 2 },
    latencyMs: 3,
    protocolVersion: '2025-11-25',
    era: 'legacy',
    serverInfo: { name: 'gh', version: '1' },
    capabilities: { tools: {} },
    tools: tools as unknown as ProbeOutcome['tools'],
    error: null,
    warnings: ['noise'],
  };

  it('keeps no tool list nor capabilities, only the count', () => {
    const kept = summarize(outcome);
    assert.equal(kept.toolCount, 3);
    assert.ok(!('tools' in kept) && !('capabilities' in kept));
    assert.ok(JSON.stringify(kept).length < 500, 'no schema copied');
  });

  it('the view from the summary is the view from the outcome', () => {
    assert.deepEqual(serverJson(server, summarize(outcome), 'up', 'n'), serverJson(server, outcome, 'up', 'n'));
    const failed: ProbeOutcome = { ...outcome, tools: null, error: { type: 'timeout', category: 'transient', phase: 'initialize', message: 'slow' } };
    assert.deepEqual(serverJson(server, summarize(failed), 'down', 'n'), serverJson(server, failed, 'down', 'n'));
  });
});
