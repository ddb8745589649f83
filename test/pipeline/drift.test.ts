import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalize, diffTools, formatDiff, snapshotHash, type ChangeKind, type DriftDiff } from '../../src/pipeline/drift.js';
import type { ToolInfo } from '../../src/probe/prober.js';

type Props = Record<string, unknown>;

function tool(name: string, properties: Props, required: string[] = [], extra: Partial<ToolInfo> = {}): ToolInfo {
  return { name, inputSchema: { type: 'object', properties, required }, ...extra };
}

/** A tool with a fixed input schema whose output schema is the part under test. */
function outTool(properties: Props, required: string[] = []): ToolInfo {
  return tool('get_repo', { repo: { type: 'string' } }, ['repo'], { outputSchema: { type: 'object', properties, required } });
}

function annotated(annotations: Record<string, unknown> | undefined): ToolInfo {
  return tool('merge', { id: { type: 'integer' } }, ['id'], annotations === undefined ? {} : { annotations });
}

type Row = [kind: ChangeKind, field: string, message: string];

/** The changes of a single modified tool, as [kind, field, message] rows. */
function rows(diff: DriftDiff): Row[] {
  return diff.changes.map((c) => [c.kind, c.field, c.message]);
}

function projection(diff: DriftDiff): Pick<DriftDiff, 'tools_added' | 'tools_removed' | 'tools_modified'> {
  const { tools_added, tools_removed, tools_modified } = diff;
  return { tools_added, tools_removed, tools_modified };
}

const GITHUB: ToolInfo[] = [
  {
    name: 'create_pull_request',
    title: 'Create pull request',
    description: 'Open a pull request',
    inputSchema: {
      type: 'object',
      properties: {
        owner: { type: 'string', description: 'Repository owner' },
        repo: { type: 'string' },
        title: { type: 'string' },
        head: { type: 'string' },
        base: { type: 'string' },
        labels: { type: 'array', items: { type: 'string' } },
        state: { type: 'string', enum: ['open', 'closed', 'all'] },
        filter: {
          type: 'object',
          properties: { status: { type: ['string', 'null'] }, since: { type: 'string', format: 'date-time' } },
          required: ['status'],
        },
      },
      required: ['owner', 'repo', 'title', 'head', 'base'],
      additionalProperties: false,
    },
    outputSchema: { type: 'object', properties: { url: { type: 'string' }, number: { type: 'integer' } }, required: ['url', 'number'] },
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
  },
  {
    name: 'delete_branch',
    description: 'Delete a branch',
    inputSchema: { type: 'object', properties: { branch: { type: 'string' } }, required: ['branch'] },
    annotations: { destructiveHint: true },
  },
  {
    name: 'list_issues',
    inputSchema: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 100, default: 30 } } },
    annotations: { readOnlyHint: true },
  },
];

/** Deterministic PRNG (mulberry32), so a failing shuffle can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], rnd: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Rebuilds a value with every object's keys, and every set-valued keyword's array, in random order. */
function deepShuffle(v: unknown, rnd: () => number, key = ''): unknown {
  if (Array.isArray(v)) {
    const items = v.map((x) => deepShuffle(x, rnd));
    return ['required', 'enum', 'type'].includes(key) ? shuffled(items, rnd) : items;
  }
  if (typeof v === 'object' && v !== null) {
    const entries = shuffled(Object.entries(v), rnd);
    return Object.fromEntries(entries.map(([k, x]) => [k, deepShuffle(x, rnd, k)]));
  }
  return v;
}

function shuffleTools(tools: readonly ToolInfo[], seed: number): ToolInfo[] {
  const rnd = prng(seed);
  return shuffled(tools, rnd).map((t) => deepShuffle(t, rnd) as ToolInfo);
}

