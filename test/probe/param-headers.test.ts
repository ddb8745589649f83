// Tool parameters a 2026-07-28 server asks to see in headers (`x-mcp-header` → `Mcp-Param-{Name}`):
// a check's tools/call carries them over Streamable HTTP, encoded as the revision says, and the SDK v2
// serving entry, which refuses a call without them (-32020), runs the tool. Before, mcpwatch sent none
// and such a check failed as protocol_error against every SDK v2 and Python SDK 2.x server.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Tool } from '@modelcontextprotocol/server';
import type { CheckConfig } from '../../src/config/schema.js';
import { probeServer } from '../../src/probe/probe.js';
import type { CheckRun } from '../../src/probe/prober.js';
import { toolCallHeaders } from '../../src/probe/streamable-http.js';
import { startParamHeaderFixture, type ParamHeaderFixture } from '../fixtures/param-header-server.js';
import { startModernHttpFixture } from '../fixtures/modern-http-server.js';
import { FIXTURES, httpTarget, stdioTarget } from '../helpers.js';

function check(name: string, args: Record<string, unknown>, expect: CheckConfig['expect'] = {}): CheckConfig {
  return { name, tool: 'route', arguments: args, expect, allow_side_effects: false, on_failure: 'degraded', interval: 30_000, timeout: 60_000 };
}

function summary(runs: CheckRun[] | undefined): Record<string, [string, string | null]> {
  return Object.fromEntries((runs ?? []).map((r) => [r.name, [r.status, r.error?.message ?? null]]));
}

/** Each check with the headers its call must carry (names as node:http gives them, lowercased). */
const CASES: Array<[CheckConfig, Record<string, string>]> = [
  [check('plain', { region: 'eu' }, { text_contains: '"region":"eu"' }), { 'mcp-param-region': 'eu' }],
  [check('every-kind', { region: 'us-west1', tier: { level: 3 }, dry: false, note: 'not mirrored' }), { 'mcp-param-region': 'us-west1', 'mcp-param-tier-level': '3', 'mcp-param-dry-run': 'false' }],
  // The revision's own encoding examples.
  [check('non-ascii', { region: 'Hello, 世界' }, { text_contains: 'Hello, 世界' }), { 'mcp-param-region': '=?base64?SGVsbG8sIOS4lueVjA==?=' }],
  [check('padded', { region: ' padded ' }), { 'mcp-param-region': '=?base64?IHBhZGRlZCA=?=' }],
  [check('newline', { region: 'line1\nline2' }), { 'mcp-param-region': '=?base64?bGluZTEKbGluZTI=?=' }],
  [check('sentinel-lookalike', { region: '=?base64?literal?=' }), { 'mcp-param-region': '=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=' }],
  // An argument not given gets no header, and the server expects none.
  [check('absent', { region: 'eu', tier: {} }), { 'mcp-param-region': 'eu' }],
];

describe('x-mcp-header parameters of a checked tool', () => {
  let server: ParamHeaderFixture;
  before(async () => {
    server = await startParamHeaderFixture();
  });
  after(async () => {
    await server.close();
  });

  it('go as Mcp-Param headers on a 2026-07-28 tools/call over Streamable HTTP, which the SDK v2 server checks', async () => {
    const seen = server.paramHeaders.length;
    const out = await probeServer(httpTarget(server.url, 'streamable_http', { protocol: 'modern', checks: CASES.map(([c]) => c) }));
    assert.deepEqual([out.error, out.era], [null, 'modern']);
    assert.deepEqual(summary(out.checks), Object.fromEntries(CASES.map(([c]) => [c.name, ['pass', null]])));
    assert.deepEqual(server.paramHeaders.slice(seen), CASES.map(([, headers]) => headers));
    assert.equal(server.calls.route, CASES.length);
  });

  it('are not sent in the 2025 era, which has no such headers', async () => {
    const seen = server.paramHeaders.length;
    const calls = server.calls.route ?? 0;
    const out = await probeServer(httpTarget(server.url, 'streamable_http', { protocol: 'legacy', checks: [CASES[0]![0], CASES[2]![0]] }));
    assert.deepEqual([out.error, out.era], [null, 'legacy']);
    assert.deepEqual(summary(out.checks), { plain: ['pass', null], 'non-ascii': ['pass', null] });
    assert.equal(server.paramHeaders.length, seen, 'no Mcp-Param header reached the server');
    assert.equal(server.calls.route, calls + 2);
  });

  it('do not stop a check over stdio, which has no headers', async () => {
    const target = { ...stdioTarget('params'), args: [join(FIXTURES, 'param-header-server.js'), 'stdio'], protocol: 'modern' as const, checks: [CASES[1]![0]] };
    const out = await probeServer(target);
    assert.deepEqual([out.error, out.era], [null, 'modern']);
    assert.deepEqual(summary(out.checks), { 'every-kind': ['pass', null] });
  });
});

