import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DecodedSpan } from '../../src/otlp/decode.js';
import type { Observation } from '../../src/otlp/recognise.js';
import { serverResolver, TrafficRouter, type ServerIdentity, type TrafficLabels } from '../../src/pipeline/traffic.js';

const servers: ServerIdentity[] = [
  { name: 'github', url: 'https://api.example.com/mcp' },
  { name: 'notes', url: 'http://127.0.0.1:8080/mcp', serverInfoName: 'notes-server' },
  { name: 'notes-copy', url: 'http://127.0.0.1:8080/other' },
  { name: 'files', command: '/usr/local/bin/files-mcp.js' },
];

function span(attrs: Record<string, string | number>, serviceName?: string): DecodedSpan {
  return { attrs: new Map(Object.entries(attrs)), resource: { serviceName } } as unknown as DecodedSpan;
}

describe('serverResolver', () => {
  const resolve = serverResolver(servers);
  const rows: Array<[string, DecodedSpan, string | undefined]> = [
    ['address and port', span({ 'server.address': '127.0.0.1', 'server.port': 8080 }), 'notes'],
    ['address and default https port', span({ 'server.address': 'api.example.com', 'server.port': 443 }), 'github'],
    ['host alone', span({ 'server.address': 'api.example.com' }), 'github'],
    ['the first configured server wins a shared address', span({ 'server.address': '127.0.0.1', 'server.port': 8080 }), 'notes'],
    ['an unknown port falls through to service.name', span({ 'server.address': '127.0.0.1', 'server.port': 9999 }, 'files'), 'files'],
    ['service.name = configured name', span({}, 'github'), 'github'],
    ['service.name = the name the server gave', span({}, 'notes-server'), 'notes'],
    ['service.name = the command without its extension', span({}, 'files-mcp'), 'files'],
    ['nothing matches', span({ 'server.address': 'elsewhere.example.com' }, 'agent'), undefined],
  ];
  for (const [name, s, want] of rows) it(name, () => assert.equal(resolve(s), want));
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