describe('snapshot', () => {
  it('the exact canonical form: keys sorted at every depth, tools by name, set keywords sorted', () => {
    const tools: ToolInfo[] = [
      { name: 'b', inputSchema: { type: 'object', required: ['z', 'a'], properties: { z: { type: ['null', 'string'] }, a: { enum: ['y', 'x'] } } } },
      { name: 'a', description: 'first', inputSchema: {} },
    ];
    assert.equal(
      canonicalize(tools),
      '[{"description":"first","inputSchema":{},"name":"a"},'
        + '{"inputSchema":{"properties":{"a":{"enum":["x","y"]},"z":{"type":["null","string"]}},"required":["a","z"],"type":"object"},"name":"b"}]',
    );
  });

  it('hash is stable under deep key shuffles, tool order and set-keyword order', () => {
    const reference = snapshotHash(GITHUB);
    assert.match(reference, /^[0-9a-f]{64}$/);
    for (let seed = 1; seed <= 25; seed++) {
      const copy = shuffleTools(GITHUB, seed);
      assert.equal(snapshotHash(copy), reference, `seed ${seed}`);
    }
    // The shuffle must actually have moved something, or the loop above proves nothing.
    assert.notEqual(JSON.stringify(shuffleTools(GITHUB, 1)), JSON.stringify(GITHUB));
  });

  it('hash moves with any real change, including ones with no classification rule', () => {
    const reference = snapshotHash(GITHUB);
    const edited = structuredClone(GITHUB);
    ((edited[2]!.inputSchema as { properties: { limit: Props } }).properties.limit).maximum = 50;
    assert.notEqual(snapshotHash(edited), reference);
  });

  it('ordered arrays keep their order: only required, enum and type are sets', () => {
    const withDefault = (d: unknown[]): ToolInfo[] => [tool('t', { tags: { type: 'array', default: d } })];
    assert.notEqual(snapshotHash(withDefault(['a', 'b'])), snapshotHash(withDefault(['b', 'a'])));
    const withTuple = (items: unknown[]): ToolInfo[] => [tool('t', { pair: { type: 'array', items } })];
    assert.notEqual(snapshotHash(withTuple([{ type: 'string' }, { type: 'integer' }])), snapshotHash(withTuple([{ type: 'integer' }, { type: 'string' }])));
    // A property that happens to be called "required" is a name, not the keyword.
    const named = [tool('t', { required: { type: 'array', items: { enum: ['b', 'a'] } } })];
    assert.match(canonicalize(named), /"required":\{"items":\{"enum":\["a","b"\]\},"type":"array"\}/);
  });

  it('a repeated tool name gives the same hash and an empty diff in either order', () => {
    const first = tool('dup', { a: { type: 'string' } }, [], { description: 'one' });
    const second = tool('dup', { b: { type: 'integer' } }, [], { description: 'two' });
    assert.equal(snapshotHash([first, second]), snapshotHash([second, first]));
    assert.equal(diffTools([first, second], [second, first]).severity, null);
  });

  it('extra fields outside ToolInfo do not move the hash', () => {
    const withMeta = GITHUB.map((t) => ({ ...t, _meta: { fetchedAt: Date.now() } }));
    assert.equal(snapshotHash(withMeta), snapshotHash(GITHUB));
  });
});

