import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { resolveServer } from '../../src/config/schema.js';

const server = (checks: string): string => `monitoring: { interval: 1m, timeout: 4s }
servers:
  - name: db
    transport: stdio
    command: python
    interval: 2m
    checks:
${checks}`;

function issues(text: string): string[] {
  try {
    parseConfig(text, 'mcpwatch.yaml', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('checks configuration', () => {
  it('takes the issue\'s example, with defaults from the server', () => {
    const config = parseConfig(
      server(`      - name: can-query
        tool: query
        arguments: { sql: "select 1" }
        expect: { is_error: false, text_contains: "1", structured: { "$.rows[0].ok": true }, max_latency: 2s }
        allow_side_effects: false
        on_failure: degraded
        interval: 5m
      - { name: status, resource: "file:///status", on_failure: down, timeout: 1s }
      - { name: greet, prompt: greet, arguments: { name: Ada } }`),
      'mcpwatch.yaml',
      {},
    );
    const s = resolveServer(config, config.servers[0]!);
    assert.deepEqual(s.checks!.map((c) => [c.name, c.interval, c.timeout, c.on_failure, c.allow_side_effects]), [
      ['can-query', 300_000, 4000, 'degraded', false],
      ['status', 120_000, 1000, 'down', false],
      ['greet', 120_000, 4000, 'degraded', false],
    ]);
    assert.deepEqual(s.checks![0]!.expect, { is_error: false, text_contains: '1', structured: { '$.rows[0].ok': true }, max_latency: 2000 });
    assert.deepEqual(s.checks![0]!.arguments, { sql: 'select 1' });
  });

  it('reports every structural problem at once, with its path', () => {
    const got = issues(
      server(`      - { name: none }
      - { name: two, tool: a, resource: "x://y" }
      - { name: dup, tool: a }
      - { name: dup, tool: b }
      - { name: res, resource: "x://y", arguments: { a: 1 }, expect: { is_error: true, structured: { "$.a": 1 } } }
      - { name: pr, prompt: p, arguments: { n: 1 }, allow_side_effects: true }
      - { name: path, tool: a, expect: { structured: { "rows[0]": 1 } } }
      - { name: "bad name!", tool: a, on_failure: critical, expect: { max_latency: soon, text_contain: x } }`),
    );
    const want = [
      'servers[0].checks[0]: needs one of tool, resource or prompt',
      'servers[0].checks[1]: names tool and resource: give exactly one of tool, resource or prompt',
      'servers[0].checks[3].name: duplicate check name "dup" (first used by checks[2])',
      'servers[0].checks[4].expect.is_error: applies to tool checks only (this one reads a resource)',
      'servers[0].checks[4].expect.structured: applies to tool checks only (this one reads a resource)',
      'servers[0].checks[4].arguments: a resource check takes no arguments (put parameters in the URI)',
      'servers[0].checks[5].allow_side_effects: applies to tool checks only (this one reads a prompt, which has no side effects to allow)',
      'servers[0].checks[5].arguments.n: prompt arguments are strings (got number)',
      'servers[0].checks[6].expect.structured.rows[0]: must start with $ (got "rows[0]")',
      'servers[0].checks[7].name: must contain only letters, digits and . _ : / - (got "bad name!"; e.g. "bad-name")',
      'servers[0].checks[7].expect.text_contain: unknown key (did you mean "text_contains"?)',
    ];
    for (const w of want) assert.ok(got.includes(w), `missing: ${w}\ngot:\n${got.join('\n')}`);
    assert.ok(got.some((g) => g.startsWith('servers[0].checks[7].on_failure:')), got.join('\n'));
    assert.ok(got.some((g) => g.startsWith('servers[0].checks[7].expect.max_latency: must be a positive duration')), got.join('\n'));
  });

  it('names a check without a name after what it calls, and says when it cannot', () => {
    const config = parseConfig(server(`      - { tool: query }
      - { resource: "file:///status" }
      - { prompt: greet }`), 'mcpwatch.yaml', {});
    assert.deepEqual(resolveServer(config, config.servers[0]!).checks!.map((c) => c.name), ['query', 'file:///status', 'greet']);
    assert.deepEqual(
      issues(
        server(`      - { tool: add }
      - { tool: add, arguments: { a: 1 } }
      - { name: sub, tool: add }
      - { name: sub, tool: sub }
      - { tool: sub }
      - { resource: "file:///a b.txt" }
      - { tool: "my tool" }`),
      ),
      [
        'servers[0].checks[1].name: two checks named "add" (checks[0] and this one; a check without a name is named after what it calls): give each a name of its own',
        'servers[0].checks[3].name: duplicate check name "sub" (first used by checks[2])',
        'servers[0].checks[4].name: two checks named "sub" (checks[2] and this one; a check without a name is named after what it calls): give this one a name of its own',
        'servers[0].checks[5].name: is required: the resource URI "file:///a b.txt" cannot name the check (a name has only letters, digits and . _ : / -)',
        'servers[0].checks[6].name: is required: the tool name "my tool" cannot name the check (a name has only letters, digits and . _ : / -)',
      ],
    );
    assert.deepEqual(issues(server('      - { tool: add }\n      - { name: add, tool: sub }')), [
      'servers[0].checks[1].name: two checks named "add" (checks[0] and this one; a check without a name is named after what it calls): give checks[0] a name of its own',
    ]);
  });

  it('finds check problems also when the rest of the file is valid (the schema\'s own refinement)', () => {
    assert.deepEqual(issues(server('      - { name: a, tool: x }\n      - { name: a, prompt: y }')), ['servers[0].checks[1].name: duplicate check name "a" (first used by checks[0])']);
  });
});
