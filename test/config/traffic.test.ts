import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { resolveServer } from '../../src/config/schema.js';

function errorsOf(text: string): string[] {
  try {
    parseConfig(text, 'mcpwatch.yaml', {});
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message.split('\n').filter((l) => l.includes('traffic'));
  }
  assert.fail('expected a ConfigError');
}

describe('configuration: traffic', () => {
  it('defaults to 20 % over 5 minutes with 20 calls; a server overrides each key, null disables', () => {
    const config = parseConfig(
      `monitoring: { traffic: { min_calls: 50 } }
servers:
  - { name: a, transport: streamable_http, url: "http://a.example/mcp" }
  - name: b
    transport: streamable_http
    url: "http://b.example/mcp"
    traffic: { service_names: [support-bot], hosts: [gw.internal, "gw.internal:8443", "[fd00::1]:9000"], error_rate: 0.05, window: 30s }
  - { name: c, transport: streamable_http, url: "http://c.example/mcp", traffic: { error_rate: null } }
`,
      'mcpwatch.yaml',
      {},
    );
    assert.deepEqual(config.monitoring.traffic, { error_rate: 0.2, window: 300_000, min_calls: 50 });
    const [a, b, c] = config.servers.map((s) => resolveServer(config, s).traffic);
    assert.deepEqual(a, { service_names: [], hosts: [], error_rate: 0.2, window: 300_000, min_calls: 50 });
    assert.deepEqual(b, { service_names: ['support-bot'], hosts: ['gw.internal', 'gw.internal:8443', '[fd00::1]:9000'], error_rate: 0.05, window: 30_000, min_calls: 50 });
    assert.equal(c!.error_rate, null);
  });

  it('reports bad traffic settings with their paths', () => {
    const errors = errorsOf(`monitoring: { traffic: { error_rate: 20 } }
servers:
  - name: a
    transport: streamable_http
    url: "http://a.example/mcp"
    traffic: { hosts: ["http://gw.internal:8443/mcp"], error_rate: 0, window: soon, min_calls: 0, services: [x] }
`);
    const paths = errors.map((l) => /^mcpwatch\.yaml:\d+: (\S+):/.exec(l)?.[1]);
    for (const p of ['monitoring.traffic.error_rate', 'servers[0].traffic.hosts[0]', 'servers[0].traffic.error_rate', 'servers[0].traffic.window', 'servers[0].traffic.min_calls']) {
      assert.ok(paths.includes(p), `${p} in ${JSON.stringify(errors)}`);
    }
    assert.ok(errors.some((l) => l.includes('services')), 'the unknown key is named');
    assert.ok(errors.some((l) => l.endsWith('monitoring.traffic.error_rate: must be a share of calls above 0 and at most 1 (0.2 = 20 %), or null for never')), 'a rate written as a percentage is explained');
  });
});