describe('diffTools', () => {
  it('the example from the spec, exactly', () => {
    const previous = GITHUB.slice(0, 2);
    const cpr = structuredClone(GITHUB[0]!);
    const input = cpr.inputSchema as { properties: Props; required: string[] };
    input.properties.draft = { type: 'boolean' };
    input.required.push('draft');
    const diff = diffTools(previous, [cpr]);
    assert.deepEqual(projection(diff), {
      tools_added: [],
      tools_removed: ['delete_branch'],
      tools_modified: [{ name: 'create_pull_request', changes: ['required parameter added: draft (boolean)'] }],
    });
    assert.equal(
      JSON.stringify(projection(diff)),
      '{"tools_added":[],"tools_removed":["delete_branch"],"tools_modified":[{"name":"create_pull_request","changes":["required parameter added: draft (boolean)"]}]}',
    );
    assert.deepEqual(Object.keys(diff).slice(0, 3), ['tools_added', 'tools_removed', 'tools_modified']);
    assert.deepEqual(rows(diff), [
      ['breaking', '', 'tool removed: delete_branch'],
      ['breaking', 'inputSchema.properties.draft', 'required parameter added: draft (boolean)'],
    ]);
    assert.deepEqual(diff.counts, { breaking: 2, compatible: 0, warning: 0 });
    assert.equal(diff.severity, 'breaking');
  });

  it('identical lists: severity null and an empty diff', () => {
    const diff = diffTools(GITHUB, structuredClone(GITHUB));
    assert.deepEqual(diff, {
      tools_added: [],
      tools_removed: [],
      tools_modified: [],
      changes: [],
      counts: { breaking: 0, compatible: 0, warning: 0 },
      severity: null,
    });
  });

  it('reordered lists (keys, tools, sets) diff as identical', () => {
    for (const seed of [3, 7, 11]) {
      const diff = diffTools(GITHUB, shuffleTools(GITHUB, seed));
      assert.equal(diff.severity, null, `seed ${seed}: ${JSON.stringify(diff.changes)}`);
    }
  });

  it('the diff does not depend on the order either list is in', () => {
    const current = structuredClone(GITHUB);
    current.splice(1, 1);
    (current[0]!.inputSchema as { properties: Props }).properties.state = { type: 'string', enum: ['open', 'closed', 'draft'] };
    current.push({ name: 'add_label', inputSchema: { type: 'object' } });
    const reference = diffTools(GITHUB, current);
    assert.equal(reference.changes.length, 4);
    for (const seed of [5, 6]) assert.deepEqual(diffTools(shuffleTools(GITHUB, seed), shuffleTools(current, seed + 100)), reference);
  });

  it('severity is the worst kind present and counts add up', () => {
    const described = { ...GITHUB[2]!, description: 'List issues' };
    const warnOnly = diffTools([GITHUB[2]!], [described]);
    assert.equal(warnOnly.severity, 'warning');
    const warnAndCompatible = diffTools([GITHUB[2]!], [described, tool('add_label', {})]);
    assert.equal(warnAndCompatible.severity, 'warning');
    assert.deepEqual(warnAndCompatible.counts, { breaking: 0, compatible: 1, warning: 1 });
    assert.equal(diffTools([], [tool('add_label', {})]).severity, 'compatible');
    const all = diffTools(GITHUB, [described, tool('add_label', {})]);
    assert.equal(all.severity, 'breaking');
    assert.deepEqual(all.counts, { breaking: 2, compatible: 1, warning: 1 });
    assert.deepEqual(all.tools_removed, ['create_pull_request', 'delete_branch']);
    assert.deepEqual(all.tools_added, ['add_label']);
  });
});

/**
 * The classification table: one row per rule. Each row is a previous and a current tool with the
 * same name, and every change the diff must find, in order.
 */
