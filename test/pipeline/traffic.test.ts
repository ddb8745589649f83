import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DecodedSpan } from '../../src/otlp/decode.js';
import { AMBIGUOUS, type Observation } from '../../src/otlp/recognise.js';
import { serverResolver, TrafficRouter, type ServerIdentity, type TrafficLabels } from '../../src/pipeline/traffic.js';

const servers: ServerIdentity[] = [
  { name: 'github', url: 'https://api.example.com/mcp' },
  { name: 'notes', url: 'http://127.0.0.1:8080/mcp', serverInfoName: 'notes-server' },
  { name: 'notes-copy', url: 'http://127.0.0.1:8080/other' },
  { name: 'files', command: '/usr/local/bin/files-mcp.js' },
  { name: 'ipv6', url: 'http://[fd00::7]:3000/mcp' },
];

function span(attrs: Record<string, string | number>, serviceName?: string): DecodedSpan {
  return { attrs: new Map(Object.entries(attrs)), resource: { serviceName } } as unknown as DecodedSpan;
}

describe('serverResolver', () => {
  const resolve = serverResolver(servers);
  const rows: Array<[string, DecodedSpan, string | typeof AMBIGUOUS | undefined]> = [
    ['address and port', span({ 'server.address': '127.0.0.1', 'server.port': 8080 }), 'notes'],
    ['address and default https port', span({ 'server.address': 'api.example.com', 'server.port': 443 }), 'github'],
    ['host alone', span({ 'server.address': 'api.example.com' }), 'github'],
    ['the first configured server wins a shared address', span({ 'server.address': '127.0.0.1', 'server.port': 8080 }), 'notes'],
    ['an unknown port falls through to service.name', span({ 'server.address': '127.0.0.1', 'server.port': 9999 }, 'files'), 'files'],
    ['service.name = configured name', span({}, 'github'), 'github'],
    ['service.name = the name the server gave', span({}, 'notes-server'), 'notes'],
    ['service.name = the command without its extension', span({}, 'files-mcp'), 'files'],
    ['a FastMCP server span under the default service.name: the name FastMCP gave itself', span({ 'fastmcp.server.name': 'notes-server' }, 'unknown_service:python'), 'notes'],
    ['nothing matches', span({ 'server.address': 'elsewhere.example.com' }, 'agent'), undefined],
    ['an IPv6 URL: the span names the address bare, as the semantic conventions write it', span({ 'server.address': 'fd00::7', 'server.port': 3000 }), 'ipv6'],
    ['an IPv6 URL, by host alone', span({ 'server.address': 'fd00::7' }), 'ipv6'],
    ['a host name in capitals (host names compare without case)', span({ 'server.address': 'API.Example.com', 'server.port': 443 }), 'github'],
  ];
  for (const [name, s, want] of rows) it(name, () => assert.equal(resolve(s, undefined), want));
});

