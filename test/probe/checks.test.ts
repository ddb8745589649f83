// Each outcome a configured check can have, on real v2 servers (Streamable HTTP in both eras, and
// stdio), with the exact error.type; tools without readOnlyHint are never called unless allowed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckConfig, ServerConfig } from '../../src/config/schema.js';
import { probeServer } from '../../src/probe/probe.js';
import type { CheckRun } from '../../src/probe/prober.js';
import { startModernHttpFixture, type ModernHttpFixture } from '../fixtures/modern-http-server.js';
import { FIXTURES, httpTarget, stdioTarget } from '../helpers.js';
import { refusingPort } from '../fixtures/refusing.js';

/**
 * A check whose deadline no call to a local fixture comes near, even on a loaded machine: a call
 * that must pass or fail on its answer must not time out instead. `hangs` sets its own.
 */
function check(name: string, c: Partial<CheckConfig>): CheckConfig {
  return { name, arguments: {}, expect: {}, allow_side_effects: false, on_failure: 'degraded', interval: 30_000, timeout: 60_000, ...c };
}

/** name → [status, error.type] */
function summary(runs: CheckRun[] | undefined): Record<string, [string, string | null]> {
  return Object.fromEntries((runs ?? []).map((r) => [r.name, [r.status, r.error?.type ?? null]]));
}

const CHECKS: CheckConfig[] = [
  check('ok', { tool: 'query', arguments: { sql: 'select 1' }, expect: { text_contains: 'rows: 1', structured: { '$.rows[0].ok': true } } }),
  check('is-error', { tool: 'broken' }),
  check('expected-error', { tool: 'broken', expect: { is_error: true, text_contains: 'pool' } }),
  check('throws', { tool: 'throws' }),
  check('hangs', { tool: 'slow', arguments: { ms: 60_000 }, timeout: 1000 }),
  check('too-slow', { tool: 'slow', arguments: { ms: 300 }, expect: { max_latency: 50 } }),
  check('bad-output', { tool: 'bad-output' }),
  check('wrong-text', { tool: 'query', expect: { text_contains: 'rows: 2' } }),
  check('wrong-value', { tool: 'query', expect: { structured: { '$.rows[0].n': 2 } } }),
  check('gone', { tool: 'no-such-tool' }),
  check('typo', { tool: 'bad_outptu' }),
  check('unsafe', { tool: 'write', arguments: { v: 1 } }),
  check('status', { resource: 'fixture://status', expect: { text_contains: 'green' } }),
  check('greet', { prompt: 'greet', arguments: { name: 'Ada' }, expect: { text_contains: 'Hello, Ada' } }),
];

const EXPECTED: Record<string, [string, string | null]> = {
  ok: ['pass', null],
  'is-error': ['fail', 'tool_error'],
  'expected-error': ['pass', null],
  throws: ['fail', 'protocol_error'],
  hangs: ['fail', 'timeout'],
  'too-slow': ['fail', 'assertion_failed'],
  'bad-output': ['fail', 'schema_violation'],
  'wrong-text': ['fail', 'assertion_failed'],
  'wrong-value': ['fail', 'assertion_failed'],
  gone: ['fail', 'tool_not_found'],
  typo: ['fail', 'tool_not_found'],
  unsafe: ['refused', 'side_effects_refused'],
  status: ['pass', null],
  greet: ['pass', null],
};