const TABLE: Array<{ rule: string; prev: ToolInfo; curr: ToolInfo; want: Row[] }> = [
  // --- breaking: inputs
  {
    rule: 'required parameter added',
    prev: tool('t', { owner: { type: 'string' } }, ['owner']),
    curr: tool('t', { owner: { type: 'string' }, draft: { type: 'boolean' } }, ['owner', 'draft']),
    want: [['breaking', 'inputSchema.properties.draft', 'required parameter added: draft (boolean)']],
  },
  {
    rule: 'parameter removed',
    prev: tool('t', { owner: { type: 'string' }, repo: { type: 'string' } }),
    curr: tool('t', { repo: { type: 'string' } }),
    want: [['breaking', 'inputSchema.properties.owner', 'parameter removed: owner']],
  },
  {
    rule: 'required parameter removed is one change, not two',
    prev: tool('t', { owner: { type: 'string' } }, ['owner']),
    curr: tool('t', {}),
    want: [['breaking', 'inputSchema.properties.owner', 'parameter removed: owner']],
  },
  {
    rule: 'parameter type changed',
    prev: tool('t', { limit: { type: 'string' } }),
    curr: tool('t', { limit: { type: 'integer' } }),
    want: [['breaking', 'inputSchema.properties.limit.type', 'parameter type changed: limit (string → integer)']],
  },
  {
    rule: 'nullable parameter no longer accepts null',
    prev: tool('t', { limit: { type: ['integer', 'null'] } }),
    curr: tool('t', { limit: { type: 'integer' } }),
    want: [['breaking', 'inputSchema.properties.limit.type', 'parameter type changed: limit (integer | null → integer)']],
  },
  {
    rule: 'untyped parameter gains a type (any accepted before)',
    prev: tool('t', { value: {} }),
    curr: tool('t', { value: { type: 'string' } }),
    want: [['breaking', 'inputSchema.properties.value.type', 'parameter type changed: value (any → string)']],
  },
  {
    rule: 'number narrowed to integer',
    prev: tool('t', { ratio: { type: 'number' } }),
    curr: tool('t', { ratio: { type: 'integer' } }),
    want: [['breaking', 'inputSchema.properties.ratio.type', 'parameter type changed: ratio (number → integer)']],
  },
  {
    rule: 'enum narrowed',
    prev: tool('t', { state: { type: 'string', enum: ['open', 'closed', 'all'] } }),
    curr: tool('t', { state: { type: 'string', enum: ['open', 'closed'] } }),
    want: [['breaking', 'inputSchema.properties.state.enum', 'enum narrowed: state (removed "all")']],
  },
  {
    rule: 'enum added to a free parameter',
    prev: tool('t', { state: { type: 'string' } }),
    curr: tool('t', { state: { type: 'string', enum: ['open', 'closed'] } }),
    want: [['breaking', 'inputSchema.properties.state.enum', 'enum added: state ("closed", "open")']],
  },
  {
    rule: 'const changed',
    prev: tool('t', { mode: { const: 'fast' } }),
    curr: tool('t', { mode: { const: 'safe' } }),
    want: [['breaking', 'inputSchema.properties.mode.const', 'const changed: mode ("fast" → "safe")']],
  },
  {
    rule: 'optional parameter became required',
    prev: tool('t', { base: { type: 'string' } }),
    curr: tool('t', { base: { type: 'string' } }, ['base']),
    want: [['breaking', 'inputSchema.properties.base', 'parameter became required: base']],
  },
  // --- breaking: outputs
  {
    rule: 'output property removed',
    prev: outTool({ url: { type: 'string' }, number: { type: 'integer' } }),
    curr: outTool({ number: { type: 'integer' } }),
    want: [['breaking', 'outputSchema.properties.url', 'output property removed: url']],
  },
  {
    rule: 'output type changed',
    prev: outTool({ count: { type: 'integer' } }),
    curr: outTool({ count: { type: 'string' } }),
    want: [['breaking', 'outputSchema.properties.count.type', 'output type changed: count (integer → string)']],
  },
  {
    rule: 'output may now be null',
    prev: outTool({ count: { type: 'integer' } }),
    curr: outTool({ count: { type: ['integer', 'null'] } }),
    want: [['breaking', 'outputSchema.properties.count.type', 'output type changed: count (integer → integer | null)']],
  },
  {
    rule: 'output field no longer required',
    prev: outTool({ url: { type: 'string' } }, ['url']),
    curr: outTool({ url: { type: 'string' } }),
    want: [['breaking', 'outputSchema.properties.url', 'output field no longer required: url']],
  },
  {
    rule: 'output enum widened',
    prev: outTool({ state: { enum: ['open', 'closed'] } }),
    curr: outTool({ state: { enum: ['open', 'closed', 'draft'] } }),
    want: [['breaking', 'outputSchema.properties.state.enum', 'output enum widened: state (added "draft")']],
  },
  {
    rule: 'outputSchema removed',
    prev: outTool({ url: { type: 'string' } }),
    curr: tool('get_repo', { repo: { type: 'string' } }, ['repo']),
    want: [['breaking', 'outputSchema', 'outputSchema removed']],
  },
  // --- breaking: annotations, with MCP's defaults for absent hints
  {
    rule: 'readOnlyHint true → false',
    prev: annotated({ readOnlyHint: true }),
    curr: annotated({ readOnlyHint: false }),
    want: [['breaking', 'annotations.readOnlyHint', 'annotation turned dangerous: readOnlyHint true → false']],
  },
  {
    rule: 'readOnlyHint true → absent (default false)',
    prev: annotated({ readOnlyHint: true }),
    curr: annotated(undefined),
    want: [['breaking', 'annotations.readOnlyHint', 'annotation turned dangerous: readOnlyHint true → false']],
  },
  {
    rule: 'destructiveHint false → true',
    prev: annotated({ destructiveHint: false }),
    curr: annotated({ destructiveHint: true }),
    want: [['breaking', 'annotations.destructiveHint', 'annotation turned dangerous: destructiveHint false → true']],
  },
  {
    rule: 'destructiveHint false → absent (default true)',
    prev: annotated({ destructiveHint: false }),
    curr: annotated({}),
    want: [['breaking', 'annotations.destructiveHint', 'annotation turned dangerous: destructiveHint false → true']],
  },
  {
    rule: 'idempotentHint true → false',
    prev: annotated({ idempotentHint: true }),
    curr: annotated({ idempotentHint: false }),
    want: [['breaking', 'annotations.idempotentHint', 'annotation turned dangerous: idempotentHint true → false']],
  },
  {
    rule: 'openWorldHint false → absent (default true)',
    prev: annotated({ openWorldHint: false }),
    curr: annotated({}),
    want: [['breaking', 'annotations.openWorldHint', 'annotation turned dangerous: openWorldHint false → true']],
  },
  // --- compatible
  {
    rule: 'optional parameter added',
    prev: tool('t', { owner: { type: 'string' } }, ['owner']),
    curr: tool('t', { owner: { type: 'string' }, labels: { type: 'array', items: { type: 'string' } } }, ['owner']),
    want: [['compatible', 'inputSchema.properties.labels', 'optional parameter added: labels (array)']],
  },
  {
    rule: 'enum widened',
    prev: tool('t', { state: { type: 'string', enum: ['open', 'closed'] } }),
    curr: tool('t', { state: { type: 'string', enum: ['closed', 'draft', 'open'] } }),
    want: [['compatible', 'inputSchema.properties.state.enum', 'enum widened: state (added "draft")']],
  },
  {
    rule: 'required parameter became optional',
    prev: tool('t', { base: { type: 'string' } }, ['base']),
    curr: tool('t', { base: { type: 'string' } }),
    want: [['compatible', 'inputSchema.properties.base', 'parameter became optional: base']],
  },
  {
    rule: 'parameter type widened (Optional[...] as generators emit it)',
    prev: tool('t', { limit: { type: 'integer' } }),
    curr: tool('t', { limit: { anyOf: [{ type: 'integer' }, { type: 'null' }], default: null } }),
    want: [
      ['compatible', 'inputSchema.properties.limit.type', 'parameter type widened: limit (integer → integer | null)'],
      ['warning', 'inputSchema.properties.limit.default', 'inputSchema changed: limit.default (unset → null)'],
    ],
  },
  {
    rule: 'integer widened to number',
    prev: tool('t', { ratio: { type: 'integer' } }),
    curr: tool('t', { ratio: { type: 'number' } }),
    want: [['compatible', 'inputSchema.properties.ratio.type', 'parameter type widened: ratio (integer → number)']],
  },
  {
    rule: 'output property added',
    prev: outTool({ url: { type: 'string' } }),
    curr: outTool({ url: { type: 'string' }, html_url: { type: 'string' } }),
    want: [['compatible', 'outputSchema.properties.html_url', 'output property added: html_url (string)']],
  },
  {
    rule: 'output enum narrowed',
    prev: outTool({ state: { enum: ['open', 'closed', 'all'] } }),
    curr: outTool({ state: { enum: ['open', 'closed'] } }),
    want: [['compatible', 'outputSchema.properties.state.enum', 'output enum narrowed: state (removed "all")']],
  },
  {
    rule: 'outputSchema added',
    prev: tool('get_repo', { repo: { type: 'string' } }, ['repo']),
    curr: outTool({ url: { type: 'string' } }),
    want: [['compatible', 'outputSchema', 'outputSchema added']],
  },
  {
    rule: 'annotations turned safer',
    prev: annotated(undefined),
    curr: annotated({ readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false }),
    want: [
      ['compatible', 'annotations.readOnlyHint', 'annotation turned safer: readOnlyHint false → true'],
      ['compatible', 'annotations.destructiveHint', 'annotation turned safer: destructiveHint true → false'],
      ['compatible', 'annotations.idempotentHint', 'annotation turned safer: idempotentHint false → true'],
      ['compatible', 'annotations.openWorldHint', 'annotation turned safer: openWorldHint true → false'],
    ],
  },
  // --- warning
  {
    rule: 'tool description changed',
    prev: tool('t', {}, [], { description: 'Open a PR' }),
    curr: tool('t', {}, [], { description: 'Open a pull request' }),
    want: [['warning', 'description', 'description changed']],
  },
  {
    rule: 'tool title changed',
    prev: tool('t', {}, [], { title: 'PR' }),
    curr: tool('t', {}, [], { title: 'Pull request' }),
    want: [['warning', 'title', 'title changed']],
  },
  {
    rule: 'parameter description changed',
    prev: tool('t', { owner: { type: 'string', description: 'Owner' } }),
    curr: tool('t', { owner: { type: 'string', description: 'Repository owner' } }),
    want: [['warning', 'inputSchema.properties.owner.description', 'description changed: parameter owner']],
  },
  {
    rule: 'output field description added',
    prev: outTool({ url: { type: 'string' } }),
    curr: outTool({ url: { type: 'string', description: 'Web address' } }),
    want: [['warning', 'outputSchema.properties.url.description', 'description changed: output field url']],
  },
  {
    rule: 'constraint without a rule of its own',
    prev: tool('t', { limit: { type: 'integer', maximum: 100 } }),
    curr: tool('t', { limit: { type: 'integer', maximum: 50 } }),
    want: [['warning', 'inputSchema.properties.limit.maximum', 'inputSchema changed: limit.maximum (100 → 50)']],
  },
  {
    rule: 'annotation title changed',
    prev: annotated({ title: 'Merge' }),
    curr: annotated({ title: 'Merge pull request' }),
    want: [['warning', 'annotations.title', 'annotation changed: title']],
  },
];

