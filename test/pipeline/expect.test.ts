import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bounded, jsonEqual, parsePath, unmet, valueAt } from '../../src/pipeline/expect.js';

describe('check expectations (pipeline/expect)', () => {
  it('parses the JSONPath subset, and says where a path breaks', () => {
    const rows: Array<[string, unknown]> = [
      ['$', []],
      ['$.rows[0].ok', ['rows', 0, 'ok']],
      ['$["key with space"][12]', ['key with space', 12]],
      ["$['it\\'s']", ["it's"]],
      ['$.a-b.$c', ['a-b', '$c']],
    ];
    for (const [path, want] of rows) assert.deepEqual(parsePath(path), want, path);
    for (const bad of ['rows', '$.', '$..a', '$[x]', '$.a[', '$ .a']) assert.ok('error' in (parsePath(bad) as object), bad);
  });

  it('finds values by path, and tells a missing step from a null value', () => {
    const doc = { rows: [{ ok: true, v: null }], n: 0 };
    assert.deepEqual(valueAt(doc, ['rows', 0, 'ok']), { found: true, value: true });
    assert.deepEqual(valueAt(doc, ['rows', 0, 'v']), { found: true, value: null });
    assert.deepEqual(valueAt(doc, ['rows', 1]), { found: false });
    assert.deepEqual(valueAt(doc, ['n', 'x']), { found: false });
    assert.deepEqual(valueAt(doc, ['rows', 'length']), { found: false });
  });

  it('compares JSON values, not references or key order', () => {
    assert.ok(jsonEqual({ a: [1, { b: 'x' }], c: null }, { c: null, a: [1, { b: 'x' }] }));
    assert.ok(!jsonEqual({ a: 1 }, { a: '1' }));
    assert.ok(!jsonEqual([1, 2], { 0: 1, 1: 2 }));
    assert.ok(!jsonEqual({ a: 1 }, { a: 1, b: undefined }));
  });

  it('names each unmet expectation with expected vs got', () => {
    const observed = { texts: ['rows: 0'], structured: { rows: [{ ok: false }] }, latencyMs: 2500 };
    assert.deepEqual(unmet({ text_contains: 'rows: 1', structured: { '$.rows[0].ok': true, '$.missing': 1 }, max_latency: 2000 }, observed), [
      'text_contains: expected a text block containing "rows: 1", got "rows: 0"',
      'structured $.rows[0].ok: expected true, got false',
      'structured $.missing: expected 1, got nothing (no such path)',
      'max_latency: expected at most 2000ms, got 2500ms',
    ]);
    assert.deepEqual(unmet({ text_contains: 'rows', structured: { '$.rows[0].ok': false }, max_latency: 3000 }, observed), []);
    assert.deepEqual(unmet({ structured: { '$.a': 1 } }, { texts: [], latencyMs: 1 }), ['structured $.a: expected 1, got no structuredContent']);
    assert.deepEqual(unmet({ text_contains: 'x' }, { texts: [], latencyMs: 1 }), ['text_contains: expected a text block containing "x", got no text content']);
  });

  it('bounds what it quotes from a result', () => {
    const huge = 'y'.repeat(100_000);
    const [line] = unmet({ text_contains: 'x' }, { texts: [huge], latencyMs: 1 });
    assert.ok(line!.length < 400, `${line!.length} chars`);
    assert.match(line!, /… \(100000 chars\)"$/);
    assert.equal(bounded('a\n  b'), 'a b');
  });
});