describe('configured checks', () => {
  let http: ModernHttpFixture;
  before(async () => {
    http = await startModernHttpFixture('dual', { checks: true });
  });
  after(async () => {
    await http.close();
  });

  for (const protocol of ['modern', 'legacy'] as const) {
    it(`gives each outcome its error.type over Streamable HTTP (${protocol} era)`, async () => {
      const callsBefore = { ...http.calls };
      const out = await probeServer(httpTarget(http.url, 'streamable_http', { protocol, checks: CHECKS }));
      assert.equal(out.error, null);
      assert.equal(out.era, protocol);
      assert.deepEqual(summary(out.checks), EXPECTED);
      const by = new Map(out.checks!.map((c) => [c.name, c]));
      assert.equal(by.get('is-error')!.error!.message, 'tool returned isError: "database pool exhausted"');
      assert.match(by.get('throws')!.error!.message, /^JSON-RPC error -32603 in tools\/call: .*upstream API unreachable/);
      assert.equal(by.get('throws')!.error!.phase, 'tools/call');
      assert.equal(by.get('hangs')!.error!.message, 'timeout after 1000ms waiting for tools/call');
      assert.match(by.get('bad-output')!.error!.message, /^structuredContent does not match the outputSchema: .*sum.*number/);
      assert.equal(by.get('wrong-text')!.error!.message, 'text_contains: expected a text block containing "rows: 2", got "rows: 1 ()"');
      assert.equal(by.get('wrong-value')!.error!.message, 'structured $.rows[0].n: expected 2, got 1');
      const slow = by.get('too-slow')!.error!.message;
      const prefix = 'max_latency: expected at most 50ms, got ';
      assert.ok(slow.startsWith(prefix) && slow.endsWith('ms'), slow);
      assert.ok(Number(slow.slice(prefix.length, -2)) >= 300, `${slow}: the tool sleeps 300 ms`);
      assert.match(by.get('gone')!.error!.message, /^tool "no-such-tool" is not in the server's tools\/list \(6 tools: query, broken, throws, slow, bad-output, write\)$/);
      assert.equal(by.get('typo')!.error!.message, 'tool "bad_outptu" is not in the server\'s tools/list: did you mean "bad-output"? (6 tools: query, broken, throws, slow, bad-output, write)');
      assert.equal(by.get('unsafe')!.latencyMs, null);
      assert.equal(by.get('gone')!.latencyMs, null);
      for (const c of out.checks!) assert.equal(c.onFailure, 'degraded');
      for (const c of out.checks!.filter((c) => c.latencyMs !== null)) assert.ok(c.latencyMs! >= 0);
      // Never called without allow_side_effects; the readOnly ones were.
      assert.equal(http.calls.write ?? 0, callsBefore.write ?? 0, 'write was never called');
      assert.equal((http.calls.query ?? 0) - (callsBefore.query ?? 0), 3);
      assert.equal(out.checks!.map((c) => c.name).join(), CHECKS.map((c) => c.name).join(), 'in configuration order');
    });
  }

  it('calls a tool without readOnlyHint when the check allows side effects', async () => {
    const before = http.calls.write ?? 0;
    const out = await probeServer(httpTarget(http.url, 'streamable_http', { checks: [check('write', { tool: 'write', allow_side_effects: true, expect: { text_contains: 'written' } })] }));
    assert.deepEqual(summary(out.checks), { write: ['pass', null] });
    assert.equal(http.calls.write, before + 1);
  });

  it('runs no checks when told so, and none on a server that did not answer', async (t) => {
    const before = { ...http.calls };
    const skipped = await probeServer(httpTarget(http.url, 'streamable_http', { checks: CHECKS }), { checks: [] });
    assert.equal(skipped.checks, undefined);
    assert.deepEqual(http.calls, before);
    const dead = await refusingPort();
    t.after(() => dead.close());
    const down = await probeServer(httpTarget(dead.url('/mcp'), 'streamable_http', { checks: CHECKS }));
    assert.equal(down.error?.type, 'connection_refused');
    assert.equal(down.checks, undefined);
  });

  // A 2026-07-28 server answers a method it does not serve with HTTP 404 carrying JSON-RPC -32601
  // (the SDK's error ladder): the URL is right, so this is the server's refusal, not "nothing is
  // served at the configured URL". In the 2025 era the same refusal comes in-band on HTTP 200.
  for (const protocol of ['modern', 'legacy'] as const) {
    it(`reports a method the server does not serve as its JSON-RPC error (${protocol} era)`, async () => {
      const bare = await startModernHttpFixture('dual');
      try {
        const out = await probeServer(httpTarget(bare.url, 'streamable_http', { protocol, checks: [check('status', { resource: 'fixture://status' }), check('greet', { prompt: 'greet' })] }));
        assert.equal(out.error, null);
        assert.equal(out.era, protocol);
        assert.deepEqual(summary(out.checks), { status: ['fail', 'protocol_error'], greet: ['fail', 'protocol_error'] });
        const [status, greet] = out.checks!;
        assert.match(status!.error!.message, /^JSON-RPC error -32601 in resources\/read\b/);
        assert.match(greet!.error!.message, /^JSON-RPC error -32601 in prompts\/get\b/);
        assert.equal(status!.error!.phase, 'resources/read');
      } finally {
        await bare.close();
      }
    });
  }

  it('a tool that asks the client for sampling or elicitation fails naming the request mcpwatch refused', async () => {
    const out = await probeServer(
      stdioTarget('needs-client', { checks: [check('confirm', { tool: 'confirm' }), check('summarise', { tool: 'summarise' }), check('plain', { tool: 'plain' })] }),
    );
    assert.equal(out.error, null);
    assert.deepEqual(summary(out.checks), { confirm: ['fail', 'protocol_error'], summarise: ['fail', 'tool_error'], plain: ['fail', 'tool_error'] });
    const [confirm, summarise, plain] = out.checks!;
    // Before, the first read `JSON-RPC error -32601 in tools/call: Method not found`, as if the
    // server did not serve tools/call.
    const why = ' (the server asked mcpwatch for elicitation/create during the call: a monitor offers no sampling, elicitation or roots, so a tool that needs them cannot be checked)';
    assert.equal(confirm!.error!.message, `JSON-RPC error -32601 in tools/call: Method not found: mcpwatch, a monitor, does not answer elicitation/create${why}`);
    assert.ok(summarise!.error!.message.endsWith(why.replace('elicitation/create', 'sampling/createMessage')), summarise!.error!.message);
    // Only the call during which the server asked is said to have asked.
    assert.equal(plain!.error!.message, 'tool returned isError: "nope"');
  });

  it('2026-07-28: a tool answering input_required (elicitation) fails as protocol_error, naming the request mcpwatch cannot answer', async () => {
    const tool = { name: 'needs-input', inputSchema: { type: 'object' as const }, annotations: { readOnlyHint: true } };
    const server = await startModernHttpFixture('strict', { tools: [tool], askAnyClient: true });
    try {
      const out = await probeServer(httpTarget(server.url, 'streamable_http', { checks: [check('name', { tool: 'needs-input' })] }));
      assert.equal(out.error, null);
      assert.deepEqual(summary(out.checks), { name: ['fail', 'protocol_error'] });
      // Before: invalid_response, with the SDK's advice to register a handler cut off mid-word.
      assert.equal(out.checks![0]!.error!.message, 'the server answered tools/call with an input_required result asking mcpwatch for elicitation/create: a monitor offers no sampling, elicitation or roots, so a tool that needs them cannot be checked');
    } finally {
      await server.close();
    }
  });

  it('2026-07-28: a tool that elicits the 2025 way fails as its server says, with why a monitor cannot check it (Python SDK, FastMCP)', async () => {
    const ro = { inputSchema: { type: 'object' as const }, annotations: { readOnlyHint: true } };
    const server = await startModernHttpFixture('strict', { tools: [{ name: 'elicits-python', ...ro }, { name: 'elicits-fastmcp', ...ro }] });
    try {
      const out = await probeServer(httpTarget(server.url, 'streamable_http', { checks: [check('python', { tool: 'elicits-python' }), check('fastmcp', { tool: 'elicits-fastmcp' })] }));
      assert.equal(out.error, null);
      assert.deepEqual(summary(out.checks), { python: ['fail', 'protocol_error'], fastmcp: ['fail', 'tool_error'] });
      const why = ' (a monitor offers no sampling, elicitation or roots, so a tool that needs them cannot be checked)';
      assert.equal(out.checks![0]!.error!.message, `JSON-RPC error -32600 in tools/call: Cannot send 'elicitation/create': this transport context has no back-channel for server-initiated requests.${why}`);
      assert.equal(out.checks![1]!.error!.message, `tool returned isError: "elicitation via server-initiated requests is unavailable on 2026-07-28 connections."${why}`);
    } finally {
      await server.close();
    }
  });

  it('validates each tool\'s structured output against its own outputSchema when two schemas share an $id', async () => {
    const out = await probeServer(stdioTarget('output-ids', { checks: [check('count', { tool: 'count' }), check('label', { tool: 'label' })] }));
    assert.equal(out.error, null);
    // Before, the second schema was never compiled: the validator kept the first under their $id,
    // and `label`'s string failed as `schema_violation: data/value must be number`.
    assert.deepEqual(summary(out.checks), { count: ['pass', null], label: ['pass', null] });
  });

  it('validates against an outputSchema that refers to its own parts by its absolute $id', async () => {
    const out = await probeServer(stdioTarget('output-ids', { checks: [check('item', { tool: 'item' })] }));
    assert.equal(out.error, null);
    assert.deepEqual(summary(out.checks), { item: ['pass', null] });
  });

  it('over stdio: the same outcomes, and the server\'s own log shows the unsafe tool never called', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-checks-'));
    const callLog = join(dir, 'calls.log');
    const server: ServerConfig = {
      ...httpTarget('http://unused'),
      name: 'stdio-checks',
      transport: 'stdio',
      url: undefined,
      command: process.execPath,
      args: [join(FIXTURES, 'modern-stdio-server.js'), 'dual'],
      env: { CHECKS: '1', CALL_LOG: callLog },
      checks: CHECKS.filter((c) => c.name !== 'hangs'),
    };
    const out = await probeServer(server);
    assert.equal(out.error, null);
    assert.equal(out.era, 'modern');
    const want = { ...EXPECTED };
    delete want.hangs;
    assert.deepEqual(summary(out.checks), want);
    const calls = existsSync(callLog) ? readFileSync(callLog, 'utf8').trim().split('\n') : [];
    assert.ok(!calls.includes('write'), `write was called: ${calls.join(', ')}`);
    assert.deepEqual([...new Set(calls)].sort(), ['bad-output', 'broken', 'query', 'slow', 'throws']);
  });
});