describe('serverResolver: tool names and hints', () => {
  const probed: ServerIdentity[] = [
    { name: 'alpha', url: 'http://10.0.0.1:3000/mcp', tools: ['search', 'alpha_lookup', 'alpha_lookup'] },
    { name: 'beta', url: 'http://10.0.0.2:3000/mcp', tools: ['search', 'beta_write'], hints: { service_names: ['beta-bot'], hosts: ['gateway.internal:8443'] } },
    { name: 'gamma', command: '/opt/gamma-mcp', tools: ['gamma_run'], hints: { hosts: ['gamma.svc', '[fd00::1]:9000', 'Hints.Example'] } },
    { name: 'delta', url: 'http://gateway.internal:8443/mcp', tools: ['delta_only'] },
  ];
  const resolve = serverResolver(probed);
  const rows: Array<[string, DecodedSpan, string | undefined, string | typeof AMBIGUOUS | undefined]> = [
    ['a tool only alpha lists (listed twice by alpha: still one server)', span({}, 'support-bot'), 'alpha_lookup', 'alpha'],
    ['a tool only beta lists', span({}, 'support-bot'), 'beta_write', 'beta'],
    ['a tool two servers list is ambiguous', span({}, 'support-bot'), 'search', AMBIGUOUS],
    ['a tool no server lists stays unmatched', span({}, 'support-bot'), 'nowhere', undefined],
    ['no tool (not a tool call): no inference', span({}, 'support-bot'), undefined, undefined],
    ['a service_names hint wins over the ambiguous tool name', span({}, 'beta-bot'), 'search', 'beta'],
    ['a service_names hint wins over another server\'s tool', span({}, 'beta-bot'), 'alpha_lookup', 'beta'],
    ['service.name = a configured name wins over the tool name', span({}, 'gamma'), 'alpha_lookup', 'gamma'],
    ['server.address:port wins over the tool name', span({ 'server.address': '10.0.0.2', 'server.port': 3000 }), 'alpha_lookup', 'beta'],
    ['an address no rule matches is never attributed by tool name', span({ 'server.address': 'staging.example', 'server.port': 3000 }), 'alpha_lookup', undefined],
    ['a host:port hint wins over the URL of another server', span({ 'server.address': 'gateway.internal', 'server.port': 8443 }), 'delta_only', 'beta'],
    ['a port-less host hint matches any port', span({ 'server.address': 'gamma.svc', 'server.port': 1234 }), undefined, 'gamma'],
    ['a port-less host hint matches a span without a port', span({ 'server.address': 'gamma.svc' }), undefined, 'gamma'],
    ['an IPv6 host:port hint', span({ 'server.address': 'fd00::1', 'server.port': 9000 }), undefined, 'gamma'],
    ['a host hint written in capitals', span({ 'server.address': 'hints.example', 'server.port': 80 }), undefined, 'gamma'],
  ];
  for (const [name, s, tool, want] of rows) it(name, () => assert.equal(resolve(s, tool), want));

  it('no tool name is unique while a server of another shard (its tool list unknowable here) is configured', () => {
    const r = serverResolver([{ name: 'alpha', tools: ['x'] }, { name: 'elsewhere', url: 'http://10.0.0.9:3000/mcp', tools: null, hints: { service_names: ['far-bot'] } }]);
    assert.equal(r(span({}, 'agent'), 'x'), undefined);
    assert.equal(r(span({}, 'far-bot'), 'x'), 'elsewhere', 'hints still apply');
    assert.equal(r(span({ 'server.address': '10.0.0.9', 'server.port': 3000 }), 'x'), 'elsewhere');
  });

  it('a server whose probes list nothing yet is matched by its other identities only', () => {
    const r = serverResolver([{ name: 'alpha', url: 'http://10.0.0.1:3000/mcp' }, { name: 'beta', tools: ['x'] }]);
    assert.equal(r(span({}, 'agent'), 'x'), 'beta');
    assert.equal(r(span({}, 'agent'), 'y'), undefined);
  });
});

const call = (server: string, tool: string | undefined, kind: Observation['kind'] = 'tool_call'): Observation => ({
  kind,
  server,
  method: kind === 'tool_call' ? 'tools/call' : 'tools/list',
  tool,
  outcome: 'success',
  errorType: undefined,
  errorCategory: undefined,
  durationSeconds: 0.01,
});

describe('TrafficRouter', () => {
  it('labels configured servers by name, folds tools past the limit, and decides once per observation', () => {
    const configured = new Set(['github']);
    const decided: TrafficLabels[] = [];
    const router = new TrafficRouter((n) => configured.has(n), (_obs, labels) => (decided.push(labels), labels), 2);
    assert.deepEqual(router.route(call('github', 'a')), { server: 'github', tool: 'a', overflowed: false });
    assert.deepEqual(router.route(call('github', 'b')), { server: 'github', tool: 'b', overflowed: false });
    assert.deepEqual(router.route(call('github', 'c')), { server: 'github', tool: '_other', overflowed: true });
    assert.deepEqual(router.route(call('github', undefined)), { server: 'github', tool: '_other', overflowed: true }, 'a call without a tool name is "unknown", past the limit');
    assert.deepEqual(router.route(call('github', 'list', 'operation')), { server: 'github', tool: '', overflowed: false });
    router.route(call('github', 'a'));
    assert.equal(decided.length, 5, 'a repeated observation reuses its decision');
  });

  it('routes ambiguous calls apart from other unknown calls, under the same labels', () => {
    const router = new TrafficRouter(() => false, (obs, labels) => ({ ...labels, ambiguous: obs.ambiguous === true }), 10);
    const plain = router.route(call('unknown', 'search'));
    const ambiguous = router.route({ ...call('unknown', 'search'), ambiguous: true });
    assert.deepEqual(plain, { server: 'unknown', tool: 'search', overflowed: false, ambiguous: false });
    assert.deepEqual(ambiguous, { server: 'unknown', tool: 'search', overflowed: false, ambiguous: true });
    assert.equal(router.route({ ...call('unknown', 'search'), ambiguous: true }), ambiguous, 'decided once');
  });

  it('bounds unconfigured server names, and relabels once the servers change', () => {
    const configured = new Set<string>();
    const router = new TrafficRouter((n) => configured.has(n), (_obs, labels) => labels.server, 10);
    for (let i = 0; i < 100; i++) assert.equal(router.route(call(`made-up-${i}`, 'x')), `made-up-${i}`);
    assert.equal(router.route(call('files', 'x')), '_other');
    configured.add('files');
    assert.equal(router.route(call('files', 'x')), '_other', 'remembered until reset');
    router.reset();
    assert.equal(router.route(call('files', 'x')), 'files');
  });
});