describe('a checked tool whose x-mcp-header declaration is invalid', () => {
  const readOnly = { readOnlyHint: true };
  const TOOLS: Tool[] = [
    { name: 'under-items', inputSchema: { type: 'object', properties: { regions: { type: 'array', items: { type: 'string', 'x-mcp-header': 'Region' } } } }, annotations: readOnly },
    { name: 'on-a-number', inputSchema: { type: 'object', properties: { lat: { type: 'number', 'x-mcp-header': 'Lat' } } }, annotations: readOnly },
    { name: 'twice', inputSchema: { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': 'Region' }, b: { type: 'string', 'x-mcp-header': 'region' } } }, annotations: readOnly },
  ];

  it('is not called on a 2026-07-28 Streamable HTTP connection: its clients must leave it out of tools/list', async (t) => {
    const http = await startModernHttpFixture('strict', { tools: TOOLS });
    t.after(() => http.close());
    const checks = TOOLS.map((tool) => ({ ...check(tool.name, { lat: 1, a: 'x', b: 'y', regions: ['eu'] }), tool: tool.name }));
    const out = await probeServer(httpTarget(http.url, 'streamable_http', { checks }));
    assert.deepEqual([out.error, out.era, out.tools?.length], [null, 'modern', 3]);
    const tail = '; MCP 2026-07-28 has every Streamable HTTP client leave such a tool out of its tools/list';
    assert.deepEqual(
      out.checks!.map((c) => [c.name, c.status, c.error?.type, c.error?.message, c.latencyMs]),
      [
        ['under-items', 'fail', 'tool_not_found', `not called: tool "under-items" is listed with an invalid x-mcp-header declaration (an x-mcp-header not reached from the root through properties alone)${tail}`, null],
        ['on-a-number', 'fail', 'tool_not_found', `not called: tool "on-a-number" is listed with an invalid x-mcp-header declaration (property "lat": x-mcp-header on a property of type "number" (only string, integer and boolean))${tail}`, null],
        ['twice', 'fail', 'tool_not_found', `not called: tool "twice" is listed with an invalid x-mcp-header declaration (x-mcp-header "region" on property "b" repeats the one on "a")${tail}`, null],
      ],
    );
    assert.deepEqual(http.calls, {}, 'no tool was called');
  });
});

describe('toolCallHeaders', () => {
  const schema = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown => ({ type: 'object', properties, ...extra });
  const h = (name: string, type = 'string'): Record<string, unknown> => ({ type, 'x-mcp-header': name });

  it('mirrors strings as they are, integers in decimal, booleans in lowercase, and nothing else', () => {
    const s = schema({ s: h('S'), i: h('I', 'integer'), b: h('B', 'boolean'), deep: { type: 'object', properties: { deeper: { type: 'object', properties: { x: h('X') } } } } });
    assert.deepEqual(toolCallHeaders(s, { s: 'a b', i: -7, b: true, deep: { deeper: { x: 'y' } } }), { headers: { 'Mcp-Param-S': 'a b', 'Mcp-Param-I': '-7', 'Mcp-Param-B': 'true', 'Mcp-Param-X': 'y' } });
    // null and absent values, a path through a non-object, an integer past 2^53 and non-primitives get no header.
    assert.deepEqual(toolCallHeaders(s, { s: null, i: 2 ** 53, deep: { deeper: 'flat' } }), { headers: {} });
    assert.deepEqual(toolCallHeaders(s, { s: { nested: 1 }, i: [1], b: 'true' }), { headers: { 'Mcp-Param-B': 'true' } });
    assert.deepEqual(toolCallHeaders(s, undefined), { headers: {} });
    assert.deepEqual(toolCallHeaders({ type: 'object' }, { s: 'x' }), { headers: {} });
  });

  it('encodes what is not plain visible ASCII as base64 of its UTF-8 in the sentinel', () => {
    const s = schema({ v: h('V') });
    const enc = (v: string): string | undefined => (toolCallHeaders(s, { v }) as { headers: Record<string, string> }).headers['Mcp-Param-V'];
    assert.equal(enc('us-west1'), 'us-west1');
    assert.equal(enc('tab\tinside'), 'tab\tinside');
    assert.equal(enc('\tlead'), `=?base64?${Buffer.from('\tlead').toString('base64')}?=`);
    assert.equal(enc('Ünïcode'), `=?base64?${Buffer.from('Ünïcode').toString('base64')}?=`);
    assert.equal(enc('del\x7f'), `=?base64?${Buffer.from('del\x7f').toString('base64')}?=`);
    assert.equal(enc(''), '=?base64??=');
  });

  it('finds a declaration invalid anywhere but on a primitive reached through properties alone', () => {
    const invalid = (s: unknown): string | undefined => (toolCallHeaders(s, {}) as { invalid?: string }).invalid;
    const offChain = 'an x-mcp-header not reached from the root through properties alone';
    assert.equal(invalid(schema({}, { 'x-mcp-header': 'Root' })), "an x-mcp-header on the schema's root");
    assert.equal(invalid(schema({ a: { anyOf: [h('A'), { type: 'null' }] } })), offChain);
    assert.equal(invalid(schema({ a: { type: 'object', additionalProperties: h('A') } })), offChain);
    assert.equal(invalid(schema({}, { $defs: { a: h('A') } })), offChain);
    assert.equal(invalid(schema({ a: { type: 'object', if: { properties: { b: h('B') } } } })), offChain);
    assert.equal(invalid(schema({ a: h('Two words') })), 'property "a": x-mcp-header "Two words" is not an HTTP field name');
    assert.equal(invalid(schema({ a: h('') })), 'property "a": x-mcp-header "" is not an HTTP field name');
    assert.equal(invalid(schema({ a: { 'x-mcp-header': 'A' } })), 'property "a": x-mcp-header on a property of type none (only string, integer and boolean)');
    assert.equal(invalid(schema({ a: { type: ['string', 'null'], 'x-mcp-header': 'A' } })), 'property "a": x-mcp-header on a property of type ["string","null"] (only string, integer and boolean)');
    // A `$ref` is not followed, and data keywords hold no schemas.
    assert.deepEqual(toolCallHeaders(schema({ a: { $ref: '#/$defs/x' }, b: { type: 'string', default: { 'x-mcp-header': 'B' } } }), { a: 'x', b: 'y' }), { headers: {} });
  });

  it('walks a schema tens of thousands of properties deep, as a server may send, without taking the heap', () => {
    // Each level's path was a copy of its parent's: this depth ran the agent out of memory.
    const depth = 50_000;
    const root = schema({});
    const args: Record<string, unknown> = {};
    let node = root as { properties: Record<string, unknown> };
    let arg = args;
    for (let i = 0; i < depth; i++) {
      const child = { type: 'object', properties: {} };
      node.properties.p = child;
      node = child;
      arg = (arg.p = {}) as Record<string, unknown>;
    }
    node.properties.r = h('R');
    arg.r = 'deep';
    assert.deepEqual(toolCallHeaders(root, args), { headers: { 'Mcp-Param-R': 'deep' } });
  });
});