// A check whose `arguments` do not fit the tool's inputSchema, on servers that validate them as their
// SDKs do: the fix is in the check, so it is invalid_params naming what the server said, not a tool
// failure. Before, it was tool_error ("tool returned isError: …") or protocol_error.
describe('a check whose arguments the server rejects', () => {
  const VALIDATING = join(FIXTURES, 'validating-server.js');
  const target = (mode: string, checks: CheckConfig[]): ServerConfig => ({ ...stdioTarget(mode), name: `validating-${mode}`, args: [VALIDATING, mode], checks });
  const SDK_CHECKS = [
    check('missing', { tool: 'lookup' }),
    check('wrong-type', { tool: 'lookup', arguments: { id: 5 } }),
    // A refusal is no error of the tool's, which `is_error: true` asks for: it fails the same way.
    check('wrong-type-want-error', { tool: 'lookup', arguments: { id: 5 }, expect: { is_error: true } }),
    check('right', { tool: 'lookup', arguments: { id: 'a' }, expect: { text_contains: 'item a' } }),
    check('bad-output', { tool: 'report' }),
    check('prompt-missing', { prompt: 'greet' }),
    check('prompt-right', { prompt: 'greet', arguments: { name: 'Ada' } }),
    check('no-such-prompt', { prompt: 'farewell' }),
  ];
  const SDK_EXPECTED = {
    missing: ['fail', 'invalid_params'],
    'wrong-type': ['fail', 'invalid_params'],
    'wrong-type-want-error': ['fail', 'invalid_params'],
    right: ['pass', null],
    // The server's own output failing its outputSchema is -32602 too, in its SDK's words: its failure.
    'bad-output': ['fail', 'tool_error'],
    'prompt-missing': ['fail', 'invalid_params'],
    'prompt-right': ['pass', null],
    'no-such-prompt': ['fail', 'protocol_error'],
  };

  it('SDK 1.x McpServer: its isError "MCP error -32602: Input validation error", and a prompt\'s JSON-RPC -32602', async () => {
    const out = await probeServer(target('v1', SDK_CHECKS));
    assert.deepEqual([out.error, out.era], [null, 'legacy']);
    assert.deepEqual(summary(out.checks), SDK_EXPECTED);
    const by = new Map(out.checks!.map((c) => [c.name, c.error]));
    assert.equal(
      by.get('wrong-type')!.message,
      'the check\'s arguments do not match the tool\'s inputSchema; the server answered isError "MCP error -32602: Input validation error: Invalid arguments for tool lookup: Expected string, received number at id"',
    );
    assert.deepEqual([by.get('wrong-type')!.category, by.get('wrong-type')!.phase], ['permanent', 'tools/call']);
    assert.equal(by.get('wrong-type-want-error')!.message, `${by.get('wrong-type')!.message} (is_error: true expects the tool's own error; the tool never ran)`);
    assert.match(by.get('prompt-missing')!.message, /^the check's arguments do not match the arguments the prompt declares; the server answered JSON-RPC error -32602 "Invalid arguments for prompt greet: /);
    assert.match(by.get('bad-output')!.message, /^tool returned isError: "MCP error -32602: Output validation error: /);
    assert.match(by.get('no-such-prompt')!.message, /^JSON-RPC error -32602 in prompts\/get: Prompt farewell not found/);
  });

  it('SDK v2 McpServer, in both eras: its isError "Input validation error", and a prompt\'s JSON-RPC -32602', async () => {
    for (const protocol of ['modern', 'legacy'] as const) {
      const out = await probeServer({ ...target('v2', SDK_CHECKS), protocol });
      assert.deepEqual([out.error, out.era], [null, protocol]);
      assert.deepEqual(summary(out.checks), SDK_EXPECTED, protocol);
      const message = out.checks!.find((c) => c.name === 'missing')!.error!.message;
      assert.match(message, /^the check's arguments do not match the tool's inputSchema; the server answered isError "Input validation error: Invalid arguments for tool lookup: .*\bid\b/, protocol);
    }
  });

  it('a server of its own handlers: JSON-RPC -32602 "Invalid params" is the arguments, "Unknown tool" is not', async () => {
    const out = await probeServer(
      target('low-level', [check('missing', { tool: 'lookup' }), check('right', { tool: 'lookup', arguments: { id: 'a' } }), check('renamed', { tool: 'renamed' }), check('missing-want-error', { tool: 'lookup', expect: { is_error: true } })]),
    );
    assert.equal(out.error, null);
    assert.deepEqual(summary(out.checks), { missing: ['fail', 'invalid_params'], right: ['pass', null], renamed: ['fail', 'protocol_error'], 'missing-want-error': ['fail', 'invalid_params'] });
    const [missing, , renamed] = out.checks!;
    assert.equal(missing!.error!.message, 'the check\'s arguments do not match the tool\'s inputSchema; the server answered JSON-RPC error -32602 "Invalid params: "id" must be a string"');
    assert.equal(renamed!.error!.message, 'JSON-RPC error -32602 in tools/call: Unknown tool: renamed');
  });
});