describe('classification table', () => {
  for (const { rule, prev, curr, want } of TABLE) {
    it(rule, () => {
      const diff = diffTools([prev], [curr]);
      assert.deepEqual(rows(diff), want);
      assert.deepEqual(diff.tools_modified, [{ name: prev.name, changes: want.map((w) => w[2]) }]);
      assert.equal(diff.changes.every((c) => c.tool === prev.name), true);
    });
  }

  it('every kind of change is in the table', () => {
    const kinds = new Set(TABLE.flatMap((r) => r.want.map((w) => w[0])));
    assert.deepEqual([...kinds].sort(), ['breaking', 'compatible', 'warning']);
  });
});

describe('rules at depth', () => {
  it('nested object property type changed', () => {
    const prev = tool('t', { filter: { type: 'object', properties: { status: { type: 'string' } } } });
    const curr = tool('t', { filter: { type: 'object', properties: { status: { type: 'array', items: { type: 'string' } } } } });
    assert.deepEqual(rows(diffTools([prev], [curr])), [
      ['breaking', 'inputSchema.properties.filter.properties.status.type', 'parameter type changed: filter.status (string → array)'],
    ]);
  });

  it('nested required, optional and removed parameters', () => {
    const prev = tool('t', { filter: { type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' }, c: { type: 'string' } }, required: ['a'] } });
    const curr = tool('t', { filter: { type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' }, d: { type: 'integer' } }, required: ['b', 'd'] } });
    assert.deepEqual(rows(diffTools([prev], [curr])), [
      ['compatible', 'inputSchema.properties.filter.properties.a', 'parameter became optional: filter.a'],
      ['breaking', 'inputSchema.properties.filter.properties.b', 'parameter became required: filter.b'],
      ['breaking', 'inputSchema.properties.filter.properties.c', 'parameter removed: filter.c'],
      ['breaking', 'inputSchema.properties.filter.properties.d', 'required parameter added: filter.d (integer)'],
    ]);
  });

  it('array items, at two levels', () => {
    const prev = tool('t', { rows: { type: 'array', items: { type: 'array', items: { type: 'object', properties: { id: { type: 'integer' } } } } } });
    const curr = tool('t', { rows: { type: 'array', items: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' } } } } } });
    assert.deepEqual(rows(diffTools([prev], [curr])), [
      ['breaking', 'inputSchema.properties.rows.items.items.properties.id.type', 'parameter type changed: rows[][].id (integer → string)'],
    ]);
  });

  it('enum narrowed and widened at once inside array items', () => {
    const prev = tool('t', { labels: { type: 'array', items: { enum: ['bug', 'docs', 'wontfix'] } } });
    const curr = tool('t', { labels: { type: 'array', items: { enum: ['bug', 'docs', 'feature', 'question'] } } });
    assert.deepEqual(rows(diffTools([prev], [curr])), [
      ['breaking', 'inputSchema.properties.labels.items.enum', 'enum narrowed: labels[] (removed "wontfix")'],
      ['compatible', 'inputSchema.properties.labels.items.enum', 'enum widened: labels[] (added "feature", "question")'],
    ]);
  });

  it('anyOf variants: matched regardless of order, edited ones compared inside, dropped ones reported', () => {
    const byId = { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] };
    const byName = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] };
    const byNameStrict = { type: 'object', properties: { name: { type: 'string' }, org: { type: 'string' } }, required: ['name', 'org'] };
    const byUrl = { type: 'string', format: 'uri' };
    const prev = tool('t', { target: { anyOf: [byId, byName, byUrl] } });
    const reordered = tool('t', { target: { anyOf: [byUrl, byId, byName] } });
    assert.deepEqual(rows(diffTools([prev], [reordered])), [
      // The hash moved (anyOf order is kept), but no variant changed: one warning, nothing breaking.
      ['warning', 'inputSchema', 'inputSchema changed'],
    ]);
    const edited = tool('t', { target: { anyOf: [byNameStrict, byId] } });
    assert.deepEqual(rows(diffTools([prev], [edited])), [
      ['breaking', 'inputSchema.properties.target.anyOf[0].properties.org', 'required parameter added: target.anyOf[0].org (string)'],
      ['breaking', 'inputSchema.properties.target.anyOf[2]', 'parameter variant removed: target.anyOf[2]'],
    ]);
  });

  it('$defs reached through $ref are compared structurally, and recursion terminates', () => {
    const schema = (statusType: string): unknown => ({
      type: 'object',
      $defs: {
        node: {
          type: 'object',
          properties: { status: { type: statusType }, children: { type: 'array', items: { $ref: '#/$defs/node' } } },
        },
      },
      properties: { root: { $ref: '#/$defs/node', description: 'Tree root' } },
    });
    const prev: ToolInfo = { name: 't', inputSchema: schema('string') };
    const curr: ToolInfo = { name: 't', inputSchema: schema('integer') };
    assert.deepEqual(rows(diffTools([prev], [curr])), [
      ['breaking', 'inputSchema.properties.root.properties.status.type', 'parameter type changed: root.status (string → integer)'],
    ]);
    assert.equal(diffTools([prev], [structuredClone(prev)]).severity, null);
  });

  it('a change of kind (object → string) is one change, not a list of removed fields', () => {
    const prev = tool('t', { filter: { type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' } }, required: ['a'] } });
    const curr = tool('t', { filter: { type: 'string' } });
    assert.deepEqual(rows(diffTools([prev], [curr])), [
      ['breaking', 'inputSchema.properties.filter.type', 'parameter type changed: filter (object → string)'],
    ]);
  });

  it('a schema change no rule explains still shows as a warning', () => {
    const prev: ToolInfo = { name: 't', inputSchema: { type: 'object', $defs: { unused: { type: 'string' } } } };
    const curr: ToolInfo = { name: 't', inputSchema: { type: 'object', $defs: { unused: { type: 'integer' } } } };
    assert.deepEqual(rows(diffTools([prev], [curr])), [['warning', 'inputSchema', 'inputSchema changed']]);
  });
});

describe('annotation defaults', () => {
  it('spelling out a default is not a change', () => {
    const explicit = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true };
    assert.equal(diffTools([annotated(undefined)], [annotated(explicit)]).severity, null);
    assert.equal(diffTools([annotated(explicit)], [annotated({})]).severity, null);
    // The snapshot keeps what the server said, so the hash still moves.
    assert.notEqual(snapshotHash([annotated(undefined)]), snapshotHash([annotated(explicit)]));
  });

  it('a non-boolean hint counts as absent', () => {
    const diff = diffTools([annotated({ readOnlyHint: true })], [annotated({ readOnlyHint: 'yes' })]);
    assert.deepEqual(rows(diff), [
      ['breaking', 'annotations.readOnlyHint', 'annotation turned dangerous: readOnlyHint true → false'],
    ]);
  });
});

describe('formatDiff', () => {
  it('nothing changed', () => {
    assert.equal(formatDiff(diffTools(GITHUB, GITHUB)), 'tool schemas unchanged');
  });

  it('header with counts, then worst changes first', () => {
    const current = structuredClone(GITHUB);
    current.splice(1, 1);
    current[0]!.description = 'Open a pull request on GitHub';
    (current[0]!.inputSchema as { properties: Props }).properties.draft = { type: 'boolean' };
    current.push(tool('add_label', {}));
    assert.equal(
      formatDiff(diffTools(GITHUB, current)),
      [
        'tool schema drift (breaking): 1 breaking, 1 warning, 2 compatible',
        '  breaking    tool removed: delete_branch',
        '  warning     create_pull_request: description changed',
        '  compatible  tool added: add_label',
        '  compatible  create_pull_request: optional parameter added: draft (boolean)',
      ].join('\n'),
    );
  });

  it('long diffs are cut', () => {
    const many = Array.from({ length: 30 }, (_, i) => tool(`tool_${String(i).padStart(2, '0')}`, {}));
    const text = formatDiff(diffTools(many, []), { maxLines: 3 });
    assert.deepEqual(text.split('\n'), [
      'tool schema drift (breaking): 30 breaking, 0 warning, 0 compatible',
      '  breaking    tool removed: tool_00',
      '  breaking    tool removed: tool_01',
      '  breaking    tool removed: tool_02',
      '  … and 27 more',
    ]);
  });
});
